"""The command line: `main` picks the command, each command lives in its own module.

- `analyze`: ``iodiag-analyze INPUT...``, the Typer command that wires the stages together;
- `fold`: ``iodiag-analyze PERF.txt --format folded`` for one plain perf file, without Arrow,
  pandas or Typer (most of a fold's run time would be their imports);
- `batch`: ``iodiag-analyze batch DIR_OR_GLOB... --out-dir reports/``, many runs at once;
- `diff`: ``iodiag-analyze diff BASE CANDIDATE``, the regression gate between two reports
  or two batches.

The first argument picks the command: ``batch`` and ``diff`` are subcommands, anything else
is an input of the one-run command (a file named ``batch`` is given as ``./batch``).

This package's own import is light on purpose: the fold path must not pay for the others.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def main(fast_exit: bool = True) -> None:
    """Console-script entry point of `iodiag-analyze`.

    A one-run command (`analyze`, `fold`) ends in `exit_without_teardown` unless `fast_exit`
    is false: what runs the command in its own process (tests that read `sys.modules`
    after it) passes False and gets the `SystemExit` instead."""
    command = sys.argv[1] if len(sys.argv) > 1 else None
    if sys.argv[1:] == ["--version"]:
        print(version_line())
        return
    if command == "diff":
        from analyzer.cli.diff import main as diff

        diff(sys.argv[2:])
        return
    one_blas_thread()
    unwind_on_termination()
    if command == "batch":
        use_system_allocator()
        from analyzer.cli.batch import main as batch

        batch(sys.argv[2:])
        return
    # `fold.run` takes only `--format folded` (`-f folded`, `--format=folded`) command lines:
    # any other is left without importing its perf folding modules
    if "folded" in sys.argv or "--format=folded" in sys.argv:
        from analyzer.cli.fold import run

        code = run(sys.argv[1:])  # uses no Arrow: pyarrow (and numpy) are not imported for it
        if code is not None:
            _end(code, fast_exit)
    use_system_allocator()
    from analyzer.cli.analyze import app

    try:
        app()
    except SystemExit as end:
        _end(end.code, fast_exit)


def _end(code: str | int | None, fast_exit: bool) -> NoReturn:
    if fast_exit:
        exit_without_teardown(code)
    sys.exit(code)


def exit_without_teardown(code: str | int | None) -> NoReturn:
    """Exit as `sys.exit(code)` would, without tearing the interpreter down.

    When a run returns, its outputs are written (atomically) and its work directory is gone.
    What Python does next, freeing every module and its objects (pandas, pyarrow, DuckDB,
    the passes), took 0.15 s of every run here, 15% of a 100-line trace's run: `python -c
    'import pandas, pyarrow, duckdb, analyzer.passes, analyzer.cli.analyze'` medians of 5
    alternating runs, 0.94 s against 0.77 s with `os._exit` after the imports; and
    `run_startup_benchmark.py --repeat 7` against the commit before (load 2.8-4.0): best of
    strace100-json 1.117 -> 0.843 s, perf73-json 1.049 -> 0.951 s. So the exit
    handlers run (`atexit`: DuckDB's idle databases, finalizers of temporary folders), stdout
    and stderr are flushed, and the process ends with `os._exit`, as mypy ends its runs.
    A string `code` is printed to stderr with status 1, as `sys.exit` does; a flush that fails
    gives status 120, as Python's own exit does."""
    import atexit

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            status = status or 120
    os._exit(status)


def version_line() -> str:
    """`iodiag 0.1.0 (pyarrow X, lark Y, Python Z)`, read from the installed distributions'
    metadata: importing pyarrow, lark and the pipeline only to print their versions took most
    of `--version`'s time."""
    from importlib.metadata import PackageNotFoundError, version

    from analyzer import __version__

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return (
        f"iodiag {__version__} (pyarrow {installed('pyarrow')}, lark {installed('lark')}, "
        f"Python {sys.version.split()[0]})"
    )


def unwind_on_termination() -> None:
    """Make SIGTERM and SIGHUP (a CI job's timeout, `kill`, a closed terminal) unwind the run as
    Ctrl-C does: its work directory and its temporary output files are removed, and it exits
    with 128 + the signal's number. Python's default for these signals kills the process on the
    spot, which left a long trace's spilled tables behind (32 MB six seconds into a 3M-line
    trace, hundreds of MB later) in the temporary folder."""
    import signal

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    for number in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(number) == signal.SIG_DFL:
            signal.signal(number, stop)


def one_blas_thread() -> None:
    """Start numpy's OpenBLAS with one thread, unless OPENBLAS_NUM_THREADS chooses.

    iodiag multiplies only integer arrays, which numpy does without BLAS; starting OpenBLAS's
    pool of threads cost every run 0.06 s of wall time (0.03 s of CPU) of its numpy import
    (`import numpy` best of 10: 0.168 s -> 0.108 s wall, 0.098 -> 0.068 s CPU, load 3.9). Set
    before anything imports numpy (pyarrow, pandas)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def use_system_allocator() -> None:
    """Allocate Arrow buffers with the C library's malloc, unless ARROW_DEFAULT_MEMORY_POOL
    chooses a pool.

    pyarrow's default pool (mimalloc) keeps the pages that the parser's worker threads
    freed; with malloc, the pipeline's `release_unused` (malloc_trim) gives them back to the
    system. On the 1M-line benchmark trace the peak RSS drops from 753 to 696 MiB (medians of
    8 alternating runs), and the time ratio is 1.006 (0.85-1.08): the same speed. Only the
    command does this: it owns its process, a program that imports `analyzer` keeps its own
    pool.
    """
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
