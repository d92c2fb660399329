"""The verdict: the two or three conclusions that matter most, ranked by the time they cost.

Reads findings only (never tables): the passes already put the numbers, the evidence and
the fix on each finding. A conclusion is a finding's headline in incident-channel words
plus its mitigation; `limits` says what the data could not decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analyzer.model import StraceTables
from analyzer.passes.base import Finding

MAX_CONCLUSIONS = 3
LIMITS_KIND = "data_limits"


def ranked(findings: Sequence[Finding]) -> list[int]:
    """Indexes of the actionable findings (warning or error), costliest first."""
    order = [i for i, f in enumerate(findings) if f.severity != "info" and f.kind != LIMITS_KIND]
    severity_rank = {"error": 0, "warning": 1}
    return sorted(order, key=lambda i: (-findings[i].cost_s, severity_rank[findings[i].severity]))


def verdict(findings: Sequence[Finding], traces: Sequence[StraceTables] = ()) -> dict[str, Any]:
    """The `verdict` section of the report."""
    conclusions = []
    for index in ranked(findings)[:MAX_CONCLUSIONS]:
        finding = findings[index]
        conclusions.append(
            {
                "rank": len(conclusions) + 1,
                "finding": index,
                "code": finding.code,
                "kind": finding.kind,
                "severity": finding.severity,
                "headline": finding.title,
                "message": finding.message,
                "cost_s": round(finding.cost_s, 6),
                "fix": finding.fix,
            }
        )
    limits = [f.message for f in findings if f.kind == LIMITS_KIND]
    return {"conclusions": conclusions, "limits": limits, "findings": len(findings)}


FAIL_ON: tuple[str, ...] = ("error", "warning", "info", "never")
"""`--fail-on` levels: exit 1 when a finding of this severity or a worse one exists."""


def exit_code(report: dict[str, Any], fail_on: str) -> int:
    """1 when the report has a finding at or above `fail_on` (data limits do not count), else 0."""
    if fail_on == "never":
        return 0
    worst = FAIL_ON.index(fail_on)
    for finding in report.get("findings") or []:
        if finding.get("kind") == LIMITS_KIND:
            continue
        severity = finding.get("severity")
        if severity in FAIL_ON and FAIL_ON.index(severity) <= worst:
            return 1
    return 0
