"""The verdict ranks findings by the time they cost; --fail-on turns severities into exit codes.

The findings here are hand-built (not from a capture): the verdict only reads findings.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from typer.testing import CliRunner

from analyzer.cli.analyze import app
from analyzer.passes import Finding
from analyzer.verdict import consequences, exit_code, verdict

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


def with_evidence(base: Finding, **evidence: object) -> Finding:
    return dataclasses.replace(base, input="t.log", evidence=evidence)


def test_consequences_fold_into_their_cause() -> None:
    loop = with_evidence(
        finding("blocked_loop", "error", 1.0, "IOD002"),
        loop_tid=7,
        listening=["tcp 127.0.0.1:8080"],
        episodes=[],
    )
    clients = with_evidence(
        finding("slow_syscall", "warning", 1.5), syscall="recvfrom", target="tcp 127.0.0.1:8080"
    )
    pool = with_evidence(
        finding("thread_pileup", "error", 0.9, "IOD004"),
        resource="tcp 10.0.0.5:5432",
        syscall="recvfrom",
        syscalls=[{"syscall": "recvfrom", "calls": 9, "total_s": 0.9}],
    )
    backend = with_evidence(
        finding("slow_syscall", "warning", 0.9), syscall="recvfrom", target="tcp 10.0.0.5:5432"
    )
    logged = with_evidence(
        finding("slow_callback", "warning", 0.8, "IOD003"),
        episodes=[{"strace_input": "t.log", "loop_tid": 7}],
    )
    elsewhere = dataclasses.replace(backend, input="other.log")
    findings = [clients, loop, backend, pool, logged, elsewhere]
    assert consequences(findings) == {0: (1, True), 2: (3, False), 4: (1, False)}
    result = verdict(findings)
    assert [(c["kind"], c["cost_s"]) for c in result["conclusions"]] == [
        ("blocked_loop", 2.5),  # the clients' waiting is time the loop cost them
        ("thread_pileup", 0.9),  # the same recvfrom time is not counted twice
        ("slow_syscall", 0.9),  # same peer, but another input: not explained
    ]
    assert result["conclusions"][0]["explains"] == [0, 4]
    assert "It also explains: slow_syscall costing 1.5" in result["conclusions"][0]["message"]


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


def test_analyze_takes_one_path_as_the_readme_shows() -> None:
    import analyzer

    result = analyzer.analyze(str(POOL8))
    assert [source["path"] for source in result.report["inputs"]] == [str(POOL8)]
    assert result.report["verdict"]["conclusions"][0]["kind"] == "thread_pileup"
