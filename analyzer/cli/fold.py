"""``iodiag-analyze PERF.txt --format folded``, without the rest of the pipeline.

Folded stacks need neither the Arrow tables nor the report, so for the plain case this path
reads the file in blocks (`perf_assemble.BlockReader`), folds the assembler's rows
(`collapse.collapse_assembled`) and prints them: it imports no Arrow, numpy, pandas or CLI
framework, which on a fast parse is most of the run (Lark only for the strace check below and
for lines the scanner leaves to the grammar).

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
from pathlib import Path
from typing import BinaryIO

from analyzer.derive.perf_fold import CollapseOptions, collapse_assembled
from analyzer.formats.perf_assemble import (
    BlockReader,
    gc_paused,
    scanner_reads_lines,
    sniff_lines,
)
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
            text = fold_file(stream, head, options)
    if text is None or (forced and not text):
        return None  # nothing folded of a forced perf input: the full CLI says why
    lines = []
    for line in text.splitlines():  # as the `perf_folded` table and its renderer do
        stack, _, count = line.rpartition(" ")
        lines.append(f"{stack} {int(count)}\n")
    if output is None:
        try:
            sys.stdout.writelines(lines)
            sys.stdout.flush()
        except BrokenPipeError:
            stdout_to_devnull()  # the reader took what it wanted (`| head`)
        return 0
    try:
        with atomic_text(output) as handle:
            handle.writelines(lines)
    except OutputError:
        return None  # the full CLI reports it
    return 0


def fold_file(stream: BinaryIO, head: bytes, options: CollapseOptions) -> str | None:
    """The folded stacks of `head` + the rest of `stream`, or None for input with ``\\r``
    (`analyzer.inputs` removes it at line ends; the full CLI does that). Bytes that are not
    UTF-8 are read as ``\\xNN``, as `analyzer.inputs` does."""
    reader = BlockReader()
    data = head
    while data:
        if b"\r" in data:
            return None
        reader.feed_raw(data)
        data = stream.read(BLOCK_BYTES)
    return collapse_assembled(reader.finish(), options)


def perf_head_is_certain(head: bytes) -> bool:
    """Whether `analyzer.sources.detect` is sure to call this head `perf` (see the module
    docstring)."""
    lines = sniff_lines(head)
    if not scanner_reads_lines(lines):
        return False
    return not _strace_reads_all(lines)


def _strace_reads_all(lines: list[str]) -> bool:
    """Whether the strace grammar parses every line (`strace.sniff` would give 1.0)."""
    from analyzer.formats import strace_lark
    from analyzer.formats.strace_record import Unparsed

    return not any(isinstance(strace_lark.parse_line(line), Unparsed) for line in lines)


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
