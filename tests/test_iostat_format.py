"""`grammars/iostat.lark`, the fast scanner and the iostat tables.

The captures ran while ../pyspy/programs/workload.py and dd wrote to the disk: the tables are
checked against what the capture script and the workload recorded themselves
(`fixtures/iostat/logs/*.measured.json`: the run's window, the device, the bytes written),
and the scanner against the grammar on every fixture line and on generated lines.
"""

from __future__ import annotations

import io
import itertools
import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.formats import iostat, iostat_lark
from analyzer.formats.iostat_record import IostatRecord
from analyzer.formats.iostat_scan import scan_line
from analyzer.inputs import iter_line_chunks

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "iostat"
CAPTURES = sorted((FIXTURES / "logs").glob("*.txt"))
PUBLIC = sorted((FIXTURES / "public").glob("*.txt"))
ALL_FILES = CAPTURES + PUBLIC
MEASURED = json.loads((FIXTURES / "logs" / "capture.measured.json").read_text())
WORKLOAD = json.loads((FIXTURES / "logs" / "workload.measured.json").read_text())


def _lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _parse(path: Path, engine: str = "fast") -> iostat.ParsedIostat:
    with path.open("rb") as stream:
        return iostat.parse(iter_line_chunks(stream, chunk_bytes=1024), path.name, engine=engine)


def test_grammar_compiles_strictly() -> None:
    assert iostat_lark.build_parser(strict=True).options.start == ["line"]


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: path.name)
def test_every_line_parses_and_every_row_is_named(path: Path) -> None:
    for line_no, text in enumerate(_lines(path), 1):
        assert isinstance(iostat_lark.parse_line(text), IostatRecord), (line_no, text)
    parsed = _parse(path)
    assert parsed.line_count == len(_lines(path))
    assert parsed.unparsed.num_rows == 0, parsed.unparsed.to_pylist()
    for spec in iostat.SPECS:
        assert parsed.tables[spec.name].schema == spec.schema


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: path.name)
def test_fast_equals_grammar_on_every_fixture_line(path: Path) -> None:
    for line_no, text in enumerate(_lines(path), 1):
        fast = scan_line(text)
        if fast is not None:
            assert fast == iostat_lark.parse_line(text), (line_no, text)


def test_fast_path_reads_the_rows() -> None:
    read = rows = 0
    for path in ALL_FILES:
        for text in _lines(path):
            record = iostat_lark.parse_line(text)
            if isinstance(record, IostatRecord) and record.kind in ("device", "values", "blank"):
                rows += 1
                read += scan_line(text) is not None
    assert read == rows > 300


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: path.name)
def test_engines_build_identical_tables(path: Path) -> None:
    fast, slow = _parse(path, "fast"), _parse(path, "lark")
    for name in fast.tables:
        assert fast.tables[name].equals(slow.tables[name]), name
    assert fast.unparsed.equals(slow.unparsed)


TIMED = [path for path in CAPTURES if "_t_" in path.name]


@pytest.mark.parametrize("path", TIMED, ids=lambda path: path.name)
def test_report_stamps_fall_in_the_capture_window(path: Path) -> None:
    tables = _parse(path).tables
    table = tables["iostat_devices"] if tables["iostat_devices"].num_rows else tables["iostat_cpu"]
    stamps = sorted(set(table["ts"].to_pylist()))
    reports = sorted(set(table["report"].to_pylist()))
    count = int(path.name != "c_t_C.txt") * 6 + 3  # iostat ... 1 9 (or 1 3 for -c)
    if path.name.startswith("xyz"):
        count = 8  # -z drops idle devices from a report; the cpu block is in each one
        table = tables["iostat_cpu"]
        stamps = sorted(set(table["ts"].to_pylist()))
        reports = sorted(set(table["report"].to_pylist()))
    assert reports == list(range(count))
    assert len(stamps) == count
    # stamps are whole seconds, printed when each report ends
    assert MEASURED["start_epoch"] - 1 <= stamps[0] <= stamps[-1] <= MEASURED["end_epoch"] + 1
    steps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(step in (1.0, 2.0) for step in steps), steps
    iso = path.name.endswith("iso.txt")
    assert set(table["utc_offset_known"].to_pylist()) == {iso}


WRITE_COLUMNS = {
    "x_t_C.txt": "wkb_s",
    "xdk_t_en_US.txt": "wkb_s",
    "xdm_p_t_iso.txt": "wkb_s",
    "x_t_de_DE.txt": "wkb_s",
    "d_t_C.txt": "kb_wrtn_s",
    "xyz_t_C.txt": "wkb_s",
}


@pytest.mark.parametrize("name", sorted(WRITE_COLUMNS))
def test_device_saw_at_least_the_bytes_the_load_wrote(name: str) -> None:
    rows = _parse(FIXTURES / "logs" / name).tables["iostat_devices"].to_pylist()
    device = [row for row in rows if row["device"] == MEASURED["device"]]
    first_report = 1 if not name.startswith("xyz") else 0  # -y: no since-boot report
    column = WRITE_COLUMNS[name]
    written_kb = sum(
        row[column] * MEASURED["interval_s"] for row in device if row["report"] >= first_report
    )
    loaded_kb = (MEASURED["dd_bytes"] + WORKLOAD["threads"][2]["bytes_written"]) / 1024
    assert WORKLOAD["threads"][2]["name"] == "fsync-writer"
    # the disk may also have written other processes' data, never less than ours (-m rounds
    # each report to 0.01 MB)
    assert written_kb >= 0.98 * loaded_kb, (written_kb, loaded_kb)
    stamps = [row["ts"] for row in device if row[column] and row["report"] >= first_report]
    assert min(stamps) >= MEASURED["load_start_epoch"] - 1


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: path.name)
def test_cpu_shares_add_up_to_100(path: Path) -> None:
    for row in _parse(path).tables["iostat_cpu"].to_pylist():
        shares = [row[name] for name in iostat.CPU_FIELDS.values()]
        assert abs(sum(shares) - 100.0) <= 0.06, (row["line_no"], shares)


def test_locales_read_the_same_numbers() -> None:
    c = _parse(FIXTURES / "logs" / "x_t_C.txt").tables["iostat_devices"]
    de = _parse(FIXTURES / "logs" / "x_t_de_DE.txt").tables["iostat_devices"]
    en = _parse(FIXTURES / "logs" / "xdk_t_en_US.txt").tables["iostat_devices"]
    assert c["ts"].to_pylist() == de["ts"].to_pylist() == en["ts"].to_pylist()
    # the three ran side by side: same device, same whole-second reports; the kernel's
    # counters are read a few microseconds apart, so the rates agree closely, not exactly
    for left, right in ((c, de), (c, en)):
        for a, b in zip(left["wkb_s"].to_pylist(), right["wkb_s"].to_pylist(), strict=True):
            assert abs(a - b) <= max(1.0, 0.2 * max(a, b)), (a, b)


def test_old_sysstat_columns_and_units() -> None:
    ubuntu = _parse(FIXTURES / "public" / "ubuntu14.04_xmtp_en_US.txt").tables["iostat_devices"]
    sda = ubuntu.to_pylist()[0]
    assert sda["device"] == "sda" and sda["w_s"] == 7135.0
    assert sda["wkb_s"] == pytest.approx(27.88 * 1024)
    assert (sda["avgrq_sz_sectors"], sda["aqu_sz"], sda["svctm_ms"]) == (8.0, 0.8, 0.11)
    assert sda["ts"] == 1527761085.0  # 05/31/2018 10:04:45 AM, wall clock read as UTC
    comma = _parse(FIXTURES / "public" / "ubuntu16_xdmz_decimal_comma.txt").tables
    assert comma["iostat_devices"].to_pylist()[1]["w_s"] == 6.38
    blocks = _parse(FIXTURES / "public" / "rhel5_p_blocks.txt").tables["iostat_devices"]
    assert blocks.to_pylist()[0]["kb_read"] == 109986042 / 2
    assert blocks.to_pylist()[0]["extra"] is None


def test_rows_without_a_header_or_with_the_wrong_width_are_unparsed() -> None:
    # hand-written lines
    text = b"vda 1.00 2.00\n\nDevice r/s w/s\nvda 1.00\nvda 1.00 2.00\n"
    parsed = iostat.parse(iter_line_chunks(io.BytesIO(text)), "x")
    reasons = parsed.unparsed["reason"].to_pylist()
    assert reasons == [
        "device row before any Device header",
        "1 values under a Device header of 2 columns",
    ]
    assert parsed.tables["iostat_devices"].num_rows == 1


# ---------------------------------------------------------------------------------------------
# Generated lines
# ---------------------------------------------------------------------------------------------

_blanks = st.sampled_from([" ", "  ", "\t", " \t ", "      "])
_number = st.one_of(
    st.integers(-5, 10**9).map(str),
    st.tuples(st.integers(0, 10**7), st.integers(0, 99), st.sampled_from([".", ","])).map(
        lambda t: f"{t[0]}{t[2]}{t[1]:02d}"
    ),
)
_name = st.one_of(
    st.from_regex(
        r"(sd[a-z]|nvme[0-9]n[0-9]p?[0-9]?|dm-[0-9]+|vg0-root|loop[0-9]|xvd[a-z])", fullmatch=True
    ),
    st.text(alphabet="abcLinuxDevice:-avg_%/.0123456789\u00e9", min_size=1, max_size=10),
)


@st.composite
def _rows(draw: st.DrawFn) -> str:
    values = draw(st.lists(_number, min_size=1, max_size=24))
    text = ""
    for value in values:
        text += draw(_blanks) + value
    if draw(st.booleans()):
        text += draw(_blanks)
    if draw(st.booleans()):
        return draw(_name) + text
    return text


@settings(max_examples=500, deadline=None)
@given(_rows())
def test_fast_equals_grammar_on_generated_rows(text: str) -> None:
    fast = scan_line(text)
    if fast is not None:
        assert fast == iostat_lark.parse_line(text)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=" \t0123456789.,-abvdaLinuxDevice:avg-cpu%/", max_size=40),
)
def test_fast_equals_grammar_on_arbitrary_text(text: str) -> None:
    fast = scan_line(text)
    if fast is not None:
        assert fast == iostat_lark.parse_line(text)


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    clock=st.times().map(lambda t: t.strftime("%H:%M:%S")),
    form=st.sampled_from(["C", "en_US", "de_DE", "ISO"]),
)
def test_generated_stamps(day: date, clock: str, form: str) -> None:
    hour = int(clock[:2])
    expected = datetime.fromisoformat(f"{day.isoformat()}T{clock}+00:00").timestamp()
    if form == "C":
        text = f"{day:%m/%d/%y} {clock}"
    elif form == "en_US":
        text = f"{day:%m/%d/%Y} {(hour % 12) or 12:02d}{clock[2:]} {'PM' if hour >= 12 else 'AM'}"
    elif form == "de_DE":
        text = f"{day:%d.%m.%Y} {clock}"
    else:
        text = f"{day.isoformat()}T{clock}+0000"
    record = iostat_lark.parse_line(text)
    assert isinstance(record, IostatRecord) and record.kind == "time", text
    assert record.ts == expected and record.day == day.isoformat(), text
    assert record.utc_offset_known == (form == "ISO")
    assert datetime.fromtimestamp(expected, timezone.utc).date() == day


def test_sniff_reads_every_capture() -> None:
    for path in ALL_FILES:
        assert iostat.sniff(path.read_bytes()) == 1.0, path.name
