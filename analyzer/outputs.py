"""Writing the outputs of a run safely: whole or not at all, never over an input.

- `atomic_text`: a text file (``-o FILE``, the default HTML and Markdown reports) is written
  to a temporary file beside it and renamed over it once complete, so a failed run leaves the
  previous file as it was and no partial one, and of two runs writing one path at once the
  file ends up whole from one of them (each has its own temporary file; the rename is
  atomic). A path that is not a regular file (``/dev/stdout``, ``/dev/null``, a FIFO) is
  written in place; a symbolic link is kept and the file it points to replaced.
- `atomic_directory`: a folder of files (``--format parquet -o DIR``) is written to a
  temporary folder beside it, then renamed to `DIR` when there is none, or its files and
  folders are moved into `DIR` one by one under an exclusive lock of `DIR` (two runs moving
  into one folder take turns, so its tables end up from one run; a folder of the same name
  is replaced whole). Other files in `DIR` are left alone.
- `refuse_inputs`: an output path that is one of the run's inputs is refused before
  anything is read.
- `stdout_to_devnull`: after the reader of stdout went away (``| head``), later writes there
  go nowhere instead of failing again.

An `OSError` on the way (a full disk, no permission, a missing folder) becomes `OutputError`,
whose one-line message names the path the user gave.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from analyzer.errors import IodiagError, UsageError

__all__ = [
    "OutputError",
    "atomic_directory",
    "atomic_text",
    "refuse_inputs",
    "same_file",
    "stdout_to_devnull",
]


class OutputError(IodiagError):
    """An output that cannot be written (exit code 2); the message names its path."""


def _error(path: str | Path, error: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {error.strerror or error}")


def _umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _temporary_name(target: Path) -> str:
    return f".{target.name}."


@contextmanager
def atomic_text(path: str | Path) -> Iterator[IO[str]]:
    """A UTF-8 text handle whose content replaces `path` only when the block ends without an
    exception (see the module docstring). Raises `OutputError` naming `path`."""
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    if target.exists() and not target.is_file():
        # A device or a FIFO: there is nothing to replace, and renaming over it would.
        try:
            with open(target, "w", encoding="utf-8") as handle:
                yield handle
        except OSError as error:
            raise _error(path, error) from error
        return
    try:
        mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
        fd, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=_temporary_name(target), suffix=".tmp"
        )
    except OSError as error:
        raise _error(path, error) from error
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode)
        os.replace(temporary, target)
    except OSError as error:
        _remove(temporary)
        raise _error(path, error) from error
    except BaseException:
        _remove(temporary)
        raise


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """A new empty folder beside `path` to write files into; when the block ends without an
    exception its files are put in `path` (see the module docstring). Raises `OutputError`
    naming `path`."""
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_dir():
        raise OutputError(f"cannot write {path}: it exists and is not a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(
            tempfile.mkdtemp(dir=target.parent, prefix=_temporary_name(target), suffix=".tmp")
        )
    except OSError as error:
        raise _error(path, error) from error
    try:
        yield temporary
        os.chmod(temporary, 0o777 & ~_umask())  # mkdtemp made it 0o700
        _install_directory(temporary, target)
    except OSError as error:
        raise _error(path, error) from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def _install_directory(temporary: Path, target: Path) -> None:
    try:
        os.rename(temporary, target)  # no folder there yet (or an empty one): one step
        return
    except OSError as error:
        if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    folder = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        for item in sorted(temporary.iterdir()):
            _replace(item, target / item.name)
    finally:
        os.close(folder)  # also releases the lock


def _replace(item: Path, destination: Path) -> None:
    """Put `item` at `destination`; a folder there is replaced whole (a table's dataset of
    an earlier run must not keep files the new one does not have)."""
    if not (item.is_dir() and destination.is_dir() and not destination.is_symlink()):
        os.replace(item, destination)
        return
    old = Path(tempfile.mkdtemp(dir=destination.parent, prefix=_temporary_name(destination)))
    os.replace(destination, old / destination.name)
    try:
        os.replace(item, destination)
    except OSError:
        os.replace(old / destination.name, destination)  # put the earlier one back
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _remove(path: str | Path) -> None:
    with suppress(OSError):
        os.unlink(path)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (the same inode, or the same resolved path when
    either does not exist)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_inputs(outputs: Iterable[str | Path], inputs: Iterable[str | Path]) -> None:
    """Raise `UsageError` when an output path is one of the inputs (stdin, ``-``, is none)."""
    sources = [item for item in inputs if str(item) != "-"]
    for output in outputs:
        for source in sources:
            if same_file(output, source):
                raise UsageError(f"will not overwrite the input {source} with an output")


def stdout_to_devnull() -> None:
    """Point stdout at /dev/null after its reader went away, so that later writes and the
    interpreter's final flush do not fail again (as the Python docs advise for SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
