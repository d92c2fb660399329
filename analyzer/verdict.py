"""The verdict: the two or three conclusions that matter most, ranked by the time they cost.

Reads findings only (never tables): the passes already put the numbers, the evidence and
the fix on each finding. Some findings are the consequence of another: clients of a
blocked event loop wait on its socket (a slow recvfrom on the loop's own listening address),
and a logged slow callback is the same stall a blocked_loop episode shows. Those are folded
into their cause's conclusion (its cost includes the waiting they explain) instead of
competing with it. `limits` says what the data could not decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analyzer.passes.base import Finding

MAX_CONCLUSIONS = 3
LIMITS_KIND = "data_limits"
_WAITS_ON_RESOURCE = frozenset({"slow_syscall", "thread_pileup"})


def _resource(finding: Finding) -> object:
    evidence = finding.evidence
    return evidence.get("target") or evidence.get("resource")


def consequences(findings: Sequence[Finding]) -> dict[int, tuple[int, bool]]:
    """Index of each finding that another finding explains -> (index of that cause, whether
    its cost is extra time the cause cost rather than the same time seen twice)."""
    explained: dict[int, tuple[int, bool]] = {}
    for cause_index, cause in enumerate(findings):
        for rule in cause.explains:
            for index, finding in enumerate(findings):
                if (
                    index not in explained
                    and index != cause_index
                    and finding.resource is not None
                    and finding.resource.key == rule.key
                    and (rule.kind is None or finding.kind == rule.kind)
                    and (not rule.same_input or finding.input == cause.input)
                    and (rule.tid is None or finding.tid == rule.tid)
                    and (
                        rule.during is None
                        or (
                            finding.start is not None
                            and rule.during[0] <= finding.start <= rule.during[1]
                        )
                    )
                ):
                    explained[index] = (cause_index, rule.adds_cost)
        if cause.kind == "thread_pileup":
            syscalls = {cause.evidence.get("syscall")} | {
                row.get("syscall")
                for row in cause.evidence.get("syscalls") or ()
                if isinstance(row, dict)
            }
            for index, finding in enumerate(findings):
                if (
                    index not in explained
                    and finding.kind == "slow_syscall"
                    and finding.input == cause.input
                    and _resource(finding) is not None
                    and _resource(finding) == cause.evidence.get("resource")
                    and finding.evidence.get("syscall") in syscalls
                ):
                    explained[index] = (cause_index, False)
            continue
        if cause.kind != "blocked_loop":
            continue
        listening = set(cause.evidence.get("listening") or ())
        loop_tid = cause.evidence.get("loop_tid")
        for index, finding in enumerate(findings):
            if index in explained or index == cause_index:
                continue
            same_input = finding.input == cause.input
            waits_on_loop = (
                finding.kind in _WAITS_ON_RESOURCE
                and same_input
                and _resource(finding) in listening
            )
            same_stall = finding.kind == "slow_callback" and (
                _on_loop(finding.evidence.get("episodes"), cause.input, loop_tid)
                # An untimed log: every step has an episode of the same length.
                or len(
                    _on_loop(finding.evidence.get("same_length_episodes"), cause.input, loop_tid)
                )
                >= int(finding.evidence.get("count") or 1)
                or (
                    bool(
                        _on_loop(
                            finding.evidence.get("same_length_episodes"), cause.input, loop_tid
                        )
                    )
                    and int(finding.evidence.get("steps_with_same_length_episode") or 0)
                    >= int(finding.evidence.get("count") or 1)
                )
            )
            if waits_on_loop or same_stall:
                explained[index] = (cause_index, waits_on_loop)
    return explained


def _on_loop(episodes: object, trace: str | None, loop_tid: object) -> list[dict[str, Any]]:
    """The slow-callback evidence episodes that lie on this trace's loop thread."""
    if not isinstance(episodes, list):
        return []
    return [
        episode
        for episode in episodes
        if isinstance(episode, dict)
        and episode.get("strace_input") == trace
        and episode.get("loop_tid", loop_tid) == loop_tid
    ]


def _logged_locations(explained: Sequence[Finding]) -> str:
    """Where the asyncio log says the loop was held, for the headline of its blocked_loop."""
    places = []
    for finding in explained:
        if finding.kind != "slow_callback":
            continue
        evidence = finding.evidence
        name = evidence.get("coro") or evidence.get("callback")
        location = str(evidence.get("location") or "").rsplit("/", 1)[-1]
        place = f"{name}() at {location}" if name and location else (location or name)
        if place and place not in places:
            places.append(str(place))
    return ", ".join(places[:2]) + (" ..." if len(places) > 2 else "")


def _root_cause(index: int, explained: dict[int, tuple[int, bool]]) -> int:
    """The finding at the end of `index`'s chain of causes (IOD022's device explains IOD017's
    directory, which explains the per-file findings): the one no other finding explains."""
    seen = {index}
    while index in explained and explained[index][0] not in seen:
        index = explained[index][0]
        seen.add(index)
    return index


def ranked(findings: Sequence[Finding]) -> list[tuple[int, float, list[int]]]:
    """(index, cost, explained indexes) of the actionable findings that no other finding
    explains, costliest first. Warning and error only; data limits never lead."""
    explained = consequences(findings)
    folded: dict[int, list[int]] = {}
    for index in explained:
        folded.setdefault(_root_cause(index, explained), []).append(index)
    rows = []
    for index, finding in enumerate(findings):
        if finding.severity == "info" or finding.kind == LIMITS_KIND or index in explained:
            continue
        extra = sum(findings[i].cost_s for i in folded.get(index, []) if explained[i][1])
        rows.append((index, finding.cost_s + extra, sorted(folded.get(index, []))))
    severity_rank = {"error": 0, "warning": 1}
    rows.sort(key=lambda row: (-row[1], severity_rank[findings[row[0]].severity], row[0]))
    return rows


def verdict(findings: Sequence[Finding]) -> dict[str, Any]:
    """The `verdict` section of the report."""
    conclusions: list[dict[str, Any]] = []
    for index, cost, explained in ranked(findings)[:MAX_CONCLUSIONS]:
        finding = findings[index]
        message = finding.message
        headline = finding.title
        logged = _logged_locations([findings[i] for i in explained])
        resource = finding.resource.to_json() if finding.resource else None
        if logged:
            headline = f"{headline}, in {logged}"
            if resource is not None:
                resource = {**resource, "text": f"{resource['text']} in {logged}"}
        if explained:
            also = "; ".join(findings[i].title for i in explained)
            message = f"{message} It also explains: {also}."
        conclusions.append(
            {
                "rank": len(conclusions) + 1,
                "finding": index,
                "code": finding.code,
                "kind": finding.kind,
                "severity": finding.severity,
                "headline": headline,
                "message": message,
                "cost_s": round(cost, 6),
                "culprit": finding.culprit.to_json() if finding.culprit else None,
                "resource": resource,
                "fix": finding.fix,
                "explains": explained,
            }
        )
    limits = [f.message for f in findings if f.kind == LIMITS_KIND]
    return {"conclusions": conclusions, "limits": limits, "findings": len(findings)}


FAIL_ON: tuple[str, ...] = ("error", "warning", "info", "never")
"""`--fail-on` levels: exit 1 when a finding of this severity or a worse one exists."""


def failing_findings(report: dict[str, Any], fail_on: str) -> list[dict[str, Any]]:
    """The findings of `report` at or above the `fail_on` severity (data limits do not
    count), in report order: those that make `--fail-on` exit 1."""
    if fail_on == "never":
        return []
    worst = FAIL_ON.index(fail_on)  # ValueError for an unknown level
    return [
        finding
        for finding in report.get("findings") or []
        if finding.get("kind") != LIMITS_KIND
        and finding.get("severity") in FAIL_ON
        and FAIL_ON.index(finding["severity"]) <= worst
    ]


def exit_code(report: dict[str, Any], fail_on: str) -> int:
    """1 when the report has a finding at or above `fail_on` (data limits do not count), else 0."""
    return 1 if failing_findings(report, fail_on) else 0
