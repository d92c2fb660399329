"""The traced program's output among a chunk's records, where no single line shows it.

`strace_mend` reads a write whose output was printed into its line when the line is no call
as printed. Two cases need the write's record, which the scanner may have read, so they are
mended here, on both engines' records of a chunk:

- output of digits only, printed right after the count, makes the line a call all the same:
  ``write(2, "24", 224) = 2`` is ``write(2, "24", 2) = 2`` with ``24`` printed into it (a
  complete write prints its whole string, so the count is the string's length);
- output printed after the write's line, alone on the next lines (``write(1, "7\\n", 2
  <unfinished ...>`` then ``7``): `output` records instead of unparsed lines.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy
from analyzer.formats.strace_record import StraceRecord
from analyzer.lazy import lazy_module

if TYPE_CHECKING:
    from lark import exceptions as lark_exceptions

    from analyzer.formats import strace_lark
else:
    lark_exceptions = lazy_module("lark.exceptions")
    strace_lark = lazy_module("analyzer.formats.strace_lark")

OUTPUT_LOOKBACK = 4
"""Lines looked back from a line of output for the write that printed it."""

_DIGITS_AFTER_COUNT = r'^(?P<head>[0-9]+, "(?P<digits>[0-9]+)", )(?P<count>[0-9]+)$'


def split_digit_output(table: pa.Table) -> pa.Table:
    """``write(2, "24", 224)``: the write's count and the output printed after it apart."""
    if table.num_rows == 0:
        return table
    writes = np.flatnonzero(filled_numpy(pc.equal(table["syscall"], "write"), False))
    if len(writes) == 0:
        return table
    hits = pc.match_substring_regex(table["args"].take(writes), _DIGITS_AFTER_COUNT)
    rows = writes[filled_numpy(hits, False)]
    if len(rows) == 0:
        return table
    args = table["args"].to_pylist()
    texts = table["text"].to_pylist()
    changed = False
    for row in rows.tolist():
        match = re.match(_DIGITS_AFTER_COUNT, args[row])
        if match is None or match["count"] != f"{len(match['digits'])}{match['digits']}":
            continue
        args[row] = f"{match['head']}{len(match['digits'])}"
        texts[row] = match["digits"]
        changed = True
    if not changed:
        return table
    table = table.set_column(
        table.schema.get_field_index("args"), "args", pa.array(args, pa.string())
    )
    return table.set_column(
        table.schema.get_field_index("text"), "text", pa.array(texts, pa.string())
    )


def output_lines(
    table: pa.Table, rejected: list[tuple[int, str, str]]
) -> tuple[list[tuple[int, StraceRecord]], list[tuple[int, str, str]]]:
    """The rejected lines that repeat, line by line, the string of a write just before them
    (output records of the writer), and the lines still rejected."""
    if not rejected or table.num_rows == 0:
        return [], rejected
    writes = table.filter(pc.fill_null(pc.equal(table["syscall"], "write"), False))
    writes = writes.filter(pc.is_in(writes["kind"], pa.array(["syscall", "unfinished"])))
    if writes.num_rows == 0:
        return [], rejected
    write_lines = writes["line_no"].to_numpy()
    outputs: list[tuple[int, StraceRecord]] = []
    kept: list[tuple[int, str, str]] = []
    pending: dict[int, tuple[StraceRecord, list[str]]] = {}  # next line -> writer, lines left
    for line_no, text, reason in rejected:
        waiting = pending.pop(line_no, None)
        if waiting is None:
            waiting = _writer_of(writes, write_lines, line_no, text)
        if waiting is None or not waiting[1] or waiting[1][0] != text:
            kept.append((line_no, text, reason))
            continue
        writer, lines = waiting
        outputs.append((line_no, StraceRecord("output", writer.pid, writer.comm, text=text)))
        if len(lines) > 1:
            pending[line_no + 1] = (writer, lines[1:])
    return outputs, kept


def _writer_of(
    writes: pa.Table, write_lines: np.ndarray, line_no: int, text: str
) -> tuple[StraceRecord, list[str]] | None:
    """The latest write in the lines just before `line_no` whose output begins with `text`."""
    low = np.searchsorted(write_lines, line_no - OUTPUT_LOOKBACK)
    high = np.searchsorted(write_lines, line_no)
    for row in range(int(high) - 1, int(low) - 1, -1):
        args = writes["args"][row].as_py()
        try:
            values = strace_lark.decode_args(args)
        except (lark_exceptions.LarkError, RecursionError):  # arguments the grammar does not decode
            continue
        string = values[1] if len(values) > 1 else None
        if not isinstance(string, strace_lark.Str) or string.truncated:
            continue
        lines = string.value.decode("utf-8", "replace").split("\n")
        if lines and lines[-1] == "":
            lines = lines[:-1]
        if lines and lines[0] == text:
            record = StraceRecord(
                "write", pid=writes["pid"][row].as_py(), comm=writes["comm"][row].as_py()
            )
            return record, lines
    return None
