"""SARIF 2.1.0 (``--format sarif``, and ``iodiag.sarif`` of a batch), for code scanning.

Code scanning shows a result at a place in the code, so only findings with a source location
(`analyzer.render.ci.code_location`: the ``file:line`` the asyncio log names for a slow
callback or a misuse) become results; the others are in the HTML, Markdown and JSON reports.
One SARIF run holds every iodiag run of a batch (``properties.run`` names it). Levels:
error -> ``error``, warning -> ``warning``, info -> ``note``. A file under ``--source-root``
is given relative to ``%SRCROOT%`` (the checkout, for an upload), any other as a ``file://``
URI. ``partialFingerprints`` hashes the rule, file, line and run, so a result keeps its
identity across analyses. The output validates against the SARIF 2.1.0 JSON schema
(tests/data/sarif-schema-2.1.0.json, checked with jsonschema).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import IO, Any, ClassVar
from urllib.parse import quote

from analyzer import __version__
from analyzer.clean import clean
from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer
from analyzer.render.ci import RunFindings, code_location, rules, runs_of_result

__all__ = ["SarifRenderer", "located", "sarif_document"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def _uri(path: str) -> tuple[str, str | None]:
    """(uri, uriBaseId) of a source file path."""
    if path.startswith("/"):
        return "file://" + quote(path), None
    return quote(PurePosixPath(path).as_posix()), "%SRCROOT%"


def located(runs: Sequence[RunFindings], source_root: str | None = None) -> int:
    """How many findings of `runs` have a code location (SARIF results)."""
    return sum(1 for run in runs for finding in run.findings if code_location(finding, source_root))


def sarif_document(runs: Sequence[RunFindings], source_root: str | None = None) -> dict[str, Any]:
    """The SARIF log of the findings of `runs` that have a code location."""
    table = rules()
    index = {code: number for number, (code, _kind, _doc) in enumerate(table)}
    results = []
    for run in runs:
        for finding in run.findings:
            where = code_location(finding, source_root)
            code = str(finding.get("code"))
            if where is None or code not in index:
                continue
            path, line = where
            uri, base = _uri(path)
            artifact: dict[str, Any] = {"uri": uri}
            if base:
                artifact["uriBaseId"] = base
            text = str(finding.get("title") or code)
            message = str(finding.get("message") or "")
            fix = str(finding.get("fix") or "")
            full = " ".join(part for part in (f"{text}.", message, fix and f"Fix: {fix}") if part)
            key = f"{code}\0{path}\0{line}\0{run.name}".encode("utf-8", "surrogateescape")
            results.append(
                {
                    "ruleId": code,
                    "ruleIndex": index[code],
                    "level": LEVELS.get(str(finding.get("severity")), "note"),
                    "message": {"text": full},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": artifact,
                                "region": {"startLine": line},
                            }
                        }
                    ],
                    "partialFingerprints": {
                        "iodiagFinding/v1": hashlib.sha256(key).hexdigest()[:32]
                    },
                    "properties": {
                        "run": run.name,
                        "kind": finding.get("kind"),
                        "severity": finding.get("severity"),
                        "cost_s": finding.get("cost_s"),
                        "input": finding.get("input"),
                    },
                }
            )
    sarif_run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "iodiag",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [
                    {
                        "id": code,
                        "name": kind,
                        "shortDescription": {"text": doc},
                        "properties": {"kind": kind},
                    }
                    for code, kind, doc in table
                ],
            }
        },
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    if source_root:
        root = source_root.rstrip("/") + "/"
        sarif_run["originalUriBaseIds"] = {
            "%SRCROOT%": {"uri": ("file://" + quote(root)) if root.startswith("/") else root}
        }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [sarif_run]}


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(clean(document), indent=2, sort_keys=True, allow_nan=False) + "\n"


class SarifRenderer(Renderer):
    """The run's findings with a code location, as SARIF 2.1.0."""

    name: ClassVar[str] = "sarif"
    extensions: ClassVar[tuple[str, ...]] = (".sarif",)

    def __init__(self, source_root: str | None = None) -> None:
        self.source_root = source_root

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        out.write(dumps(sarif_document(runs_of_result(result), self.source_root)))
