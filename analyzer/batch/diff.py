"""The regression gate: ``iodiag-analyze diff BASE CANDIDATE``.

BASE and CANDIDATE are each a run's JSON report (``iodiag.report/1``) or a batch's output
folder (its ``index.json`` and every run's ``report.json``; local paths or fsspec URLs). Two
batches are compared run by run, paired by run name; runs only on one side are listed as
new or gone. For each pair of runs:

- **latency**: per (syscall, resource) from the reports' ``latency`` rows, the change of p50,
  p95 and total time and of the call count;
- **findings**: new (in the candidate only), gone (in the base only) and worse (a higher
  severity, or a cost grown beyond the noise rule), matched by rule code and resource
  (``resource.key``; the code location, then the title, when a finding names no resource).

**The noise rule.** A change counts only when it passes every one of these tests (the
defaults, each an option of the command):

1. absolute: it is at least ``--min-ms`` (1 ms) for p50 and p95, ten times that for total
   time;
2. relative: it is at least ``--min-pct`` (10 %) of the base value;
3. count-scaled: both sides have at least ``--min-calls`` calls (20) for p95 and half of
   that for p50 and total, and the relative change is at least 100/√n % with n the smaller
   count of calls (a percentile of 25 calls moves by ~20 % between two samples of one
   distribution, of 10,000 by ~1 %);
4. call counts: the change is beyond Poisson noise, |c − b| ≥ 3·√(b + c), and at least
   ``--min-pct`` of b.

A **regression** is a latency increase that passes the rule (p50, p95 or total), a new
finding of warning or error severity, or a worse finding. ``--fail-on-regression PCT`` exits
1 when a regression grew by at least PCT % (a new or worse-in-severity finding always meets
it; a finding whose cost grew must have grown by PCT %). A call-count change alone is
reported, never a regression: more calls may be more work done.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from analyzer import __version__
from analyzer.batch import storage
from analyzer.clean import clean
from analyzer.errors import InputError
from analyzer.render.ci import fit_comment, severity_rank
from analyzer.verdict import LIMITS_KIND

__all__ = ["DIFF_SCHEMA", "NoiseRule", "diff_paths", "diff_reports", "exit_code", "render"]

DIFF_SCHEMA = "iodiag.diff/1"
METRICS = ("p50_s", "p95_s", "total_s")


@dataclass(frozen=True)
class NoiseRule:
    """The thresholds a change must pass to count (module docstring)."""

    min_pct: float = 10.0
    min_ms: float = 1.0
    min_calls: int = 20

    def metric_changed(self, metric: str, base: float, cand: float, calls: int) -> bool:
        """Whether a latency metric moved beyond noise, with n = the smaller call count."""
        delta = cand - base
        floor = self.min_ms / 1e3 * (10 if metric == "total_s" else 1)
        if abs(delta) < floor:
            return False
        needed = self.min_calls if metric == "p95_s" else max(1, self.min_calls // 2)
        if calls < needed:
            return False
        if base <= 0:
            return True
        relative = abs(delta) / base * 100
        return relative >= max(self.min_pct, 100 / math.sqrt(max(calls, 1)))

    def count_changed(self, base: int, cand: int) -> bool:
        delta = abs(cand - base)
        if delta < 3 * math.sqrt(base + cand):
            return False
        return base == 0 or delta / base * 100 >= self.min_pct


def _pct(base: float | None, cand: float | None) -> float | None:
    if base is None or cand is None:
        return None
    if base == 0:
        return None if cand == 0 else math.inf
    return (cand - base) / base * 100


def _latency_rows(report: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(row["syscall"], row.get("target")): row for row in report.get("latency") or []}


def _finding_key(finding: dict[str, Any]) -> tuple[str, str]:
    resource = (finding.get("resource") or {}).get("key")
    if resource:
        return str(finding.get("code")), f"resource:{resource}"
    location = (finding.get("evidence") or {}).get("location")
    if location:
        return str(finding.get("code")), f"location:{location}"
    return str(finding.get("code")), f"title:{finding.get('title')}"


def _findings(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The report's findings by key (the costliest of findings sharing a key)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for finding in report.get("findings") or []:
        if finding.get("kind") == LIMITS_KIND:
            continue
        key = _finding_key(finding)
        if key not in found or (finding.get("cost_s") or 0) > (found[key].get("cost_s") or 0):
            found[key] = finding
    return found


def _brief(finding: dict[str, Any]) -> dict[str, Any]:
    return {key: finding.get(key) for key in ("code", "kind", "severity", "title", "cost_s")} | {
        "resource": (finding.get("resource") or {}).get("key")
    }


def diff_reports(
    base: dict[str, Any], cand: dict[str, Any], rule: NoiseRule, fail_pct: float | None
) -> dict[str, Any]:
    """The comparison of two runs' reports."""
    latency: list[dict[str, Any]] = []
    base_rows, cand_rows = _latency_rows(base), _latency_rows(cand)
    for key in sorted(set(base_rows) | set(cand_rows), key=lambda k: (k[0], k[1] or "")):
        was, now = base_rows.get(key), cand_rows.get(key)
        if was is None or now is None:
            continue  # present on one side only: beyond the listed rows, or no such call
        calls = min(int(was["calls"]), int(now["calls"]))
        changes = {}
        for metric in METRICS:
            b, c = was.get(metric), now.get(metric)
            if b is None or c is None:
                continue
            if rule.metric_changed(metric, float(b), float(c), calls):
                changes[metric] = {"base": b, "candidate": c, "change_pct": _pct(b, c)}
        count_changed = rule.count_changed(int(was["calls"]), int(now["calls"]))
        if not changes and not count_changed:
            continue
        regressions = [m for m, ch in changes.items() if ch["candidate"] > ch["base"]]
        worst = max((changes[m]["change_pct"] or 0 for m in regressions), default=0.0)
        latency.append(
            {
                "syscall": key[0],
                "target": key[1],
                "calls": {
                    "base": was["calls"],
                    "candidate": now["calls"],
                    "change_pct": _pct(was["calls"], now["calls"]),
                    "significant": count_changed,
                },
                "changes": changes,
                "regression": bool(regressions),
                "regression_pct": worst if regressions else None,
            }
        )
    latency.sort(key=lambda row: (not row["regression"], -(row["regression_pct"] or 0)))
    old_findings, new_findings = _findings(base), _findings(cand)
    new = [_brief(new_findings[k]) for k in sorted(set(new_findings) - set(old_findings))]
    gone = [_brief(old_findings[k]) for k in sorted(set(old_findings) - set(new_findings))]
    worse: list[dict[str, Any]] = []
    for key in sorted(set(old_findings) & set(new_findings)):
        old, cur = old_findings[key], new_findings[key]
        more_severe = severity_rank(cur.get("severity")) < severity_rank(old.get("severity"))
        b, c = float(old.get("cost_s") or 0), float(cur.get("cost_s") or 0)
        costlier = c - b >= rule.min_ms / 1e3 * 10 and (b == 0 or (c - b) / b * 100 >= rule.min_pct)
        if more_severe or costlier:
            worse.append(
                {
                    **_brief(cur),
                    "base_severity": old.get("severity"),
                    "base_cost_s": old.get("cost_s"),
                    "cost_change_pct": _pct(b, c),
                    "more_severe": more_severe,
                }
            )
    regressions = _regressions(latency, new, worse, fail_pct)
    return {
        "latency": latency,
        "findings": {"new": new, "gone": gone, "worse": worse},
        "regressions": regressions,
    }


def _regressions(
    latency: list[dict[str, Any]],
    new: list[dict[str, Any]],
    worse: list[dict[str, Any]],
    fail_pct: float | None,
) -> list[str]:
    """One line per regression that meets ``--fail-on-regression`` (none without it)."""
    if fail_pct is None:
        return []
    lines = []
    for row in latency:
        for metric, change in row["changes"].items():
            pct = change["change_pct"]
            if change["candidate"] > change["base"] and (pct is None or pct >= fail_pct):
                shown = "new" if pct is None or math.isinf(pct) else f"+{pct:.0f}%"
                lines.append(f"{row['syscall']} on {row['target'] or '-'}: {metric} {shown}")
    for finding in new:
        if finding.get("severity") in ("error", "warning"):
            lines.append(f"new {finding['code']} {finding['severity']}: {finding['title']}")
    for finding in worse:
        pct = finding.get("cost_change_pct")
        if finding["more_severe"] or (pct is not None and pct >= fail_pct):
            lines.append(f"worse {finding['code']} {finding['severity']}: {finding['title']}")
    return lines


def _load(location: str) -> tuple[str, dict[str, Any]]:
    """("report", report) or ("batch", index) of a path or URL."""
    target = location
    if storage.is_dir(location):
        target = storage.join(location, "index.json")
    try:
        document = json.loads(storage.read_text(target))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise InputError(f"{location}: cannot read a report or a batch: {error}") from None
    if not isinstance(document, dict):
        raise InputError(f"{location}: not an iodiag report or batch index")
    schema = str(document.get("schema") or "")
    if schema.startswith("iodiag.report/"):
        return "report", document
    if schema.startswith("iodiag.batch/"):
        return "batch", document
    raise InputError(f"{location}: not an iodiag report or batch index (schema {schema!r})")


def _batch_folder(location: str) -> str:
    return location if storage.is_dir(location) else storage.split(location)[0]


def diff_paths(
    base: str, candidate: str, rule: NoiseRule, fail_pct: float | None = None
) -> dict[str, Any]:
    """The ``iodiag.diff/1`` document comparing two reports or two batches."""
    base_kind, base_doc = _load(base)
    cand_kind, cand_doc = _load(candidate)
    if base_kind != cand_kind:
        raise InputError(f"cannot compare a {base_kind} ({base}) with a {cand_kind} ({candidate})")
    runs: list[dict[str, Any]] = []
    new_runs: list[str] = []
    gone_runs: list[str] = []
    if base_kind == "report":
        runs.append({"name": "run", **diff_reports(base_doc, cand_doc, rule, fail_pct)})
    else:
        old = {run["name"]: run for run in base_doc.get("runs") or []}
        cur = {run["name"]: run for run in cand_doc.get("runs") or []}
        new_runs = sorted(set(cur) - set(old))
        gone_runs = sorted(set(old) - set(cur))
        for name in sorted(set(old) & set(cur)):
            reports: list[dict[str, Any] | None] = []
            sides = ((_batch_folder(base), old[name]), (_batch_folder(candidate), cur[name]))
            for folder, run in sides:
                link = (run.get("reports") or {}).get("json")
                if not link:
                    reports.append(None)
                    continue
                reports.append(_load(storage.join(folder, *link.split("/")))[1])
            if reports[0] is None or reports[1] is None:
                side = "candidate" if reports[1] is None else "base"
                runs.append({"name": name, "not_compared": f"no report on the {side} side"})
                continue
            compared = diff_reports(reports[0], reports[1], rule, fail_pct)
            runs.append({"name": name, **compared})
    regressions = [f"{run['name']}: {line}" for run in runs for line in run.get("regressions", [])]
    return {
        "schema": DIFF_SCHEMA,
        "tool": {"name": "iodiag", "version": __version__},
        "base": base,
        "candidate": candidate,
        "kind": base_kind,
        "rule": {"min_pct": rule.min_pct, "min_ms": rule.min_ms, "min_calls": rule.min_calls},
        "fail_on_regression_pct": fail_pct,
        "runs": runs,
        "new_runs": new_runs,
        "gone_runs": gone_runs,
        "regressions": regressions,
        "unreadable_runs": [
            run["name"] for run in runs if "candidate" in run.get("not_compared", "")
        ],
    }


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1:
        return f"{value:.3f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.0f} µs"


def _change(pct: float | None) -> str:
    if pct is None:
        return "?"
    if math.isinf(pct):
        return "new"
    return f"{pct:+.0f}%"


def render(document: dict[str, Any], form: str, link: str | None = None) -> str:
    """The diff as ``text``, ``md`` or ``json``."""
    if form == "json":
        return json.dumps(clean(document), sort_keys=True, indent=2, allow_nan=False) + "\n"
    md = form == "md"
    lines: list[str] = []
    title = f"iodiag diff: {document['base']} -> {document['candidate']}"
    lines += [f"# {title}" if md else title, ""]
    rule = document["rule"]
    lines.append(
        f"Noise rule: changes of at least {rule['min_ms']:g} ms (x10 for totals), "
        f"{rule['min_pct']:g}% and 100/sqrt(calls)%, with at least {rule['min_calls']} calls "
        "for p95; call counts beyond 3 sqrt(b+c)."
    )
    lines.append("")
    for label, names in (("New runs", document["new_runs"]), ("Gone runs", document["gone_runs"])):
        if names:
            lines.append(f"{label}: {', '.join(names)}")
    for run in document["runs"]:
        head = f"## {run['name']}" if md else f"== {run['name']}"
        lines += ["", head, ""]
        if "not_compared" in run:
            lines.append(f"not compared: {run['not_compared']}")
            continue
        if run["latency"]:
            if md:
                lines += [
                    "| syscall | resource | calls | p50 | p95 | total |",
                    "|---|---|---|---|---|---|",
                ]
            for row in run["latency"]:
                cells = []
                calls = row["calls"]
                cells.append(
                    f"{calls['base']} -> {calls['candidate']} ({_change(calls['change_pct'])})"
                    + ("" if calls["significant"] else " ~")
                )
                for metric in METRICS:
                    change = row["changes"].get(metric)
                    cells.append(
                        f"{_seconds(change['base'])} -> {_seconds(change['candidate'])} "
                        f"({_change(change['change_pct'])})"
                        if change
                        else "~"
                    )
                target = row["target"] or "-"
                if md:
                    target = f"`{target}`".replace("|", "\\|")
                    lines.append(f"| {row['syscall']} | {target} | " + " | ".join(cells) + " |")
                else:
                    names = ("calls", "p50", "p95", "total")
                    pairs = zip(names, cells, strict=True)
                    described = ", ".join(f"{n} {c}" for n, c in pairs if c != "~")
                    mark = "REGRESSION " if row["regression"] else ""
                    lines.append(f"  {mark}{row['syscall']} {target}: {described}")
        else:
            lines.append("latency: no change beyond noise")
        findings = run["findings"]
        for label in ("new", "worse", "gone"):
            for finding in findings[label]:
                extra = ""
                if label == "worse":
                    extra = (
                        f" (was {finding['base_severity']}, cost "
                        f"{_change(finding['cost_change_pct'])})"
                    )
                bullet = "- " if md else "  "
                lines.append(
                    f"{bullet}{label} finding {finding['code']} {finding['severity']}: "
                    f"{finding['title']}{extra}"
                )
    lines.append("")
    if document["fail_on_regression_pct"] is not None:
        count = len(document["regressions"])
        lines.append(
            f"--fail-on-regression {document['fail_on_regression_pct']:g}: "
            f"{count} regression{'s' if count != 1 else ''}" + (":" if count else ".")
        )
        lines += [("- " if md else "  ") + line for line in document["regressions"]]
    text = "\n".join(lines) + "\n"
    return fit_comment(text, link) if md else text


def exit_code(document: dict[str, Any]) -> int:
    """2 when a run of the candidate has no report (the base had one or not), else 1 when a
    regression met the threshold."""
    if document["unreadable_runs"]:
        return 2
    return 1 if document["regressions"] else 0
