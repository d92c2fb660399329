"""JUnit XML (``--format junit``, and ``junit.xml`` of a batch): CI systems show it as tests.

One ``<testsuite>`` per run and in it one ``<testcase>`` per rule (``IOD001 slow_syscall``
...): the test case fails (``<failure>``) when the run has findings of that rule at or above
the threshold (``--fail-on``; ``warning`` when that is ``never``), listing each; findings
below it are listed in ``<system-out>`` of a passing case. A run that could not be read is
one test case in ``<error>`` with the reason. The output validates against the JUnit XSD
that Jenkins' xUnit plugin uses (tests/data/junit-10.xsd, checked with xmlschema).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import IO, Any, ClassVar
from xml.etree import ElementTree as ET

from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer
from analyzer.render.ci import RunFindings, meets, rules, runs_of_result

__all__ = ["JunitRenderer", "junit_xml"]

DEFAULT_THRESHOLD = "warning"
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: object) -> str:
    """Text XML 1.0 can carry: control characters and lone surrogates become U+FFFD."""
    return _CONTROL.sub("\ufffd", str(value if value is not None else ""))


def _describe(finding: dict[str, Any]) -> str:
    lines = [
        f"{finding.get('code')} {finding.get('severity')}: {finding.get('title')}",
        str(finding.get("message") or ""),
    ]
    if finding.get("fix"):
        lines.append(f"Fix: {finding['fix']}")
    if finding.get("input"):
        where = ", ".join(str(line) for line in (finding.get("lines") or [])[:5])
        lines.append(f"Input: {finding['input']}" + (f" (lines {where})" if where else ""))
    return _text("\n".join(line for line in lines if line))


def junit_xml(runs: Sequence[RunFindings], threshold: str = DEFAULT_THRESHOLD) -> str:
    """The JUnit XML document of `runs`, failing findings at or above `threshold`."""
    if threshold == "never":
        threshold = DEFAULT_THRESHOLD
    all_rules = rules()
    root = ET.Element("testsuites", name="iodiag")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for run in runs:
        suite = ET.SubElement(root, "testsuite", name=_text(run.name))
        counts = {"tests": 0, "failures": 0, "errors": 0}
        if run.inputs or run.report:
            properties = ET.SubElement(suite, "properties")
            for path in run.inputs:
                ET.SubElement(properties, "property", name="input", value=_text(path))
            if run.report:
                ET.SubElement(properties, "property", name="report", value=_text(run.report))
        if run.error is not None:
            case = ET.SubElement(suite, "testcase", name="inputs", classname=_text(run.name))
            case.set("time", "0")
            error = ET.SubElement(case, "error", type="unreadable", message=_text(run.error))
            error.text = _text(run.error)
            counts["tests"] += 1
            counts["errors"] += 1
        else:
            for code, kind, doc in all_rules:
                case = ET.SubElement(
                    suite, "testcase", name=f"{code} {kind}", classname=_text(run.name)
                )
                case.set("time", "0")
                counts["tests"] += 1
                mine = [f for f in run.findings if f.get("code") == code]
                failing = [f for f in mine if meets(f, threshold)]
                if failing:
                    counts["failures"] += 1
                    worst = failing[0]
                    more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
                    failure = ET.SubElement(
                        case,
                        "failure",
                        type=_text(worst.get("severity")),
                        message=_text(f"{worst.get('title')}{more}"),
                    )
                    failure.text = "\n\n".join(_describe(f) for f in failing)
                rest = [f for f in mine if f not in failing]
                if rest:
                    out = ET.SubElement(case, "system-out")
                    out.text = "\n\n".join(_describe(f) for f in rest)
                elif not mine:
                    out = ET.SubElement(case, "system-out")
                    out.text = _text(f"No {kind} finding: {doc}")
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("skipped", "0")
        suite.set("time", "0")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


class JunitRenderer(Renderer):
    """The run's findings as JUnit XML: a test case per rule."""

    name: ClassVar[str] = "junit"
    extensions: ClassVar[tuple[str, ...]] = (".xml",)

    def __init__(self, threshold: str = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        out.write(junit_xml(runs_of_result(result), self.threshold))
