"""Every renderer on every input of the repository (issue 14, item 1).

Each file under ``fixtures/`` that can be given to ``iodiag-analyze`` (captures, research
variants, incidents, public logs, the newer sources' captures: everything but the scripts,
programs, notes and measurement sidecars listed in `NOT_INPUTS`) is analyzed once, and the
one `AnalysisResult` is handed to every renderer: text, Markdown, HTML with and without
charts, JSON, Parquet, and the perf-only folded, flame graph and speedscope outputs. None may
raise; the perf-only ones may refuse a run without perf stacks with a one-line `RenderError`.
An input that is not readable at all must be refused by the command in one line, with exit
code 2 and nothing written.

One test per input, so pytest-xdist spreads them over the workers (``pytest -n auto``).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from support import FIXTURES
from typer.testing import CliRunner

from analyzer import analyze
from analyzer.cli.analyze import app
from analyzer.errors import InputError
from analyzer.model import AnalysisResult
from analyzer.render import RENDERERS, HtmlRenderer, ParquetRenderer, RenderError, renderer_for

pytestmark = pytest.mark.slow  # whole-corpus sweeps and subprocess runs: CI runs them

NOT_INPUTS = {
    "suffixes": {".py", ".sh", ".md", ".mjs", ".conf", ".json"},
    "names": {"VERSIONS.txt", "COMMANDS.txt"},
    # fixtures/golden holds our expected findings, flamegraph-test/results the expected
    # outputs of stackcollapse-perf.pl: outputs, not inputs.
    "folders": {"golden", "results"},
}
"""What under fixtures/ is not an input. JSON files are measurement sidecars, truths and
goldens, except the CloudWatch exports, which are inputs (`JSON_INPUT_FOLDERS`)."""
JSON_INPUT_FOLDERS = {"cloudwatch"}
PERF_ONLY = {"folded", "flamegraph", "speedscope"}
"""Outputs that exist only for perf stacks: they may refuse another run in one line."""


def _is_input(path: Path) -> bool:
    relative = path.relative_to(FIXTURES)
    if not path.is_file() or path.name in NOT_INPUTS["names"]:
        return False
    if NOT_INPUTS["folders"] & set(relative.parts[:-1]):
        return False
    if path.suffix == ".json":
        return relative.parts[0] in JSON_INPUT_FOLDERS and path.name != "truth.json"
    return path.suffix not in NOT_INPUTS["suffixes"]


INPUTS = sorted(path for path in FIXTURES.rglob("*") if _is_input(path))


def test_the_inputs_cover_every_fixture_folder() -> None:
    """Every source's folder (and the incidents, the public logs ...) gives inputs here."""
    folders = {path.relative_to(FIXTURES).parts[0] for path in INPUTS}
    expected = {path.name for path in FIXTURES.iterdir() if path.is_dir()} - {"golden"}
    assert folders == expected
    assert len(INPUTS) > 300


def _render(result: AnalysisResult, name: str, tmp_path: Path) -> str:
    if name == "parquet":
        written = ParquetRenderer().write(result, tmp_path / "tables")
        assert {path.name for path in written} == {"manifest.json", *result.tables}
        return ""
    renderer = HtmlRenderer(plots=False) if name == "html-no-plots" else renderer_for(name)
    out = io.StringIO()
    renderer.render(result, out)
    return out.getvalue()


def _check(name: str, text: str) -> None:
    if name == "json":
        assert json.loads(text)["schema"] == "iodiag.report/1"
    elif name.startswith("html"):
        assert text.rstrip().endswith("</html>")
    elif name in ("md", "text"):
        assert text.strip()


@pytest.mark.parametrize("path", INPUTS, ids=[str(path.relative_to(FIXTURES)) for path in INPUTS])
def test_every_renderer_on_every_input(path: Path, tmp_path: Path) -> None:
    try:
        result = analyze(path)
    except InputError:
        _assert_refused(path, tmp_path)
        return
    for name in [*RENDERERS, "html-no-plots"]:
        try:
            text = _render(result, name, tmp_path)
        except RenderError as error:
            assert name in PERF_ONLY, f"{name}: {error}"
            assert "\n" not in str(error)
            continue
        _check(name, text)


def _assert_refused(path: Path, tmp_path: Path) -> None:
    """An unreadable input: one line on stderr naming it, exit 2, no report written."""
    run = CliRunner().invoke(app, [str(path), "--out-dir", str(tmp_path)])
    assert run.exit_code == 2, run.output
    assert run.exception is None or isinstance(run.exception, SystemExit), run.exception
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("iodiag-analyze: "), run.stderr
    assert path.name in lines[0]
    assert list(tmp_path.iterdir()) == []
