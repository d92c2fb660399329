"""The fast path (`ps_threads_scan`) and the grammar parser (`ps_threads_lark`) give identical
records: on every line of every ps fixture (read with the layout of the header before it) and
on generated stamps, headers and rows of random layouts. Both engines build identical tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput

from analyzer.formats import ps_threads, ps_threads_lark, ps_threads_scan
from analyzer.formats.ps_threads_record import COLUMNS, Kind, Layout, PsHeader
from tests.snapshot_fixtures import captures, lines_of, parse_file, public_samples

FILES = captures("ps_threads") + public_samples("ps_threads")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _contexts(path: Path) -> list[tuple[str, Layout | None]]:
    out = []
    layout: Layout | None = None
    for text in lines_of(path):
        out.append((text, layout))
        record = ps_threads_lark.parse_line(text, layout)
        if isinstance(record, PsHeader):
            layout = record.columns
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_fast_equals_grammar_on_every_fixture_line(path: Path) -> None:
    for text, layout in _contexts(path):
        fast = ps_threads_scan.scan_line(text, layout)
        if fast is not None:
            assert fast == ps_threads_lark.parse_line(text, layout), text


def test_the_fast_path_reads_every_capture_line() -> None:
    for path in captures("ps_threads"):
        for text, layout in _contexts(path):
            assert ps_threads_scan.scan_line(text, layout) is not None, text


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_engines_build_identical_tables(path: Path) -> None:
    fast = parse_file(ps_threads.parse, path)
    slow = parse_file(ps_threads.parse, path, engine="lark")
    for name, table in fast.tables.items():
        assert table.equals(slow.tables[name]), name
    assert fast.unparsed.equals(slow.unparsed)


def _grammar_accepts(kind: Kind, cell: str) -> bool:
    try:
        ps_threads_lark._parser().parse(cell, start=kind.value)
    except UnexpectedInput:
        return False
    return True


_MONTH = st.sampled_from(["Jan", "Feb", "May", "Dec"])
_CELLS: dict[Kind, st.SearchStrategy[str]] = {
    Kind.INT: st.one_of(st.integers(-100, 4194304).map(str), st.sampled_from(["-", "--", "1-"])),
    Kind.PCT: st.one_of(
        st.floats(0, 999.9).map(lambda value: f"{value:.1f}"), st.sampled_from(["-", "1.", "150"])
    ),
    Kind.DURATION: st.sampled_from(
        ["00:00:01", "1-02:03:04", "03:04", "0:01", "62", "-", "1:2", "12-", "1-1:00"]
    ),
    Kind.START: st.one_of(
        st.sampled_from(["08:20", "08:20:32", "Dec05", "2025", "-", "Dec", "8:20", "Sat"]),
        st.builds(
            lambda m, d, b: f"{m}{b}{d}", _MONTH, st.integers(1, 31), st.sampled_from([" ", "  "])
        ),
        st.builds(
            lambda m, d, y: f"Sat {m} {d:2d} 08:20:32 {y}",
            _MONTH,
            st.integers(1, 31),
            st.integers(1999, 2030),
        ),
    ),
    Kind.STAT: st.sampled_from(["S", "Sl", "S<Ll", "Rl+", "D", "Ss", "I<", "Z", "X!", "?"]),
    Kind.STATE: st.sampled_from(["S", "R", "D", "Z", "?", "SS"]),
    Kind.TEXT: st.text(alphabet="ab -_/:[]()0123456789.", max_size=14),
}


@pytest.mark.parametrize(
    "kind", [kind for kind in Kind if kind is not Kind.TEXT], ids=lambda k: k.name
)
@pytest.mark.slow
def test_cell_patterns_accept_what_the_grammar_cells_accept(kind: Kind) -> None:
    pattern = ps_threads_scan.CELL_PATTERNS[kind]

    @settings(max_examples=200, deadline=None)
    @given(st.one_of(_CELLS[kind], st.from_regex(pattern.pattern, fullmatch=True)))
    def check(cell: str) -> None:
        if cell != cell.strip(" \t") or any(c in cell for c in "\n\r\x0b\x0c"):
            return
        if pattern.fullmatch(cell) is not None:
            assert _grammar_accepts(kind, cell), cell

    check()


_ISO_ENDS = st.sampled_from(["", "Z", "+00:00", "-05:30", ",123456789+01:00", ".5"])


@st.composite
def _stamps(draw: st.DrawFn) -> str:
    year, month, day = (
        draw(st.integers(1990, 2030)),
        draw(st.integers(1, 12)),
        draw(st.integers(1, 28)),
    )
    hours, minutes, seconds = (
        draw(st.integers(0, 23)),
        draw(st.integers(0, 59)),
        draw(st.integers(0, 59)),
    )
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    zone = draw(st.sampled_from(["UTC", "CET", "+03", "+0530", "-0800", "GMT", ""]))
    forms = [
        f"{draw(st.integers(10**8, 10**11 - 1))}",
        f"{draw(st.integers(10**8, 10**11 - 1))}.{draw(st.integers(0, 999999999)):09d}",
        f"{year}-{month:02d}-{day:02d}T{clock}{draw(_ISO_ENDS)}",
        f"{year}-{month:02d}-{day:02d} {clock}.{draw(st.integers(0, 999999999)):09d}+00:00",
        f"Sat {months[month - 1]} {day:2d} {clock} {zone} {year}".replace(
            "  ", " ", 1 if not zone else 0
        ),
        f"Sat, {day:02d} {months[month - 1]} {year} {clock} +0000",
    ]
    text = draw(st.sampled_from(forms))
    return draw(st.sampled_from(["", " "])) + text + draw(st.sampled_from(["", " ", "\t"]))


@st.composite
def _rows(draw: st.DrawFn) -> tuple[str, Layout]:
    layout = tuple(draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=9)))
    cells = [draw(_CELLS[COLUMNS[name][0]]) for name in layout]
    text = draw(st.sampled_from(["", " ", "    "]))
    for cell in cells:
        text += cell + draw(st.sampled_from([" ", "  ", "\t"]))
    return text.rstrip(" \t") if draw(st.booleans()) else text, layout


def _agree(text: str, layout: Layout | None) -> None:
    fast = ps_threads_scan.scan_line(text, layout)
    if fast is not None:
        assert fast == ps_threads_lark.parse_line(text, layout), (text, layout)


@SETTINGS
@given(_stamps(), st.sampled_from([None, ("PID", "TID", "COMMAND")]))
def test_generated_stamps_agree(text: str, layout: Layout | None) -> None:
    _agree(text, layout)


@SETTINGS
@given(_stamps())
def test_generated_well_formed_stamps_are_read_by_the_fast_path(text: str) -> None:
    if "  " not in text.strip() or text.lstrip().startswith("Sat "):
        record = ps_threads_scan.scan_line(text)
        assert record is not None and type(record).__name__ == "PsStamp", text


@SETTINGS
@given(_rows())
def test_generated_rows_agree(row: tuple[str, Layout]) -> None:
    text, layout = row
    _agree(text, layout)
    _agree(text, None)


@SETTINGS
@given(st.lists(st.sampled_from([*sorted(COLUMNS), "ID", "NAME", "x"]), min_size=1, max_size=12))
def test_generated_headers_agree(names: list[str]) -> None:
    _agree("  " + "  ".join(names), None)
    _agree(" ".join(names), ("PID",))


@SETTINGS
@given(st.text(alphabet=" \t-:,.+?/()[]0123456789SatDecTZ", max_size=40))
def test_generated_junk_agrees(text: str) -> None:
    _agree(text, ("PID", "TID", "STIME", "COMMAND"))
    _agree(text, None)
