"""Nothing lost without a word (issue 14, item 6).

Inputs are real captures rewritten the way they arrive damaged in practice (hand-made edits,
labelled here): CR-only line endings, lines glued together by a shared terminal, lines
shuffled or sorted out of the order the tool wrote them.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from support import FIXTURES
from typer.testing import CliRunner

from analyzer.cli.analyze import app
from analyzer.formats.strace_glued import REASON as GLUED
from analyzer.inputs import iter_line_chunks

TRACE = FIXTURES / "strace/logs/asyncio_block.f_tt_T.log"
ASYNCIO = FIXTURES / "public/asyncio/ha_core13494_error_doing_job_destroyed.txt"
ASYNCIO_SLOW = FIXTURES / "public/asyncio/ha_core91467_zha_slow_tasks_finished.txt"


def _report(tmp_path: Path, path: Path, *options: str) -> dict:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(app, [str(path), "-f", "json", "-o", str(out), *options])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(out.read_text())


def _lines(data: bytes, chunk_bytes: int) -> list[str]:
    chunks = iter_line_chunks(io.BytesIO(data), chunk_bytes=chunk_bytes)
    return [line for chunk in chunks for line in chunk.lines.to_pylist()]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 7, 1 << 20])
def test_cr_only_line_endings_are_line_endings(chunk_bytes: int) -> None:
    assert _lines(b"a\rb\r\nc\r\rd\r", chunk_bytes) == ["a", "b", "c", "", "d"]
    assert _lines(b"a\r\nb\r\n", chunk_bytes) == ["a", "b"]


def test_a_cr_only_trace_keeps_every_call(tmp_path: Path) -> None:
    lf = _report(tmp_path, TRACE)["inputs"][0]
    path = tmp_path / "cr.log"
    path.write_bytes(TRACE.read_bytes().replace(b"\n", b"\r"))
    cr = _report(tmp_path, path)["inputs"][0]
    assert cr["lines"] == lf["lines"] > 1000
    assert cr["parsed_lines"] == lf["parsed_lines"]


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_glued_lines_are_unparsed_with_their_reason(tmp_path: Path, engine: str) -> None:
    lines = TRACE.read_text().splitlines()
    calls = [index for index, line in enumerate(lines) if line.endswith(">") and " = " in line]
    glued = calls[10:30:2]  # each glued to the line after it
    for index in reversed(glued):
        lines[index : index + 2] = [lines[index] + lines[index + 1]]
    path = tmp_path / "glued.log"
    path.write_text("\n".join(lines) + "\n")
    report = _report(tmp_path, path, "--engine", engine)["inputs"][0]
    reasons = [sample["reason"] for sample in report["unparsed_samples"]]
    assert reasons.count(GLUED) == len(glued)


def test_the_real_traces_have_no_glued_lines(tmp_path: Path) -> None:
    report = _report(tmp_path, TRACE)["inputs"][0]
    assert report["unparsed_lines"] == 0


def _limits(report: dict) -> list[str]:
    return [finding["title"] for finding in report["findings"]]


def test_shuffled_strace_lines_are_reported(tmp_path: Path) -> None:
    assert "Timestamps out of order" not in _limits(_report(tmp_path, TRACE))
    lines = TRACE.read_text().splitlines()
    random.Random(1).shuffle(lines)
    path = tmp_path / "shuffled.log"
    path.write_text("\n".join(lines) + "\n")
    assert "Timestamps out of order" in _limits(_report(tmp_path, path))


def test_an_asyncio_log_sorted_backwards_is_reported(tmp_path: Path) -> None:
    assert "Timestamps out of order" not in _limits(_report(tmp_path, ASYNCIO))
    path = tmp_path / "reversed.txt"
    path.write_text("\n".join(reversed(ASYNCIO.read_text().splitlines())) + "\n")
    assert "Timestamps out of order" in _limits(_report(tmp_path, path))


def test_a_resumed_half_without_its_start_is_not_out_of_order(tmp_path: Path) -> None:
    """Its start is estimated (end minus duration), not a line of the trace."""
    path = FIXTURES / "public/strace/tomcat_nio_ttT_yy_multi_p.log"
    assert "Timestamps out of order" not in _limits(_report(tmp_path, path))


@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_took_values_asyncio_never_prints_are_unparsed(tmp_path: Path, engine: str) -> None:
    """A real slow-callback line (this folder's HA log) with its value edited by hand."""
    line = ASYNCIO_SLOW.read_text().splitlines()[0]
    assert " took 0.101 seconds" in line
    values = ["0.101", "-1", "nan", "inf", "1e308", "0.250"]
    path = tmp_path / "took.log"
    path.write_text("\n".join(line.replace("0.101", value) for value in values) + "\n")
    report = _report(tmp_path, path, "--engine", engine)
    inputs = report["inputs"][0]
    assert [sample["line"] for sample in inputs["unparsed_samples"]] == [2, 3, 4, 5]
    assert report["asyncio"]["by_kind"] == {"slow_callback": 2}
