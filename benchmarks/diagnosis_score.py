"""Score iodiag's verdict on the incident fixtures against what the programs measured.

For every folder of `fixtures/incidents/` (see its README for the truth.json schema) this
runs `analyzer.analyze` on the incident's inputs and checks verdict #1:

- **rule**: its finding kind is one that states the truth's root cause (`ACCEPTED_KINDS`);
- **culprit**: it names the culprit thread or process (``culprit.match``: tid, pid or
  either), unless the culprit was not traced (``in_trace: false``);
- **resource**: its resource text holds one of ``resource.match`` (an address must not
  continue with a digit: ``127.0.0.1:53`` is not ``127.0.0.1:5353``);
- **no wrong alarms**: no warning/error finding of a kind in ``must_not``, and for a healthy
  control no warning/error finding at all.

Usage: ``python benchmarks/diagnosis_score.py [--json] [--dir DIR] [INCIDENT ...]``; exit 1
unless every incident scores fully. ``--dir fixtures/blind`` scores the blind incidents (same
truth schema, never used to tune the passes). `tests/test_incidents.py` asserts the same checks.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INCIDENTS = ROOT / "fixtures" / "incidents"
sys.path.insert(0, str(ROOT))

ACCEPTED_KINDS: dict[str, frozenset[str]] = {
    "blocked_loop": frozenset({"blocked_loop", "slow_callback"}),
    "gil_contention": frozenset({"gil_contention"}),
    "slow_storage": frozenset({"slow_storage", "slow_device"}),
    "slow_peer": frozenset({"slow_syscall", "thread_pileup", "slow_peer"}),
    "syn_drops": frozenset({"syn_drops"}),
    "slow_dns": frozenset({"slow_dns"}),
    "file_lock": frozenset({"lock_holder"}),
    "sqlite_lock": frozenset({"lock_holder"}),
    "mutex_holder": frozenset({"lock_holder", "lock_contention"}),
    "pipe_backpressure": frozenset({"pipe_backpressure"}),
    "thread_exhaustion": frozenset({"thread_exhaustion"}),
}
"""truth.json root-cause kind -> the finding kinds that state it."""

ALARMS = frozenset({"warning", "error"})


@dataclass
class Score:
    incident: str
    healthy: bool
    expected: str
    verdict: str = ""
    rule: bool | None = None
    culprit: bool | None = None
    resource: bool | None = None
    quiet: bool = True
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.quiet and all(v is not False for v in (self.rule, self.culprit, self.resource))


def mentions(text: str, needle: str) -> bool:
    """`needle` in `text`, an address or number not running on into more digits."""
    return re.search(re.escape(needle) + r"(?!\d)", text) is not None


def conclusion_culprit(conclusion: dict[str, Any], finding: dict[str, Any]) -> dict[str, Any]:
    culprit = conclusion.get("culprit")
    if isinstance(culprit, dict):
        return culprit
    return {"pid": finding.get("pid"), "tid": finding.get("tid")}


def conclusion_resource(conclusion: dict[str, Any]) -> str:
    resource = conclusion.get("resource")
    if isinstance(resource, dict) and resource.get("text"):
        return str(resource["text"])
    return f"{conclusion.get('headline', '')} {conclusion.get('message', '')}"


def score(folder: Path) -> Score:
    from analyzer import analyze

    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    cause = truth.get("root_cause")
    expected = "healthy" if cause is None else f"{cause['kind']}/{cause.get('cause') or '-'}"
    result = Score(folder.name, bool(truth.get("healthy")), expected)
    try:
        report = analyze([folder / name for name in truth["inputs"]]).report
    except Exception as error:  # a crash or a refused input is a wrong answer, not the end
        result.verdict = f"(failed: {type(error).__name__}: {error})"
        result.quiet = not result.healthy
        result.rule = result.culprit = result.resource = None if cause is None else False
        return result
    findings = report["findings"]
    must_not = set(truth.get("must_not") or ())
    for finding in findings:
        if finding["severity"] not in ALARMS or finding["kind"] == "data_limits":
            continue
        if result.healthy or finding["kind"] in must_not:
            result.quiet = False
            result.problems.append(f"{finding['severity']} {finding['kind']}: {finding['title']}")
    conclusions = report["verdict"]["conclusions"]
    if cause is None:
        result.verdict = conclusions[0]["headline"] if conclusions else "(no conclusion)"
        return result
    if not conclusions:
        result.verdict = "(no conclusion)"
        result.rule = result.culprit = result.resource = False
        return result
    first = conclusions[0]
    finding = findings[first["finding"]]
    result.verdict = f"{first['code']} {first['kind']}: {first['headline']}"
    result.rule = first["kind"] in ACCEPTED_KINDS[cause["kind"]]
    culprit = cause["culprit"]
    if culprit.get("in_trace", True):
        named = conclusion_culprit(first, finding)
        how = culprit.get("match", "either")
        tid_ok = culprit.get("tid") is not None and named.get("tid") == culprit["tid"]
        pid_ok = culprit.get("pid") is not None and named.get("pid") == culprit["pid"]
        result.culprit = {"tid": tid_ok, "pid": pid_ok}.get(how, tid_ok or pid_ok)
    text = conclusion_resource(first)
    result.resource = any(mentions(text, needle) for needle in cause["resource"]["match"])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("incidents", nargs="*", help="incident folder names (default: all)")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.add_argument(
        "--dir",
        type=Path,
        default=INCIDENTS,
        help="the folder of incident folders (default: fixtures/incidents)",
    )
    args = parser.parse_args(argv)
    folder: Path = args.dir
    if not folder.is_dir():
        parser.error(f"{folder}: not a directory")
    names = args.incidents or sorted(
        path.name for path in folder.iterdir() if (path / "truth.json").is_file()
    )
    scores = [score(folder / name) for name in names]
    if args.json:
        print(json.dumps([asdict(s) | {"passed": s.passed} for s in scores], indent=1))
    else:
        mark = {True: "yes", False: "NO", None: "-"}
        print(f"{'incident':<28} {'expected':<26} rule culprit resource quiet  verdict #1")
        for s in scores:
            print(
                f"{s.incident:<28} {s.expected:<26} {mark[s.rule]:<4} {mark[s.culprit]:<7} "
                f"{mark[s.resource]:<8} {mark[s.quiet]:<5}  {s.verdict[:90]}"
            )
            for problem in s.problems:
                print(f"{'':<30}wrong alarm: {problem[:100]}")
        passed = sum(s.passed for s in scores)
        print(f"\n{passed}/{len(scores)} incidents fully right")
    return 0 if all(s.passed for s in scores) else 1


if __name__ == "__main__":
    raise SystemExit(main())
