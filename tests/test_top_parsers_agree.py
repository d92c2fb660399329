"""The fast path (`top_scan`) and the grammar parser (`top_lark`) give identical records.

On every line of every top fixture (read with the context the parser has there: the layout of
the last header, whether a header may come) and on generated summary lines, headers and rows
of random column layouts: when the fast path reads a line (it may decline, returning None)
its record equals the grammar's. Both engines build identical tables.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.formats import top, top_lark, top_scan
from analyzer.formats.top_record import COLUMNS, DEFAULT_LAYOUT, Kind, Layout
from tests.snapshot_fixtures import captures, lines_of, parse_file, public_samples

FILES = captures("top") + public_samples("top")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _contexts(path: Path) -> list[tuple[str, Layout | None, bool]]:
    """Each line with the (layout, header allowed) the parser reads it with."""
    out = []
    assembler = top._Assembler("x")
    for line_no, text in enumerate(lines_of(path), 1):
        out.append((text, assembler.layout, assembler.header_allowed))
        record = top.read_line(text, assembler.layout, assembler.header_allowed, "lark")
        assembler.add(line_no, text, record)
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_fast_equals_grammar_on_every_fixture_line(path: Path) -> None:
    for text, layout, header in _contexts(path):
        fast = top_scan.scan_line(text, layout, header)
        if fast is not None:
            assert fast == top_lark.parse_line(text, layout, header), text


def test_the_fast_path_reads_nearly_every_capture_line() -> None:
    read = total = 0
    for path in FILES:
        if "graph" in path.name:
            continue
        for text, layout, header in _contexts(path):
            total += 1
            read += top_scan.scan_line(text, layout, header) is not None
    assert read / total > 0.99


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_engines_build_identical_tables(path: Path) -> None:
    fast = parse_file(top.parse, path)
    slow = parse_file(top.parse, path, engine="lark")
    for name, table in fast.tables.items():
        assert table.equals(slow.tables[name]), name
    assert fast.unparsed.equals(slow.unparsed)


# ---------------------------------------------------------------------------------------------
# Cell rules: the fast path's patterns accept what the grammar's cell rules accept
# ---------------------------------------------------------------------------------------------

_GRAMMAR_CELL_TERMINALS = {
    Kind.INT: ["SIGNED", "NOT_AVAILABLE"],
    Kind.PRIO: ["SIGNED", "REALTIME", "NOT_AVAILABLE"],
    Kind.MEM: ["SCALED", "NOT_AVAILABLE"],
    Kind.PCT: ["NUMBER", "NOT_AVAILABLE"],
    Kind.TIME: ["CPU_TIME", "NOT_AVAILABLE"],
    Kind.STATE: ["STATE"],
}


def _terminal_regex(name: str) -> str:
    terminal = next(t for t in top_lark.build_parser().terminals if t.name == name)
    pattern = terminal.pattern
    return pattern.to_regexp() if hasattr(pattern, "to_regexp") else re.escape(pattern.value)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(_GRAMMAR_CELL_TERMINALS), ids=lambda kind: kind.name)
def test_cell_patterns_and_grammar_cells_accept_the_same_words(kind: Kind) -> None:
    grammar_regex = "|".join(
        f"(?:{_terminal_regex(name)})" for name in _GRAMMAR_CELL_TERMINALS[kind]
    )
    fast = top_scan.CELL_PATTERNS[kind]

    @settings(max_examples=200, deadline=None)
    @given(
        st.one_of(
            st.from_regex(grammar_regex, fullmatch=True),
            st.from_regex(fast.pattern, fullmatch=True),
        )
    )
    def check(word: str) -> None:
        if any(blank in word for blank in " \t\n\r"):
            return  # a cell is one word
        in_grammar = re.fullmatch(grammar_regex, word) is not None
        assert (fast.fullmatch(word) is not None) == in_grammar, word

    check()


# ---------------------------------------------------------------------------------------------
# Generated lines
# ---------------------------------------------------------------------------------------------

_blank = st.sampled_from([" ", "  ", "   ", "\t"])
_gap = st.sampled_from(["", " ", "  "])


def _number(decimals: int = 1) -> st.SearchStrategy[str]:
    whole = st.integers(0, 99999).map(str)
    if decimals == 0:
        return whole
    sep = st.sampled_from([".", ","])
    frac = st.integers(0, 10**decimals - 1).map(lambda n: f"{n:0{decimals}d}")
    return st.builds(lambda w, s, f: w + s + f, whole, sep, frac)


@st.composite
def _uptime_lines(draw: st.DrawFn) -> str:
    hours, minutes, seconds = (
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    parts = []
    if draw(st.booleans()):
        days = draw(st.integers(1, 999))
        parts.append(f"{days} day{'s' if days > 1 else ''},{draw(_blank)}")
    parts.append(
        draw(
            st.sampled_from(
                [
                    f"{draw(st.integers(0, 23)):2d}:{draw(st.integers(0, 59)):02d},",
                    f"{draw(st.integers(0, 59))} min,",
                ]
            )
        )
    )
    users = draw(st.sampled_from(["", "  0 user,", "  1 user,", "  12 users,"]))
    loads = ", ".join(draw(_number(2)) for _ in range(3))
    return f"top - {clock} up {''.join(parts)}{users}  load average: {loads}"


@st.composite
def _tasks_lines(draw: st.DrawFn) -> str:
    label = draw(st.sampled_from(["Tasks:", "Threads:"]))
    states = draw(
        st.lists(
            st.sampled_from(["running", "sleeping", "stopped", "zombie", "sleep", "d-sleep"]),
            max_size=6,
        )
    )
    text = f"{label}{draw(_blank)}{draw(st.integers(0, 99999))} total"
    for state in states:
        text += f",{draw(_gap)}{draw(st.integers(0, 9999))} {state}"
    return text


@st.composite
def _cpu_lines(draw: st.DrawFn) -> str:
    label = draw(st.sampled_from(["%Cpu(s):", "Cpu(s):", "%Cpu0  :", "Cpu12 :", "%Cpu3:"]))
    fields = draw(
        st.lists(
            st.sampled_from(["us", "sy", "ni", "id", "wa", "hi", "si", "st"]),
            min_size=1,
            max_size=8,
        )
    )
    percent = draw(st.sampled_from(["", "%", "% "]))
    items = [
        f"{draw(_number(1))}{percent}{field}" if percent != "" else f"{draw(_number(1))} {field}"
        for field in fields
    ]
    return (
        label
        + draw(_blank)
        + ",".join(draw(_gap) + item for item in items)
        + draw(st.sampled_from(["", " "]))
    )


@st.composite
def _memory_lines(draw: st.DrawFn) -> str:
    label = draw(
        st.sampled_from(
            ["MiB Mem :", "KiB Mem:", "Mem:", "MiB Swap:", "GiB Swap:", "Swap:", "KiB Spch:"]
        )
    )
    fields = draw(
        st.lists(
            st.sampled_from(
                [
                    "total",
                    "free",
                    "used",
                    "buff/cache",
                    "buffers",
                    "cached",
                    "cached Mem",
                    "avail Mem",
                ]
            ),
            min_size=1,
            max_size=5,
        )
    )
    suffix = "k" if label in ("Mem:", "Swap:") else ""
    items = [f"{draw(_number(draw(st.sampled_from([0, 1]))))}{suffix} {field}" for field in fields]
    text = label + draw(_blank) + items[0]
    for item in items[1:]:
        text += draw(st.sampled_from([",", ".", ", ", ".  "])) + draw(_gap) + item
    return text


_CELL_VALUES: dict[Kind, st.SearchStrategy[str]] = {
    Kind.INT: st.one_of(st.integers(-20, 4194304).map(str), st.sampled_from(["?", "-", "1+"])),
    Kind.PRIO: st.one_of(st.integers(-100, 139).map(str), st.sampled_from(["rt", "RT", "?"])),
    Kind.MEM: st.one_of(
        st.integers(0, 99999999).map(str),
        st.builds(lambda n, s: n + s, _number(1), st.sampled_from(list("kmgtpeKMG"))),
        st.sampled_from(["?", "-", "1.2x"]),
    ),
    Kind.PCT: st.one_of(_number(1), st.sampled_from(["100", "?", "1e3"])),
    Kind.TIME: st.one_of(
        st.sampled_from(
            [
                "0:00.00",
                "0:01.05",
                "123:41.49",
                "11473:56",
                "12,34",
                "3d+4h",
                "2w+3d",
                "5h",
                "9D",
                "2w",
                "?",
                "1:2",
            ]
        ),
    ),
    Kind.STATE: st.sampled_from([*list("RSDZTtIXx"), "R+", "?"]),
    Kind.TEXT: st.text(alphabet="ab +-_/:[]()0123456789", min_size=0, max_size=12),
}


@st.composite
def _rows(draw: st.DrawFn) -> tuple[str, Layout]:
    layout = tuple(draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=8)))
    if draw(st.booleans()):
        layout = DEFAULT_LAYOUT
    cells = [draw(_CELL_VALUES[COLUMNS[name][0]]) for name in layout]
    text = draw(st.sampled_from(["", " ", "   "]))
    for cell in cells:
        text += cell + draw(_blank)
    return text.rstrip(" \t") if draw(st.booleans()) else text, layout


def _agree(text: str, layout: Layout | None, header: bool) -> None:
    fast = top_scan.scan_line(text, layout, header)
    if fast is not None:
        assert fast == top_lark.parse_line(text, layout, header), (text, layout, header)


@SETTINGS
@given(st.one_of(_uptime_lines(), _tasks_lines(), _cpu_lines(), _memory_lines()), st.booleans())
def test_generated_summary_lines_agree(text: str, header: bool) -> None:
    _agree(text, DEFAULT_LAYOUT, header)


@SETTINGS
@given(st.one_of(_uptime_lines(), _tasks_lines()))
def test_generated_uptime_and_task_lines_parse(text: str) -> None:
    assert not isinstance(top_lark.parse_line(text), top_lark.Unparsed), text


@SETTINGS
@given(_rows(), st.booleans())
def test_generated_rows_agree(row: tuple[str, Layout], header: bool) -> None:
    text, layout = row
    _agree(text, layout, header)
    _agree(text, None, True)


@SETTINGS
@given(
    st.lists(
        st.sampled_from([*sorted(COLUMNS), "ZEIT+", "TID", "S[%CPU]"]), min_size=1, max_size=12
    ),
    _blank,
)
def test_generated_headers_agree(names: list[str], blank: str) -> None:
    text = "  " + blank.join(names)
    _agree(text, None, True)
    _agree(text, DEFAULT_LAYOUT, True)


@SETTINGS
@given(st.text(alphabet=" \t%:,.-+?/()[]|0123456789aBcCpPTMSkKmgiu", max_size=40))
def test_generated_junk_agrees(text: str) -> None:
    _agree(text, DEFAULT_LAYOUT, False)
    _agree(text, None, True)
