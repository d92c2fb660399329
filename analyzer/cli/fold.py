"""``iodiag-analyze PERF.txt --format folded``, without the rest of the pipeline.

Folded stacks need neither the Arrow tables nor the report, so for the plain case this path
streams the file in blocks through `perf_fold.StreamingFolder` (stackcollapse-perf.pl's
reading and folding, in bounded memory) and prints the result: it imports no Arrow, numpy,
pandas or CLI framework, which on a fast parse is most of the run (Lark only for the strace
check below).

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

import sys
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import IO, BinaryIO

from analyzer.derive.perf_fold import CollapseOptions, StreamingFolder, folded_line
from analyzer.formats.perf_assemble import gc_paused, scanner_reads_lines, sniff_lines
from analyzer.outputs import OutputError, atomic_text, same_file, stdout_to_devnull

__all__ = ["fold_file", "perf_head_is_certain", "run"]

# the values of analyzer.inputs (a test checks they agree; importing it would import Arrow)
COMPRESSION_MAGIC: tuple[bytes, ...] = (b"\x1f\x8b", b"\xfd7zXZ\x00", b"BZh", b"\x28\xb5\x2f\xfd")
HEAD_BYTES = 64 << 10
BLOCK_BYTES = 8 << 20

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
    items = folder.items()
    first = next(items, None)
    if first is None and forced:
        folder.close()
        return None  # nothing folded of a forced perf input: the full CLI says why
    try:
        if output is None:
            try:
                _write_folded(first, items, sys.stdout)
            except BrokenPipeError:
                stdout_to_devnull()  # the reader took what it wanted (`| head`)
        else:
            try:
                with atomic_text(output) as handle:
                    _write_folded(first, items, handle)
            except OutputError:
                return None  # the full CLI reports it
    finally:
        folder.close()
    note = folder.note()
    if note is not None:
        sys.stderr.write(f"iodiag-analyze: {path}: {note}\n")
    return 0


def _write_folded(
    first: tuple[bytes, int] | None, rest: Iterator[tuple[bytes, int]], out: IO[str]
) -> None:
    """The folded lines (`first`, then `rest`) as the `folded` renderer writes them: bytes
    that are not UTF-8 as ``\\xNN`` (the input layer's reading)."""
    batch: list[bytes] = []
    for stack, count in chain([first] if first is not None else [], rest):
        batch.append(folded_line(stack, count))
        if len(batch) >= 4096:
            out.write(b"".join(batch).decode("utf-8", "backslashreplace"))
            batch.clear()
    out.write(b"".join(batch).decode("utf-8", "backslashreplace"))
    out.flush()


def fold_file(stream: BinaryIO, head: bytes, options: CollapseOptions) -> StreamingFolder | None:
    """A folder that has read `head` and the rest of `stream`, or None for input with
    ``\\r`` (`analyzer.inputs` removes it at line ends; the full CLI does that). Lines that
    are not UTF-8 are read with ``\\xNN`` escapes, as `analyzer.inputs` gives them to the
    full pipeline."""
    folder = StreamingFolder(options)
    pending = b""
    data = head
    while data:
        if b"\r" in data:
            folder.close()
            return None
        data = pending + data if pending else data
        cut = data.rfind(b"\n") + 1  # whole lines only: never split a UTF-8 sequence
        pending = data[cut:]
        if cut:
            folder.feed_raw(_utf8(data if cut == len(data) else data[:cut]))
        data = stream.read(BLOCK_BYTES)
    if pending:
        folder.feed_raw(_utf8(pending))
    return folder


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
