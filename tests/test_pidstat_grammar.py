"""pidstat: the grammar builds strictly, every capture and public sample parses, and the
tables agree with what the workload measured about itself (its pid, tids, thread names,
thread-count timeline in fixtures/pidstat/captures/workload.measured.json).

Lines written by hand for a rule no capture shows are marked "hand-written"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from analyzer.formats import pidstat, pidstat_lark
from analyzer.formats.pidstat_record import (
    BLANK,
    COLUMNS,
    PidstatBanner,
    PidstatHeader,
    PidstatRow,
    Time,
    Unparsed,
    banner_date,
)
from tests.snapshot_fixtures import (
    FIXTURES,
    captures,
    lines_of,
    measured,
    nlwp_during,
    parse_file,
    public_samples,
    threads_by_tid,
)

CAPTURES = {path.stem: path for path in captures("pidstat")}
PER_PID = [name for name in CAPTURES if "_p_" in name]
THREADED = [name for name in PER_PID if name.startswith("pidstat_t_")]
UW = ("UID", "TGID", "TID", "%usr", "%system", "%guest", "%wait", "%CPU", "CPU", "Command")


def _parsed(name: str) -> pidstat.ParsedPidstat:
    return parse_file(pidstat.parse, CAPTURES[name])


def _rows(name: str) -> list[dict]:
    return _parsed(name).tables["pidstat_threads"].to_pylist()


# ---------------------------------------------------------------------------------------------
# The grammar
# ---------------------------------------------------------------------------------------------


def test_grammar_builds_with_strict_checks() -> None:
    pidstat_lark.build_parser(strict=True)


def test_the_grammars_column_names_are_the_vocabulary() -> None:
    parser = pidstat_lark.build_parser()
    pattern = next(t.pattern.value for t in parser.terminals if t.name == "KNOWN_NAME")
    alternation = re.match(r"\((.*)\)\(\?!", pattern)
    assert alternation is not None
    assert {name.replace("\\", "") for name in alternation[1].split("|")} == set(COLUMNS)


def test_the_workload_was_captured_in_utc() -> None:
    assert "UTC offset +0000" in (FIXTURES / "pidstat" / "VERSIONS.txt").read_text()


# ---------------------------------------------------------------------------------------------
# Every line of every capture and public sample
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", captures("pidstat"), ids=lambda path: path.name)
def test_every_capture_line_is_parsed(path: Path) -> None:
    parsed = parse_file(pidstat.parse, path)
    assert parsed.unparsed.num_rows == 0
    assert parsed.line_count == len(lines_of(path))
    assert pidstat.sniff(path.read_bytes()) == 1.0
    assert parsed.banner is not None and parsed.banner.date is not None


def test_public_samples() -> None:
    samples = {path.name: parse_file(pidstat.parse, path) for path in public_samples("pidstat")}
    for name, parsed in samples.items():
        if "zh_CN" in name:
            assert set(parsed.unparsed["reason"].to_pylist()) == {
                "not a pidstat line: it does not start with a time pidstat prints "
                "(HH:MM:SS [AM|PM], epoch seconds, an averages label or # Time)"
            }
        else:
            assert parsed.unparsed.num_rows == 0, name
    twelve = samples["sysstat-10.1.5_issue-155_12h.txt"].tables["pidstat_threads"].to_pylist()
    assert (twelve[0]["clock_s"], twelve[0]["ts"], twelve[0]["pid"]) == (
        50400 + 13 * 60 + 8,
        None,
        1,
    )
    epoch = samples["sysstat-10.1.5_issue-155_h_epoch.txt"].tables["pidstat_threads"].to_pylist()
    assert (epoch[0]["ts"], epoch[0]["clock_s"], epoch[0]["command"]) == (
        1498587221.0,
        None,
        "systemd",
    )
    wide = samples["sysstat-12_rancherlabs-issue-144_drshut_h.txt"]
    rows = wide.tables["pidstat_threads"].to_pylist()
    assert [(row["pid"], row["tid"], row["thread"]) for row in rows] == [
        (2, None, False),
        (2, 2, True),
        (3, None, False),
    ]
    assert rows[0]["kb_rd_s"] == -1.0 and rows[0]["ts"] == pytest.approx(1633512608.0)
    assert wide.banner == PidstatBanner(
        "Linux", "5.4.0-74-generic", "rancher24x", "10/06/21", (2021, 10, 6), "x86_64", 4
    )
    old = samples["sysstat-11_issue-300_no-wait.txt"].tables["pidstat_threads"].to_pylist()
    assert [row["system_pct"] for row in old] == [10.0, 10.0, 11.0, 10.0, 12.0]
    assert {row["wait_pct"] for row in old} == {None}


# ---------------------------------------------------------------------------------------------
# Hand-written lines for the forms no capture shows
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("12/05/26", (2026, 12, 5)),
        ("12/05/2026", (2026, 12, 5)),
        ("05.12.2026", (2026, 12, 5)),
        ("2026-12-05", (2026, 12, 5)),
        ("25/12/2026", (2026, 12, 25)),
        ("2026年12月05日", None),
    ],
)
def test_hand_written_banner_dates(text: str, date: tuple[int, int, int] | None) -> None:
    assert banner_date(text) == date


def test_hand_written_times_cells_and_reasons() -> None:
    row = pidstat_lark.parse_line("12:00:01 AM  1000  -  77  -1,5  -  -  -  -  -  |__a b", UW)
    assert isinstance(row, PidstatRow)
    assert (row.time, row.tgid, row.tid, row.usr_pct, row.command, row.thread) == (
        Time(clock_s=1),
        None,
        77,
        -1.5,
        "a b",
        True,
    )
    assert pidstat_lark.parse_line("12:30:00 PM 0 1 - 1 1 1 1 1 0 x", UW).time == Time(
        clock_s=45000
    )  # type: ignore[union-attr]
    header = pidstat_lark.parse_line("Moyenne: UID PID %usr prio-x Command")
    assert header == PidstatHeader(
        Time(average=True), ("UID", "PID", "%usr", "prio-x", "Command"), ("prio-x",)
    )
    assert pidstat_lark.parse_line("Moyenne: 0 1 1.0 2 x", header.columns) == Unparsed(
        "row under a column header with names iodiag does not read: prio-x"
    )
    assert pidstat_lark.parse_line("08:00:00 0 1 x", UW) == Unparsed(
        "not a row of the header's columns: 3 words for 10 columns"
    )
    assert pidstat_lark.parse_line("08:00:00 0 1 - 1.0 x 1 1 1 0 c", UW) == Unparsed(
        "%system cell 'x' is not a decimal number"
    )
    assert pidstat_lark.parse_line("08:00:00 0 1 - 1.0 0 1 1 1 0 c") == Unparsed(
        "a row before any pidstat column header: its columns are unknown"
    )
    assert pidstat_lark.parse_line("") == BLANK


# ---------------------------------------------------------------------------------------------
# Tables against the workload's own measurements
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PER_PID)
def test_rows_are_the_workloads_process_and_threads(name: str) -> None:
    workload = measured("pidstat")
    threads = threads_by_tid("pidstat")
    rows = _rows(name)
    assert rows and {row["pid"] for row in rows} == {workload["pid"]}
    for row in rows:
        if row["thread"]:
            thread = threads[row["tid"]]
            names = {thread["name"], workload["process_comm"]}  # before its rename
            assert row["command"] in names
        else:
            assert row["tid"] is None
            command = row["command"]
            assert command == workload["process_comm"] or "workload.py" in command
        if not row["average"]:
            assert workload["start_epoch"] - 1 <= row["ts"] <= workload["end_epoch"] + 1
            assert row["clock_s"] == pytest.approx(row["ts"] % 86400)


@pytest.mark.parametrize("name", THREADED)
def test_each_report_lists_as_many_threads_as_the_workload_had(name: str) -> None:
    intervals = _parsed(name).tables["pidstat_intervals"].to_pylist()
    assert len(intervals) >= 3
    for interval in intervals:
        # the report covers the second before its time, printed to the second
        counts = nlwp_during("pidstat", interval["ts"] - 1.2, interval["ts"] + 1.2)
        assert interval["thread_rows"] in counts
        assert interval["processes"] == 1 and interval["tasks"] == interval["thread_rows"] + 1
    grown = [interval["thread_rows"] for interval in intervals]
    assert grown == sorted(grown) and grown[-1] > grown[0]


@pytest.mark.parametrize("name", THREADED)
def test_the_busy_thread_burns_cpu_and_the_blocked_ones_do_not(name: str) -> None:
    """The capture machine may be shared: the busy thread is the busiest, at over 20 %."""
    threads = threads_by_tid("pidstat")
    rows = [row for row in _rows(name) if row["thread"]]
    by_time: dict[object, list[dict]] = {}
    for row in rows:
        by_time.setdefault(row["interval"], []).append(row)
    for group in by_time.values():
        busiest = max(group, key=lambda row: row["usr_pct"])
        assert threads[busiest["tid"]]["role"] == "cpu" and busiest["usr_pct"] > 20.0
    for row in rows:
        if threads[row["tid"]]["role"] in ("pipe_read", "sock_recv"):
            assert row["cpu_pct"] == 0.0
            if row["cswch_s"] is not None:
                assert row["cswch_s"] == 0.0
        fsync = threads[row["tid"]]["role"] == "fsync"
        if fsync and row["cswch_s"] is not None and not row["average"]:
            assert row["cswch_s"] >= 5.0  # wakes up every 50 ms
    merged = [row for row in rows if "_w_" in name or "urdwvs" in name]
    for row in merged:
        assert row["cpu_pct"] is not None and row["cswch_s"] is not None


def test_locales_give_the_same_reports() -> None:
    base = {
        (row["interval"], row["tid"], row["thread"]): row
        for row in _rows("pidstat_t_u_w_C_iso_p_1_4")
    }
    for name in ("pidstat_t_u_w_en_US_p_1_4", "pidstat_t_u_w_de_DE_p_1_3", "pidstat_t_u_w_p_1_5"):
        rows = _rows(name)
        matched = 0
        for row in rows:
            other = base.get((row["interval"], row["tid"], row["thread"]))
            if other is None or row["average"]:
                continue
            assert row["ts"] == other["ts"] and row["clock_s"] == other["clock_s"]
            matched += 1
        assert matched >= 20, name
    banners = {name: _parsed(name).banner for name in CAPTURES}
    assert {banner.date for banner in banners.values()} == {banners["pidstat_t_u_w_p_1_5"].date}  # type: ignore[union-attr]
    assert banners["pidstat_t_u_w_de_DE_p_1_3"].date_text.count(".") == 2  # type: ignore[union-attr]


def test_wide_and_command_line_reports() -> None:
    wide = [row for row in _rows("pidstat_t_urdwvs_h_p_1_3") if not row["thread"]]
    for row in wide:
        assert row["threads"] in nlwp_during("pidstat", row["ts"] - 1.2, row["ts"] + 1.2)
        assert row["vsz_kib"] > row["rss_kib"] > 1000 and row["fd_nr"] >= 3
        assert row["stack_size_kib"] is not None and row["kb_wr_s"] is not None
    processes = [row for row in _rows("pidstat_t_u_l_p_1_3") if not row["thread"]]
    assert all("workload.py --seconds 9" in row["command"] for row in processes)
    system = _parsed("pidstat_t_u_w_1_2").tables["pidstat_intervals"].to_pylist()
    assert all(interval["processes"] > 1 for interval in system)


def test_tables_have_their_schemas_and_every_column_a_doc() -> None:
    parsed = _parsed("pidstat_t_u_w_p_1_5")
    for spec in pidstat.SPECS:
        table = parsed.tables[spec.name]
        assert table.schema.equals(spec.schema, check_metadata=True)
        for field in spec.schema:
            assert field.metadata[b"doc"]
    report = pidstat.input_report(parsed)
    assert report["report_times"] == 5 and report["cpus"] >= 1
