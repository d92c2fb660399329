"""The diagnosis on incidents it was not tuned on: every `fixtures/incidents/` folder.

Each incident's programs measured the truth themselves (`truth.json`); verdict #1 must state
the root cause (its finding kind), name the culprit thread or process and the resource, and
no finding may raise a wrong alarm (healthy controls get no warning or error at all). The
checks are `benchmarks/diagnosis_score.py`'s, which prints the same as a score table.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from support import FIXTURES, REPO

pytestmark = pytest.mark.slow

_SPEC = importlib.util.spec_from_file_location(
    "diagnosis_score", REPO / "benchmarks" / "diagnosis_score.py"
)
assert _SPEC is not None and _SPEC.loader is not None
diagnosis_score = importlib.util.module_from_spec(_SPEC)
sys.modules["diagnosis_score"] = diagnosis_score
_SPEC.loader.exec_module(diagnosis_score)

INCIDENTS = sorted(
    path for path in (FIXTURES / "incidents").iterdir() if (path / "truth.json").is_file()
)


def test_the_incident_set_is_as_the_issue_asks() -> None:
    import json

    truths = [json.loads((path / "truth.json").read_text()) for path in INCIDENTS]
    assert len(truths) >= 15
    assert sum(truth["healthy"] for truth in truths) >= 3
    assert sum(truth["multi_process"] for truth in truths) >= 2
    assert set().union(*(truth["classes"] for truth in truths)) >= set(range(1, 10))


@pytest.mark.parametrize("incident", INCIDENTS, ids=lambda path: path.name)
def test_verdict_names_the_root_cause(incident: Path) -> None:
    score = diagnosis_score.score(incident)
    details = f"{score.expected}: {score.verdict}; wrong alarms: {score.problems}"
    assert score.quiet, details
    assert score.rule is not False, details
    assert score.culprit is not False, details
    assert score.resource is not False, details
