"""The README's CI example is true (issue 16): its batch command, run on a folder of real
captures as a CI job would, writes what the README says and exits as it says."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from support import REPO
from test_batch import iodiag, make_batch

pytestmark = pytest.mark.slow  # whole-corpus sweeps and subprocess runs: CI runs them

README = (REPO / "README.md").read_text(encoding="utf-8")


def readme_command(marker: str) -> list[str]:
    """The arguments of the README's ``iodiag-analyze ...   # MARKER`` line."""
    line = next(line for line in README.splitlines() if line.rstrip().endswith(f"# {marker}"))
    words = shlex.split(line.split("#", 1)[0])
    assert words[0] == "iodiag-analyze"
    return words[1:]


def test_the_ci_example_is_the_batch_form_everywhere() -> None:
    command = readme_command("in CI")
    assert command[0] == "batch"
    workflow = re.search(r"- run: (iodiag-analyze batch .*)", README)
    assert workflow is not None
    assert shlex.split(workflow.group(1))[1:] == command


def test_the_ci_example_runs_as_the_readme_says(tmp_path: Path, monkeypatch) -> None:
    make_batch(tmp_path, broken=False)  # traces/: pool, svc and the loop incident
    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "summary.md"
    result = iodiag(*readme_command("in CI"), env={"GITHUB_STEP_SUMMARY": str(summary)})
    # --fail-on error is met (the pool and the loop have error findings): exit 1, listed.
    assert result.returncode == 1, result.stderr
    assert "--fail-on error:" in result.stderr and "pool: IOD004 error" in result.stderr
    assert any(line.startswith("::error ") for line in result.stdout.splitlines())
    reports = tmp_path / "reports"
    for name in ("index.html", "index.md", "index.json", "junit.xml", "iodiag.sarif"):
        assert (reports / name).is_file(), name
    assert (reports / "findings" / "part-0.parquet").is_file()
    for run in ("pool", "svc", "loop"):
        for name in ("report.json", "report.html", "report.md"):
            assert (reports / run / name).is_file()
    assert "## iodiag" in summary.read_text()
    # The regression gate of the README, against a base batch of the same traces.
    base = iodiag("batch", "traces/", "--out-dir", "base/reports/", "-q")
    assert base.returncode == 0, base.stderr
    gate = iodiag(*readme_command("regression gate"))
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "--fail-on-regression 20: 0 regressions." in gate.stdout
    index = json.loads((reports / "index.json").read_text())
    assert index["exit_code"] == 1
