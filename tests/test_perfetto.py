"""``--format perfetto``: a Chrome JSON trace that ui.perfetto.dev opens.

The viewer's JSON importer takes the Trace Event Format (the "JSON Array/Object Format" of
Google's trace event format document, which Perfetto's docs point to): checked here against
that documented shape as a JSON Schema, plus what the importer needs beyond it (slices on one
thread strictly nested, every flow's two ends bound to a slice on their threads, every pid and
tid named). Perfetto's own trace processor (the ``perfetto`` package on PyPI) would validate
the file too, but it downloads its ``trace_processor_shell`` binary on first use, which an
offline machine cannot. The counts round-trip: one slice per call, one per finding episode,
one hand-off per measured contended acquisition of the lock convoy capture."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from analyzer import analyze
from analyzer.model import AnalysisResult
from analyzer.render import PerfettoRenderer, renderer_for
from analyzer.render.perfetto import FINDINGS_PID

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "fixtures" / "diagnosis" / "logs"
LOCK_CONVOY = LOGS / "lock_convoy.f_tt_T.log"
ASYNCIO = LOGS / "asyncio_server.f_tt_T.log"

_ID = {"type": ["integer", "string"]}
_NUMBER = {"type": "number"}
TRACE_EVENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Trace Event Format, JSON Object Format (the subset iodiag writes)",
    "type": "object",
    "required": ["traceEvents"],
    "properties": {
        "traceEvents": {"type": "array", "items": {"$ref": "#/$defs/event"}},
        "displayTimeUnit": {"enum": ["ms", "ns"]},
        "otherData": {"type": "object"},
    },
    "$defs": {
        "event": {
            "type": "object",
            "required": ["name", "ph", "pid", "tid"],
            "properties": {
                "name": {"type": "string"},
                "cat": {"type": "string"},
                "ph": {"enum": ["X", "B", "E", "i", "I", "M", "s", "t", "f", "C"]},
                "ts": _NUMBER,
                "dur": {"type": "number", "minimum": 0},
                "pid": {"type": "integer"},
                "tid": {"type": "integer"},
                "args": {"type": "object"},
                "id": _ID,
                "s": {"enum": ["g", "p", "t"]},
                "bp": {"enum": ["e"]},
            },
            "allOf": [
                {
                    "if": {"properties": {"ph": {"const": "X"}}},
                    "then": {"required": ["ts", "dur"]},
                },
                {
                    "if": {"properties": {"ph": {"enum": ["s", "t", "f"]}}},
                    "then": {"required": ["ts", "id", "cat"]},
                },
                {
                    "if": {"properties": {"ph": {"enum": ["i", "I"]}}},
                    "then": {"required": ["ts", "s"]},
                },
                {
                    "if": {"properties": {"ph": {"const": "M"}}},
                    "then": {
                        "properties": {
                            "name": {
                                "enum": [
                                    "process_name",
                                    "thread_name",
                                    "process_sort_index",
                                    "thread_sort_index",
                                ]
                            }
                        },
                        "required": ["args"],
                    },
                },
            ],
        }
    },
}


def check_trace(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Validate `document` as the viewer reads it; its events by phase."""
    jsonschema.validate(document, TRACE_EVENT_SCHEMA)
    by_ph: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in document["traceEvents"]:
        by_ph[event["ph"]].append(event)
    named_pids = {e["pid"] for e in by_ph["M"] if e["name"] == "process_name"}
    named_tids = {(e["pid"], e["tid"]) for e in by_ph["M"] if e["name"] == "thread_name"}
    for event in by_ph["M"]:
        key = "name" if event["name"].endswith("_name") else "sort_index"
        assert key in event["args"], event
    slices: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for event in by_ph["X"]:
        assert event["pid"] in named_pids and (event["pid"], event["tid"]) in named_tids, event
        slices[(event["pid"], event["tid"])].append((event["ts"], event["ts"] + event["dur"]))
    for spans in slices.values():  # strictly nested (here: never overlapping)
        spans.sort()
        for (_a0, a1), (b0, _b1) in itertools.pairwise(spans):
            assert b0 >= a1 - 1e-3, (a1, b0)
    ends: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for event in by_ph["s"] + by_ph["f"]:
        ends[event["id"]].append(event)
        spans = slices[(event["pid"], event["tid"])]
        assert any(a <= event["ts"] <= b for a, b in spans), f"flow end not on a slice: {event}"
    assert all(sorted(e["ph"] for e in pair) == ["f", "s"] for pair in ends.values())
    return by_ph


@pytest.fixture(scope="module")
def convoy() -> AnalysisResult:
    return analyze(str(LOCK_CONVOY))


def test_lock_convoy_trace_validates_and_round_trips(convoy: AnalysisResult) -> None:
    text = PerfettoRenderer().render_to_string(convoy)
    document = json.loads(text)
    by_ph = check_trace(document)
    calls = convoy.tables["syscalls"]
    syscall_slices = [e for e in by_ph["X"] if e["cat"].startswith("syscall")]
    assert len(syscall_slices) == calls.filter(calls["start_s"].is_valid()).num_rows
    # every slice carries its call: name, raw arguments, line
    first = min(syscall_slices, key=lambda e: e["args"]["line"])
    assert first["name"] == "execve" and first["args"]["line"] == 1
    # the findings: one slice per finding (the convoy has no episodes), named CODE title
    finding_slices = [e for e in by_ph["X"] if e["pid"] == FINDINGS_PID]
    assert len(finding_slices) == len(convoy.report["findings"])
    assert all(e["name"].startswith("IOD") for e in finding_slices)
    # lock hand-offs: one flow per acquisition that waited, as the program measured
    measured = json.loads(LOCK_CONVOY.with_name("lock_convoy.f_tt_T.measured.json").read_text())
    assert len(by_ph["s"]) == measured["acquisitions_waited_over_1ms"] == 79
    # the threads are named, and the program's eight workers are there
    names = {e["tid"]: e["args"]["name"] for e in by_ph["M"] if e["name"] == "thread_name"}
    assert set(measured["thread_tids"]) <= set(names)
    assert text == PerfettoRenderer().render_to_string(convoy)  # same bytes every run


def test_blocked_loop_episodes_are_slices_and_markers() -> None:
    result = analyze(str(ASYNCIO))
    by_ph = check_trace(json.loads(PerfettoRenderer().render_to_string(result)))
    loop = next(f for f in result.report["findings"] if f["kind"] == "blocked_loop")
    episodes = loop["evidence"]["episodes"]
    code = loop["code"]
    slices = [e for e in by_ph["X"] if e["pid"] == FINDINGS_PID and e["name"].startswith(code)]
    assert len(slices) == len(episodes)
    assert sorted(e["dur"] for e in slices) == sorted(
        round(ep["duration_s"] * 1e6, 3) for ep in episodes
    )
    markers = [e for e in by_ph["i"] if e["tid"] == loop["evidence"]["loop_tid"]]
    assert len([m for m in markers if m["name"].startswith(code)]) == len(episodes)


@pytest.mark.slow
def test_cli_writes_the_trace(tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "analyzer",
            str(LOCK_CONVOY),
            "--format",
            "perfetto",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    check_trace(json.loads(out.read_text()))
    assert renderer_for("perfetto").name == "perfetto"


def test_a_report_without_calls_is_still_a_trace() -> None:
    result = AnalysisResult(report={"inputs": [], "findings": []})
    document = json.loads(PerfettoRenderer().render_to_string(result))
    assert check_trace(document) is not None and document["traceEvents"] == []


class _Counting:
    """A text sink that keeps only the count of what was written."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


SQLITE = LOGS / "sqlite_writers.f_tt_T.log"


def test_the_trace_is_written_a_batch_of_calls_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The renderer holds one batch of calls' Python values, not the trace's: with batches of
    50 calls, rendering the 12,057-line capture allocates a small fraction of what its events
    take (the whole-document export held every call's event dict at once: ~1 KB per call).
    What it writes is byte for byte the whole document's dump."""
    import tracemalloc

    from analyzer.clean import clean
    from analyzer.render import perfetto

    result = analyze(str(SQLITE))
    calls = result.tables["syscalls"].num_rows
    assert calls > 8_000
    monkeypatch.setattr(perfetto, "_ROWS", 50)
    whole = json.dumps(clean(perfetto.trace_events(result)), separators=(",", ":")) + "\n"
    assert PerfettoRenderer().render_to_string(result) == whole
    sink = _Counting()
    tracemalloc.start()
    try:
        PerfettoRenderer().render(result, sink)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.chars == len(whole)
    assert peak < len(whole) / 8, (peak, len(whole))
