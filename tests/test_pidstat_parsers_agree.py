"""The fast path (`pidstat_scan`) and the grammar parser (`pidstat_lark`) give identical
records: on every line of every pidstat fixture (read with the layout of the header before
it) and on generated banners, headers and rows of random layouts, times and locales. Both
engines build identical tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedInput

from analyzer.formats import pidstat, pidstat_lark, pidstat_scan
from analyzer.formats.pidstat_record import COLUMNS, Kind, Layout, PidstatHeader
from tests.snapshot_fixtures import captures, lines_of, parse_file, public_samples

FILES = captures("pidstat") + public_samples("pidstat")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _contexts(path: Path) -> list[tuple[str, Layout | None]]:
    out = []
    layout: Layout | None = None
    for text in lines_of(path):
        out.append((text, layout))
        record = pidstat_lark.parse_line(text, layout)
        if isinstance(record, PidstatHeader):
            layout = record.columns
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_fast_equals_grammar_on_every_fixture_line(path: Path) -> None:
    for text, layout in _contexts(path):
        fast = pidstat_scan.scan_line(text, layout)
        if fast is not None:
            assert fast == pidstat_lark.parse_line(text, layout), text


def test_the_fast_path_reads_every_capture_line() -> None:
    for path in captures("pidstat"):
        for text, layout in _contexts(path):
            assert pidstat_scan.scan_line(text, layout) is not None, text


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_engines_build_identical_tables(path: Path) -> None:
    fast = parse_file(pidstat.parse, path)
    slow = parse_file(pidstat.parse, path, engine="lark")
    for name, table in fast.tables.items():
        assert table.equals(slow.tables[name]), name
    assert fast.unparsed.equals(slow.unparsed)
    assert fast.banner == slow.banner


_CELLS: dict[Kind, st.SearchStrategy[str]] = {
    Kind.INT: st.one_of(st.integers(-1, 4194304).map(str), st.sampled_from(["-", "1.0", "x"])),
    Kind.DECIMAL: st.one_of(
        st.floats(-1, 99999).map(lambda value: f"{value:.2f}"),
        st.floats(0, 999).map(lambda value: f"{value:.2f}".replace(".", ",")),
        st.sampled_from(["-", "-1.00", "1.", ",5", "1e3"]),
    ),
    Kind.TEXT: st.one_of(
        st.sampled_from(["iodw-main", "|__iodw sock rx", "|__", "python3 w.py --x 1", ""]),
        st.text(alphabet="ab |_-/.:0123456789", max_size=16),
    ),
}


@pytest.mark.parametrize("kind", [Kind.INT, Kind.DECIMAL], ids=lambda kind: kind.name)
def test_cell_patterns_accept_what_the_grammar_cells_accept(kind: Kind) -> None:
    pattern = pidstat_scan.CELL_PATTERNS[kind]

    @settings(max_examples=200, deadline=None)
    @given(st.one_of(_CELLS[kind], st.from_regex(pattern.pattern, fullmatch=True)))
    def check(cell: str) -> None:
        if any(blank in cell for blank in " \t\n\r"):
            return
        try:
            pidstat_lark._parser().parse(cell, start=kind.value)
            accepted = True
        except UnexpectedInput:
            accepted = False
        assert (pattern.fullmatch(cell) is not None) == accepted, cell

    check()


_TIMES = st.one_of(
    st.builds(
        lambda h, m, s, meridiem: f"{h:02d}:{m:02d}:{s:02d}{meridiem}",
        st.integers(0, 23),
        st.integers(0, 59),
        st.integers(0, 59),
        st.sampled_from(["", " AM", " PM", "  PM", " AMx", "PM"]),
    ),
    st.integers(10**8, 10**11 - 1).map(str),
    st.sampled_from(
        ["Average:", "Durchschn.:", "Moyenne :", "# Time", "#      Time", "#Time", "14时05分26秒"]
    ),
)


@st.composite
def _rows(draw: st.DrawFn) -> tuple[str, Layout]:
    layout = tuple(draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=10)))
    if draw(st.booleans()) and "Command" not in layout:
        layout = (*layout, "Command")
    text = draw(st.sampled_from(["", " "])) + draw(_TIMES)
    for name in layout:
        text += draw(st.sampled_from([" ", "  ", "    "])) + draw(_CELLS[COLUMNS[name][0]])
    return text, layout


def _agree(text: str, layout: Layout | None) -> None:
    fast = pidstat_scan.scan_line(text, layout)
    if fast is not None:
        assert fast == pidstat_lark.parse_line(text, layout), (text, layout)


@SETTINGS
@given(_rows())
def test_generated_rows_agree(row: tuple[str, Layout]) -> None:
    text, layout = row
    _agree(text, layout)
    _agree(text, None)


@SETTINGS
@given(
    _TIMES,
    st.lists(st.sampled_from([*sorted(COLUMNS), "prio-x", "%steal"]), min_size=1, max_size=14),
)
def test_generated_headers_agree(time: str, names: list[str]) -> None:
    text = time + "   " + "  ".join(names)
    _agree(text, None)
    _agree(text, ("UID", "PID", "Command"))


@SETTINGS
@given(
    st.tuples(
        st.sampled_from(["Linux", "Linux ", "SunOS"]),
        st.sampled_from(["6.1.0-18-amd64", "5.4.0-74-generic", "6.18(x)"]),
        st.sampled_from(["(vm)", "(ip-10-0-0-1.ec2.internal)", "(a b)", "vm"]),
        st.sampled_from(["12/05/26", "05.12.2026", "2026-12-05", "2026年12月05日"]),
        st.sampled_from(["_x86_64_", "_aarch64_", "x86_64"]),
        st.sampled_from(["(2 CPU)", "(128 CPU)", "(2CPU)"]),
    ),
    st.sampled_from([" ", " \t", "\t"]),
)
def test_generated_banners_agree(words: tuple[str, ...], blank: str) -> None:
    _agree(blank.join(words), None)


@SETTINGS
@given(st.text(alphabet=" \t-:,.#|_/0123456789AMPTimeLinux", max_size=40))
def test_generated_junk_agrees(text: str) -> None:
    _agree(text, ("UID", "PID", "%CPU", "Command"))
    _agree(text, None)
