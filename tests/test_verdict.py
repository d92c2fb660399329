"""The verdict ranks findings by the time they cost; --fail-on turns severities into exit codes.

The findings here are hand-built (not from a capture): the verdict only reads findings.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.passes import Finding
from analyzer.verdict import exit_code, verdict

POOL8 = Path(__file__).resolve().parents[1] / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log"


def finding(kind: str, severity: str, cost_s: float, code: str = "IOD001") -> Finding:
    return Finding(
        code=code,
        kind=kind,
        severity=severity,  # type: ignore[arg-type]
        title=f"{kind} costing {cost_s}",
        message="m",
        evidence={},
        fix=f"fix {kind}",
        cost_s=cost_s,
    )


def test_conclusions_are_the_costliest_actionable_findings() -> None:
    findings = [
        finding("slow_syscall", "warning", 0.5),
        finding("cpu_hotspot", "info", 99.0, "IOD009"),
        finding("blocked_loop", "error", 2.0, "IOD002"),
        finding("thread_pileup", "warning", 1.0, "IOD004"),
        finding("lock_contention", "warning", 0.1, "IOD005"),
        finding("data_limits", "info", 0.0, "IOD011"),
    ]
    result = verdict(findings)
    assert [c["kind"] for c in result["conclusions"]] == [
        "blocked_loop",
        "thread_pileup",
        "slow_syscall",
    ]
    assert [c["finding"] for c in result["conclusions"]] == [2, 3, 0]
    assert [c["rank"] for c in result["conclusions"]] == [1, 2, 3]
    assert result["conclusions"][0]["fix"] == "fix blocked_loop"
    assert result["limits"] == ["m"]
    assert result["findings"] == 6


def test_no_actionable_findings_no_conclusions() -> None:
    assert verdict([finding("cpu_hotspot", "info", 5.0, "IOD009")])["conclusions"] == []


def test_exit_code_by_severity() -> None:
    report = {"findings": [finding("slow_syscall", "warning", 1.0).to_json()]}
    assert exit_code(report, "never") == 0
    assert exit_code(report, "error") == 0
    assert exit_code(report, "warning") == 1
    assert exit_code(report, "info") == 1
    limits_only = {"findings": [finding("data_limits", "info", 0.0, "IOD011").to_json()]}
    assert exit_code(limits_only, "info") == 0


def test_cli_fail_on_and_thresholds() -> None:
    runner = CliRunner()
    plain = runner.invoke(app, [str(POOL8), "--format", "json"])
    assert plain.exit_code == 0
    kinds = [f["kind"] for f in json.loads(plain.stdout)["findings"]]
    assert "slow_syscall" in kinds
    failing = runner.invoke(app, [str(POOL8), "--format", "json", "--fail-on", "warning"])
    assert failing.exit_code == 1
    quiet = runner.invoke(
        app, [str(POOL8), "--format", "json", "--fail-on", "warning", "--slow-ms", "5000"]
    )
    slow = [f for f in json.loads(quiet.stdout)["findings"] if f["kind"] == "slow_syscall"]
    assert all(f["evidence"]["slow_calls"] == 0 for f in slow)
    bad = runner.invoke(app, [str(POOL8), "--format", "json", "--fail-on", "sometimes"])
    assert bad.exit_code == 2
