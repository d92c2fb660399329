"""``iodiag-analyze PERF.txt --format folded``, without the rest of the pipeline.

Folded stacks need neither the Arrow tables nor the report, so for the plain case this path
streams the file in blocks through `perf_fold.StreamingFolder` (stackcollapse-perf.pl's
reading and folding, in bounded memory) and prints the result: it imports no Arrow, numpy,
pandas or CLI framework, which on a fast parse is most of the run (Lark only for the strace
check below). A file of at least `SPLIT_BYTES` is folded in two halves, cut after an empty
line near its middle, by this process and a forked child at once (`fold_split`): the
script's state is clean after every empty line, so the halves fold alone but for the event
folded by default, which is found first and given to both.

`run(argv)` returns the exit code when it handled the command line, or None when the
command is not one it handles, and the caller runs the full CLI. It handles only:

- exactly one input, a regular uncompressed file;
- ``--format folded`` (``-f folded``, ``--format=folded``), the fold options (``--pid --tid
  --kernel --jit --all --addrs --event-filter EV``), ``-o/--output FILE`` and
  ``--input-format perf``; any other option declines;
- an input that format detection is certain to call `perf`: every non-blank line of its head
  (the lines `analyzer.sources.detect` reads) is read by the perf scanner, one of them
  a sample header (`perf_assemble.is_sample_header`), so `perf_script.sniff` gives it 1.0,
  which only a strace sniff of 1.0 can tie (`analyzer.sources.detect` prefers strace on a
  tie; the sources tried before perf for thread snapshots, py-spy dumps and metrics need a
  line the perf scanner leaves to the grammar: a `top -` line, a column header, a
  `Thread`/`Process` line, a `Device` header or JSON). Ties do happen:
  strace lines are valid unindented perf frames (``8393  15:41:33.447474 brk(NULL) = ...``
  is address ``8393`` and a symbol), so the strace grammar is run on the same lines, as
  `strace.sniff` does, until one fails.

Everything else (stdin, compressed input, several inputs, other outputs, errors: an output
that is the input, that cannot be written, a closed stdout) goes to the full CLI, so the
messages and exit codes stay the CLI's. ``-o FILE`` is written whole or not at all
(`analyzer.outputs.atomic_text`). The output is the `folded` renderer's:
`tests/test_perf_fold_fast.py` checks it equals the full path byte for byte.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import replace
from itertools import chain
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from analyzer.derive.fold_runs import Batch, folded_batch, merge_batches
from analyzer.derive.perf_fold import CollapseOptions, StreamingFolder, event_note
from analyzer.formats.perf_assemble import gc_paused, scanner_reads_lines, sniff_lines
from analyzer.formats.perf_collapse import EVENT, HEADER
from analyzer.outputs import OutputError, atomic_text, same_file, stdout_to_devnull

__all__ = [
    "SplitFold",
    "first_event",
    "fold_file",
    "fold_split",
    "perf_head_is_certain",
    "read_range",
    "run",
    "usable_cpus",
]

# the values of analyzer.inputs (a test checks they agree; importing it would import Arrow)
COMPRESSION_MAGIC: tuple[bytes, ...] = (b"\x1f\x8b", b"\xfd7zXZ\x00", b"BZh", b"\x28\xb5\x2f\xfd")
HEAD_BYTES = 64 << 10
BLOCK_BYTES = 8 << 20
WRITE_ITEMS = 1 << 14
"""Folded lines printed at a time."""

_FLAGS = ("pid", "tid", "kernel", "jit", "all", "addrs")
_VALUE_OPTIONS = ("--format", "-f", "--output", "-o", "--input-format", "--event-filter")


def run(argv: list[str]) -> int | None:
    """Fold the one perf input named on the command line, or None to leave it to the CLI."""
    parsed = _parse_argv(argv)
    if parsed is None:
        return None
    path, output, options, forced = parsed
    if output is None and sys.stdout is None:
        return None  # closed: the full CLI says so
    if output is not None and same_file(output, path):
        return None  # the full CLI refuses to overwrite an input
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError:
        return None
    with stream:
        head = stream.read(HEAD_BYTES)
        if head.startswith(COMPRESSION_MAGIC):
            return None
        if not forced and not perf_head_is_certain(head):
            return None
        with gc_paused():
            folder = fold_file(stream, head, options)
    if folder is None:
        return None
    batches = folder.batches()
    first = next(batches, None)
    if first is None and forced:
        folder.close()
        return None  # nothing folded of a forced perf input: the full CLI says why
    try:
        if output is None:
            try:
                _write_folded(first, batches, sys.stdout)
            except BrokenPipeError:
                stdout_to_devnull()  # the reader took what it wanted (`| head`)
        else:
            try:
                with atomic_text(output) as handle:
                    _write_folded(first, batches, handle)
            except OutputError:
                return None  # the full CLI reports it
    finally:
        folder.close()
    note = folder.note()
    if note is not None:
        sys.stderr.write(f"iodiag-analyze: {path}: {note}\n")
    return 0


def _write_folded(first: Batch | None, rest: Iterator[Batch], out: IO[str]) -> None:
    """The folded lines (batch `first`, then `rest`) as the `folded` renderer writes them:
    bytes that are not UTF-8 as ``\\xNN`` (the input layer's reading). Straight to the
    byte buffer of a UTF-8 handle (the text layer would decode and encode them again)."""
    raw: IO[bytes] | None = getattr(out, "buffer", None)
    encoding = getattr(out, "encoding", None)
    if encoding is None or codecs.lookup(encoding).name != "utf-8" or os.linesep != "\n":
        raw = None
    if raw is not None:
        out.flush()
    for batch in chain([first] if first is not None else [], rest):
        # a slice at a time: a batch can be every stack (one process that never spilled),
        # and its lines and text at once took ~240 MB more at 500 MB of distinct stacks
        for start in range(0, len(batch), WRITE_ITEMS):
            text = folded_batch(batch[start : start + WRITE_ITEMS])
            if raw is None:
                out.write(text.decode("utf-8", "backslashreplace"))
            else:
                raw.write(text if text.isascii() else _utf8(text))
    if raw is not None:
        raw.flush()
    out.flush()


class Folded(Protocol):
    """What `run` prints: a `StreamingFolder`, or a `SplitFold` of two."""

    def batches(self) -> Iterator[Batch]: ...

    def items(self) -> Iterator[tuple[bytes, int]]: ...

    def note(self) -> str | None: ...

    def close(self) -> None: ...


def fold_file(stream: BinaryIO, head: bytes, options: CollapseOptions) -> Folded | None:
    """A folder that has read `head` and the rest of `stream`, or None for input with
    ``\\r`` (`analyzer.inputs` removes it at line ends; the full CLI does that). Lines that
    are not UTF-8 are read with ``\\xNN`` escapes, as `analyzer.inputs` gives them to the
    full pipeline. A file of at least `SPLIT_BYTES` is folded in two halves side by side
    when two CPUs are usable (`fold_split`)."""
    if _file_size(stream) >= HEAP_BYTES:
        keep_heap()
    split = _split_point(stream, head, options)
    if split is not None:
        return fold_split(stream, head, options, *split)
    folder = StreamingFolder(options)
    if not read_range(folder, stream, head, None):
        folder.close()
        return None
    return folder


def read_range(folder: StreamingFolder, stream: BinaryIO, head: bytes, end: int | None) -> bool:
    """Feed `folder` with `head` and what follows it in `stream` up to offset `end` (the
    end of the file: None); False when the input has ``\\r``."""
    pending = b""
    data = head
    while data:
        if b"\r" in data:
            return False
        if not pending and data.isascii():  # no UTF-8 sequence to cut: the reader cuts
            folder.feed_raw(data)
            size = BLOCK_BYTES if end is None else min(BLOCK_BYTES, end - stream.tell())
            data = stream.read(size) if size > 0 else b""
            continue
        data = pending + data if pending else data
        cut = data.rfind(b"\n") + 1  # whole lines only: never split a UTF-8 sequence
        pending = data[cut:]
        if cut:
            folder.feed_raw(_utf8(data if cut == len(data) else data[:cut]))
        size = BLOCK_BYTES if end is None else min(BLOCK_BYTES, end - stream.tell())
        data = stream.read(size) if size > 0 else b""
    if pending:
        folder.feed_raw(_utf8(pending))
    return True


HEAP_BYTES = 16 << 20
"""Files at least this large are read with the C heap kept (`keep_heap`)."""
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def keep_heap() -> None:
    """Have glibc's malloc keep freed memory for the next block (and the forked child):
    every block allocates ~25 MB of text and lists and frees it, and by default malloc maps
    allocations of a block's size afresh (and gives freed heap back past 2x that), so
    every block's pages were faulted in again: 590K minor faults, ~1.2 s of system time,
    for 500 MB of distinct frame lines (185K with this). Blocks stay under the mmap
    threshold set here; the heap is trimmed past the trim threshold. No effect with
    another C library."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest
        libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)


def _file_size(stream: BinaryIO) -> int:
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, io.UnsupportedOperation):
        return 0


SPLIT_BYTES = 64 << 20
"""Files at least this large are folded in two halves by two processes."""
SPLIT_SEARCH = 16 << 20
"""How far past the middle an empty line is looked for (none: one process)."""


def _split_point(
    stream: BinaryIO, head: bytes, options: CollapseOptions
) -> tuple[int, CollapseOptions] | None:
    """(offset just after an empty line near the middle of the file, the options with the
    event to fold made explicit) for a file worth folding in two halves, else None.

    The script's state is clean after every empty line (`analyzer.formats.perf_collapse`),
    so the halves fold independently, but for the event folded by default, the first one
    the script meets in the whole file: it must be in the first half (else one process)."""
    size = _file_size(stream)
    if size < SPLIT_BYTES or usable_cpus() < 2:
        return None
    start = stream.tell()
    try:
        stream.seek(size // 2)
        tail = b""
        while len(tail) < SPLIT_SEARCH:
            block = stream.read(1 << 20)
            if not block:
                return None
            found = (tail[-1:] + block).find(b"\n\n")
            if found >= 0:
                cut = stream.tell() - len(block) - len(tail[-1:]) + found + 2
                break
            tail += block
        else:
            return None
        if options.event_filter is not None:
            return cut, options
        stream.seek(start)
        event = first_event(stream, head, cut)
    finally:
        stream.seek(start)
    if event is None:
        return None
    return cut, replace(options, event_filter=event.decode("utf-8", "surrogateescape"))


_HEADERISH = re.compile(rb"^[^\s#][^\n]*", re.MULTILINE)


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def first_event(stream: BinaryIO, head: bytes, end: int) -> bytes | None:
    """The event of the first line before `end` that the script reads as a header with an
    event (`head`, then `stream`): the one it folds by default."""
    pending = b""
    data = head
    while data:
        data = pending + data if pending else data
        cut = data.rfind(b"\n") + 1
        pending = data[cut:]
        for match in _HEADERISH.finditer(_utf8(data[:cut])):
            line = match.group()
            if HEADER.match(line) is not None:
                event = EVENT.search(line)
                if event is not None:
                    return event[2]
        size = min(BLOCK_BYTES, end - stream.tell())
        data = stream.read(size) if size > 0 else b""
    return None


class SplitFold:
    """The folded stacks of a file folded in two halves: this process reads the first, a
    child process the second; both write sorted runs, merged here."""

    def __init__(self, original: CollapseOptions, work: str) -> None:
        self.original = original
        self.work = work
        self.runs: list[str] = []
        self.last: Batch = []
        """The first half's folded stacks that it did not write to a run, sorted."""
        self.events: list[bytes] = []
        self.first: StreamingFolder | None = None
        """The first half's folder, which owns its runs."""

    def batches(self) -> Iterator[Batch]:
        try:
            yield from merge_batches(self.runs, self.last)
        finally:
            self.close()

    def items(self) -> Iterator[tuple[bytes, int]]:
        for batch in self.batches():
            yield from batch

    def note(self) -> str | None:
        if self.original.event_filter is not None or not self.events:
            return None
        first = self.events[0]
        return event_note(first, next((e for e in self.events if e != first), None))

    def close(self) -> None:
        if self.first is not None:
            self.first.close()
        shutil.rmtree(self.work, ignore_errors=True)


def fold_split(
    stream: BinaryIO, head: bytes, original: CollapseOptions, cut: int, options: CollapseOptions
) -> SplitFold | None:
    """Fold the file up to `cut` here and from `cut` on in a child process (see
    `SplitFold`); None for input with ``\\r``."""
    import multiprocessing
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    head = head[:cut]  # (`head` starts the file)
    work = tempfile.mkdtemp(prefix="iodiag-fold-")
    result = SplitFold(original, work)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            second = pool.submit(_fold_second_half, stream.name, cut, options, work)
            folder = StreamingFolder(options, spill_dir=work)
            folder.SPILL_BYTES //= 2  # two processes
            if not read_range(folder, stream, head, cut):
                second.cancel()
                result.close()
                return None
            result.first = folder
            result.runs, result.last = folder.finish_sorted()
            result.events = folder.events()
            done = second.result()
    except BaseException:
        result.close()
        raise
    if done is None:
        result.close()
        return None
    runs, events = done
    result.runs += runs
    result.events = list(dict.fromkeys([*result.events, *events]))
    return result


def _fold_second_half(
    path: str, cut: int, options: CollapseOptions, work: str
) -> tuple[list[str], list[bytes]] | None:
    """In the child process: fold the file from `cut` on; (run files, events met), or None
    for input with ``\\r``."""
    folder = StreamingFolder(options, spill_dir=work)
    folder.SPILL_BYTES //= 2
    with open(path, "rb") as stream:
        stream.seek(cut)
        if not read_range(folder, stream, stream.read(BLOCK_BYTES), None):
            folder.close()
            return None
    return folder.finish_runs(work), folder.events()


def _utf8(block: bytes) -> bytes:
    """`block` with bytes that are not UTF-8 written ``\\xNN``."""
    if block.isascii():
        return block
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("utf-8", "backslashreplace").encode("utf-8")
    return block


def perf_head_is_certain(head: bytes) -> bool:
    """Whether `analyzer.sources.detect` is sure to call this head `perf` (see the module
    docstring)."""
    lines = sniff_lines(head)
    if not scanner_reads_lines(lines):
        return False
    return not _strace_reads_all(lines)


def _strace_reads_all(lines: list[str]) -> bool:
    """Whether the strace grammar parses every line (`strace.sniff` would give 1.0)."""
    from analyzer.formats.strace_mend import parse_lines

    return not parse_lines(list(range(1, len(lines) + 1)), lines)[1]


def _parse_argv(argv: list[str]) -> tuple[str, str | None, CollapseOptions, bool] | None:
    """(input, output, fold options, --input-format perf) for the command lines handled."""
    inputs: list[str] = []
    output: str | None = None
    output_format: str | None = None
    input_format: str | None = None
    flags = dict.fromkeys(_FLAGS, False)
    event_filter: str | None = None
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        name, equals, value = arg.partition("=")
        if arg.startswith("--") and name[2:] in flags and not equals:
            flags[name[2:]] = True
            continue
        if name in _VALUE_OPTIONS:
            if equals and name in ("-f", "-o"):
                return None  # "-f=x" is the value "=x" to click: not handled here
            if not equals:
                if index >= len(argv):
                    return None
                value = argv[index]
                index += 1
            if name in ("--format", "-f"):
                output_format = value
            elif name in ("--output", "-o"):
                output = value
            elif name == "--input-format":
                input_format = value
            else:
                event_filter = value
            continue
        if arg.startswith("-") or arg == "":
            return None  # another option, "-" (stdin), or something the CLI should judge
        inputs.append(arg)
    if output_format != "folded" or input_format not in (None, "perf") or len(inputs) != 1:
        return None
    if not Path(inputs[0]).is_file():
        return None
    options = CollapseOptions(event_filter=event_filter, **flags)
    return inputs[0], output, options, input_format == "perf"
