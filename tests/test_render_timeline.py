"""The thread timeline (`analyzer.derive.strace_timeline`, drawn by
`analyzer.render.strace_timeline`): its accounting on HAND-BUILT calls (not captured data,
numbers made up to be easy to check), its collapse of many threads, and what the reports show of
it on a real capture (fixtures/strace/logs/pool8.f_tt_T.log: 8 pool threads waiting at once on a
slow local server, measured by the program that made it)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from analyzer import analyze
from analyzer.derive.strace_timeline import STATES, call_states, timeline
from analyzer.model import AnalysisResult
from analyzer.render import HtmlRenderer, MarkdownRenderer, TextRenderer
from analyzer.render.strace_timeline import lane_chart_lines, timeline_svg
from analyzer.render.view import ReportView

ROOT = Path(__file__).resolve().parent.parent
POOL8 = ROOT / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log"


def calls_table(rows: list[tuple[int, str, float, float | None, str | None, str | None, str]]):
    """Hand-built `syscalls` rows: (tid, syscall, start, end, target, target_kind, args)."""
    return pa.table(
        {
            "input": ["t.log"] * len(rows),
            "tid": pa.array([r[0] for r in rows], pa.int64()),
            "pid": pa.array([100] * len(rows), pa.int64()),
            "syscall": [r[1] for r in rows],
            "start_s": pa.array([r[2] for r in rows], pa.float64()),
            "end_s": pa.array([r[3] for r in rows], pa.float64()),
            "target": pa.array([r[4] for r in rows], pa.string()),
            "target_kind": pa.array([r[5] for r in rows], pa.string()),
            "args": [r[6] for r in rows],
            "status": ["complete" if r[3] is not None else "in-flight" for r in rows],
        }
    )


def test_states_of_calls() -> None:
    table = calls_table(
        [
            (1, "read", 0.0, 0.1, "/data/a", "file", "3"),
            (1, "recvfrom", 0.0, 0.1, "TCP:[1->2]", "socket", "4"),
            (1, "write", 0.0, 0.1, "pipe:[9]", "pipe", "5"),
            (1, "futex", 0.0, 0.1, None, None, "0x55aa, FUTEX_WAIT_PRIVATE, 2, NULL"),
            (1, "fcntl", 0.0, 0.1, "/db", "file", "3, F_SETLKW, {l_type=F_WRLCK}"),
            (1, "clock_nanosleep", 0.0, 0.1, None, None, "CLOCK_REALTIME, 0"),
            (1, "epoll_wait", 0.0, 0.1, None, None, "3, [], 10, -1"),
            (1, "mmap", 0.0, 0.1, None, None, "NULL, 4096"),
            (1, "openat", 0.0, 0.1, None, None, 'AT_FDCWD, "/etc/hosts", O_RDONLY'),
        ]
    )
    names = [STATES[s] for s in call_states(table)]
    assert names == ["file", "net", "pipe", "lock", "lock", "sleep", "idle", "syscall", "file"]


def test_buckets_show_the_dominant_state_and_its_resource() -> None:
    # Thread 1: file read 0-1 s, running 1-2 s, futex wait 2-4 s; thread 2 idle in epoll 0-4 s.
    table = calls_table(
        [
            (1, "read", 0.0, 1.0, "/var/lib/db/wal", "file", "7"),
            (1, "futex", 2.0, 4.0, None, None, "0xabc, FUTEX_WAIT_PRIVATE, 0, NULL"),
            (2, "epoll_wait", 0.0, 4.0, None, None, "3, [], 8, -1"),
        ]
    )
    tl = timeline(table, buckets=4, lanes=10)
    assert tl is not None
    assert [lane.tid for lane in tl.lanes] == [1, 2]
    assert [STATES[s] for s in tl.state[0]] == ["file", "running", "lock", "lock"]
    assert tl.resource[0] == ["/var/lib/db/wal", None, "futex 0xabc", "futex 0xabc"]
    assert [STATES[s] for s in tl.state[1]] == ["idle"] * 4
    assert tl.bucket_s == pytest.approx(1.0)
    # seconds are conserved: 4 s of life per thread
    assert tl.seconds[0].sum() == pytest.approx(4.0)
    assert tl.lanes[0].state_s[STATES.index("running")] == pytest.approx(1.0)
    # a call spanning buckets is split at their edges
    halves = timeline(table, buckets=8, lanes=10)
    assert halves is not None
    assert [STATES[s] for s in halves.state[0]] == ["file"] * 2 + ["running"] * 2 + ["lock"] * 4
    rows = tl.to_table().to_pylist()
    assert rows[0] == {
        "lane": 0,
        "tid": 1,
        "bucket": 0,
        "start_s": 0.0,
        "state": "file",
        "resource": "/var/lib/db/wal",
        "share": 1.0,
    }


def test_in_flight_calls_last_to_the_end_of_the_trace() -> None:
    table = calls_table(
        [
            (1, "read", 0.0, 1.0, "/a", "file", "3"),
            (2, "recvfrom", 0.5, None, "TCP:[1->2]", "socket", "4"),
        ]
    )
    tl = timeline(table, buckets=4, lanes=10, end_s=4.0)
    assert tl is not None
    assert [STATES[s] for s in tl.state[1]] == ["net"] * 4  # 0.5 s of bucket 0, then all


def test_without_durations_there_is_no_timeline() -> None:
    table = calls_table([(1, "read", 0.0, 0.0, "/a", "file", "3")])
    assert timeline(table) is None


def test_many_threads_collapse_into_one_lane() -> None:
    """2,000 threads and 200,000 calls: 40 lanes of their own plus one for the rest, the
    threads named in `focus` among them, and a picture of bounded size."""
    rng = np.random.default_rng(7)
    n = 200_000
    tids = rng.integers(1, 2001, n)
    starts = np.sort(rng.uniform(0, 60, n))
    names = np.array(["read", "futex", "epoll_wait", "sendto", "nanosleep"])[rng.integers(0, 5, n)]
    table = pa.table(
        {
            "input": ["big.log"] * n,
            "tid": tids,
            "pid": np.full(n, 1),
            "syscall": names,
            "start_s": starts,
            "end_s": starts + rng.exponential(0.002, n),
            "target": pa.nulls(n, pa.string()),
            "target_kind": pa.nulls(n, pa.string()),
            "args": ["0x1, FUTEX_WAIT, 0"] * n,
            "status": ["complete"] * n,
        }
    )
    started = time.perf_counter()
    tl = timeline(table, buckets=400, lanes=40, focus=[1999])
    elapsed = time.perf_counter() - started
    assert tl is not None
    assert len(tl.lanes) == 41 and tl.threads == 2000 and tl.collapsed == 1960
    assert tl.lanes[-1].tid is None and tl.lanes[-1].label.startswith("1960 more threads")
    assert 1999 in [lane.tid for lane in tl.lanes]
    assert abs(tl.seconds.sum() - sum(lane.state_s[i] for lane in tl.lanes for i in range(8)))
    assert elapsed < 60  # generous: a hang, not a benchmark (benchmarks/ measures)
    from analyzer.render.strace_view import ThreadTimeline

    svg = timeline_svg(ThreadTimeline("big.log", "big.log", tl, []), salt="t", origin_label="0")
    assert len(svg) < 3_000_000
    lines = lane_chart_lines(ThreadTimeline("big.log", "big.log", tl, []), 80, origin_label="0")
    assert max(len(line) for line in lines) <= 80


@pytest.fixture(scope="module")
def pool8() -> AnalysisResult:
    return analyze(str(POOL8))


def test_pool8_timeline_shows_the_pool_waiting_on_its_peer(pool8: AnalysisResult) -> None:
    strace = ReportView(pool8).sections["strace"]
    (tt,) = strace.drawn_timelines
    measured = json.loads(POOL8.with_name("pool8.f_tt_T.measured.json").read_text())
    assert tt.timeline.threads == len(tt.timeline.lanes) == 10
    net = STATES.index("net")
    pool_lanes = [
        i for i, lane in enumerate(tt.timeline.lanes) if (tt.timeline.state[i] == net).any()
    ]
    assert len(pool_lanes) == measured["workers"] == 8
    # each pool thread is mostly in recvfrom on the server's socket
    for i in pool_lanes:
        assert (tt.timeline.state[i] == net).sum() > tt.timeline.buckets * 0.4
        resources = {r for r in tt.timeline.resource[i] if r}
        assert any("TCP" in r for r in resources)
    # the findings are laid over it, linked to their findings
    codes = {overlay.code for overlay in tt.overlays}
    assert {"IOD004", "IOD005"} <= codes


def test_reports_show_the_timeline(pool8: AnalysisResult) -> None:
    html = HtmlRenderer().render_to_string(pool8)
    section = html[html.index('<section id="timeline">') : html.index('<section id="findings">')]
    assert '<svg xmlns="http://www.w3.org/2000/svg" id="chart-timeline-0"' in section
    assert re.search(r'<a href="#finding-\d+" class="tl-finding">', section)
    assert 'data-zoom="out"' in section and "network I/O" in section
    assert 'document.querySelectorAll("figure.timeline")' in html  # the zoom script
    md = MarkdownRenderer().render_to_string(pool8)
    assert "## Thread timeline" in md and "](data:image/svg+xml;base64," in md
    assert "tid 8395 |" in md  # the text fallback
    text = TextRenderer(width=80, color=False).render_to_string(pool8)
    assert "Thread timeline" in text and "N network I/O" in text
    lanes = [line for line in text.splitlines() if re.match(r"\s*tid \d+ \|", line)]
    assert len(lanes) == 10 and all(len(line) <= 80 for line in lanes)
