"""Merge the files of an `strace -ff -o PREFIX` set into one trace, as strace-log-merge does.

With `-ff` every task writes its own `PREFIX.PID` file, without pid prefixes (compressed
copies, `PREFIX.PID.gz` and the like, are the same files). Analysed one by
one, a worker's `read(5, ...)` cannot be traced to the `pipe2` or `socket` its process made in
another file, and every thread looks like a process of its own. So the files of a set are
merged first: each line gets its file's pid, all lines are ordered by timestamp (ties keep file
and line order), and the derivations run once over the merged lines. Each merged line keeps
where it came from, so the tables still cite the file and line of every call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.formats.strace import ParsedLines

FF_NAME = re.compile(r"^(?P<prefix>.+)\.(?P<pid>\d{1,10})$")
COMPRESSION_SUFFIX = re.compile(r"\.(?:gz|bz2|xz|zst|zstd)$", re.IGNORECASE)
"""What a compressor appends to a name (gzip, bzip2, xz, zstd: the formats inputs read)."""


def ff_match(name: str) -> re.Match[str] | None:
    """`name` read as `PREFIX.PID`, once any compression suffix is stripped."""
    return FF_NAME.match(COMPRESSION_SUFFIX.sub("", name))


def ff_groups(names: Sequence[str]) -> list[list[int]]:
    """Input indices grouped into -ff sets (two or more `PREFIX.PID` files); others alone.

    Groups are listed in the order of their first member.
    """
    by_prefix: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        match = ff_match(name)
        if match:
            by_prefix.setdefault(match["prefix"], []).append(index)
    grouped = {
        index: members for members in by_prefix.values() if len(members) > 1 for index in members
    }
    groups: list[list[int]] = []
    for index in range(len(names)):
        if index not in grouped:
            groups.append([index])
        elif grouped[index][0] == index:
            groups.append(grouped[index])
    return groups


def set_name(names: Sequence[str]) -> str:
    """The name a merged set is reported under: its common `PREFIX`."""
    match = ff_match(names[0])
    return match["prefix"] if match else names[0]


@dataclass(frozen=True)
class MergedLines:
    """The lines of an -ff set in time order, and where each came from."""

    parsed: ParsedLines
    """Merged lines; their `line_no` is the position in the merged order (1-based)."""
    source_input: pa.Array
    """For each merged position (0-based): the name of the file the line came from."""
    source_line: pa.Array
    """For each merged position (0-based): the line's number in that file."""


def merge(members: Sequence[tuple[str, ParsedLines]]) -> MergedLines:
    """Merge the parsed files of one -ff set."""
    tables, clocks, files, lines = [], [], [], []
    for index, (name, parsed) in enumerate(members):
        table = parsed.lines
        match = ff_match(name)
        if match:
            pid_index = table.schema.get_field_index("pid")
            filled = pc.fill_null(table["pid"], int(match["pid"]))
            table = table.set_column(pid_index, table.schema.field("pid"), filled)
        tables.append(table)
        clocks.append(parsed.clock_ns)  # filling in pids leaves the times as they are
        files.append(np.full(table.num_rows, index, dtype=np.int64))
        lines.append(table["line_no"].to_numpy())
    combined = pa.concat_tables(tables).combine_chunks()
    clock = np.concatenate(clocks) if clocks else np.zeros(0)
    file_index = np.concatenate(files) if files else np.zeros(0, np.int64)
    line_no = np.concatenate(lines) if lines else np.zeros(0, np.int64)
    # Untimestamped lines cannot be interleaved; they keep file order after the timed ones.
    order = np.lexsort((line_no, file_index, np.nan_to_num(clock, nan=np.inf)))
    merged = combined.take(pa.array(order, pa.int64()))
    position = pa.array(np.arange(1, len(order) + 1, dtype=np.int64), pa.int64())
    merged = _with(merged, "line_no", position)
    names = pa.array([name for name, _ in members], pa.string())
    parsed = ParsedLines(
        lines=merged,
        unparsed=pa.concat_tables([p.unparsed for _, p in members]),
        line_count=sum(p.line_count for _, p in members),
        non_utf8_lines=sum(p.non_utf8_lines for _, p in members),
    )
    return MergedLines(
        parsed=parsed,
        source_input=pc.take(names, pa.array(file_index[order], pa.int64())),
        source_line=pa.array(line_no[order], pa.int64()),
    )


def _positions(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """0-based merged positions for a column of merged line numbers."""
    return pc.subtract(column, 1)


def restore_sources(tables: dict[str, pa.Table], merged: MergedLines) -> dict[str, pa.Table]:
    """Put file names and file line numbers back into tables derived from merged lines."""
    restored = dict(tables)
    calls = tables["syscalls"]
    first = _positions(pc.coalesce(calls["line_start"], calls["line_end"]))
    calls = _with(calls, "input", pc.take(merged.source_input, first))
    for column in ("line_start", "line_end"):
        calls = _with(calls, column, pc.take(merged.source_line, _positions(calls[column])))
    restored["syscalls"] = calls
    if "wait_fds" in tables:
        waits = tables["wait_fds"]
        restored["wait_fds"] = _with(waits, "input", pc.take(calls["input"], waits["row"]))
    for name in ("signals", "exits"):
        table = tables[name]
        where = _positions(table["line_no"])
        table = _with(table, "input", pc.take(merged.source_input, where))
        restored[name] = _with(table, "line_no", pc.take(merged.source_line, where))
    tasks = tables["tasks"]
    where = _positions(tasks["first_line"])
    tasks = _with(tasks, "input", pc.take(merged.source_input, where))
    for column in ("first_line", "last_line"):
        tasks = _with(tasks, column, pc.take(merged.source_line, _positions(tasks[column])))
    restored["tasks"] = tasks
    return restored


def _with(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    index = table.schema.get_field_index(name)
    return table.set_column(index, table.schema.field(name), values)
