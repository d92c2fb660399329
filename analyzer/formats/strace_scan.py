"""The fast strace line scanner: column-wise regular expressions over a chunk of lines.

Lark parses about 15k lines/s; this scanner reads the call lines that make up almost all of a
real trace (complete calls, ``<unfinished ...>`` and ``<... resumed>`` halves) with a few
RE2 passes over the whole chunk (pyarrow.compute releases the GIL, so chunks run in
parallel). Every line it does not fully recognise -- signals, exits, ``-k`` frames, summary
tables, oddities -- is handed back to be parsed by the grammar (`strace_lark`). The records it
produces are the grammar's records: tests run both parsers over every fixture line and over
generated lines and compare.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy
from analyzer.formats.strace_args_shape import args_fit, distinct
from analyzer.formats.strace_bytes import (
    interrupted,
    null_arrays,
    parse_retval,
    scan_simple,
    simple_mask,
)
from analyzer.formats.strace_glued import glued_texts
from analyzer.schema import STRACE_LINES

_NAME = r"[A-Za-z_][A-Za-z0-9_#]*|\?\?\?"
# an SELinux context in brackets (--secontext), as SECONTEXT_FIELD / FILE_CONTEXT in the grammar
_CONTEXT = r"\[[A-Za-z0-9.:,-]*_[A-Za-z0-9_.:,-]*(?:!![A-Za-z0-9_.:,-]+)?\]"

PREFIX_RE = (
    r"^(?P<pre>"
    r"(?:\[pid +(?P<bpid>\d+)(?:<(?P<bcomm>[^<>]*)>)?\] |(?P<pid>\d+)(?:<(?P<comm>[^<>]*)>)? +)?"
    rf"(?:{_CONTEXT} )?"
    r"(?:(?P<clock>\d\d:\d\d:\d\d)(?:\.(?P<cfrac>\d+))? "
    r"|(?P<epoch>\d{7,})\.(?P<efrac>\d+) "
    r"| *(?P<rels>\d{1,6})\.(?P<relf>\d+) )?"
    r"(?:\(\+ +(?P<drs>\d+)\.(?P<drf>\d+)\) )?"
    r"(?:\[ *(?P<scno>\d+)\] )?"
    r"(?:\[(?P<ip>[0-9a-f?]+)\] )?"
    rf"(?:<\.\.\. (?P<rname>{_NAME}) resumed>|(?P<name>{_NAME})\())"
)

TAIL_RE = (
    r"(?P<tail>\) += (?P<ret>(?P<retnum>-?\d+|0x[0-9a-f]+|\?)(?:<(?P<rtarget>.*?)>)?)"
    rf"(?: {_CONTEXT})?"
    r"(?: (?P<errno>E[A-Z0-9_]+) \((?P<errmsg>[^()]*)\)"
    r"| \((?P<errnum>errno \d+)\)"
    r"| \((?P<aux>.*)\))?"
    r"(?: <(?P<ds>\d+)\.(?P<df>\d+)>)?)$"
)

UNFINISHED_SUFFIX = " <unfinished ...>"


def blank_to_null(array: pa.Array) -> pa.Array:
    """Empty strings as nulls: a regex group that did not take part extracts as ``""``."""
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, array.type), array)


def _int(array: pa.Array) -> pa.Array:
    return pc.cast(blank_to_null(array), pa.int64())


def _frac_ns(frac: pa.Array) -> pa.Array:
    padded = pc.utf8_slice_codeunits(pc.utf8_rpad(frac, width=9, padding="0"), 0, 9)
    return pc.cast(padded, pa.int64())


def _seconds_ns(whole: pa.Array, frac: pa.Array) -> pa.Array:
    whole_ns = pc.multiply(_int(whole), 1_000_000_000)
    return pc.add(whole_ns, _frac_ns(frac))


def _clock_ns(clock: pa.Array, frac: pa.Array) -> pa.Array:
    clock = blank_to_null(clock)
    hours = pc.cast(pc.utf8_slice_codeunits(clock, 0, 2), pa.int64())
    minutes = pc.cast(pc.utf8_slice_codeunits(clock, 3, 5), pa.int64())
    seconds = pc.cast(pc.utf8_slice_codeunits(clock, 6, 8), pa.int64())
    whole = pc.add(pc.multiply(pc.add(pc.multiply(hours, 60), minutes), 60), seconds)
    return pc.add(pc.multiply(whole, 1_000_000_000), _frac_ns(frac))


def _coalesce_text(*arrays: pa.Array) -> pa.Array:
    return pc.coalesce(*[blank_to_null(array) for array in arrays])


def slice_between(
    lines: pa.StringArray, head_bytes: np.ndarray, tail_bytes: np.ndarray, valid: np.ndarray
) -> pa.StringArray:
    """Per row, the bytes of `lines` after `head_bytes` and before the last `tail_bytes`.

    pyarrow.compute slices only by constants, so this gathers the bytes with numpy.
    Rows where `valid` is false become null.
    """
    lines = pc.cast(lines, pa.string())
    count = len(lines)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[
        lines.offset : lines.offset + count + 1
    ]
    data_buffer = lines.buffers()[2]
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.zeros(0, np.uint8)
    )
    starts = offsets[:-1].astype(np.int64) + head_bytes
    ends = offsets[1:].astype(np.int64) - tail_bytes
    lengths = np.where(valid, np.maximum(ends - starts, 0), 0)
    new_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    total = int(new_offsets[-1])
    gather = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(total, dtype=np.int64)
    body = data[gather]
    validity = pa.array(valid, pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(
        pa.large_string(),
        count,
        [validity, pa.py_buffer(new_offsets), pa.py_buffer(body)],
    ).cast(pa.string())


def _nbytes(array: pa.Array) -> np.ndarray:
    return filled_numpy(pc.binary_length(array), 0).astype(np.int64)


def scan(
    lines: pa.StringArray, line_numbers: pa.Int64Array, simple: np.ndarray | None = None
) -> tuple[pa.Table, np.ndarray]:
    """Scan a chunk of lines.

    Returns the table of records (schema `strace_lines`) for the lines recognised here, in
    line order, and a boolean mask of the lines left for the grammar-based parser. Lines of
    the common shapes (`simple`: their `simple_mask`, when the caller has it) go to the
    byte-level tier, the other call lines to the regex tier.
    """
    table, leftover, _ = scan_marking_glued(lines, line_numbers, simple)
    return table, leftover


def scan_marking_glued(
    lines: pa.StringArray, line_numbers: pa.Int64Array, simple: np.ndarray | None = None
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """`scan`, and the line numbers of the records it returns that are two lines glued
    together (`strace_glued.glued_rows`), found beside the argument checks."""
    if simple is None:
        simple = simple_mask(lines)
    if simple.all():
        return _keep_fitting_args(scan_simple(lines, line_numbers, simple), ~simple)
    rest = pa.array(~simple, pa.bool_())
    table, leftover_of_rest = _scan_regex(pc.filter(lines, rest), pc.filter(line_numbers, rest))
    leftover = np.zeros(len(lines), dtype=bool)
    leftover[~simple] = leftover_of_rest
    if simple.any():
        table = merge_by_line(scan_simple(lines, line_numbers, simple), table)
    return _keep_fitting_args(table, leftover)


def _keep_fitting_args(
    table: pa.Table, leftover: np.ndarray
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """The records whose arguments the grammar reads as taken (`args_fit`); the lines of the
    others are left to the grammar too. `table` holds the lines not left over, in order.
    Also the line numbers of the records kept whose arguments are two lines glued together."""
    if table.num_rows == 0:
        return table, leftover, np.zeros(0, dtype=np.int64)
    args = table["args"]
    # One chunk (all lines of the byte tier, usually) is encoded as it is, not copied whole.
    encoded = distinct(args.chunk(0) if args.num_chunks == 1 else args)
    fit = args_fit(args, table["kind"], encoded)
    glued = glued_texts(encoded) & fit
    glued_lines = table["line_no"].to_numpy()[glued] if glued.any() else np.zeros(0, np.int64)
    if fit.all():
        return table, leftover, glued_lines
    leftover = leftover.copy()
    leftover[np.flatnonzero(~leftover)[~fit]] = True
    return table.filter(pa.array(fit, pa.bool_())), leftover, glued_lines


MERGE_SLICES = 64
"""Up to this many runs of rows are spliced in as slices; more are merged with a sort."""


def merge_by_line(first: pa.Table, second: pa.Table) -> pa.Table:
    """Two tables in line order as one, in line order (rows of `first` before rows of
    `second` with the same line number), like a stable sort of both by `line_no`.

    The second table is usually a handful of lines among many: its runs are spliced into
    the first as slices (no copy) instead of taking every row of both.
    """
    if second.num_rows == 0:
        return first
    if first.num_rows == 0:
        return second
    first_lines = first["line_no"].to_numpy()
    second_lines = second["line_no"].to_numpy()
    at = np.searchsorted(first_lines, second_lines, side="right")
    in_order = np.all(first_lines[1:] >= first_lines[:-1]) and np.all(
        second_lines[1:] >= second_lines[:-1]
    )
    if not in_order or len(np.unique(at)) > MERGE_SLICES:
        merged = pa.concat_tables([first, second])
        return merged.take(pc.sort_indices(merged["line_no"]))
    pieces = []
    done = 0
    run_starts = np.flatnonzero(np.diff(at, prepend=-1))
    run_ends = np.append(run_starts[1:], len(at))
    for begin, end in zip(run_starts.tolist(), run_ends.tolist(), strict=True):
        position = int(at[begin])
        pieces.append(first.slice(done, position - done))
        pieces.append(second.slice(begin, end - begin))
        done = position
    pieces.append(first.slice(done))
    return pa.concat_tables([piece for piece in pieces if piece.num_rows])


def _scan_regex(lines: pa.StringArray, line_numbers: pa.Int64Array) -> tuple[pa.Table, np.ndarray]:
    """The regex tier: every call-line shape, with RE2 capture groups."""
    prefix = pc.extract_regex(lines, PREFIX_RE)
    matched = prefix.is_valid().to_numpy(zero_copy_only=False)
    tail = pc.extract_regex(lines, TAIL_RE)
    has_tail = tail.is_valid().to_numpy(zero_copy_only=False)
    unfinished = pc.and_not(
        pc.fill_null(pc.ends_with(lines, UNFINISHED_SUFFIX), False), interrupted(lines)
    ).to_numpy(zero_copy_only=False)

    def field(struct: pa.StructArray, name: str) -> pa.Array:
        return pc.fill_null(struct.field(name), "")

    name = field(prefix, "name")
    rname = field(prefix, "rname")
    is_call = pc.not_equal(name, "").to_numpy(zero_copy_only=False) & matched
    is_resumed = pc.not_equal(rname, "").to_numpy(zero_copy_only=False) & matched
    kind_syscall = is_call & has_tail
    kind_unfinished = is_call & ~has_tail & unfinished
    kind_resumed = is_resumed & has_tail
    keep = kind_syscall | kind_unfinished | kind_resumed

    head_len = _nbytes(prefix.field("pre"))
    tail_len = np.where(kind_unfinished, len(UNFINISHED_SUFFIX), _nbytes(tail.field("tail")))
    args = slice_between(lines, head_len, tail_len, keep)

    kind = np.where(kind_syscall, "syscall", np.where(kind_unfinished, "unfinished", "resumed"))
    with_tail = pa.array(kind_syscall | kind_resumed, pa.bool_())

    def tail_text(name: str) -> pa.Array:
        return pc.if_else(with_tail, blank_to_null(field(tail, name)), pa.scalar(None, pa.string()))

    pid = _int(_coalesce_text(field(prefix, "bpid"), field(prefix, "pid")))
    comm = _coalesce_text(field(prefix, "bcomm"), field(prefix, "comm"))
    clock = field(prefix, "clock")
    epoch = field(prefix, "epoch")
    rels = field(prefix, "rels")
    ts_kind = pc.if_else(
        pc.not_equal(clock, ""),
        "clock",
        pc.if_else(
            pc.not_equal(epoch, ""),
            "epoch",
            pc.if_else(pc.not_equal(rels, ""), "relative", pa.scalar(None, pa.string())),
        ),
    )
    ts_ns = pc.coalesce(
        _clock_ns(clock, field(prefix, "cfrac")),
        _seconds_ns(epoch, field(prefix, "efrac")),
        _seconds_ns(rels, field(prefix, "relf")),
    )
    rel_ns = _seconds_ns(field(prefix, "drs"), field(prefix, "drf"))

    retnum = tail_text("retnum")
    retval = parse_retval(retnum)
    errno = pc.coalesce(tail_text("errno"), tail_text("errnum"))
    duration = pc.if_else(
        with_tail,
        _seconds_ns(field(tail, "ds"), field(tail, "df")),
        pa.scalar(None, pa.int64()),
    )
    columns = {
        "line_no": line_numbers,
        "kind": pa.array(kind, pa.string()),
        "pid": pid,
        "comm": comm,
        "ts_ns": ts_ns,
        "ts_kind": ts_kind,
        "rel_ns": rel_ns,
        "scno": _int(field(prefix, "scno")),
        "ip": blank_to_null(field(prefix, "ip")),
        "syscall": _coalesce_text(name, rname),
        "args": args,
        "ret": tail_text("ret"),
        "retval": retval,
        "ret_target": pc.if_else(
            pc.equal(field(tail, "rtarget"), ""),
            pa.scalar(None, pa.string()),
            tail_text("rtarget"),
        ),
        "errno": errno,
        "errmsg": tail_text("errmsg"),
        "aux": tail_text("aux"),
        "duration_ns": duration,
    }
    null = null_arrays(len(lines))
    arrays = []
    for column in STRACE_LINES.columns:
        value = columns.get(column.name)
        if value is None:
            value = null(column.type)
        arrays.append(pc.cast(value, column.type))
    table = pa.Table.from_arrays(arrays, schema=STRACE_LINES.schema)
    return table.filter(pa.array(keep, pa.bool_())), ~keep
