"""Finding the runs of a batch in the arguments of ``iodiag-analyze batch``.

A run is the files of one capture. The rule, in this order:

1. Each argument is a file, a folder or a glob pattern (``traces/*.log``, quoted or expanded
   by the shell), a local path or an fsspec URL (``s3://bucket/traces/``, ``file:///x``).
   A pattern is expanded; a pattern that matches nothing, or a path that does not exist, is
   an unreadable run named after the argument (the others go on).
2. A **folder** holds runs: each of its sub-folders is **one run** made of every file under
   it (at any depth), and the files directly in it are grouped by stem (3).
3. Files are grouped by **stem**, the part of the file name before its first dot, among the
   files of one folder: ``svc.strace.log``, ``svc.perf.txt`` and ``svc.app.log`` are the run
   ``svc``; ``api.log.gz`` is the run ``api``; the ``-ff`` files ``trace.log.1234`` and
   ``trace.log.1240`` are the run ``trace``. Files of different folders are never one run.
4. The same file named twice (by two patterns, or a file and its folder) is read once.

Files found by looking into a folder (not named one by one) that are hidden (``.name``), are
iodiag's own outputs (``*.iodiag.*``, ``index.*``, ``report.*`` ...) or are named like source
code, scripts, documents or pictures (`NOT_TRACES`) are not inputs; of the others, those that
no source recognises are skipped by the worker (listed in the index, not an error). A file
named on the command line or matched by a pattern is always an input: one that cannot be read
makes its run unreadable.

A run's name is its folder or ``folder/stem``, relative to the deepest folder that holds all
the runs of the batch (``svc``, or ``a/svc`` and ``b/svc`` when two folders both hold an
``svc``); its reports go to ``OUT/<name>/``.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from analyzer.batch import storage

__all__ = ["NOT_TRACES", "Run", "discover", "stem_of"]

NOT_TRACES = frozenset(
    {
        ".py", ".pyc", ".sh", ".bash", ".zsh", ".md", ".rst", ".html", ".htm", ".css",
        ".js", ".mjs", ".ts", ".j2", ".toml", ".yaml", ".yml", ".ini", ".cfg", ".conf",
        ".c", ".h", ".cc", ".cpp", ".go", ".rs", ".java", ".rb", ".pl", ".parquet",
        ".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".xml", ".sarif", ".lock",
        ".pid", ".csv", ".tsv",
    }
)  # fmt: skip
"""Suffixes of files that a folder holds beside its traces and that are not traces."""
OWN_OUTPUTS = ("index.html", "index.md", "index.json", "junit.xml", "iodiag.sarif")
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Run:
    """One run of a batch: its name, where it came from, and its inputs."""

    name: str
    """Unique in the batch; a relative path (``svc``, ``hosts/a``); its reports' folder."""
    inputs: tuple[str, ...] = ()
    """Paths or URLs, sorted; the files named on the command line first among them are
    those in `named`."""
    named: frozenset[str] = field(default_factory=frozenset)
    """The inputs named on the command line (or matched by a pattern): never skipped."""
    kind: str = "stem"
    """``stem`` (files sharing a stem), ``folder`` (a sub-folder) or ``missing``."""
    location: str = ""
    """The folder, or ``folder/stem``, the run was found at."""
    reason: str | None = None
    """Why the run cannot be read before any of it is opened (an argument matching
    nothing, a folder without files), else None."""


def stem_of(name: str) -> str:
    """The part of a file name before its first dot (the name itself without a dot)."""
    return name.split(".", 1)[0] or name


def _not_a_trace(name: str) -> bool:
    lower = name.lower()
    if lower.startswith(".") or ".iodiag." in lower or lower in OWN_OUTPUTS:
        return True
    if lower.startswith("report.") and lower.rsplit(".", 1)[-1] in ("html", "md", "json"):
        return True
    return posixpath.splitext(lower)[1] in NOT_TRACES


@dataclass
class _Found:
    files: dict[str, bool] = field(default_factory=dict)  # path -> named on the command line
    kind: str = "stem"


def discover(arguments: Sequence[str]) -> list[Run]:
    """The runs of the arguments of ``iodiag-analyze batch``, sorted by name."""
    groups: dict[str, _Found] = {}
    missing: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(location: str, path: str, named: bool, kind: str) -> None:
        key = storage.identity(path)
        if key in seen:
            if named:  # named explicitly after being found in a folder: keep it as named
                for found in groups.values():
                    if path in found.files:
                        found.files[path] = True
            return
        seen.add(key)
        groups.setdefault(location, _Found(kind=kind)).files[path] = named

    for argument in arguments:
        for path, reason in _expand(argument):
            if reason is not None:
                missing.append((path, reason))
            elif storage.is_dir(path):
                _scan_folder(path, add, missing)
            else:
                parent, name = storage.split(path)
                add(storage.join(parent, stem_of(name)), path, True, "stem")
    runs = [
        Run(
            name="",
            inputs=tuple(sorted(found.files)),
            named=frozenset(path for path, named in found.files.items() if named),
            kind=found.kind,
            location=location,
        )
        for location, found in groups.items()
    ]
    runs += [Run(name="", kind="missing", location=path, reason=why) for path, why in missing]
    return _named(runs)


def _expand(argument: str) -> list[tuple[str, str | None]]:
    """(path, None) for each path an argument names, or (argument, reason) when none."""
    if storage.exists(argument):
        return [(argument, None)]
    if GLOB_CHARS & set(argument):
        matches = storage.glob(argument)
        if matches:
            return [(match, None) for match in matches]
        return [(argument, "matches no file")]
    return [(argument, "no such file or folder")]


def _scan_folder(
    folder: str, add: Callable[[str, str, bool, str], None], missing: list[tuple[str, str]]
) -> None:
    entries = storage.listdir(folder)
    if not entries:
        missing.append((folder, "an empty folder: no runs in it"))
        return
    for path, is_dir in entries:
        name = storage.split(path)[1]
        if name.startswith("."):
            continue
        if is_dir:
            files = [item for item in storage.walk_files(path) if not _hidden_or_not_trace(item)]
            if not files:
                missing.append((path, "a folder without trace files"))
            for item in files:
                add(path, item, False, "folder")
        elif not _not_a_trace(name):
            add(storage.join(folder, stem_of(name)), path, False, "stem")


def _hidden_or_not_trace(path: str) -> bool:
    return _not_a_trace(storage.split(path)[1])


def _named(runs: Iterable[Run]) -> list[Run]:
    """The runs with unique names: their locations relative to the deepest common folder."""
    runs = list(runs)
    parents = [_parts(storage.split(run.location)[0]) for run in runs]
    common: list[str] = []
    if parents:
        for items in zip(*parents, strict=False):
            if any(item != items[0] for item in items):
                break
            common.append(items[0])
    named: list[Run] = []
    used: set[str] = set()
    for run in runs:
        parts = _parts(run.location)[len(common) :]
        name = "/".join(_safe(part) for part in parts) or _safe(run.location)
        base, number = name, 1
        while name in used:
            number += 1
            name = f"{base}~{number}"
        used.add(name)
        named.append(Run(name, run.inputs, run.named, run.kind, run.location, run.reason))
    return sorted(named, key=lambda run: run.name)


def _parts(location: str) -> list[str]:
    if storage.is_url(location):
        scheme, _, rest = location.partition("://")
        return [f"{scheme}:", *[part for part in rest.split("/") if part]]
    absolute = os.path.abspath(location)
    return [part for part in absolute.split(os.sep) if part]


def _safe(part: str) -> str:
    """A path component fit for a folder name of the output (no separators, no dot names)."""
    cleaned = "".join(ch if ch.isprintable() and ch not in '/\\:*?"<>|' else "_" for ch in part)
    return "_" if cleaned in ("", ".", "..") else cleaned
