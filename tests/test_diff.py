"""``iodiag-analyze diff`` (issue 16, item 3): the regression gate and its noise rule.

The base is the real report of a capture (pool8: eight threads waiting on a slow local
server); candidates are that report with numbers changed here by hand, each change marked,
so the expected answer is known exactly.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from support import FIXTURES
from test_batch import iodiag, make_batch

from analyzer import analyze
from analyzer.batch.diff import NoiseRule, diff_reports

POOL = FIXTURES / "strace" / "logs" / "pool8.f_tt_T.log"
RULE = NoiseRule()


@pytest.fixture(scope="module")
def base() -> dict:
    return analyze(POOL).report


def row(report: dict, syscall: str) -> dict:
    return next(r for r in report["latency"] if r["syscall"] == syscall)


def test_the_same_report_has_no_change(base: dict) -> None:
    compared = diff_reports(base, base, RULE, 10)
    assert compared["latency"] == []
    assert compared["findings"] == {"new": [], "gone": [], "worse": []}
    assert compared["regressions"] == []


def test_a_slower_resource_is_a_regression_and_noise_is_not(base: dict) -> None:
    futex = row(base, "futex")  # 545 calls: enough for p95
    assert futex["calls"] >= 100
    slower = copy.deepcopy(base)
    # Hand-made: p95 and total of futex doubled; recvfrom (8 calls) p95 doubled too.
    for item in slower["latency"]:
        if item["syscall"] == "futex":
            item["p95_s"] = futex["p95_s"] * 2
            item["total_s"] = futex["total_s"] * 2
        if item["syscall"] == "recvfrom":
            item["p95_s"] *= 2
    compared = diff_reports(base, slower, RULE, 50)
    changed = {(r["syscall"], tuple(sorted(r["changes"]))) for r in compared["latency"]}
    assert ("futex", ("p95_s", "total_s")) in changed
    # 8 calls are too few for a p95 (--min-calls 20): not reported, not a regression.
    assert all(r["syscall"] != "recvfrom" for r in compared["latency"])
    assert any(line.startswith("futex on -: p95_s +100%") for line in compared["regressions"])
    noisy = copy.deepcopy(base)
    for item in noisy["latency"]:  # hand-made: +5 %, under --min-pct 10
        if item["syscall"] == "futex":
            item["p95_s"] = futex["p95_s"] * 1.05
            item["total_s"] = futex["total_s"] * 1.05
    assert diff_reports(base, noisy, RULE, 1)["latency"] == []


def test_count_changes_follow_poisson_noise() -> None:
    assert not RULE.count_changed(100, 115)  # 15 < 3 * sqrt(215) = 44
    assert RULE.count_changed(100, 200)
    assert not RULE.metric_changed("p95_s", 0.1, 0.2, calls=5)  # too few calls
    assert RULE.metric_changed("p95_s", 0.1, 0.2, calls=100)
    assert not RULE.metric_changed("p50_s", 0.0001, 0.0002, calls=1000)  # under 1 ms


def test_findings_new_gone_and_worse(base: dict) -> None:
    candidate = copy.deepcopy(base)
    findings = [f for f in candidate["findings"] if f["kind"] != "data_limits"]
    assert len(findings) >= 2
    # Hand-made: the first finding costs 3x, the second disappears, a new one appears.
    findings[0]["cost_s"] *= 3
    candidate["findings"].remove(findings[1])
    extra = copy.deepcopy(findings[1])
    extra["code"], extra["kind"], extra["title"] = "IOD015", "slow_dns", "Slow DNS"
    extra["resource"] = {"kind": "dns", "key": "udp 127.0.0.53:53", "text": "dns"}
    candidate["findings"].append(extra)
    compared = diff_reports(base, candidate, RULE, 100)
    assert [f["code"] for f in compared["findings"]["new"]] == ["IOD015"]
    assert [f["code"] for f in compared["findings"]["gone"]] == [findings[1]["code"]]
    assert [f["code"] for f in compared["findings"]["worse"]] == [findings[0]["code"]]
    assert any(line.startswith("new IOD015") for line in compared["regressions"])
    assert any(line.startswith("worse ") for line in compared["regressions"])


@pytest.mark.slow
def test_the_command_on_reports_and_on_batches(base: dict, tmp_path: Path) -> None:
    left, right = tmp_path / "base.json", tmp_path / "cand.json"
    left.write_text(json.dumps(base))
    slower = copy.deepcopy(base)
    for item in slower["latency"]:
        if item["syscall"] == "futex":  # hand-made regression
            item["p95_s"] *= 3
    right.write_text(json.dumps(slower))
    same = iodiag("diff", left, left, "--fail-on-regression", "10")
    assert same.returncode == 0, same.stderr
    gated = iodiag("diff", left, right, "--fail-on-regression", "10", "--format", "md")
    assert gated.returncode == 1
    assert "| futex |" in gated.stdout and "--fail-on-regression 10: 1 regression" in gated.stdout
    assert "futex on -: p95_s +200%" in gated.stderr
    as_json = json.loads(iodiag("diff", left, right, "--format", "json").stdout)
    assert as_json["schema"] == "iodiag.diff/1" and as_json["regressions"] == []
    assert as_json["runs"][0]["latency"][0]["syscall"] == "futex"
    traces = make_batch(tmp_path, broken=False)
    for out in ("a", "b"):
        done = iodiag("batch", traces, "-o", tmp_path / out, "--reports", "json", "-q")
        assert done.returncode == 0, done.stderr
    batches = iodiag("diff", tmp_path / "a", tmp_path / "b", "--fail-on-regression", "10")
    assert batches.returncode == 0, batches.stderr
    for name in ("loop", "pool", "svc"):
        assert f"== {name}" in batches.stdout
    mixed = iodiag("diff", left, tmp_path / "a")
    assert mixed.returncode == 2 and "cannot compare a report" in mixed.stderr
