"""`grammars/pyspy.lark` and the py-spy tables, on the captures and the public samples.

The tables are checked against what the captured workload recorded about itself
(`fixtures/pyspy/dumps/workload_<version>.measured.json`: pid, thread names, OS thread ids,
the source lines of its key calls), not against numbers copied from the parser's output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.formats import pyspy, pyspy_lark
from analyzer.formats.pyspy_record import PySpyRecord, Unparsed
from analyzer.inputs import iter_line_chunks

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pyspy"
CAPTURES = sorted((FIXTURES / "dumps").glob("*.txt"))
PUBLIC = sorted((FIXTURES / "public").glob("*.txt"))
VERSIONS = ("0.4.3", "0.3.14")


def _lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _parse(path: Path) -> pyspy.ParsedPySpy:
    with path.open("rb") as stream:
        return pyspy.parse(iter_line_chunks(stream), path.name)


def _measured(version: str) -> dict:
    return json.loads((FIXTURES / "dumps" / f"workload_{version}.measured.json").read_text())


def test_grammar_compiles_strictly() -> None:
    parser = pyspy_lark.build_parser(strict=True)
    assert parser.options.start == ["line"]


def test_there_are_captures_of_both_versions() -> None:
    for version in VERSIONS:
        names = {path.name for path in CAPTURES if path.stem.endswith(version)}
        assert len(names) == 5, (version, names)


@pytest.mark.parametrize("path", CAPTURES + PUBLIC, ids=lambda path: path.name)
def test_every_line_parses(path: Path) -> None:
    for line_no, text in enumerate(_lines(path), 1):
        record = pyspy_lark.parse_line(text)
        assert isinstance(record, PySpyRecord), (line_no, text, record)


@pytest.mark.parametrize("path", CAPTURES + PUBLIC, ids=lambda path: path.name)
def test_tables_account_for_every_line(path: Path) -> None:
    parsed = _parse(path)
    lines = _lines(path)
    assert parsed.line_count == len(lines)
    assert parsed.unparsed.num_rows == 0
    kinds = [pyspy_lark.parse_line(text).kind for text in lines]  # type: ignore[union-attr]
    assert parsed.tables["pyspy_threads"].num_rows == kinds.count("thread")
    assert parsed.tables["pyspy_frames"].num_rows == kinds.count("frame")
    assert parsed.tables["pyspy_dumps"].num_rows == max(
        kinds.count("process"), 1 if kinds.count("thread") else 0
    )
    for spec in pyspy.SPECS:
        assert parsed.tables[spec.name].schema == spec.schema


@pytest.mark.parametrize("version", VERSIONS)
def test_threads_match_what_the_workload_recorded(version: str) -> None:
    measured = _measured(version)
    expected = {thread["native_id"]: thread["name"] for thread in measured["threads"]}
    roles = {thread["name"]: thread["role"] for thread in measured["threads"]}
    lines = measured["lines"]
    checked = 0
    for path in CAPTURES:
        if not path.stem.endswith(version):
            continue
        parsed = _parse(path)
        dumps = parsed.tables["pyspy_dumps"].to_pylist()
        assert {dump["pid"] for dump in dumps} == {measured["pid"]}
        assert {dump["python_version"] for dump in dumps} == {measured["python_version"]}
        assert {dump["executable"] for dump in dumps} == {measured["executable"]}
        for dump in dumps:
            if dump["error"] is not None:
                assert dump["threads"] == 0
                continue
            rows = [
                row
                for row in parsed.tables["pyspy_threads"].to_pylist()
                if row["dump"] == dump["dump"]
            ]
            assert {row["native_tid"]: row["name"] for row in rows} == expected
            assert sum(1 for row in rows if row["holds_gil"]) <= 1
            for row in rows:
                role = roles[row["name"]]
                assert row["top_file"] == "workload.py" or role in ("idle", "main")
                if role == "gil":
                    assert row["top_function"] == measured["functions"]["gil-holder"]
                    assert row["top_line"] == lines["total = sum(range"]
                    assert row["state"] == "active"
                elif role == "fsync":
                    assert row["top_function"] == measured["functions"]["fsync-writer"]
                    # in fsync, or back from write(2) and waiting for the GIL
                    assert row["top_line"] in (lines["os.fsync(fd)"], lines["os.write(fd, block)"])
                elif role == "idle":
                    assert row["state"] == "idle"
                    assert not row["holds_gil"]
                checked += 1
    assert checked >= 5 * 4


@pytest.mark.parametrize("version", VERSIONS)
def test_loop_dumps_carry_the_time_of_their_date_line(version: str) -> None:
    measured = _measured(version)
    for name in (f"loop_{version}.txt", f"loop_iso_{version}.txt"):
        dumps = _parse(FIXTURES / "dumps" / name).tables["pyspy_dumps"].to_pylist()
        assert len(dumps) >= 2
        times = [dump["ts"] for dump in dumps]
        assert all(ts is not None for ts in times)
        assert times == sorted(times)
        for ts in times:
            # `date` prints whole seconds (-Ins nanoseconds); the dumps ran inside the workload
            assert measured["start_epoch"] - 1 <= ts <= measured["end_epoch"]


def test_frames_of_the_native_dump() -> None:
    parsed = _parse(FIXTURES / "dumps" / "dump_native_0.4.3.txt")
    frames = parsed.tables["pyspy_frames"].to_pylist()
    native = [frame for frame in frames if frame["native"]]
    python = [frame for frame in frames if not frame["native"]]
    assert native and python
    assert all(frame["line"] is None for frame in native)
    assert all(frame["line"] is not None for frame in python)
    assert {frame["file"] for frame in native} <= {"libc.so.6", "python3.11"}
    assert any(frame["address"] is not None for frame in native)
    # the merged stack keeps the Python frames in the order of the plain dump
    plain = _parse(FIXTURES / "dumps" / "dump_0.4.3.txt").tables["pyspy_frames"].to_pylist()
    for tid in {frame["native_tid"] for frame in plain}:
        assert [f["function"] for f in python if f["native_tid"] == tid] == [
            f["function"] for f in plain if f["native_tid"] == tid
        ]


@pytest.mark.parametrize("version", VERSIONS)
def test_locals_of_the_idle_waiters(version: str) -> None:
    measured = _measured(version)
    frames = _parse(FIXTURES / "dumps" / f"dump_locals_{version}.txt").tables["pyspy_frames"]
    waiters = [row for row in frames.to_pylist() if row["function"] == "idle_waiter"]
    assert len(waiters) == 2
    for row in waiters:
        values = {local["name"]: (local["kind"], local["repr"]) for local in row["locals"]}
        slot = int(values["slot"][1])
        assert values["slot"][0] == "argument"
        assert values["label"] == ("local", f'"idle\\nwaiter {slot}"')
        assert row["line"] == measured["lines"]["never.wait(timeout"]


def test_failed_native_dump_keeps_the_error() -> None:
    dumps = _parse(FIXTURES / "dumps" / "dump_native_0.3.14.txt").tables["pyspy_dumps"]
    (row,) = dumps.to_pylist()
    assert row["error"].startswith("Error: Failed to merge native and python frames")
    report = pyspy.input_report(_parse(FIXTURES / "dumps" / "dump_native_0.3.14.txt"))
    assert report["failed_dumps"] == 1


def test_public_samples() -> None:
    sglang = _parse(FIXTURES / "public" / "sglang_xargs_py3.12.3.txt").tables
    assert sglang["pyspy_dumps"]["pid"].to_pylist() == [1, 165, 166, 575]
    names = sglang["pyspy_threads"]["name"].to_pylist()
    assert "Thread-1 (_read_thread)" in names
    assert sglang["pyspy_threads"]["holds_gil"].to_pylist().count(True) == 1
    windows = _parse(FIXTURES / "public" / "windows_streamlit_py3.12.txt").tables
    top = windows["pyspy_frames"].to_pylist()[0]
    assert (top["function"], top["file"], top["line"]) == ("_select", "selectors.py", 314)
    assert windows["pyspy_dumps"]["executable"].to_pylist() == [
        "C:\\Users\\uhlar\\AppData\\Local\\Programs\\Python\\Python312\\python.exe"
    ]
    hexed = _parse(FIXTURES / "public" / "hex_thread_id_line.txt").tables["pyspy_threads"]
    (row,) = hexed.to_pylist()
    assert row["native_tid"] is None and row["pthread_id"] == 0x7ED3637AE700
    bare = _parse(FIXTURES / "public" / "uwsgi_py3.7.3_0.3.2.txt").tables["pyspy_threads"]
    assert bare["frames"].to_pylist() == [0]


def test_sniff_reads_dumps() -> None:
    for path in CAPTURES:
        if path.name != "dump_native_0.3.14.txt" and not path.name.startswith("loop_iso_0.3"):
            assert pyspy.sniff(path.read_bytes()) == 1.0, path.name
    assert pyspy.sniff((FIXTURES / "public" / "uwsgi_py3.7.3_0.3.2.txt").read_bytes()) == 1.0


def test_not_py_spy_lines_are_unparsed_with_a_reason() -> None:
    for text in ('Thread (active): "MainThread"', "  two spaces", "Process x: y", "     five"):
        record = pyspy_lark.parse_line(text)
        assert isinstance(record, Unparsed) and record.reason, text


def test_dates() -> None:
    # hand-written lines: one per `date` form the grammar accepts
    cases = {
        "Sat Dec  5 08:12:32 UTC 2026": 1796458352.0,
        "Sat Dec  5 08:13:07 PM UTC 2026": 1796458387.0 + 12 * 3600,
        "Sat Dec  5 09:13:07 CET 2026": None,
        "Sat Dec  5 09:13:07 +01 2026": 1796458387.0,
        "Sat, 05 Dec 2026 09:13:07 +0100": 1796458387.0,
        "2026-12-05T08:13:07+00:00": 1796458387.0,
        "2026-12-05 08:13:07.5+00:00": 1796458387.5,
        "2026-12-05T08:13:07,25Z": 1796458387.25,
        "2026-12-05T08:13:07": None,
        "1796458387": 1796458387.0,
        "1796458387.125": 1796458387.125,
    }
    for text, ts in cases.items():
        record = pyspy_lark.parse_line(text)
        assert isinstance(record, PySpyRecord) and record.kind == "date", text
        assert record.ts == ts, text


# ---------------------------------------------------------------------------------------------
# Generated lines: the grammar gives back the fields the line was built from
# ---------------------------------------------------------------------------------------------

_name = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=20)
_identifier = st.from_regex(r"[A-Za-z_<][A-Za-z0-9_.<>]{0,15}", fullmatch=True)
_file = st.from_regex(r"[A-Za-z0-9_<>/\\. -]{0,10}[A-Za-z0-9_<>]\.py", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    tid=st.one_of(st.integers(1, 2**22).map(str), st.integers(1, 2**48).map(lambda n: f"0x{n:X}")),
    state=st.sampled_from(["idle", "active", "active+gil"]),
    name=st.one_of(st.none(), _name),
)
def test_generated_thread_headers(tid: str, state: str, name: str | None) -> None:
    text = f"Thread {tid} ({state})" + (f': "{name}"' if name is not None else "")
    record = pyspy_lark.parse_line(text)
    assert isinstance(record, PySpyRecord) and record.kind == "thread", text
    assert record.thread_id == tid and record.name == name
    assert record.holds_gil == (state == "active+gil")
    assert record.state == ("idle" if state == "idle" else "active")


@settings(max_examples=300, deadline=None)
@given(function=_identifier, file=_file, line=st.integers(1, 10**6))
def test_generated_python_frames(function: str, file: str, line: int) -> None:
    record = pyspy_lark.parse_line(f"    {function} ({file}:{line})")
    assert isinstance(record, PySpyRecord) and record.kind == "frame"
    assert (record.function, record.file, record.line, record.native) == (
        function,
        file,
        line,
        False,
    )


@settings(max_examples=200, deadline=None)
@given(
    function=st.from_regex(
        r"[A-Za-z_][A-Za-z0-9_:<>&*, ]{0,20}(\([A-Za-z0-9_:&*, ]*\))?", fullmatch=True
    ),
    module=st.from_regex(r"[A-Za-z0-9_.+-]{1,20}", fullmatch=True),
)
def test_generated_native_frames(function: str, module: str) -> None:
    function = function.strip() or "f"
    record = pyspy_lark.parse_line(f"    {function} ({module})")
    assert isinstance(record, PySpyRecord) and record.kind == "frame"
    assert record.function == function and record.file == module and record.line is None
    assert record.native is not module.endswith((".py", ".pyw"))
