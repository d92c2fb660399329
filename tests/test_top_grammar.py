"""`top -b`: the grammar builds strictly, every capture and public sample parses, and the
tables agree with what the workload measured about itself (its pid, tids, thread names,
thread-count timeline and CPU times in fixtures/top/captures/workload.measured.json).

Lines written by hand for a rule no capture shows are marked "hand-written"."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from analyzer.formats import top, top_lark
from analyzer.formats.top_record import (
    COLUMNS,
    DEFAULT_LAYOUT,
    TopCpu,
    TopHeader,
    TopMemory,
    TopRow,
    TopTasks,
    TopUptime,
    Unparsed,
    cpu_time,
    mem_kib,
)
from tests.snapshot_fixtures import (
    FIXTURES,
    captures,
    measured,
    nlwp_during,
    parse_file,
    public_samples,
    shown_name,
    threads_by_tid,
)

CAPTURES = {path.stem: path for path in captures("top")}
GRAPH_REASON = "summary line in graph mode (top's t/m toggles): its numbers are not itemized"


def _parsed(name: str) -> top.ParsedTop:
    return parse_file(top.parse, CAPTURES[name])


def _rows(name: str) -> list[dict]:
    return _parsed(name).tables["top_threads"].to_pylist()


def _epoch(clock_s: float) -> float:
    """The epoch of a top clock of the capture day (the captures ran in UTC: VERSIONS.txt)."""
    start = measured("top")["start_epoch"]
    return math.floor(start / 86400) * 86400 + clock_s


def _by_iteration(rows: list[dict]) -> dict[int, list[dict]]:
    grouped: dict[int, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["iteration"], []).append(row)
    return grouped


# ---------------------------------------------------------------------------------------------
# The grammar
# ---------------------------------------------------------------------------------------------


def test_grammar_builds_with_strict_checks() -> None:
    top_lark.build_parser(strict=True)


def test_the_grammars_column_names_are_the_vocabulary() -> None:
    parser = top_lark.build_parser()
    pattern = next(t.pattern.value for t in parser.terminals if t.name == "KNOWN_NAME")
    alternation = re.match(r"\((.*)\)\(\?!", pattern)
    assert alternation is not None
    names = {name.replace("\\+?", "").replace("\\", "") for name in alternation[1].split("|")}
    names |= {"TIME+"}  # `TIME\+?` is TIME and TIME+
    assert names == set(COLUMNS)


def test_the_workload_was_captured_in_utc() -> None:
    versions = (FIXTURES / "top" / "VERSIONS.txt").read_text()
    assert "UTC offset +0000" in versions


# ---------------------------------------------------------------------------------------------
# Every line of every capture and public sample
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", captures("top"), ids=lambda path: path.name)
def test_every_capture_line_is_parsed(path: Path) -> None:
    parsed = parse_file(top.parse, path)
    reasons = Counter(parsed.unparsed["reason"].to_pylist())
    if "graph" in path.name:
        # the CPU, Mem and Swap lines of each iteration, and nothing else
        assert reasons == {GRAPH_REASON: 3 * parsed.tables["top_samples"].num_rows}
    else:
        assert reasons == {}
    assert parsed.line_count == len(path.read_text().split("\n")) - 1
    assert parsed.non_utf8_lines == 0


@pytest.mark.parametrize("path", public_samples("top"), ids=lambda path: path.name)
def test_every_public_sample_line_is_parsed(path: Path) -> None:
    parsed = parse_file(top.parse, path)
    assert parsed.unparsed.num_rows == 0
    assert parsed.tables["top_samples"].num_rows == 1
    assert top.sniff(path.read_bytes()) == 1.0


def test_public_samples_of_older_versions_give_their_values() -> None:
    samples = {path.name: parse_file(top.parse, path) for path in public_samples("top")}
    old = samples["procps-3.2.7_zhangyachen-issue-64.txt"]
    summary = old.tables["top_samples"].to_pylist()[0]
    assert summary["uptime_s"] == 375 * 86400 + 2 * 3600 + 54 * 60
    assert (summary["cpu_us"], summary["cpu_si"], summary["cpu_st"]) == (21.7, 1.3, None)
    assert (summary["mem_unit"], summary["mem_total_kib"]) == ("k", 65968872.0)
    assert summary["mem_cached_kib"] == 39128520.0
    first = old.tables["top_threads"].to_pylist()[0]
    assert first["virt_kib"] == 5740 * 1024 and first["res_kib"] == 468 * 1024
    assert (first["cpu_time_s"], first["cpu_time_res_s"]) == (11473 * 60 + 56, 1.0)
    assert old.tables["top_threads"].to_pylist()[4]["res_kib"] == 1.0 * 1024**2

    v33 = samples["procps-ng-3.3.9_gabstv-parser-test.txt"].tables["top_samples"].to_pylist()[0]
    assert (v33["mem_unit"], v33["mem_buffers_kib"], v33["mem_cached_kib"]) == (
        "KiB",
        41988.0,
        1018108.0,
    )
    assert v33["cpu_st"] == 63.8
    v3310 = samples["procps-ng-3.3.10_novaordis-top-linux.out"].tables["top_samples"].to_pylist()
    assert (v3310[0]["mem_buff_cache_kib"], v3310[0]["mem_avail_kib"]) == (126816.0, 791404.0)

    v405 = samples["procps-ng-4.0.5_linuxmint-pr-1623.txt"]
    summary = v405.tables["top_samples"].to_pylist()[0]
    assert (summary["tasks_sleeping"], summary["tasks_d_sleep"], summary["tasks_zombie"]) == (
        309,
        0,
        103,
    )
    assert summary["mem_total_kib"] == pytest.approx(14927.4 * 1024)
    tids = v405.tables["top_threads"]["tid"].to_pylist()
    assert tids == [3575567, 1, 2, 3, 4, 5]


# ---------------------------------------------------------------------------------------------
# Hand-written lines for the forms no capture shows
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "uptime_s", "users"),
    [
        ("top - 10:44:39 up 1 day, 10 min,  2 users,  load average: 0.00, 0.01, 0.05", 87000, 2),
        ("top - 10:44:39 up 52 days, 21:31,  1 user,  load average: 0.00, 0.00, 0.00", 4570260, 1),
        ("top - 10:44:39 up  2:22,  load average: 0.11, 0.22, 0.33", 8520, None),
    ],
)
def test_hand_written_uptime_forms(text: str, uptime_s: int, users: int | None) -> None:
    record = top_lark.parse_line(text)
    assert isinstance(record, TopUptime)
    assert (record.clock_s, record.uptime_s, record.users) == (38679, uptime_s, users)


@pytest.mark.parametrize(
    ("text", "seconds", "resolution"),
    [
        ("0:01.05", 1.05, 0.01),
        ("123:41.49", 7421.49, 0.01),
        ("11473:56", 688436.0, 1.0),
        ("12,34", 12 * 3600 + 34 * 60.0, 60.0),
        ("3d+4h", 3 * 86400 + 4 * 3600.0, 3600.0),
        ("2w+3d", 2 * 604800 + 3 * 86400.0, 86400.0),
        ("5h", 5 * 3600.0, 3600.0),
        ("9D", 9 * 86400.0, 86400.0),
        ("2w", 2 * 604800.0, 604800.0),
    ],
)
def test_hand_written_cpu_time_forms(text: str, seconds: float, resolution: float) -> None:
    parsed = cpu_time(text)
    assert parsed[0] == pytest.approx(seconds) and parsed[1] == resolution
    row = top_lark.parse_line(f"  1 root 20 0 1 1 1 S 0.0 0.0 {text} x")
    assert isinstance(row, TopRow) and row.time_s == parsed[0]


def test_hand_written_cells_rt_unknown_scaled_and_decimal_comma() -> None:
    row = top_lark.parse_line("   11 root      rt   0  1.2g   ?    10m S   1,5   0,2   0:00.08 mig")
    assert isinstance(row, TopRow)
    assert (row.pr, row.realtime, row.virt_kib, row.res_kib) == (None, True, 1.2 * 1024**2, None)
    assert (row.shr_kib, row.cpu_pct, row.mem_pct) == (10240.0, 1.5, 0.2)
    assert mem_kib("3.5t") == 3.5 * 1024**3


def test_hand_written_unparsed_lines_have_reasons() -> None:
    # zero-suppressed cells are blank: the row does not fill the columns
    blank_cells = top_lark.parse_line(
        "  812 root      20   0       0      0      0 S              "
    )
    assert blank_cells == Unparsed("not a row of the header's columns: 8 words for 12 columns")
    assert top_lark.parse_line("  812 root 20 0 1 1 1 S x 0.0 0:00.01 a") == Unparsed(
        "%CPU cell 'x' is not a percentage"
    )
    assert top_lark.parse_line("MiB Spch:  24105,3 total,  22632,2 free") == Unparsed(
        "summary line: unexpected 'MiB' at column 1"
    )
    header = top_lark.parse_line("  PID USER PR NI VIRT RES SHR S %CPU %MEM ZEIT+ BEFEHL", None)
    assert header == TopHeader((*DEFAULT_LAYOUT[:10], "ZEIT+", "BEFEHL"), ("ZEIT+", "BEFEHL"))
    assert top_lark.parse_line("  1 root 20 0 1 1 1 S 0.0 0.0 0:00 init", header.columns) == (
        Unparsed("row under a column header with names iodiag does not read: ZEIT+, BEFEHL")
    )


def test_hand_written_summary_variants() -> None:
    assert top_lark.parse_line("Cpu3  : 84.9%us,  0.0%sy") == TopCpu(3, us=84.9, sy=0.0)
    assert top_lark.parse_line("%Cpu(s):  0,0 us,100,0 sy") == TopCpu(None, us=0.0, sy=100.0)
    assert top_lark.parse_line("Threads: 126 total,   3 running") == TopTasks("Threads", 126, 3)
    swap = top_lark.parse_line(
        "KiB Swap:  4063228 total,        0 used,  4063228 free.   851200 cached Mem"
    )
    assert swap == TopMemory("swap", "KiB", 4063228.0, 4063228.0, 0.0, cached=851200.0)


def test_a_row_before_any_header_is_read_with_the_default_columns() -> None:
    text = " 2246 ec2-user  20   0  129756   1492   1196 R  0.0  0.1   0:00.00 top"
    row = top_lark.parse_line(text, None)
    assert isinstance(row, TopRow) and (row.tid, row.command) == (2246, "top")


# ---------------------------------------------------------------------------------------------
# Tables against the workload's own measurements
# ---------------------------------------------------------------------------------------------

THREAD_CAPTURES = [
    "top_H_b_d1_n6_p",
    "top_H_b_d1_n6_w512_p",
    "top_H_b_d1_n4_c_w512_p",
    "top_H_b_d1_n4_em_Eg_p",
    "top_H_b_d1_n4_Ek_1_p",
    "top_H_b_d1_n4_fields_w512_p",
    "top_H_b_d1_n4_lcnumeric_de_p",
    "top_H_b_d1_n3_graph_p",
]


@pytest.mark.parametrize("name", THREAD_CAPTURES)
def test_thread_rows_are_the_workloads_threads(name: str) -> None:
    threads = threads_by_tid("top")
    workload = measured("top")
    rows = _rows(name)
    assert rows
    for row in rows:
        thread = threads[row["tid"]]
        epoch = _epoch(row["clock_s"])
        # a thread shows its creator's name until it renames itself (a race top may catch)
        names = {thread["name"]}
        if abs(epoch - thread["start_epoch"]) < 1.5:
            names.add(workload["process_comm"])
        if "_c_" in name:
            assert "workload.py" in row["command"]
        elif "w512" in name:
            assert row["command"] in names
        else:
            assert any(shown_name(known, row["command"]) for known in names), row["command"]
        assert workload["start_epoch"] - 1 <= epoch <= workload["end_epoch"] + 1
        assert thread["start_epoch"] <= epoch + 1


@pytest.mark.parametrize("name", THREAD_CAPTURES)
def test_each_iteration_shows_the_thread_count_the_workload_had(name: str) -> None:
    parsed = _parsed(name)
    samples = parsed.tables["top_samples"].to_pylist()
    counts = Counter(parsed.tables["top_threads"]["iteration"].to_pylist())
    assert len(samples) >= 3
    for sample in samples:
        epoch = _epoch(sample["clock_s"])
        assert counts[sample["iteration"]] == sample["tasks_total"] == sample["rows"]
        assert sample["rows"] in nlwp_during("top", epoch - 0.2, epoch + 1.2)
    grown = [sample["rows"] for sample in samples]
    assert grown == sorted(grown) and grown[-1] > grown[0]


def test_the_summary_counts_add_up() -> None:
    for name in CAPTURES:
        for sample in _parsed(name).tables["top_samples"].to_pylist():
            states = ("running", "sleeping", "stopped", "zombie")
            assert sum(sample[f"tasks_{state}"] for state in states) == sample["tasks_total"]
            assert sample["tasks_label"] == ("Tasks" if name == "top_b_d1_n4_p" else "Threads")
            cpu = [
                sample[f"cpu_{field}"] for field in ("us", "sy", "ni", "id", "wa", "hi", "si", "st")
            ]
            if "graph" not in name and "_1_" not in name:
                assert sum(cpu) == pytest.approx(100.0, abs=0.6)


def test_the_busy_thread_burns_cpu_and_the_blocked_ones_do_not() -> None:
    """The capture machine may be shared, so the busy thread's share is compared with the
    others', not with a fixed figure."""
    workload = measured("top")
    threads = threads_by_tid("top")
    roles: Counter[str] = Counter()
    for iteration, rows in _by_iteration(_rows("top_H_b_d1_n6_w512_p")).items():
        if iteration == 0:
            continue
        busiest = max(
            (row for row in rows if row["tid"] != workload["pid"]), key=lambda row: row["cpu_pct"]
        )
        assert threads[busiest["tid"]]["role"] == "cpu" and busiest["cpu_pct"] > 20.0
        for row in rows:
            role = threads[row["tid"]]["role"]
            roles[role] += 1
            if role in ("pipe_read", "sock_recv", "futex_wait"):
                assert row["state"] == "S" and row["cpu_pct"] == 0.0
    assert roles["cpu"] == 5 and roles["pipe_read"] == 10 and roles["sock_recv"] == 5
    burn = next(thread for thread in threads.values() if thread["role"] == "cpu")
    times = [
        row["cpu_time_s"] for row in _rows("top_H_b_d1_n6_w512_p") if row["tid"] == burn["tid"]
    ]
    assert times == sorted(times) and times[-1] > times[0]
    assert times[-1] <= burn["utime_s"] + burn["stime_s"] + 0.02


def test_the_scaled_memory_of_the_em_eg_capture_matches_the_default_capture() -> None:
    scaled = _parsed("top_H_b_d1_n4_em_Eg_p").tables["top_samples"].to_pylist()
    plain = _parsed("top_H_b_d1_n6_p").tables["top_samples"].to_pylist()
    assert {sample["mem_unit"] for sample in scaled} == {"GiB"}
    assert {sample["mem_unit"] for sample in plain} == {"MiB"}
    assert scaled[0]["mem_total_kib"] == pytest.approx(
        plain[0]["mem_total_kib"], abs=0.05 * 1024**2
    )
    rows = _rows("top_H_b_d1_n4_em_Eg_p")
    default_res = {row["res_kib"] for row in _rows("top_H_b_d1_n6_p")}
    for row in rows:
        assert min(default_res) - 1024 <= row["res_kib"] <= max(default_res) + 1024


def test_the_changed_field_layout_gives_its_columns() -> None:
    workload = measured("top")
    threads = threads_by_tid("top")
    parsed = _parsed("top_H_b_d1_n4_fields_w512_p")
    counts = Counter(parsed.tables["top_threads"]["iteration"].to_pylist())
    for row in parsed.tables["top_threads"].to_pylist():
        assert row["tgid"] == workload["pid"]
        assert row["nth"] == counts[row["iteration"]]
        assert row["last_cpu"] in (0, 1)
        assert row["cpu_time_res_s"] == 1.0 and row["swap_kib"] == 0.0
        assert row["wchan"] is not None and row["user"] == "root"
        if threads[row["tid"]]["role"] == "pipe_read":
            assert "pipe" in row["wchan"]
        assert row["virt_kib"] is None and row["pr"] is None


def test_decimal_comma_numbers_equal_the_default_captures() -> None:
    """Both tops ran at once: their memory totals are equal, their load averages within what
    one kernel update (every 5 s) moves them."""
    comma_samples = _parsed("top_H_b_d1_n4_lcnumeric_de_p").tables["top_samples"].to_pylist()
    point_samples = _parsed("top_H_b_d1_n6_p").tables["top_samples"].to_pylist()
    comma = {sample["clock_s"]: sample for sample in comma_samples}
    point = {sample["clock_s"]: sample for sample in point_samples}
    shared = set(comma) & set(point)
    assert shared
    for clock in shared:
        assert comma[clock]["mem_total_kib"] == point[clock]["mem_total_kib"]
        for field in ("load1", "load5", "load15"):
            assert comma[clock][field] == pytest.approx(point[clock][field], abs=0.5)
    assert any(isinstance(sample["load1"], float) for sample in comma_samples)


def test_per_cpu_lines_and_the_process_view() -> None:
    cpus = _parsed("top_H_b_d1_n4_Ek_1_p").tables["top_cpus"].to_pylist()
    assert [row["cpu"] for row in cpus] == [0, 0, 0, 0]
    assert {row["iteration"] for row in cpus} == {0, 1, 2, 3}
    processes = _rows("top_b_d1_n4_p")
    assert [row["tid"] for row in processes] == [measured("top")["pid"]] * 4
    assert all(shown_name("iodw-main", row["command"]) for row in processes)


def test_all_threads_and_two_processes_captures() -> None:
    workload_tids = set(threads_by_tid("top"))
    everything = _parsed("top_H_b_d2_n3")
    for iteration, rows in _by_iteration(everything.tables["top_threads"].to_pylist()).items():
        sample = everything.tables["top_samples"].to_pylist()[iteration]
        assert len(rows) == sample["tasks_total"]
        assert {row["tid"] for row in rows} & workload_tids
    two = _by_iteration(_rows("top_H_b_d1_n4_p_p1"))
    for rows in two.values():
        tids = {row["tid"] for row in rows}
        assert 1 in tids and tids & workload_tids and not tids - {1} - workload_tids
        first = next(row for row in rows if row["tid"] == 1)
        # pid 1 of the capture's PID namespace is capture.sh (see VERSIONS.txt)
        assert shown_name("capture.sh", first["command"])


def test_tables_have_their_schemas_and_every_column_a_doc() -> None:
    parsed = _parsed("top_H_b_d1_n6_p")
    for spec in top.SPECS:
        table = parsed.tables[spec.name]
        assert table.schema.equals(spec.schema, check_metadata=True)
        for field in spec.schema:
            assert field.metadata[b"doc"]
    assert isinstance(parsed.tables["top_threads"].schema.field("extra").type, pa.MapType)
    report = top.input_report(parsed)
    assert report["iterations"] == 6 and report["parsed_lines"] == parsed.line_count


def test_the_main_threads_row_carries_the_process_totals() -> None:
    """top -H of procps-ng 4.0.2 reads the thread group leader from /proc/PID/stat, which
    sums every thread (see fixtures/top/README.md): its row is the process, not the thread."""
    if "procps-ng 4.0.2" not in (FIXTURES / "top" / "VERSIONS.txt").read_text():
        pytest.skip("captured with another top")
    workload = measured("top")
    threads = threads_by_tid("top")
    burn = next(tid for tid, thread in threads.items() if thread["role"] == "cpu")
    for rows in _by_iteration(_rows("top_H_b_d1_n6_w512_p")).values():
        times = {row["tid"]: row["cpu_time_s"] for row in rows}
        assert times[workload["pid"]] >= times[burn]
    main = threads[workload["pid"]]
    assert main["utime_s"] + main["stime_s"] < 1.0  # what the kernel says of the thread itself
