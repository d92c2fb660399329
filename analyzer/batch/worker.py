"""One run of a batch, analyzed where a worker is: inputs in, reports out, a summary back.

`analyze_run` is what the process pool and the Dask workers call. It takes a `RunTask` (the
run and the batch's options, both plain picklable data) and returns the run's `summary`: a
small dict of plain JSON values (name, status, inputs, verdict #1, findings, report links)
that the index, the CI outputs and the findings dataset are made of. It never raises: a run
that cannot be read, or whose analysis fails, comes back with its status and reason, so the
other runs go on.

The module imports the pipeline and the report renderers when it is imported, so that a
worker process pays for those imports once, before its first run (the local pool's workers
fork from a server that imported it: once for all of them).

Statuses: ``ok``; ``incomplete`` (an input named on the command line could not be read: the
reports cover the others, as ``iodiag-analyze A B`` does); ``unreadable`` (no input could
be read, or none is a recognised trace: no reports); ``failed`` (the analysis or the writing
of the reports failed: the reason says how).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from typing import Any

from analyzer import store
from analyzer.batch import storage
from analyzer.batch.discover import Run
from analyzer.config import Config
from analyzer.errors import IodiagError
from analyzer.inputs import open_input
from analyzer.model import AnalysisResult
from analyzer.pipeline import analyze
from analyzer.render import renderer_for
from analyzer.render.ci import severity_rank
from analyzer.sources import detect
from analyzer.verdict import LIMITS_KIND

__all__ = ["REPORTS", "RunTask", "analyze_run", "empty_summary", "warm_up", "with_threads"]

REPORTS: tuple[tuple[str, str], ...] = (
    ("json", "report.json"),
    ("html", "report.html"),
    ("md", "report.md"),
)
"""Every run's reports: format and file name in its folder ``OUT/<run>/``."""


@dataclass(frozen=True)
class RunTask:
    """What a worker needs for one run: the run, where the reports go, the run's options."""

    run: Run
    out_dir: str
    config: Config
    formats: tuple[str, ...] = ("json", "html", "md")


def warm_up() -> None:
    """Import what every run needs (the renderers, the templates' environment), so a worker
    pays for it before its first run and not during it."""
    for name in ("json", "html", "md"):
        renderer_for(name)
    from analyzer.render.templates import template_environment

    template_environment(True)
    template_environment(False)


def empty_summary(run: Run) -> dict[str, Any]:
    """The summary of `run` before anything of it is read."""
    return {
        "name": run.name,
        "kind": run.kind,
        "location": run.location,
        "status": "ok",
        "reason": None,
        "inputs": [],
        "reports": {},
        "verdict": None,
        "worst": None,
        "cost_s": 0.0,
        "counts": {"error": 0, "warning": 0, "info": 0},
        "findings": [],
        "verdict_findings": [],
    }


def analyze_run(task: RunTask) -> dict[str, Any]:
    """Analyze one run and write its reports; its summary (see the module docstring)."""
    run = task.run
    summary = empty_summary(run)
    if run.reason is not None:
        return {**summary, "status": "unreadable", "reason": run.reason}
    scratch = tempfile.mkdtemp(prefix="iodiag-run-")
    try:
        return _analyze(task, summary, scratch)
    except Exception as error:  # a bug in one run must not stop the batch: say it, go on
        reason = f"analysis failed: {type(error).__name__}: {error}"
        return {**summary, "status": "failed", "reason": reason, "reports": {}}
    finally:
        storage.remove_tree(scratch)


def _analyze(task: RunTask, summary: dict[str, Any], scratch: str) -> dict[str, Any]:
    run, config = task.run, task.config
    entries: list[dict[str, Any]] = []
    local: dict[str, str] = {}  # local path -> the path or URL as the batch names it
    for number, location in enumerate(run.inputs):
        entry: dict[str, Any] = {"path": location, "format": None, "state": "read"}
        entries.append(entry)
        try:
            folder = storage.join(scratch, str(number)) if storage.is_url(location) else scratch
            if storage.is_url(location):
                os.makedirs(folder, exist_ok=True)
            path = storage.fetch(location, folder)
        except (OSError, IodiagError) as error:
            entry.update(state="error", reason=f"cannot fetch: {error}")
            continue
        if location not in run.named and config.format is None:
            # Found by looking into a folder: a file no source recognises is no input.
            try:
                opened = open_input(path)
                try:
                    entry["format"] = detect(opened.head)
                finally:
                    opened.close()
            except IodiagError as error:
                entry.update(state="error", reason=str(error).removeprefix(f"{path}: "))
                continue
            if entry["format"] is None:
                entry.update(state="skipped", reason="not a recognised trace")
                continue
        local[path] = location
    summary["inputs"] = entries
    if not local:
        errors = [f"{e['path']}: {e['reason']}" for e in entries if e["state"] == "error"]
        reason = "; ".join(errors) or (
            f"none of its {len(entries)} files is a recognised trace"
            if entries
            else "no input files"
        )
        return {**summary, "status": "unreadable", "reason": reason}
    # The run's work directory outlives it: its reports are written under the page watch of
    # a long trace's mapped calls, as the CLI writes its outputs.
    with store.work_dir(config.work_dir, config.keep_work_dir) as directory:
        try:
            result = analyze(list(local), config, directory=directory)
        except IodiagError as error:
            return {**summary, "status": "unreadable", "reason": _named(str(error), local)}
        report = _renamed(result.report, local)
        result = AnalysisResult(report, result.tables)
        by_path = {item["path"]: item for item in report.get("inputs") or []}
        for entry in entries:
            item = by_path.get(entry["path"])
            if item is None:
                continue
            entry["format"] = item.get("format")
            if item.get("error"):
                entry.update(state="error", reason=item["error"])
        with store.PageWatch(directory):
            written = _write_reports(task, result)
    failed = [e for e in entries if e["state"] == "error"]
    summary.update(_verdict_summary(report))
    summary["reports"] = written
    if failed:
        summary["status"] = "incomplete"
        summary["reason"] = "; ".join(f"{e['path']}: {e['reason']}" for e in failed)
    return summary


def _named(text: str, local: dict[str, str]) -> str:
    for path, location in local.items():
        if path != location:
            text = text.replace(path, location)
    return text


def _renamed(value: Any, local: dict[str, str]) -> Any:
    """`value` with the local copies of remote inputs named by their URLs again."""
    if not any(path != location for path, location in local.items()):
        return value
    if isinstance(value, str):
        return _named(value, local)
    if isinstance(value, list):
        return [_renamed(item, local) for item in value]
    if isinstance(value, dict):
        return {key: _renamed(item, local) for key, item in value.items()}
    return value


def _write_reports(task: RunTask, result: AnalysisResult) -> dict[str, str]:
    written = {}
    for name, file_name in REPORTS:
        if name not in task.formats:
            continue
        relative = f"{task.run.name}/{file_name}"
        target = storage.join(task.out_dir, *relative.split("/"))
        storage.write_text(target, renderer_for(name).render_to_string(result))
        written[name] = relative
    return written


def _verdict_summary(report: dict[str, Any]) -> dict[str, Any]:
    findings = list(report.get("findings") or [])
    counts = {"error": 0, "warning": 0, "info": 0}
    for finding in findings:
        if finding.get("kind") != LIMITS_KIND and finding.get("severity") in counts:
            counts[finding["severity"]] += 1
    worst = min(
        (f.get("severity") for f in findings if f.get("kind") != LIMITS_KIND),
        key=severity_rank,
        default=None,
    )
    conclusions = (report.get("verdict") or {}).get("conclusions") or []
    top = conclusions[0] if conclusions else None
    verdict = None
    if top is not None:
        verdict = {key: top.get(key) for key in ("code", "kind", "severity", "headline", "cost_s")}
    return {
        "findings": findings,
        "counts": counts,
        "worst": worst,
        "verdict": verdict,
        "cost_s": float(top.get("cost_s") or 0.0) if top else 0.0,
        "verdict_findings": [conclusion.get("finding") for conclusion in conclusions],
    }


def with_threads(task: RunTask, threads: int) -> RunTask:
    """`task` with its parser threads set (1 in a pool whose workers fill the cores)."""
    return replace(task, config=replace(task.config, threads=threads))
