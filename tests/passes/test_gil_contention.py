"""IOD013 gil_contention on real captures, checked against what the programs measured."""

from __future__ import annotations

import json

import pytest
from pass_fixtures import ROOT, inputs_of

from analyzer.passes import PassConfig, run_passes
from analyzer.passes.gil_contention import run

INCIDENTS = ROOT / "fixtures" / "incidents"


def test_log_indexer_holds_the_gil_in_the_regex_engine() -> None:
    folder = INCIDENTS / "gil_regex_indexer"
    measured = json.loads((folder / "truth.json").read_text())["measured"]
    inputs = inputs_of(folder / "strace.f_tt_T.log.gz", folder / "perf.cpu_dwarf.txt.gz")
    (finding,) = run(inputs, PassConfig())
    evidence = finding.evidence
    assert finding.culprit is not None and finding.culprit.tid == measured["indexer_tid"]
    assert evidence["waiters"] == [measured["loop_tid"]]
    words = measured["gil_futex_words"]
    assert evidence["futex_words"] == [words["cond.__g_signals[0]"], words["cond.__g_signals[1]"]]
    assert evidence["longest_stretch_s"] == pytest.approx(measured["longest_hold_s"], abs=0.02)
    # the loop's GIL waits, as the capture counted them on the GIL's words
    assert evidence["wait_total_s"] == pytest.approx(measured["trace_loop_gil_wait_s"], rel=0.03)
    assert evidence["timeouts"] <= measured["trace_loop_gil_waits_etimedout"]
    assert evidence["timeouts"] >= 0.95 * measured["trace_loop_gil_waits_etimedout"]
    holds = [hold for hold in measured["gil_holds"] if hold["duration_s"] > 1.0]
    long = [s for s in evidence["stretch_list"] if s["duration_s"] > 1.0]
    assert [s["duration_s"] for s in long] == pytest.approx(
        [hold["duration_s"] for hold in holds], abs=0.02
    )
    # perf: its samples, in the regex engine called from re.sub/findall
    assert evidence["perf_aligned"] is True
    assert evidence["perf_samples_by_thread"][0]["tid"] == measured["indexer_tid"]
    assert evidence["hot_calls"][0]["symbol"] == "_sre_SRE_Pattern_sub"
    assert "_sre" in finding.title and finding.severity == "error"


def test_regex_on_the_loop_keeps_the_blocked_loop_verdict() -> None:
    """The loop itself runs the regex: the GIL holder is the loop thread; the finding only
    explains the metrics thread's waits (info) and never outranks the blocked loop."""
    folder = INCIDENTS / "regex_on_loop"
    measured = json.loads((folder / "truth.json").read_text())["measured"]
    inputs = inputs_of(folder / "strace.f_tt_T.log.gz", folder / "perf.cpu_g.txt.gz")
    findings = run_passes(inputs, PassConfig())
    (gil,) = [f for f in findings if f.kind == "gil_contention"]
    assert gil.culprit is not None and gil.culprit.tid == measured["loop_tid"]
    assert gil.evidence["waiters"] == [measured["metrics_tid"]]
    assert gil.severity == "info" and gil.explains == ()
    slow = [s["duration_s"] for s in measured["slow"]]
    assert len(gil.evidence["stretch_list"]) == len(slow)
    # the metrics thread waits a little less than each regex run (it asks after it began)
    for stretch, duration in zip(gil.evidence["stretch_list"], slow, strict=True):
        assert 0.8 * duration <= stretch["duration_s"] <= duration + 0.01
