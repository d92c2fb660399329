"""Where a batch reads and writes: local paths, or fsspec URLs for workers elsewhere.

A location with ``://`` (``s3://bucket/traces``, ``gs://...``, ``file:///data/traces``) is
opened with fsspec (``pip install 'iodiag[dask]'`` brings it; each protocol's own package,
such as s3fs, is the user's choice); anything else is a local path, handled with the standard
library (no fsspec needed). Local files are written whole or not at all
(`analyzer.outputs`); a remote file is written in one put, which object stores make atomic.
"""

from __future__ import annotations

import glob as _glob
import os
import posixpath
import shutil
from pathlib import Path
from typing import Any

from analyzer.errors import UsageError
from analyzer.outputs import atomic_directory, atomic_text

__all__ = [
    "exists",
    "fetch",
    "glob",
    "identity",
    "is_dir",
    "is_url",
    "join",
    "listdir",
    "read_text",
    "relative",
    "split",
    "walk_files",
    "write_files",
    "write_text",
]


def is_url(location: str) -> bool:
    """Whether `location` is an fsspec URL (``scheme://...``)."""
    return "://" in location


def _fs(location: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:  # pragma: no cover - depends on the installation
        raise UsageError(f"{location}: URLs need fsspec: pip install 'iodiag[dask]'") from None
    try:
        return fsspec.core.url_to_fs(location)
    except (ImportError, ValueError) as error:
        raise UsageError(f"{location}: {error}") from None


def _url(fs: Any, path: str) -> str:
    """A path of `fs` as a URL (``s3://bucket/key``, ``file:///abs/path``)."""
    return str(fs.unstrip_protocol(path))


def exists(location: str) -> bool:
    if is_url(location):
        fs, path = _fs(location)
        return bool(fs.exists(path))
    return os.path.exists(location)


def is_dir(location: str) -> bool:
    if is_url(location):
        fs, path = _fs(location)
        return bool(fs.isdir(path))
    return os.path.isdir(location)


def glob(pattern: str) -> list[str]:
    """The paths a pattern matches, sorted (``**`` spans folders)."""
    if is_url(pattern):
        fs, path = _fs(pattern)
        return sorted(_url(fs, match) for match in fs.glob(path))
    return sorted(_glob.glob(pattern, recursive=True))


def listdir(folder: str) -> list[tuple[str, bool]]:
    """(path, is a folder) of the entries of `folder`, sorted by name."""
    if is_url(folder):
        fs, path = _fs(folder)
        entries = fs.ls(path, detail=True)
        return sorted((_url(fs, entry["name"]), entry["type"] == "directory") for entry in entries)
    with os.scandir(folder) as scan:
        return sorted((entry.path, entry.is_dir()) for entry in scan)


def walk_files(folder: str) -> list[str]:
    """Every file under `folder`, at any depth, sorted; hidden folders are not entered."""
    if is_url(folder):
        fs, path = _fs(folder)
        return sorted(_url(fs, item) for item in fs.find(path))
    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found += [os.path.join(root, name) for name in files]
    return sorted(found)


def split(location: str) -> tuple[str, str]:
    """(folder, name) of a path or URL."""
    if is_url(location):
        head, _, tail = location.rstrip("/").rpartition("/")
        return head, tail
    head, tail = os.path.split(os.path.normpath(location))
    return head or ".", tail


def join(folder: str, *parts: str) -> str:
    if is_url(folder):
        return posixpath.join(folder.rstrip("/"), *parts)
    return os.path.join(folder, *parts)


def relative(location: str, start: str) -> str:
    """`location` relative to the folder `start` (posix separators), for links."""
    if is_url(location) or is_url(start):
        return location[len(start.rstrip("/")) + 1 :] if location.startswith(start) else location
    return Path(os.path.relpath(location, start)).as_posix()


def identity(location: str) -> str:
    """One key per file, however it was named (a URL as given, a local file's real path)."""
    return location if is_url(location) else os.path.realpath(location)


def fetch(location: str, folder: str) -> str:
    """A local path holding the bytes of `location`: the path itself, or a copy of a URL's
    file in `folder` under its own name."""
    if not is_url(location):
        return location
    fs, path = _fs(location)
    target = os.path.join(folder, split(location)[1] or "input")
    fs.get_file(path, target)
    return target


def read_text(location: str) -> str:
    if is_url(location):
        fs, path = _fs(location)
        with fs.open(path, "rb") as handle:
            return bytes(handle.read()).decode("utf-8")
    return Path(location).read_text(encoding="utf-8")


def write_text(location: str, text: str) -> None:
    """Write `text` (UTF-8) to `location`, creating its folder; whole or not at all."""
    if is_url(location):
        fs, path = _fs(location)
        fs.makedirs(posixpath.dirname(path), exist_ok=True)
        fs.pipe_file(path, text.encode("utf-8"))
        return
    os.makedirs(os.path.dirname(location) or ".", exist_ok=True)
    with atomic_text(location) as handle:
        handle.write(text)


def write_files(folder: str, files: dict[str, bytes]) -> None:
    """Write the files `{name: bytes}` into `folder` (a Parquet dataset's parts): locally
    all of them or none (`analyzer.outputs.atomic_directory`), remotely one put each."""
    if is_url(folder):
        fs, path = _fs(folder)
        fs.makedirs(path, exist_ok=True)
        for name, data in files.items():
            fs.pipe_file(posixpath.join(path, name), data)
        return
    with atomic_directory(folder) as temporary:
        for name, data in files.items():
            (temporary / name).write_bytes(data)


def remove_tree(folder: str) -> None:
    """Remove a local scratch folder (downloaded inputs)."""
    shutil.rmtree(folder, ignore_errors=True)
