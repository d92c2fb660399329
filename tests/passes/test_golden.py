"""Golden findings: each `fixtures/golden/*.json` pins what `analyze` finds in real captures.

A golden file names its inputs (paths relative to the repo) and holds the verdict and the
findings exactly as the JSON report gives them, so a change in any pass shows up as a
reviewable diff of that file (sqlglot-style input/expected pairs). After an intended change,
rewrite them with ``IODIAG_UPDATE_GOLDEN=1 pytest tests/passes/test_golden.py`` and review
the diff; whether the numbers are *right* is checked against what the programs measured in
test_diagnosis_fixtures.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from analyzer import analyze

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "fixtures" / "golden"
CASES = sorted(GOLDEN.glob("*.json"))
UPDATE = os.environ.get("IODIAG_UPDATE_GOLDEN") == "1"


def expected_document(inputs: list[str]) -> dict[str, Any]:
    """What a golden file holds for these inputs: the verdict and the findings."""
    report = analyze([ROOT / path for path in inputs]).report
    document = {
        "inputs": inputs,
        "verdict": [c["headline"] for c in report["verdict"]["conclusions"]],
        "limits": report["verdict"]["limits"],
        "findings": report["findings"],
    }
    # Input paths as given (relative to the checkout), so the files do not depend on where
    # the checkout lives; paths inside the traces are left as they were captured.
    text = json.dumps(document, ensure_ascii=False)
    for path in inputs:
        text = text.replace(json.dumps(str(ROOT / path))[1:-1], path)
    return json.loads(text)


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 1


@pytest.mark.parametrize("case", CASES, ids=lambda path: path.stem)
def test_findings_match_golden(case: Path) -> None:
    golden = json.loads(case.read_text(encoding="utf-8"))
    actual = expected_document(golden["inputs"])
    if UPDATE and actual != golden:
        case.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        pytest.skip(f"rewrote {case.name}")
    assert actual["verdict"] == golden["verdict"]
    assert [(f["code"], f["title"]) for f in actual["findings"]] == [
        (f["code"], f["title"]) for f in golden["findings"]
    ]
    assert actual == golden
