"""The report's `perf` section on the real perf captures, and its text, Markdown and HTML views.

Expected numbers come from outside the code under test wherever possible: perf's own
``perf report`` and ``perf trace -s`` outputs kept with the captures
(fixtures/perf/research/perf_report_stdio.txt and perf_trace_summary.txt), BCC's documented
biolatency output, the research's checked figures (../shared/research/perf.md §3), and counts
made again here straight from the raw ``perf script`` text with small regex parsers that
share no code with iodiag's.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from analyzer import analyze
from analyzer.model import AnalysisResult
from analyzer.render import HtmlRenderer, MarkdownRenderer, TextRenderer
from analyzer.render.perf_plots import perf_charts
from analyzer.render.view import ReportView
from analyzer.sections import perf as perf_report
from analyzer.sections.perf import block_op, perf_section
from analyzer.sections.perf_histograms import (
    bucket_of,
    in_flight,
    log2_histogram,
    log2_histogram_lines,
    perf_trace_summary_lines,
    stars,
)

RESEARCH = Path(__file__).resolve().parent.parent / "fixtures" / "perf" / "research"
BLOCK = RESEARCH / "block_rq_insert_issue_complete.txt"
BLOCK_G = RESEARCH / "block_rq_issue_complete_callchain.txt"
CPU_FP = RESEARCH / "cpu_py312_xperf_fp.txt"
CPU_JIT = RESEARCH / "cpu_py313_perfjit_dwarf.txt"
CPU_DWARF = RESEARCH / "cpu_py312_xperf_dwarf.txt"
AWKWARD = RESEARCH / "cpu_awkward_comm_callchain.txt"
SCHED_ALL = RESEARCH / "sched_switch_wakeup_systemwide_filtered_callchain.txt"
RAW_SYS = RESEARCH / "raw_syscalls_enter_exit.txt"
TRACE_SUMMARY = RESEARCH / "perf_trace_summary.txt"
PERF_REPORT = RESEARCH / "perf_report_stdio.txt"


def full_result(*paths: Path) -> AnalysisResult:
    """`analyze` of `paths`, with the `perf` section built from the run's tables as the
    pipeline builds it (samples, stacks and frames with the same ids), so that symbols and
    DSOs are there whether or not `build_report` passes the stacks yet."""
    result = analyze(list(paths))
    tables = result.tables
    report = dict(result.report)
    report["perf"] = {
        **report["perf"],
        **perf_section(
            tables["perf_samples"],
            tables["perf_folded"],
            stacks=tables["perf_stacks"],
            frames=tables["perf_frames"],
        ),
    }
    return AnalysisResult(report=report, tables=tables)


def perf_of(*paths: Path) -> dict[str, Any]:
    return full_result(*paths).report["perf"]


@pytest.fixture(scope="module")
def block_result() -> AnalysisResult:
    return full_result(BLOCK)


@pytest.fixture(scope="module")
def mixed_result() -> AnalysisResult:
    return full_result(CPU_FP, BLOCK, SCHED_ALL, RAW_SYS)


# --------------------------------------------------------------------------- raw-text oracles


def _micros(stamp: str) -> int:
    """``446.577346`` -> 446577346 (exact, no float)."""
    return int(Decimal(stamp) * 1_000_000)


_BLOCK_LINE = re.compile(
    r" (?P<time>\d+\.\d+): +block:block_rq_(?P<kind>issue|complete): (?P<dev>\d+,\d+) "
    r"(?P<rwbs>\S+) (?:\d+ )?\(\) (?P<sector>\d+) \+ \d+"
)


def raw_block_pairs(path: Path) -> list[tuple[str, str, int, int]]:
    """(dev, rwbs of the issue, issue µs, complete µs) of each issue paired with the next
    completion on the same device and sector, from the raw text."""
    pending: dict[tuple[str, str], tuple[str, int]] = {}
    pairs = []
    for line in path.read_text().splitlines():
        match = _BLOCK_LINE.search(line)
        if match is None:
            continue
        key = (match["dev"], match["sector"])
        if match["kind"] == "issue":
            pending[key] = (match["rwbs"], _micros(match["time"]))
        elif key in pending:
            rwbs, start = pending.pop(key)
            pairs.append((match["dev"], rwbs, start, _micros(match["time"])))
    return pairs


_HEADER = re.compile(r"^(?P<comm>\S.*?)\s+(?P<tid>\d+)\s+(?P<time>\d+\.\d+):\s+(?P<period>\d+) ")
_FRAME = re.compile(r"^\s+[0-9a-f]+ (?P<sym>.+?)(?:\+0x[0-9a-f]+)? \((?P<dso>.*)\)$")


def raw_samples(path: Path) -> list[dict[str, Any]]:
    """Samples of a callchain recording: header fields and (symbol, dso) frames, leaf first."""
    samples: list[dict[str, Any]] = []
    for line in path.read_text().splitlines():
        header = _HEADER.match(line)
        if header:
            samples.append(
                {
                    "tid": int(header["tid"]),
                    "comm": header["comm"],
                    "time": _micros(header["time"]),
                    "period": int(header["period"]),
                    "frames": [],
                }
            )
            continue
        frame = _FRAME.match(line)
        if frame and samples:
            samples[-1]["frames"].append((frame["sym"], frame["dso"]))
    return samples


# --------------------------------------------------------------------------- log2 histograms


def test_log2_buckets_are_bccs() -> None:
    assert [bucket_of(v) for v in (0, 1, 2, 3, 4, 7, 8, 1023, 1024)] == [
        (0, 1),
        (0, 1),
        (2, 3),
        (2, 3),
        (4, 7),
        (4, 7),
        (8, 15),
        (512, 1023),
        (1024, 2047),
    ]
    # exact near powers of two where a float log2 would round up
    assert bucket_of(2**52 - 1) == (2**51, 2**52 - 1)
    assert bucket_of(2**52) == (2**52, 2**53 - 1)
    assert log2_histogram(np.array([], dtype=np.int64)) == []
    assert [b["count"] for b in log2_histogram(np.array([0, 1, 5, 5, 9]))] == [2, 0, 2, 1]


# BCC's own output, copied from iovisor/bcc tools/biolatency_example.txt (`biolatency -D`,
# disk xvdb, and `biolatency -Fm`, flags = Write): the counts go in, the lines must come out.
BCC_XVDB = """\
     usecs               : count     distribution
         0 -> 1          : 0        |                                        |
         2 -> 3          : 0        |                                        |
         4 -> 7          : 0        |                                        |
         8 -> 15         : 0        |                                        |
        16 -> 31         : 0        |                                        |
        32 -> 63         : 0        |                                        |
        64 -> 127        : 0        |                                        |
       128 -> 255        : 1        |                                        |
       256 -> 511        : 33       |**********************                  |
       512 -> 1023       : 36       |************************                |
      1024 -> 2047       : 58       |****************************************|
      2048 -> 4095       : 51       |***********************************     |
      4096 -> 8191       : 21       |**************                          |
      8192 -> 16383      : 2        |*                                       |"""
BCC_WRITE_MSECS = """\
     msecs               : count     distribution
         0 -> 1          : 103      |*******************************         |
         2 -> 3          : 106      |********************************        |
         4 -> 7          : 130      |****************************************|
         8 -> 15         : 79       |************************                |
        16 -> 31         : 5        |*                                       |
        32 -> 63         : 0        |                                        |
        64 -> 127        : 0        |                                        |
       128 -> 255        : 0        |                                        |
       256 -> 511        : 1        |                                        |"""


@pytest.mark.parametrize("expected", [BCC_XVDB, BCC_WRITE_MSECS], ids=["usecs", "msecs"])
def test_histogram_lines_match_bcc_output(expected: str) -> None:
    lines = expected.splitlines()
    unit = lines[0].split()[0]
    buckets = [
        {"lo": int(m[1]), "hi": int(m[2]), "count": int(m[3])}
        for m in (re.match(r"\s*(\d+) -> (\d+)\s*: (\d+)", line) for line in lines[1:])
        if m
    ]
    assert log2_histogram_lines(buckets, unit) == lines


def test_stars_overflow_and_empty() -> None:
    assert stars(0, 10) == ""
    assert stars(10, 10) == "*" * 40
    assert stars(11, 10) == "*" * 39 + "+"  # BCC marks a value above the scale with '+'
    assert log2_histogram_lines([{"lo": 0, "hi": 1, "count": 0}]) == []


# --------------------------------------------------------------------------- block I/O


def test_block_histogram_counts_the_pairs(block_result: AnalysisResult) -> None:
    section = block_result.report["perf"]["block_io"]
    (device,) = section["devices"]
    pairs = raw_block_pairs(BLOCK)
    # research §3.1: 90 pairs, p50 65 µs, max 297 µs
    assert len(pairs) == 90 == device["count"] == section["counts"]["pairs"]
    buckets = device["histogram"]["buckets"]
    assert sum(b["count"] for b in buckets) == 90
    latencies = [end - start for _, _, start, end in pairs]  # µs, exact
    expected = Counter(max(value, 1).bit_length() for value in latencies)
    assert [b["count"] for b in buckets] == [expected.get(s, 0) for s in range(1, 10)]
    assert (buckets[-1]["lo"], buckets[-1]["hi"]) == (256, 511) == bucket_of(297)
    assert buckets[-1]["count"] == sum(1 for value in latencies if value >= 256)
    assert device["p50_s"] == pytest.approx(65e-6) and device["max_s"] == pytest.approx(297e-6)
    assert device["p99_s"] == pytest.approx(np.percentile(latencies, 99) / 1e6)
    assert device["dev"] == "254,0"


def test_block_read_write_flush_split(block_result: AnalysisResult) -> None:
    (device,) = block_result.report["perf"]["block_io"]["devices"]
    ops = Counter(block_op(rwbs) for _, rwbs, _, _ in raw_block_pairs(BLOCK))
    assert {op: row["count"] for op, row in device["by_op"].items()} == dict(ops)
    assert dict(ops) == {"read": 40, "write": 30, "discard": 10, "flush": 10}
    assert device["by_op"]["flush"]["bytes"] == 0
    assert sum(row["bytes"] for row in device["by_op"].values()) == device["bytes"]
    assert [block_op(r) for r in ("FWS", "FF", "F", "RA", "WSM", "DS", "N", "", None)] == [
        "write",
        "flush",
        "flush",
        "read",
        "write",
        "discard",
        "other",
        "other",
        "other",
    ]


@pytest.mark.parametrize("path", [BLOCK, BLOCK_G])
def test_queue_depth_follows_issues_and_completions(path: Path) -> None:
    (device,) = perf_of(path)["block_io"]["devices"]
    depth = device["queue_depth"]
    pairs = raw_block_pairs(path)
    starts = sorted(start for _, _, start, _ in pairs)
    ends = sorted(end for _, _, _, end in pairs)

    def in_flight_after(moment: int) -> int:
        return sum(1 for s in starts if s <= moment) - sum(1 for e in ends if e <= moment)

    moments = sorted(set(starts) | set(ends))
    assert not depth["downsampled"] and depth["changes"] == len(moments)
    assert [[round(t * 1e6), d] for t, d in depth["series"]] == [
        [moment, in_flight_after(moment)] for moment in moments
    ]
    peak = max(in_flight_after(moment) for moment in moments)
    assert depth["peak"] == peak
    first_peak = next(m for m in moments if in_flight_after(m) == peak)
    assert round(depth["peak_at"] * 1e6) == first_peak
    span = moments[-1] - moments[0]
    assert depth["mean"] == pytest.approx(sum(e - s for _, _, s, e in pairs) / span)
    assert depth["series"][-1][1] == 0


def test_queue_depth_downsampling_keeps_peaks() -> None:
    # Hand-made requests (not a capture): 2,000 short ones, then a burst of 7 overlapping.
    rng = np.random.default_rng(7)
    starts = np.cumsum(rng.integers(1_000, 50_000, size=2_000))
    ends = starts + 500
    burst = starts[1_000] + 100 + np.arange(7) * 10
    starts = np.concatenate([starts, burst])
    ends = np.concatenate([ends, burst + 300])
    depth = in_flight(starts, ends, max_points=100)
    assert depth is not None and depth["downsampled"]
    assert depth["peak"] == 8  # the burst inside one short request
    assert len(depth["series"]) <= 51
    assert max(value for _, value in depth["series"]) == depth["peak"]
    assert depth["series"][0][0] == pytest.approx(starts.min() / 1e9)
    assert depth["series"][-1] == [pytest.approx(ends.max() / 1e9), 0]
    assert in_flight(np.array([], np.int64), np.array([], np.int64)) is None


# --------------------------------------------------------------------------- symbols and DSOs


def test_self_shares_equal_perf_report() -> None:
    """`perf report --no-children --sort comm,dso,sym` on the same recording (kept with it)."""
    symbols = perf_of(CPU_FP)["by_event"]["cpu-clock"]["symbols"]
    ours = {
        (row["symbol"], Path(row["dso"]).name): f"{100 * row['self_share']:.2f}%" for row in symbols
    }
    rows = re.findall(
        r"^\s+(\d+\.\d+%)\s+python3\.12\s+(\S+)\s+\[\.\] (\S+)$",
        PERF_REPORT.read_text(),
        re.M,
    )
    assert len(rows) == 8
    for overhead, dso, symbol in rows:
        assert ours[(symbol, dso)] == overhead, symbol


@pytest.fixture
def uncut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(perf_report, "TOP_SYMBOLS", 10**6)
    monkeypatch.setattr(perf_report, "TOP_DSOS", 10**6)


@pytest.mark.usefixtures("uncut")
def test_self_and_total_counts_equal_a_recount_of_the_text() -> None:
    event = perf_of(CPU_FP)["by_event"]["cpu-clock"]
    samples = raw_samples(CPU_FP)
    assert event["samples"] == event["with_stack"] == len(samples) == 511
    self_counts = Counter(sample["frames"][0] for sample in samples)
    total_counts = Counter(frame for sample in samples for frame in set(sample["frames"]))
    ours_self = {(r["symbol"], r["dso"]): r["self_samples"] for r in event["symbols"]}
    ours_total = {(r["symbol"], r["dso"]): r["total_samples"] for r in event["symbols"]}
    assert {key: n for key, n in ours_self.items() if n} == dict(self_counts)
    assert ours_total == dict(total_counts)
    assert sum(r["self_samples"] for r in event["symbols"]) == 511
    assert sum(r["self_samples"] for r in event["dsos"]) == 511
    dso_total = Counter(dso for sample in samples for dso in {d for _, d in sample["frames"]})
    assert {r["dso"]: r["total_samples"] for r in event["dsos"]} == dict(dso_total)
    for row in event["symbols"]:
        assert row["self_share"] == pytest.approx(row["self_samples"] / 511)


@pytest.mark.usefixtures("uncut")
def test_recursion_counts_once_per_stack_and_inlined_frames_get_a_dso() -> None:
    event = perf_of(CPU_JIT)["by_event"]["cpu-clock"]
    samples = raw_samples(CPU_JIT)
    with_fib = sum(
        1
        for s in samples
        if any(sym == "py::fib:/tmp/perfwork/cpu_work.py" for sym, _ in s["frames"])
    )
    deepest = max(sum(sym.startswith("py::fib:") for sym, _ in s["frames"]) for s in samples)
    assert deepest > 1  # fib recurses within one stack
    fib_total = sum(
        r["total_samples"] for r in event["symbols"] if r["symbol"].startswith("py::fib:")
    )
    assert fib_total >= with_fib  # one row per jitted DSO: each stack counted once per row
    for row in event["symbols"]:
        assert row["self_samples"] <= row["total_samples"] <= event["with_stack"]
        if row["inlined"]:
            assert row["dso"] != "inlined"
    assert sum(r["self_samples"] for r in event["symbols"]) == event["with_stack"] == 205
    assert sum(r["self_samples"] for r in event["dsos"]) == 205
    assert "inlined" not in {r["dso"] for r in event["dsos"]}


def test_symbol_list_is_the_top_by_self_and_by_total() -> None:
    event = perf_of(CPU_DWARF)["by_event"]["cpu-clock"]
    symbols = event["symbols"]
    top = perf_report.TOP_SYMBOLS
    assert top < len(symbols) <= 2 * top
    keys = [(-r["self_samples"], -r["total_samples"]) for r in symbols]
    assert keys == sorted(keys)
    by_total = max(symbols, key=lambda r: r["total_samples"])
    assert by_total["self_samples"] < symbols[0]["self_samples"]  # kept for its total


# --------------------------------------------------------------------------- threads


def test_samples_by_thread_equal_a_recount() -> None:
    event = perf_of(CPU_FP)["by_event"]["cpu-clock"]
    samples = raw_samples(CPU_FP)
    by_tid: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for sample in samples:
        by_tid[sample["tid"]].append(sample)
    assert event["threads"] == len(by_tid) == 2
    for row in event["by_thread"]:
        mine = by_tid[row["tid"]]
        assert row["samples"] == len(mine)
        assert row["share"] == pytest.approx(len(mine) / len(samples))
        assert row["cpu_s"] == pytest.approx(sum(s["period"] for s in mine) / 1e9)
        assert round(row["first_s"] * 1e6) == min(s["time"] for s in mine)
        assert round(row["last_s"] * 1e6) == max(s["time"] for s in mine)
    assert [row["samples"] for row in event["by_thread"]] == [264, 247]
    assert event["cpu_s"] == pytest.approx(sum(s["period"] for s in samples) / 1e9)
    assert event["tracepoint"] is False


def test_thread_ids_stay_integers_next_to_missing_ones() -> None:
    # Hand-made samples (not captured data): a missing pid or tid must not turn ids into floats.
    from analyzer.schema import PERF_FOLDED, PERF_SAMPLES

    ids = [(None, 5), (10, 11), (None, None)]
    rows: dict[str, list[Any]] = {name: [None] * len(ids) for name in PERF_SAMPLES.names}
    rows.update(
        line_no=[1, 2, 3],
        pid=[pid for pid, _ in ids],
        tid=[tid for _, tid in ids],
        comm=["x"] * 3,
        event=["cpu-clock"] * 3,
        time_ns=[0, 1000, 2000],
        period=[5, 5, 5],
        cut=[False] * 3,
    )
    samples = pa.table(rows, schema=PERF_SAMPLES.schema)
    section = perf_section([samples], PERF_FOLDED.schema.empty_table())
    threads = section["by_event"]["cpu-clock"]["by_thread"]
    assert [(row["pid"], row["tid"]) for row in threads] == [(None, 5), (10, 11), (None, None)]
    assert all(type(row["tid"]) is int for row in threads[:2])
    assert json.dumps(section, allow_nan=False)


def test_threads_with_awkward_names_keep_their_comm() -> None:
    event = perf_of(AWKWARD)["by_event"]["cpu-clock"]
    comms = {row["comm"] for row in event["by_thread"]}
    assert {"io worker 1", "evil: 1.5: x", "[brkt] 7"} <= comms


def test_tracepoint_events_are_marked_and_have_no_cpu_time() -> None:
    by_event = perf_of(SCHED_ALL)["by_event"]
    assert set(by_event) == {"sched:sched_switch", "sched:sched_wakeup"}
    for event in by_event.values():
        assert event["tracepoint"] is True and event["cpu_s"] is None
        assert event["with_stack"] == event["samples"]
    switch = by_event["sched:sched_switch"]
    assert switch["symbols"][0]["symbol"] == "__schedule"
    assert switch["symbols"][0]["self_samples"] == switch["samples"]


# --------------------------------------------------------------------------- off-CPU


def test_off_cpu_by_thread_adds_up() -> None:
    section = perf_of(SCHED_ALL)["off_cpu"]
    rows = section["by_thread"]
    # research §3.2 (checked against perf sched timehist): 244 S intervals, 809.5 ms
    sleeping = [row for row in rows if row["state"] == "S"]
    assert sum(row["count"] for row in sleeping) == 244
    assert sum(row["total_s"] for row in sleeping) == pytest.approx(0.8095, abs=5e-5)
    assert sum(row["total_s"] for row in rows) == pytest.approx(section["total_s"])
    assert sum(row["share"] for row in rows) == pytest.approx(1.0)
    totals = [row["total_s"] for row in rows]
    assert totals == sorted(totals, reverse=True)
    assert section["threads"] == len({row["tid"] for row in rows})


# --------------------------------------------------------------------------- perf trace -s


def test_perf_trace_summary_layout_reproduces_perf_output() -> None:
    """The numbers of perf's own `perf trace -s` output, printed back: byte for byte."""
    text = TRACE_SUMMARY.read_text()
    header = re.search(r"^ (\S+) \((\d+)\), (\d+) events, ([\d.]+)%$", text, re.M)
    assert header is not None
    rows = [
        {
            "syscall": m[1],
            "calls": int(m[2]),
            "errors": int(m[3]),
            "total_s": float(m[4]) / 1000,
            "min_s": float(m[5]) / 1000,
            "avg_s": float(m[6]) / 1000,
            "max_s": float(m[7]) / 1000,
            "stddev_pct": float(m[8]),
        }
        for m in re.finditer(
            r"^   (\S+) +(\d+) +(\d+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+)%$",
            text,
            re.M,
        )
    ]
    assert len(rows) == 36
    thread = {
        "comm": header[1],
        "tid": int(header[2]),
        "events": int(header[3]),
        "share": float(header[4]) / 100,
        "syscalls": rows,
    }
    assert "\n".join(perf_trace_summary_lines([thread])) + "\n" == text


def test_syscall_summary_agrees_with_perf_trace() -> None:
    """raw_syscalls recording and `perf trace -s` of the same workload (io_work.py): same
    calls and errors per syscall, except the execve that perf trace counts from its exit."""
    (thread,) = perf_of(RAW_SYS)["syscall_latency"]["by_thread"]
    ours = {row["syscall"]: (row["calls"], row["errors"]) for row in thread["syscalls"]}
    theirs = {
        m[1]: (int(m[2]), int(m[3]))
        for m in re.finditer(r"^   (\S+) +(\d+) +(\d+) ", TRACE_SUMMARY.read_text(), re.M)
        if m[1] != "syscall"
    }
    assert theirs.pop("execve") == (1, 0)
    assert ours == theirs
    totals = [row["total_s"] for row in thread["syscalls"]]
    assert totals == sorted(totals, reverse=True)
    assert thread["events"] == 2 * thread["calls"] == 2 * 1407
    assert (thread["comm"], thread["tid"], thread["share"]) == ("python3.11", 11449, 1.0)


def test_syscall_stddev_is_perfs_relative_standard_error() -> None:
    result = full_result(RAW_SYS)
    calls = result.tables["perf_syscall_latency"].to_pylist()
    (thread,) = result.report["perf"]["syscall_latency"]["by_thread"]
    for row in thread["syscalls"]:
        durations = [c["duration_ns"] for c in calls if c["syscall"] == row["syscall"]]
        mean = statistics.fmean(durations)
        expected = (
            100 * statistics.stdev(durations) / math.sqrt(len(durations)) / mean
            if len(durations) > 1 and mean
            else 0.0
        )
        assert row["stddev_pct"] == pytest.approx(expected), row["syscall"]
        assert row["min_s"] == min(durations) / 1e9 and row["max_s"] == max(durations) / 1e9
        assert row["avg_s"] == pytest.approx(mean / 1e9)


# --------------------------------------------------------------------------- JSON and views


def test_section_is_strict_json_and_keeps_the_old_keys(mixed_result: AnalysisResult) -> None:
    section = mixed_result.report["perf"]
    json.dumps(section, allow_nan=False)
    for key in ("samples", "events", "folded_total", "top_stacks"):
        assert key in section
    assert set(section["block_io"]) >= {"counts", "latency_by_device", "devices"}
    assert set(section["off_cpu"]) >= {"counts", "by_state", "by_thread"}
    assert set(section["syscall_latency"]) >= {"counts", "by_syscall", "by_thread"}
    assert section["span"]["first_s"] == pytest.approx(303.512366)
    assert sum(e["samples"] for e in section["by_event"].values()) == section["samples"]


def test_pipeline_section_without_stacks_has_threads_but_no_symbols() -> None:
    result = analyze([CPU_FP])
    samples = [result.tables["perf_samples"]]
    section = perf_section(samples, result.tables["perf_folded"])
    event = section["by_event"]["cpu-clock"]
    assert event["threads"] == 2 and "symbols" not in event


def test_report_view_normalises_a_minimal_section() -> None:
    view = ReportView(AnalysisResult(report={"perf": {"samples": 3, "by_event": {"x": {}}}}))
    perf = view.sections["perf"]
    assert perf is not None
    assert perf["block_io"] is None and perf["off_cpu"] is None
    assert perf["syscall_latency"] is None
    (event,) = perf["by_event"]
    assert event["symbols"] == [] and event["by_thread"] == [] and event["more_threads"] == 0
    assert perf["span"] == {"first_s": None, "last_s": None, "span_s": None}


@pytest.mark.parametrize(
    "section",
    [
        {"samples": 3, "by_event": {"x": {"by_thread": [{"tid": 1}], "symbols": [{}]}}},
        {
            "block_io": {
                "counts": {"issues": 1},
                "devices": [
                    {
                        "dev": "8,0",
                        "histogram": {"buckets": [{"lo": 0, "hi": 1, "count": 3}]},
                        "queue_depth": {"series": [[1.0, 1], [2.0, 0]]},
                    }
                ],
            },
            "off_cpu": {"counts": {"switches": 3}, "by_thread": [{}]},
            "syscall_latency": {"counts": {"enters": 2}, "by_thread": [{"syscalls": [{}]}]},
        },
        {"block_io": {"devices": [{}]}, "off_cpu": {"x": 1}, "syscall_latency": {"x": 1}},
    ],
    ids=["event", "tracepoints", "empty"],
)
def test_sparse_hand_written_sections_render(section: dict[str, Any]) -> None:
    # Hand-written partial sections (not captured data): every renderer copes with gaps.
    result = AnalysisResult(report={"perf": section})
    for name, out in _renders(result).items():
        assert "perf" in out, name
    assert perf_charts(ReportView(result)).keys() <= {"queue_depth-0", "block_latency-0"}


def _renders(result: AnalysisResult) -> dict[str, str]:
    return {
        "text": TextRenderer(width=120, color=False).render_to_string(result),
        "md": MarkdownRenderer().render_to_string(result),
        "html": HtmlRenderer(plots=False).render_to_string(result),
    }


def test_all_formats_show_the_perf_content(mixed_result: AnalysisResult) -> None:
    outputs = _renders(mixed_result)
    histogram = "\n".join(
        [
            "disk = 254,0",
            *ReportView(mixed_result).sections["perf"]["block_io"]["devices"][0]["histogram_lines"],
        ]
    )
    assert "        32 -> 63         : 38       |****************************************|" in (
        histogram
    )
    trace_row = (
        "   fsync                 10      0     4.574     0.396     0.457     0.607      4.79%"
    )
    for name in ("text", "md"):
        out = outputs[name]
        assert histogram in out, name
        assert trace_row in out, name
        assert " python3.11 (11449), 2814 events, 100.0%" in out, name
    for name, out in outputs.items():
        assert "_PyObject_Malloc" in out and "libpython3.12.so.1.0" in out, name
        assert "python3.11 (tid 15567)" in out or "15567" in out, name
        assert "10 completions had no issue" in out, name
    md = outputs["md"]
    assert "| `254,0` | 90 | 7.6 MiB | 65 µs |" in md
    assert "| read | 40 | 2.5 MiB |" in md
    assert "| 65 | 13% | 65 | 13% | `_PyObject_Malloc` | `libpython3.12.so.1.0` |" in md
    assert "| python3.12 (tid 8798) | 264 | 52% | 529 ms | 303.512366 | 304.563480 |" in md
    assert "| `S` | sleeping | 244 | 810 ms |" in md
    html = outputs["html"]
    assert (
        '<h3 id="perf-block-io">' in html
        and "<code>|****************************************|</code>" in html
    )  # without charts; with them, biolatency's histogram is drawn as bars
    charted = HtmlRenderer().render_to_string(mixed_result)
    assert 'id="chart-block_latency-0"' in charted and "<code>|****" not in charted
    assert "<td><code>fsync</code></td>" in html
    assert html.count('<section id="perf">') == 1


def test_queue_depth_chart_is_deterministic_svg(block_result: AnalysisResult) -> None:
    charts = perf_charts(ReportView(block_result))
    svg = charts["queue_depth-0"]
    assert svg is not None and svg.startswith("<svg")
    assert 'id="chart-queue_depth-0"' in svg and "requests in flight" in svg
    assert perf_charts(ReportView(block_result)) == charts


def test_html_shows_the_queue_depth_chart(block_result: AnalysisResult) -> None:
    html = HtmlRenderer().render_to_string(block_result)
    figure = re.search(r"<figure>\s*(<svg.*?</svg>)\s*<figcaption>Requests in flight", html, re.S)
    assert figure is not None


HOSTILE = "</script><b>bold</b>"


def test_hostile_text_in_the_perf_tables_is_escaped() -> None:
    # Hand-built report (not captured data) with hostile comms, symbols and DSOs.
    thread = {"pid": None, "tid": 7, "comm": HOSTILE, "samples": 2, "share": 1.0}
    report = {
        "schema": "iodiag.report/1",
        "inputs": [{"path": "/x/perf.txt", "format": "perf", "lines": 3, "samples": 2}],
        "perf": {
            "samples": 2,
            "events": {"cycles": 2},
            "folded_total": 2,
            "top_stacks": [],
            "by_event": {
                "cycles": {
                    "samples": 2,
                    "with_stack": 2,
                    "tracepoint": False,
                    "threads": 1,
                    "by_thread": [thread],
                    "symbols": [
                        {
                            "symbol": f"sym{HOSTILE}|x",
                            "dso": f"/lib/{HOSTILE}",
                            "inlined": False,
                            "self_samples": 2,
                            "self_share": 1.0,
                            "total_samples": 2,
                            "total_share": 1.0,
                        }
                    ],
                    "dsos": [{"dso": f"/lib/{HOSTILE}", "self_samples": 2, "total_samples": 2}],
                }
            },
            "syscall_latency": {
                "counts": {"pairs": 1},
                "threads": 1,
                "by_thread": [
                    {
                        "tid": 7,
                        "comm": f"{HOSTILE}\n```",
                        "events": 2,
                        "share": 1.0,
                        "syscalls": [{"syscall": HOSTILE, "calls": 1, "total_s": 0.001}],
                    }
                ],
            },
        },
    }
    result = AnalysisResult(report=report)
    outputs = _renders(result)
    assert HOSTILE not in outputs["html"].replace("</script>\n</body>", "")
    assert "&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in outputs["html"]
    md = outputs["md"]
    stripped = re.sub(r"^(`{3,})text\n.*?\n\1$", "", md, flags=re.S | re.M)
    stripped = re.sub(r"(`+)[^`]*?\1", "", stripped)
    assert HOSTILE not in stripped
    assert "\n````text\n" in md  # the fence outgrows the comm's own ```
    assert HOSTILE in outputs["text"]  # printed as text, never as Rich markup


@pytest.mark.parametrize("path", [CPU_JIT, CPU_DWARF, CPU_FP])
def test_symbols_and_dsos_do_not_depend_on_the_slices(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_Stacks` reads the stacks a slice at a time: slices of a few frames (a stack each,
    inlined frames resolved within their stack) count what one slice counts."""
    whole = perf_of(path)["by_event"]
    monkeypatch.setattr(perf_report._Stacks, "SLICE_FRAMES", 5)
    sliced = perf_of(path)["by_event"]
    assert any(event.get("symbols") for event in whole.values())
    assert sliced == whole
