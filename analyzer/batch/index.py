"""The index of a batch: one entry per run, as JSON, Markdown and HTML, and the findings of
every run as one Parquet dataset.

`index_document` is the ``iodiag.batch/1`` document (``index.json``, docs/batch-json.md);
the Markdown (``index.md``, fit for a pull-request comment: cut under 65,536 characters with
a link to the full index) and the HTML (``index.html``: a table sortable by any column with
a few lines of plain JavaScript, no CDN) are rendered from it. `findings_table` is the Arrow
table of ``findings/part-0.parquet``: a row per finding with its run's name, status and
location, for queries over many batches (``SELECT code, count(*) FROM
'reports/*/findings/*.parquet' GROUP BY code``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analyzer import __version__
from analyzer.clean import clean
from analyzer.render.ci import code_location, fit_comment, severity_rank
from analyzer.render.formatting import duration, md_text
from analyzer.render.templates import render_template
from analyzer.verdict import failing_findings

__all__ = [
    "BATCH_SCHEMA",
    "findings_parquet",
    "findings_table",
    "index_document",
    "index_html",
    "index_json",
    "index_markdown",
]

BATCH_SCHEMA = "iodiag.batch/1"
STATUSES = ("ok", "incomplete", "unreadable", "failed")
_RUN_KEYS = (
    "name", "kind", "location", "status", "reason", "inputs", "reports", "verdict", "worst",
    "cost_s", "counts",
)  # fmt: skip


def index_document(
    summaries: Sequence[dict[str, Any]],
    fail_on: str,
    outputs: dict[str, Any],
    exit_code: int,
) -> dict[str, Any]:
    """The ``iodiag.batch/1`` document of the runs' summaries (in run-name order)."""
    runs = []
    for summary in summaries:
        entry = {key: summary.get(key) for key in _RUN_KEYS}
        entry["failing"] = len(failing_findings({"findings": summary.get("findings")}, fail_on))
        runs.append(entry)
    totals: dict[str, Any] = {"runs": len(runs)}
    for status in STATUSES:
        totals[status] = sum(1 for run in runs if run["status"] == status)
    totals["failing_runs"] = sum(1 for run in runs if run["failing"])
    totals["findings"] = {
        severity: sum(int((run["counts"] or {}).get(severity, 0)) for run in runs)
        for severity in ("error", "warning", "info")
    }
    return {
        "schema": BATCH_SCHEMA,
        "tool": {"name": "iodiag", "version": __version__},
        "fail_on": fail_on,
        "exit_code": exit_code,
        "totals": totals,
        "outputs": outputs,
        "runs": runs,
    }


def index_json(document: dict[str, Any]) -> str:
    """The index as sorted, indented JSON, as the reports are written."""
    return json.dumps(clean(document), sort_keys=True, indent=2, allow_nan=False) + "\n"


def _order(run: dict[str, Any]) -> tuple[Any, ...]:
    """Worst first: runs that could not be read, then by worst severity and cost."""
    broken = 0 if run["status"] in ("unreadable", "failed") else 1
    return (broken, severity_rank(run.get("worst")), -(run.get("cost_s") or 0), run["name"])


def _inputs_text(run: dict[str, Any]) -> str:
    read = [item for item in run.get("inputs") or [] if item.get("state") == "read"]
    other = len(run.get("inputs") or []) - len(read)
    names = ", ".join(
        f"{str(item['path']).rsplit('/', 1)[-1]} ({item.get('format') or '?'})" for item in read
    )
    return names + (f" +{other} skipped or unreadable" if other else "")


def _cell(text: object) -> str:
    return md_text(str(text if text is not None else "")).replace("\n", " ")


def index_markdown(document: dict[str, Any], link: str | None = "index.html") -> str:
    """The index as GitHub Markdown, at most 65,536 characters (cut with a note and `link`)."""
    totals = document["totals"]
    findings = totals["findings"]
    lines = [
        "# iodiag batch",
        "",
        f"{totals['runs']} runs: {totals['ok']} read, {totals['incomplete']} incomplete, "
        f"{totals['unreadable']} unreadable, {totals['failed']} failed; findings: "
        f"{findings['error']} errors, {findings['warning']} warnings, {findings['info']} "
        f"info; `--fail-on {document['fail_on']}` met by {totals['failing_runs']} runs "
        f"(exit code {document['exit_code']}).",
        "",
        "| run | status | worst | verdict #1 | cost | inputs | reports |",
        "|---|---|---|---|---:|---|---|",
    ]
    for run in sorted(document["runs"], key=_order):
        verdict = run.get("verdict")
        if run["status"] in ("unreadable", "failed"):
            headline = _cell(run.get("reason"))
        elif verdict:
            headline = f"{verdict['code']} {_cell(verdict['headline'])}"
        else:
            headline = "no problem found"
        cost = duration(run["cost_s"]) if verdict else ""
        reports = " ".join(f"[{name}]({path})" for name, path in sorted(run["reports"].items()))
        lines.append(
            f"| {_cell(run['name'])} | {run['status']} | {run.get('worst') or '—'} | "
            f"{headline} | {cost} | {_cell(_inputs_text(run))} | {reports} |"
        )
    return fit_comment("\n".join(lines) + "\n", link)


def index_html(document: dict[str, Any]) -> str:
    """The index as one HTML page with a sortable table (no external resources)."""
    rows = []
    for run in sorted(document["runs"], key=_order):
        verdict = run.get("verdict")
        rows.append(
            {
                "run": run,
                "severity_rank": severity_rank(run.get("worst")),
                "status_rank": STATUSES.index(run["status"]),
                "headline": (
                    run.get("reason")
                    if run["status"] in ("unreadable", "failed")
                    else (f"{verdict['code']} {verdict['headline']}" if verdict else "")
                ),
                "cost": duration(run["cost_s"]) if verdict else "",
                "inputs": _inputs_text(run),
            }
        )
    out = io.StringIO()
    render_template(
        "batch/index.html.j2",
        out,
        autoescape=True,
        context={"document": document, "rows": rows},
    )
    return out.getvalue()


_FINDING_KEYS = (
    "code", "kind", "severity", "title", "message", "fix", "input", "pid", "tid", "start",
    "duration_s", "cost_s",
)  # fmt: skip
FINDINGS_SCHEMA = pa.schema(
    [
        pa.field("run", pa.string(), nullable=False),
        pa.field("run_status", pa.string()),
        pa.field("run_kind", pa.string()),
        pa.field("run_location", pa.string()),
        pa.field("iodiag_version", pa.string()),
        pa.field("index", pa.int32(), nullable=False),
        pa.field("rank", pa.int32()),
        pa.field("code", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("severity", pa.string()),
        pa.field("title", pa.string()),
        pa.field("message", pa.string()),
        pa.field("fix", pa.string()),
        pa.field("input", pa.string()),
        pa.field("pid", pa.int64()),
        pa.field("tid", pa.int64()),
        pa.field("start", pa.float64()),
        pa.field("duration_s", pa.float64()),
        pa.field("cost_s", pa.float64()),
        pa.field("lines", pa.list_(pa.int64())),
        pa.field("resource_kind", pa.string()),
        pa.field("resource_key", pa.string()),
        pa.field("resource_text", pa.string()),
        pa.field("culprit_name", pa.string()),
        pa.field("culprit_pid", pa.int64()),
        pa.field("culprit_tid", pa.int64()),
        pa.field("code_file", pa.string()),
        pa.field("code_line", pa.int64()),
        pa.field("evidence", pa.string()),
        pa.field("report", pa.string()),
    ]
)
"""A row per finding of a batch (`findings_table`): the run's keys, then the finding's."""


def findings_table(summaries: Sequence[dict[str, Any]], source_root: str | None = None) -> pa.Table:
    """Every finding of every run, a row each, with its run's metadata."""
    rows = []
    for summary in summaries:
        ranks = {
            conclusion_index: rank
            for rank, conclusion_index in enumerate(summary.get("verdict_findings") or [], 1)
        }
        for number, finding in enumerate(summary.get("findings") or []):
            resource = finding.get("resource") or {}
            culprit = finding.get("culprit") or {}
            where = code_location(finding, source_root)
            rows.append(
                {
                    "run": summary["name"],
                    "run_status": summary.get("status"),
                    "run_kind": summary.get("kind"),
                    "run_location": summary.get("location"),
                    "iodiag_version": __version__,
                    "index": number,
                    "rank": ranks.get(number),
                    **{key: finding.get(key) for key in _FINDING_KEYS},
                    "lines": [int(line) for line in finding.get("lines") or []],
                    "resource_kind": resource.get("kind"),
                    "resource_key": resource.get("key"),
                    "resource_text": resource.get("text"),
                    "culprit_name": culprit.get("name"),
                    "culprit_pid": culprit.get("pid"),
                    "culprit_tid": culprit.get("tid"),
                    "code_file": where[0] if where else None,
                    "code_line": where[1] if where else None,
                    "evidence": json.dumps(
                        clean(finding.get("evidence") or {}), sort_keys=True, allow_nan=False
                    ),
                    "report": (summary.get("reports") or {}).get("json"),
                }
            )
    return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)


def findings_parquet(table: pa.Table) -> bytes:
    """`table` as the bytes of one Parquet file (zstd)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())
