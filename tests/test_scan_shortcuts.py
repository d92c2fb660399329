"""The strace scanner's shortcuts against the plain computations they replace: the byte tier's
line mask (one regex instead of three), return values (the hex/octal regex on candidates
only), spans (a take without nulls), byte walks (eight bytes a step), clock digits (eight at a
time), the argument checks (once per distinct text) and the glued-line check (made with the
argument checks, the regex only on texts that hold a call's end). Each reference below is
the computation as it was before its shortcut. Lines written here by hand are marked as such."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strace_traces import TRACES, parsed_in_small_chunks
from support import FIXTURES, examples

from analyzer.formats import strace, strace_args_shape, strace_bytes
from analyzer.formats.strace_glued import GLUED, glued_rows, glued_texts, is_glued, may_be_glued
from analyzer.formats.strace_output import output_lines, split_digit_output
from analyzer.inputs import iter_line_chunks, open_input

# --- simple_mask ------------------------------------------------------------------------------

_OLD_TIMESTAMP = r"(?:\d\d:\d\d:\d\d(?:\.\d{3}|\.\d{6}|\.\d{9})? |\d{7,11}\.(?:\d{6}|\d{9}) )"
_OLD_SIMPLE_LINE = strace_bytes.SIMPLE_LINE.replace(strace_bytes._TIMESTAMP, _OLD_TIMESTAMP)
_OLD_LONG_MESSAGE = r"\([^()]{254,}\)(?: <[0-9.]+>)?$"
_OLD_WIDE_EPOCH = r"^(?:\d{1,9} {1,8})?(?:\d{11}|9\d{9})\."


def _old_simple_mask(lines: pa.StringArray) -> np.ndarray:
    """Three regex passes: the shapes, minus long errno messages and epochs of 9e9 s or more."""
    simple = pc.fill_null(pc.match_substring_regex(lines, _OLD_SIMPLE_LINE), False)
    long_message = pc.fill_null(pc.match_substring_regex(lines, _OLD_LONG_MESSAGE), False)
    wide = pc.fill_null(pc.match_substring_regex(lines, _OLD_WIDE_EPOCH), False)
    left = pc.or_(pc.or_(long_message, wide), strace_bytes.interrupted(lines))
    return pc.and_not(simple, left).to_numpy(zero_copy_only=False)


def test_the_old_timestamp_is_the_one_replaced() -> None:
    assert _OLD_SIMPLE_LINE != strace_bytes.SIMPLE_LINE


@st.composite
def _edge_lines(draw: st.DrawFn) -> str:
    """Generated: call lines around the edges the mask decides on -- epoch times of 6 to 12
    digits (9e9 s and up among them), errno messages about `_MESSAGE_LOOKBACK` long, ^C."""
    pid = draw(st.sampled_from(["", "1234 ", "7        ", "123456789 ", "1234567890 "]))
    whole = draw(st.integers(6, 12))
    first = draw(st.sampled_from("0189"))
    epoch = first + "0" * (whole - 1) + "." + draw(st.sampled_from(["123456", "123456789", "1"]))
    ts = draw(st.sampled_from(["", "10:00:00.000001 ", epoch + " "]))
    size = draw(st.integers(240, 270))
    message = draw(st.sampled_from(["x", "No such file"])) * size
    tail = draw(
        st.sampled_from(
            [
                " = 0",
                " = -1 ENOENT (No such file or directory) <0.000004>",
                f" = -1 EIO ({message[:size]})",
                f" = -1 EIO ({message[:size]}) <0.000004>",
                f" = -1 EIO (a({message[:size]}) <0.5>",
            ]
        )
    )
    call = draw(st.sampled_from(["close(3)", "<... close resumed>)", 'write(1, "a = b", 5)']))
    if draw(st.integers(0, 4)) == 0:
        return pid + ts + "read(3, " + draw(st.sampled_from(["", "^C"])) + " <unfinished ...>"
    return pid + ts + call + tail


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_edge_lines(), min_size=1, max_size=8))
def test_simple_mask_equals_three_regex_passes(lines: list[str]) -> None:
    array = pa.array(lines, pa.string())
    assert strace_bytes.simple_mask(array).tolist() == _old_simple_mask(array).tolist()


# Hand-written edges: messages of 253-255 characters on the shortest lines that hold them,
# epoch times on both sides of 9e9 s.
EDGE_LINES = [
    f"close(3) = -1 EIO ({'x' * size})" + duration
    for size in (253, 254, 255)
    for duration in ("", " <0.1>")
] + [
    f"{pid}{epoch}.000001 close(3) = 0"
    for pid in ("", "12 ")
    for epoch in ("8999999999", "9000000000", "10000000000", "999999999", "099999999")
]


def test_simple_mask_equals_three_regex_passes_on_edges() -> None:
    array = pa.array(EDGE_LINES, pa.string())
    expected = _old_simple_mask(array)
    assert strace_bytes.simple_mask(array).tolist() == expected.tolist()
    assert 0 < expected.sum() < len(expected)


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_simple_mask_equals_three_regex_passes_on_every_fixture_line(path: Path) -> None:
    source = open_input(path)
    try:
        for chunk in iter_line_chunks(source.stream, chunk_bytes=1 << 16):
            expected = _old_simple_mask(chunk.lines)
            assert strace_bytes.simple_mask(chunk.lines).tolist() == expected.tolist()
    finally:
        source.close()


# --- parse_retval -----------------------------------------------------------------------------


def _old_parse_retval(retnum: pa.Array) -> pa.Array:
    special = pc.fill_null(pc.match_substring_regex(retnum, r"^0(?:x[0-9a-f]+|[0-7]+)$"), False)
    decimal_text = pc.if_else(
        pc.or_(special, pc.fill_null(pc.equal(retnum, "?"), False)),
        pa.scalar(None, pa.string()),
        retnum,
    )
    decimal = pc.cast(decimal_text, pa.int64())
    if not pc.any(special).as_py():
        return decimal
    texts = pc.filter(retnum, special).to_pylist()
    values = pa.array([strace_bytes._wrap_int64(int(t, 0 if t[1] == "x" else 8)) for t in texts])
    return pc.replace_with_mask(decimal, special, pc.cast(values, pa.int64()))


_RETURNS = st.one_of(
    st.none(),
    st.just("?"),
    st.integers(-(10**17), 10**17).map(str),
    st.from_regex(r"0[0-9]{0,6}", fullmatch=True),
    st.from_regex(r"0x[0-9a-f]{1,16}", fullmatch=True),
)


@given(st.lists(_RETURNS, max_size=12), st.integers(0, 3))
def test_parse_retval_equals_the_regex_on_every_text(texts: list[str | None], skip: int) -> None:
    values = pa.array(texts, pa.string())
    for part in (values, values.slice(min(skip, len(texts)))):  # also a slice with an offset
        assert strace_bytes.parse_retval(part).equals(_old_parse_retval(part))


# --- LineBytes.spans --------------------------------------------------------------------------


def _old_spans(raw: strace_bytes.LineBytes, start: np.ndarray, end: np.ndarray, valid: np.ndarray):
    chosen = np.flatnonzero(valid)
    bounds = np.empty(2 * len(chosen) + 1, dtype=np.int32)
    bounds[0:-1:2] = start[chosen]
    bounds[1:-1:2] = np.maximum(end[chosen], start[chosen])
    bounds[-1] = bounds[-2] if len(chosen) else 0
    tiling = pa.Array.from_buffers(
        pa.string(), 2 * len(chosen), [None, pa.py_buffer(bounds), raw.buffer]
    )
    index = np.maximum(2 * np.cumsum(valid, dtype=np.int64) - 2, 0)
    return pc.take(tiling, strace_bytes.int64_array(index, valid))


@given(
    st.lists(
        st.tuples(st.text("ab =", max_size=10), st.integers(0, 4), st.integers(-2, 6)),
        min_size=1,
        max_size=20,
    ),
    st.lists(st.booleans(), min_size=20, max_size=20),
)
def test_spans_equal_a_take_with_nulls(
    rows: list[tuple[str, int, int]], valid_flags: list[bool]
) -> None:
    lines = pa.array([text for text, _, _ in rows], pa.string())
    raw = strace_bytes.LineBytes(lines)
    start = np.minimum(raw.start + np.array([skip for _, skip, _ in rows]), raw.end)
    end = np.minimum(start + np.array([width for _, _, width in rows]), raw.end)
    valid = np.array(valid_flags[: len(rows)])
    spans = raw.spans(start, end, valid)
    spans.validate(full=True)
    assert spans.to_pylist() == _old_spans(raw, start, end, valid).to_pylist()


# --- LineBytes.ends_with ----------------------------------------------------------------------


@given(
    st.lists(
        st.lists(st.sampled_from(["^C", " <unfinished ...>", ">", ".", "é", " ", "y" * 16])).map(
            "".join
        ),
        min_size=1,
        max_size=12,
    )
)
def test_ends_with_on_bytes_equals_arrows(texts: list[str]) -> None:
    lines = pa.array(texts, pa.string())
    raw = strace_bytes.LineBytes(lines)
    for suffix in (strace_bytes._UNFINISHED, strace_bytes._INTERRUPTED):
        found = raw.ends_with(raw.start, raw.end, suffix.encode())
        assert found.tolist() == pc.ends_with(lines, suffix).to_pylist()


# --- LineBytes.number -------------------------------------------------------------------------


def _old_number(raw: strace_bytes.LineBytes, start: np.ndarray, end: np.ndarray, valid: np.ndarray):
    """Every digit in a right-aligned matrix, times its power of ten."""
    width = np.where(valid, np.clip(end - start, 0, 18), 0)
    most = int(width.max(initial=0))
    if most == 0:
        return np.zeros(len(start), dtype=np.int64)
    columns = np.arange(most, dtype=np.int64)
    digits = raw.window(start + width - most, most).astype(np.int64) - ord("0")
    digits[columns < (most - width)[:, None]] = 0
    return digits @ (10 ** columns[::-1])


@given(
    st.lists(
        st.tuples(st.text("0123456789", max_size=12), st.text(" x", max_size=2), st.booleans()),
        min_size=1,
        max_size=12,
    )
)
def test_number_read_eight_digits_at_a_time_equals_the_digit_matrix(
    rows: list[tuple[str, str, bool]],
) -> None:
    # The digits of each line (its first row at the data's start), then other bytes.
    lines = pa.array([digits + tail for digits, tail, _ in rows], pa.string())
    raw = strace_bytes.LineBytes(lines)
    end = raw.start + np.array([len(digits) for digits, _, _ in rows])
    valid = np.array([flag for _, _, flag in rows])
    for start in (raw.start, np.minimum(raw.start + 1, end)):
        assert (
            raw.number(start, end, valid).tolist() == _old_number(raw, start, end, valid).tolist()
        )


def test_number_of_a_line_at_the_data_start() -> None:
    # Hand-written: short numbers in the first 8 bytes of the data, and after them.
    lines = pa.array(["123", "4", "56789012", "345678901", "7 x"], pa.string())
    raw = strace_bytes.LineBytes(lines)
    end = raw.start + np.array([3, 1, 8, 9, 1])
    valid = np.ones(5, dtype=bool)
    assert raw.number(raw.start, end, valid).tolist() == [123, 4, 56789012, 345678901, 7]
    assert raw.number(raw.start + 1, end, valid).tolist() == [23, 0, 6789012, 45678901, 0]


def test_duration_read_eight_bytes_at_a_time() -> None:
    # Hand-written: the usual <S.UUUUUU> durations, first line at the data's start.
    lines = pa.array(["<0.000001>", "x <9.999999>", "<1.500000>", "ab"], pa.string())
    raw = strace_bytes.LineBytes(lines)
    found = np.array([True, True, True, False])
    opened, duration = strace_bytes._duration_fields(raw, raw.end, found)
    assert duration.tolist() == [1000, 9_999_999_000, 1_500_000_000, 0]
    assert (opened[:3] - raw.start[:3]).tolist() == [0, 2, 0]
    assert opened[3] == -1


# --- LineBytes.seek ---------------------------------------------------------------------------


@settings(max_examples=examples(300), deadline=None)
@given(
    # Long runs without the byte looked for, so that walks take several words.
    st.lists(
        st.lists(st.sampled_from(["abcdefg", "a", " ", "(", "=", ")", "0", "é"]), max_size=12).map(
            "".join
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(0, 3),
    st.data(),
)
def test_seek_eight_bytes_at_a_time_equals_the_byte_walk(
    texts: list[str], skip: int, data: st.DataObject
) -> None:
    lines = pa.array(texts, pa.string()).slice(min(skip, len(texts) - 1))  # also with an offset
    raw = strace_bytes.LineBytes(lines)
    rows = np.flatnonzero(
        data.draw(st.lists(st.booleans(), min_size=len(lines), max_size=len(lines)))
    )
    raw.restrict(rows)
    count = len(rows)
    # Starts inside, before and after each row; walks short and long, both ways.
    start = raw.start[rows] + np.array(
        data.draw(st.lists(st.integers(-3, 45), min_size=count, max_size=count)), dtype=np.int64
    )
    active = np.array(data.draw(st.lists(st.booleans(), min_size=count, max_size=count)), bool)
    step = data.draw(st.sampled_from([1, -1]))
    stop = data.draw(st.sampled_from([b" ", b"(", b"=", b"0", b"\xa9"]))
    limit = data.draw(st.integers(1, 30))
    found = raw.seek(start, step, stop, limit, active)
    assert found.tolist() == raw.seek_bytes(start, step, stop, limit, active).tolist()


def test_seek_finds_bytes_far_and_at_the_data_edges() -> None:
    # Hand-written: a walk of more than one word, and walks that reach the data's first and
    # last bytes (where a whole word cannot be read).
    lines = pa.array(["(abcdefghijklmnopq)", "xy(z"], pa.string())
    raw = strace_bytes.LineBytes(lines)
    every = np.ones(2, dtype=bool)
    back = raw.seek(raw.end - 1, -1, b"(", 64, every)
    assert (back - raw.start).tolist() == [0, 2]
    forward = raw.seek(raw.start, 1, b")", 64, every)
    assert (forward - raw.start).tolist() == [18, -1 - raw.start[1]]
    # Found at the limit's last byte (the ninth: one past the first word), and not beyond it.
    nine = raw.seek(raw.start + 10, 1, b")", 9, every)
    assert (nine - raw.start).tolist() == [18, -1 - raw.start[1]]
    assert raw.seek(raw.start + 10, 1, b")", 8, every).tolist() == [-1, -1]
    assert raw.seek(raw.end - 1, -1, b"(", 19, every)[0] == raw.start[0]
    assert raw.seek(raw.end - 1, -1, b"(", 18, every)[0] == -1


# --- the clock's digits -----------------------------------------------------------------------

_CLOCKS = st.tuples(
    st.sampled_from(["", "1234 ", "7        "]),
    st.integers(0, 86399),
    st.sampled_from(strace_bytes._CLOCK_WIDTHS),
    st.integers(0, 10**9 - 1),
)


@given(st.lists(_CLOCKS, min_size=1, max_size=10), st.sampled_from(strace_bytes._CLOCK_WIDTHS))
def test_clock_digits_eight_at_a_time_equal_the_byte_gather(
    clocks: list[tuple[str, int, int, int]], width: int
) -> None:
    texts = []
    for pid, second, _, fraction in clocks:
        clock = f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
        if width > 8:
            clock += "." + f"{fraction:09d}"[: width - 9]
        texts.append(f"{pid}{clock} close(3) = 0")
    raw = strace_bytes.LineBytes(pa.array(texts, pa.string()))
    first = raw.start + np.array([len(pid) for pid, _, _, _ in clocks])
    seconds, fraction = strace_bytes._clock_digits(raw, first, width)
    old_seconds, old_fraction = strace_bytes._clock_digits_bytes(raw, first, width)
    assert seconds.tolist() == old_seconds.tolist() == [second for _, second, _, _ in clocks]
    assert fraction.tolist() == old_fraction.tolist()


# --- the glued-line check's candidates --------------------------------------------------------

_GLUED_PIECES = st.sampled_from(
    [
        "a",
        ")",
        " ",
        "<",
        "u",
        "=",
        "(",
        "é",
        ") = 0",
        " <unfinished ...>",
        "1001 read(",
        "10:00:00.000001 ",
        ") = 3 <0.000010>",
        "+++ ",
        "<... read resumed>",
    ]
)


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.lists(_GLUED_PIECES, max_size=8).map("".join)), max_size=12),
    st.integers(0, 3),
)
def test_glued_texts_equal_the_regex_on_every_text(texts: list[str | None], skip: int) -> None:
    values = pa.array(texts, pa.string())
    for part in (values, values.slice(min(skip, len(texts)))):  # also a slice with an offset
        expected = pc.fill_null(pc.match_substring_regex(part, GLUED), False)
        assert glued_texts(pc.dictionary_encode(part)).tolist() == expected.to_pylist()
        candidates = may_be_glued(part.drop_null())
        assert candidates.tolist() == [
            ") " in text or "<u" in text for text in part.drop_null().to_pylist()
        ]


# --- args_fit and the glued-line check --------------------------------------------------------


def _old_args_fit(args: pa.ChunkedArray, kinds: pa.ChunkedArray) -> np.ndarray:
    """Both checks on every row (the column as parsed: many chunks)."""
    fit = pc.and_(
        pc.match_substring_regex(args, strace_args_shape.ARGS_TOKENS),
        pc.match_substring_regex(args, strace_args_shape.ARGS_BRACKETS),
    )
    leading = pc.or_(pc.starts_with(args, " "), pc.starts_with(args, ", "))
    trailing = pc.ends_with(args, ", ")
    syscall = pc.equal(kinds, "syscall")
    wrong = pc.or_(
        pc.and_(pc.or_(syscall, pc.equal(kinds, "unfinished")), leading),
        pc.and_(pc.or_(syscall, pc.equal(kinds, "resumed")), trailing),
    )
    return pc.fill_null(pc.and_not(fit, wrong), False).to_numpy(zero_copy_only=False)


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_args_fit_on_distinct_texts_equals_every_row(path: Path) -> None:
    lines = parsed_in_small_chunks(path).lines
    calls = lines.filter(pc.is_in(lines["kind"], pa.array(["syscall", "unfinished", "resumed"])))
    assert calls["args"].num_chunks > 1
    fit = strace_args_shape.args_fit(calls["args"], calls["kind"])
    assert fit.tolist() == _old_args_fit(calls["args"], calls["kind"]).tolist()
    assert 0 < fit.sum() < len(fit) or fit.all()


_NESTED = st.deferred(
    lambda: st.one_of(
        st.sampled_from(["1", "x=1", "k:2", '"s"', "NULL", "1 => 2", "a == b", "3</x>"]),
        st.tuples(
            st.sampled_from([("{", "}"), ("[", "]"), ("f(", ")"), ("{", "]")]),
            st.lists(_NESTED, max_size=3),
        ).map(lambda pair: pair[0][0] + ", ".join(pair[1]) + pair[0][1]),
    )
)
"""Generated: argument texts nested up to any depth (`ARGS_BRACKETS` takes four levels), in
all the kinds of brackets, with the members each kind allows or refuses, some unmatched."""


_EDGED = st.tuples(
    st.sampled_from(["", " ", ", ", " => "]),
    st.lists(_NESTED, min_size=1, max_size=3).map(", ".join),
    st.sampled_from(["", ", ", " "]),
    st.sampled_from(["syscall", "unfinished", "resumed"]),
)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_EDGED, max_size=10))
def test_args_fit_on_distinct_texts_equals_every_row_at_any_depth(
    rows: list[tuple[str, str, str, str]],
) -> None:
    texts = [head + body + tail for head, body, tail, _ in rows]
    args = pa.chunked_array([pa.array(texts, pa.string())], pa.string())
    kinds = pa.chunked_array([pa.array([kind for *_, kind in rows], pa.string())], pa.string())
    fit = strace_args_shape.args_fit(args, kinds)
    assert fit.tolist() == _old_args_fit(args, kinds).tolist()


def test_deep_arguments_take_the_full_bracket_check() -> None:
    # Hand-written: four levels (kept), five levels and an unmatched bracket (refused).
    texts = ["{a={b={c={d=1}}}}", "{a={b={c={d={e=1}}}}}", "{a={b={c={d=1}}]}", "[1, 2]"]
    args = pa.chunked_array([pa.array(texts, pa.string())])
    kinds = pa.chunked_array([pa.array(["syscall"] * len(texts), pa.string())])
    fit = strace_args_shape.args_fit(args, kinds)
    assert fit.tolist() == _old_args_fit(args, kinds).tolist() == [True, False, False, True]


def _old_parse_chunk(chunk, engine: str):  # type: ignore[no-untyped-def]
    """`strace._parse_chunk` with the glued-line check on every record at the end, as it was."""
    table, rejected, _ = strace._parse_records(chunk, engine)
    table = split_digit_output(table)
    outputs, rejected = output_lines(table, rejected)
    if outputs:
        table = strace.merge_by_line(table, strace.records_to_table(outputs))
    rejected = [
        (line_no, text, strace.GLUED if is_glued(text) else reason)
        for line_no, text, reason in rejected
    ]
    glued = glued_rows(table)
    if not glued.any():
        return table, rejected
    for line_no in table["line_no"].filter(pa.array(glued)).to_pylist():
        rejected.append((line_no, chunk.lines[line_no - chunk.first_line_no].as_py(), strace.GLUED))
    rejected.sort(key=lambda entry: entry[0])
    return table.filter(pa.array(~glued)), rejected


def _glued_trace(tmp_path: Path) -> Path:
    """Hand-made from a real capture: complete and unfinished lines glued to the next line,
    digit output printed into a write (the records `split_digit_output` changes) and writes
    of glued-looking text."""
    lines = (FIXTURES / "strace/logs/asyncio_block.f_tt_T.log").read_text().splitlines()
    glued = [i for i, line in enumerate(lines) if line.endswith(">") and " = " in line][10:40:3]
    glued += [i for i, line in enumerate(lines) if line.endswith("<unfinished ...>")][5:15:3]
    for index in sorted(glued, reverse=True):
        lines[index : index + 2] = [lines[index] + lines[index + 1]]
    lines.insert(50, '1234  10:00:00.000001 write(2, "24", 224) = 2 <0.000004>')
    # Writes of text that looks glued: the scanner reads these (the check looks into strings).
    for at in (60, 300, 700):
        lines.insert(at, '1234  10:00:00.000001 write(2, "f() = 0 <0.1>12 g(", 18) = 18 <0.1>')
        lines.insert(at, '1234  10:00:00.000001 write(2, "x <unfinished ...>1 g(", 21) = 21')
    path = tmp_path / "glued.log"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_glued_records_found_with_the_argument_checks(tmp_path: Path, engine: str) -> None:
    source = open_input(_glued_trace(tmp_path))
    found = scanned = 0
    try:
        for chunk in iter_line_chunks(source.stream, chunk_bytes=1 << 14):
            table, rejected = strace._parse_chunk(chunk, engine)
            old_table, old_rejected = _old_parse_chunk(chunk, engine)
            assert table.equals(old_table)
            assert rejected == old_rejected
            found += sum(reason == strace.GLUED for _, _, reason in rejected)
            if engine == "fast":
                kept, _, _ = strace._scan(chunk.lines, chunk.line_numbers)
                scanned += sum(is_glued(text) for text in kept["args"].drop_null().to_pylist())
    finally:
        source.close()
    assert found >= 16  # the glued lines are there to be found
    assert scanned >= 6 or engine == "lark"  # some of them read by the scanner
