"""What the CI outputs (JUnit XML, SARIF, GitHub workflow commands) share.

They all read the same thing: for each run of a batch (one run for ``iodiag-analyze FILE...``)
its name, whether it could be read, its findings (the report's ``findings[]`` entries) and
where its full report is. `RunFindings` is that; `runs_of_result` makes the one of a single
run. `code_location` finds the source location of a finding (the ``file:line`` the asyncio
log names for a slow callback or a misuse), `meets` applies a ``--fail-on`` threshold the way
`analyzer.verdict.failing_findings` does, and `fit_comment` keeps Markdown under GitHub's
limit for a comment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from analyzer.model import AnalysisResult
from analyzer.verdict import FAIL_ON, LIMITS_KIND, failing_findings

__all__ = [
    "COMMENT_LIMIT",
    "RunFindings",
    "code_location",
    "fit_comment",
    "meets",
    "rules",
    "run_name",
    "runs_of_result",
    "severity_rank",
]

COMMENT_LIMIT = 65_536
"""GitHub's limit on the body of an issue or pull-request comment, in characters."""
_LOCATION = re.compile(r"^(?P<file>[^\s<>()]+?\.[A-Za-z0-9_]+):(?P<line>[1-9][0-9]*)$")


@dataclass(frozen=True)
class RunFindings:
    """One run as the CI outputs see it."""

    name: str
    findings: Sequence[dict[str, Any]] = ()
    """The run's ``findings[]`` (report JSON entries), in report order."""
    error: str | None = None
    """Why the run could not be read (no findings then), else None."""
    report: str | None = None
    """Link to the run's full report (relative to the CI output, or a URL), if any."""
    inputs: Sequence[str] = field(default_factory=tuple)


def run_name(report: dict[str, Any]) -> str:
    """A single run's name: its first input's file name without compression suffixes."""
    inputs = report.get("inputs") or []
    if not inputs:
        return "run"
    name = PurePosixPath(str(inputs[0].get("path") or "run").replace(os.sep, "/")).name
    return "stdin" if name == "-" else name


def runs_of_result(result: AnalysisResult) -> list[RunFindings]:
    """The one run of ``iodiag-analyze FILE...`` for the CI renderers."""
    report = result.report
    readable = [item for item in report.get("inputs") or [] if not item.get("error")]
    return [
        RunFindings(
            name=run_name(report),
            findings=list(report.get("findings") or []),
            error=None if readable else "no input could be read",
            inputs=[str(item.get("path")) for item in report.get("inputs") or []],
        )
    ]


def meets(finding: dict[str, Any], threshold: str) -> bool:
    """Whether `finding` is at or above `threshold` (an `analyzer.verdict.FAIL_ON` level), as
    ``--fail-on`` counts it (data limits never do)."""
    return bool(failing_findings({"findings": [finding]}, threshold))


def severity_rank(severity: str | None) -> int:
    """0 for error, 1 warning, 2 info, 3 unknown: sorts the worst first."""
    return FAIL_ON.index(severity) if severity in FAIL_ON[:3] else 3


def code_location(
    finding: dict[str, Any], source_root: str | None = None
) -> tuple[str, int] | None:
    """(file, line) of the source code a finding points at, when its evidence names one
    (``evidence.location``, ``file:line`` as the asyncio log printed it); the file relative
    to `source_root` when it lies under it (POSIX separators)."""
    if finding.get("kind") == LIMITS_KIND:
        return None
    location = (finding.get("evidence") or {}).get("location")
    if not isinstance(location, str):
        return None
    match = _LOCATION.match(location.strip())
    if match is None:
        return None
    path, line = match["file"], int(match["line"])
    if source_root:
        root = source_root.rstrip("/") + "/"
        if path.startswith(root):
            path = path[len(root) :]
    return path, line


def rules() -> list[tuple[str, str, str]]:
    """(code, kind, one-line description) of every rule, in registry order."""
    from analyzer.passes import PASSES

    found = []
    for rule in PASSES:
        first = " ".join((rule.doc or rule.kind).strip().split("\n\n", 1)[0].split())
        prefix = f"{rule.code} {rule.kind}: "
        found.append((rule.code, rule.kind, first.removeprefix(prefix)))
    return found


def fit_comment(text: str, link: str | None, limit: int = COMMENT_LIMIT) -> str:
    """`text` as it is when it has at most `limit` characters; else cut at a line end with a
    note saying how much was left out and where the full report is."""
    if len(text) <= limit:
        return text
    where = f" The full report: [{link}]({link})." if link else ""
    note_room = 300 + len(where)
    cut = text.rfind("\n", 0, max(0, limit - note_room))
    kept = text[: cut if cut > 0 else max(0, limit - note_room)]
    note = (
        f"\n\n> **Truncated**: {len(kept):,} of {len(text):,} characters shown, to stay "
        f"under GitHub's {limit:,}-character limit for a comment.{where}\n"
    )
    return kept + note
