"""GitHub Actions (``--format github``, and ``batch --github``): workflow commands and a job
summary.

Each finding at or above the threshold (``--fail-on``; ``warning`` when that is ``never``)
becomes one workflow command line: ``::error`` for an error, ``::warning`` for a warning,
``::notice`` for info, with ``file=`` and ``line=`` when the finding has a source location
(`analyzer.render.ci.code_location`: the ``file:line`` the asyncio log names), so GitHub puts
the annotation on that line of the pull request. A run that could not be read is an
``::error``. Values are escaped as the runner expects (``%``, CR and LF in the message; also
``:`` and ``,`` in properties).

`job_summary` is the Markdown for ``$GITHUB_STEP_SUMMARY`` (a table of the runs, their
verdict #1 and worst finding), kept under the 65,536 characters of a comment with a link to
the full report; `append_job_summary` appends it when that variable is set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO, ClassVar

from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer
from analyzer.render.ci import (
    RunFindings,
    code_location,
    fit_comment,
    meets,
    runs_of_result,
    severity_rank,
)

__all__ = ["GithubRenderer", "append_job_summary", "job_summary", "workflow_commands"]

DEFAULT_THRESHOLD = "warning"
COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def _data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(value: str) -> str:
    return _data(value).replace(":", "%3A").replace(",", "%2C")


def workflow_commands(
    runs: Sequence[RunFindings], threshold: str = DEFAULT_THRESHOLD, source_root: str | None = None
) -> list[str]:
    """One ``::error``/``::warning``/``::notice`` line per finding at or above `threshold`."""
    if threshold == "never":
        threshold = DEFAULT_THRESHOLD
    lines = []
    for run in runs:
        if run.error is not None:
            title = _property(f"iodiag: {run.name} unreadable")
            lines.append(f"::error title={title}::{_data(f'{run.name}: {run.error}')}")
            continue
        for finding in run.findings:
            if not meets(finding, threshold):
                continue
            command = COMMANDS.get(str(finding.get("severity")), "notice")
            properties = []
            where = code_location(finding, source_root)
            if where is not None:
                properties += [f"file={_property(where[0])}", f"line={where[1]}"]
            title = f"{finding.get('code')} {run.name}: {finding.get('title')}"
            properties.append(f"title={_property(title)}")
            message = str(finding.get("message") or finding.get("title") or "")
            if finding.get("fix"):
                message += f"\nFix: {finding['fix']}"
            lines.append(f"::{command} {','.join(properties)}::{_data(message)}")
    return lines


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def job_summary(runs: Sequence[RunFindings], link: str | None = None) -> str:
    """Markdown for the job summary: one row per run, worst first."""
    rows: list[tuple[int, str, str, str, str | None]] = []
    for run in runs:
        if run.error is not None:
            rows.append((-1, run.name, "unreadable", _cell(run.error), run.report))
            continue
        actionable = [f for f in run.findings if f.get("kind") != "data_limits"]
        actionable.sort(key=lambda f: (severity_rank(f.get("severity")), -(f.get("cost_s") or 0)))
        worst = actionable[0] if actionable else None
        rank = severity_rank(worst.get("severity")) if worst else 3
        text = f"{worst.get('code')} {_cell(worst.get('title'))}" if worst else "no finding"
        severity = str(worst.get("severity")) if worst else "—"
        rows.append((rank, run.name, severity, text, run.report))
    rows.sort(key=lambda row: (row[0], row[1]))
    lines = [
        "## iodiag",
        "",
        f"{len(runs)} run{'s' if len(runs) != 1 else ''}; "
        f"{sum(1 for r in runs if r.error)} unreadable.",
        "",
        "| run | worst | finding | report |",
        "|---|---|---|---|",
    ]
    for _rank, name, severity, text, report in rows:
        cell = f"[report]({report})" if report else ""
        lines.append(f"| {_cell(name)} | {severity} | {text} | {cell} |")
    return fit_comment("\n".join(lines) + "\n", link)


def append_job_summary(markdown: str) -> str | None:
    """Append `markdown` to the file ``$GITHUB_STEP_SUMMARY`` names, when it is set; the
    path written, or None."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return None
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return path


class GithubRenderer(Renderer):
    """The run's findings as GitHub Actions workflow commands (annotations)."""

    name: ClassVar[str] = "github"

    def __init__(self, threshold: str = DEFAULT_THRESHOLD, source_root: str | None = None) -> None:
        self.threshold = threshold
        self.source_root = source_root

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        for line in workflow_commands(runs_of_result(result), self.threshold, self.source_root):
            out.write(line + "\n")
