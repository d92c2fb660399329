"""ps thread snapshots: the grammar builds strictly, every capture and public sample parses,
and the tables agree with what the workload measured about itself (its pid, tids, thread
names, thread-count timeline and CPU times in fixtures/ps_threads/captures/
workload.measured.json).

Lines written by hand for a rule no capture shows are marked "hand-written"."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from analyzer.formats import ps_threads, ps_threads_lark
from analyzer.formats.ps_threads_record import (
    BLANK,
    COLUMNS,
    PsHeader,
    PsRow,
    PsStamp,
    Unparsed,
    duration_seconds,
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

CAPTURES = {path.stem: path for path in captures("ps_threads")}
THREAD_NAME_CAPTURES = [
    "ps_L_o_wchan_p_date_Is",
    "ps_T_p_date_rfc3339_ns",
    "ps_L_o_comm_middle_p",
    "ps_L_o_no_date_p",
    "ps_eLo_date",
]


def _parsed(name: str) -> ps_threads.ParsedPsThreads:
    return parse_file(ps_threads.parse, CAPTURES[name])


def _workload_rows(name: str) -> list[dict]:
    pid = measured("ps_threads")["pid"]
    return [row for row in _parsed(name).tables["ps_threads"].to_pylist() if row["pid"] == pid]


def _names(thread: dict, when: float | None) -> set[str]:
    """A thread's name, and its creator's while it may not have renamed itself yet."""
    names = {thread["name"]}
    if when is None or abs(when - thread["start_epoch"]) < 1.5:
        names.add(measured("ps_threads")["process_comm"])
    return names


# ---------------------------------------------------------------------------------------------
# The grammar
# ---------------------------------------------------------------------------------------------


def test_grammar_builds_with_strict_checks() -> None:
    ps_threads_lark.build_parser(strict=True)


def test_the_grammars_column_names_are_the_vocabulary() -> None:
    parser = ps_threads_lark.build_parser()
    pattern = next(t.pattern.value for t in parser.terminals if t.name == "KNOWN_NAME")
    alternation = re.match(r"\((.*)\)\(\?!", pattern)
    assert alternation is not None
    assert set(alternation[1].split("|")) == set(COLUMNS)


# ---------------------------------------------------------------------------------------------
# Every line of every capture and public sample
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", captures("ps_threads"), ids=lambda path: path.name)
def test_every_capture_line_is_parsed(path: Path) -> None:
    parsed = parse_file(ps_threads.parse, path)
    assert parsed.unparsed.num_rows == 0
    assert parsed.line_count == len(lines_of(path))
    assert ps_threads.sniff(path.read_bytes()) == 1.0


def test_public_samples() -> None:
    samples = {path.name: path for path in public_samples("ps_threads")}
    centreon = parse_file(ps_threads.parse, samples["centreon-issue-1438_etime-comm-args.txt"])
    assert centreon.unparsed.num_rows == 0
    first = centreon.tables["ps_threads"].to_pylist()[0]
    assert first["elapsed_s"] == 51 * 86400 + 21 * 3600 + 5 * 60 + 51
    assert (first["pid"], first["ppid"], first["state"], first["command"]) == (1, 0, "S", "systemd")
    assert first["extra"] == [
        ("COMMAND", "/usr/lib/systemd/systemd --switched-root --system --deserialize 22")
    ]

    # headerless excerpts (grep'ed): read with the layout the command prints
    elf = ("UID", "PID", "PPID", "LWP", "C", "NLWP", "STIME", "TTY", "TIME", "CMD")
    lines = lines_of(samples["sys-proctable-pr-40_eLf-grep.txt"])
    rows = [ps_threads_lark.parse_line(text, elf) for text in lines]
    assert all(isinstance(row, PsRow) for row in rows)
    assert [row.tid for row in rows] == list(range(29441, 29448))  # type: ignore[union-attr]
    assert {(row.start, row.nlwp) for row in rows} == {("2013", 11)}  # type: ignore[union-attr]
    assert rows[2].cpu_time_s == 13 * 60 + 14  # type: ignore[union-attr]

    lstart = ("USER", "PID", "PPID", "STARTED", "ELAPSED", "COMMAND")
    lines = lines_of(samples["opensuse-supportutils-pr-262_lstart-etime.txt"])
    rows = [ps_threads_lark.parse_line(text, lstart) for text in lines]
    assert all(isinstance(row, PsRow) for row in rows)
    assert rows[0].start == "Mon Jun 16 14:23:25 2025"  # type: ignore[union-attr]
    assert rows[0].elapsed_s == 15 * 86400 + 20 * 3600 + 2 * 60 + 47  # type: ignore[union-attr]
    assert rows[-1].user == "haclust+"  # type: ignore[union-attr]
    assert rows[-1].command == "puma 4.3.12 (unix:///usr/share/hawk/tmp/hawk.sock) [hawk]"  # type: ignore[union-attr]
    for path in samples.values():
        assert parse_file(ps_threads.parse, path, engine="lark").unparsed.equals(
            parse_file(ps_threads.parse, path).unparsed
        )


# ---------------------------------------------------------------------------------------------
# Hand-written lines for the forms no capture shows
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ts", "clock_s"),
    [
        ("1796458832", 1796458832.0, None),
        ("2026-12-05T08:20:32Z", 1796458832.0, 30032.0),
        ("2026-12-05T09:20:32+01:00", 1796458832.0, 33632.0),
        ("2026-12-05T08:20:32", None, 30032.0),
        ("Sat Dec  5 09:20:32 CET 2026", None, 33632.0),
        ("Sat Dec  5 11:50:32 +0330 2026", 1796458832.0, 42632.0),
        ("Sat, 05 Dec 2026 08:20:32 +0000", 1796458832.0, 30032.0),
    ],
)
def test_hand_written_stamps(text: str, ts: float | None, clock_s: float | None) -> None:
    assert ps_threads_lark.parse_line(text) == PsStamp(text, ts, clock_s)


def test_hand_written_cells_and_reasons() -> None:
    layout = ("PID", "TID", "NI", "PRI", "START", "TIME", "COMMAND")
    row = ps_threads_lark.parse_line("  812   813 -  -40 Dec 05 1-02:03:04 [migration/0]", layout)
    assert isinstance(row, PsRow)
    assert (row.ni, row.pri, row.start, row.cpu_time_s) == (None, -40, "Dec 05", 93784)
    assert duration_seconds("03:04") == 184 and duration_seconds("62") == 62
    header = ps_threads_lark.parse_line("    ID   TID COMMAND")
    assert header == PsHeader(("ID", "TID", "COMMAND"), ("ID",))
    assert ps_threads_lark.parse_line("  812   813 x", header.columns) == Unparsed(
        "row under a column header with names iodiag does not read: ID"
    )
    assert ps_threads_lark.parse_line("  812   813 x") == Unparsed(
        "a row before any ps column header: its columns are unknown"
    )
    assert ps_threads_lark.parse_line("  812", layout) == Unparsed(
        "not a row of the header's columns: 1 words for 7 columns"
    )
    assert ps_threads_lark.parse_line("  812 813 - -40 08:20 1:2:3:4 x", layout) == Unparsed(
        "TIME cell '1:2:3:4' is not a duration ([DD-]HH:MM:SS, MM:SS or seconds)"
    )
    assert ps_threads_lark.parse_line(" \t ") == BLANK


# ---------------------------------------------------------------------------------------------
# Tables against the workload's own measurements
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", THREAD_NAME_CAPTURES)
def test_rows_are_the_workloads_threads_with_their_names(name: str) -> None:
    threads = threads_by_tid("ps_threads")
    rows = _workload_rows(name)
    assert rows
    for row in rows:
        assert row["command"] in _names(threads[row["tid"]], row["ts"]), row
    assert "iodw sock rx" in {row["command"] for row in rows}


def test_stamps_are_the_capture_times() -> None:
    workload = measured("ps_threads")
    for name in CAPTURES:
        snapshots = _parsed(name).tables["ps_snapshots"].to_pylist()
        for snapshot in snapshots:
            if name == "ps_L_o_no_date_p":
                assert snapshot["ts"] is None and snapshot["stamp"] is None
                continue
            assert workload["start_epoch"] - 1 <= snapshot["ts"] <= workload["end_epoch"] + 1
            if snapshot["clock_s"] is not None:
                assert snapshot["clock_s"] == pytest.approx(snapshot["ts"] % 86400)


def test_thread_counts_follow_the_workloads_timeline() -> None:
    pid = measured("ps_threads")["pid"]
    for name in CAPTURES:
        counts = [
            entry for entry in _parsed(name).tables["ps_nlwp"].to_pylist() if entry["pid"] == pid
        ]
        assert len(counts) >= 2
        for entry in counts:
            if entry["nlwp"] is not None:
                assert entry["threads"] == entry["nlwp"]
            if entry["ts"] is not None:
                # stamps may have a one-second resolution (`date +%s`); ps ran just after them
                window = nlwp_during("ps_threads", entry["ts"] - 0.05, entry["ts"] + 1.5)
                assert entry["threads"] in window
        threads = [entry["threads"] for entry in counts]
        assert threads == sorted(threads) and threads[-1] > threads[0]


def test_wchan_state_and_cpu_time_of_the_blocked_and_busy_threads() -> None:
    threads = threads_by_tid("ps_threads")
    rows = _workload_rows("ps_L_o_wchan_p_date_Is")
    states: Counter[tuple[str, str]] = Counter()
    for row in rows:
        role = threads[row["tid"]]["role"]
        states[(role, row["state"])] += 1
        if role == "pipe_read":
            assert "pipe" in row["wchan"] and row["stat"] == "Sl"
        elif role == "sock_recv":
            assert "unix" in row["wchan"]
        elif role == "futex_wait" and row["command"] != "iodw-main":
            assert "futex" in row["wchan"]
    assert states[("cpu", "R")] >= 6
    burn = next(thread for thread in threads.values() if thread["role"] == "cpu")
    times = [
        row["cpu_time_s"]
        for row in _workload_rows("ps_L_F_p_date_Ins")
        if row["tid"] == burn["tid"]
    ]
    assert times == sorted(times) and 0 < times[-1] <= burn["utime_s"] + burn["stime_s"] + 1


def test_start_times_and_elapsed_times() -> None:
    threads = threads_by_tid("ps_threads")
    for row in _workload_rows("ps_L_o_starts_p_date_s"):
        thread = threads[row["tid"]]
        started = datetime.strptime(row["start"], "%a %b %d %H:%M:%S %Y")
        epoch = started.replace(tzinfo=timezone.utc).timestamp()
        # ps derives it from the boot time, which /proc/stat gives to the second
        assert abs(epoch - thread["start_epoch"]) < 2
        assert 0 <= row["elapsed_s"] <= row["ts"] - thread["start_epoch"] + 1
        assert dict(row["extra"])["STARTED"] == started.strftime("%H:%M:%S")
        assert "workload.py" in row["command"]


def test_system_wide_snapshots_and_two_processes() -> None:
    parsed = _parsed("ps_eLf_date_s_N")
    snapshots = parsed.tables["ps_snapshots"].to_pylist()
    assert len(snapshots) == 2 and all(snapshot["processes"] >= 3 for snapshot in snapshots)
    for entry in parsed.tables["ps_nlwp"].to_pylist():
        assert entry["threads"] == entry["nlwp"] or entry["pid"] != measured("ps_threads")["pid"]
    pids = Counter(
        row["pid"] for row in _parsed("ps_Lf_p_p1_date_s").tables["ps_threads"].to_pylist()
    )
    assert set(pids) == {1, measured("ps_threads")["pid"]}


def test_tables_have_their_schemas_and_every_column_a_doc() -> None:
    parsed = _parsed("ps_L_o_wchan_p_date_Is")
    for spec in ps_threads.SPECS:
        table = parsed.tables[spec.name]
        assert table.schema.equals(spec.schema, check_metadata=True)
        for field in spec.schema:
            assert field.metadata[b"doc"]
    report = ps_threads.input_report(parsed)
    assert report["snapshots"] == 12 and report["stamped_snapshots"] == 12


def test_the_main_threads_row_carries_the_process_totals() -> None:
    """ps -L of procps-ng 4.0.2 shows the thread group leader's process-wide CPU time (as
    top -H does; see fixtures/top/README.md)."""
    if "procps-ng 4.0.2" not in (FIXTURES / "ps_threads" / "VERSIONS.txt").read_text():
        pytest.skip("captured with another ps")
    workload = measured("ps_threads")
    threads = threads_by_tid("ps_threads")
    burn = next(tid for tid, thread in threads.items() if thread["role"] == "cpu")
    by_snapshot: dict[int, dict[int, int]] = {}
    for row in _workload_rows("ps_L_F_p_date_Ins"):
        by_snapshot.setdefault(row["snapshot"], {})[row["tid"]] = row["cpu_time_s"]
    for times in by_snapshot.values():
        assert times[workload["pid"]] >= times[burn]
