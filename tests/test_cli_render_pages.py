"""The CLI renders a long trace's mapped calls under the run's page watch: the pages the
renderers touch are given back as the passes' are (issue 15), and the output is the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from analyzer import store
from analyzer.cli.analyze import app
from analyzer.derive import strace_stream
from analyzer.render.jsonout import JsonRenderer
from analyzer.render.parquet import ParquetRenderer

TRACE = Path(__file__).resolve().parent.parent / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log"


def _small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows of a few hundred lines: the trace is spilled and its calls mapped, as a long
    trace's are."""
    options = strace_stream.StreamOptions
    monkeypatch.setattr(
        strace_stream, "StreamOptions", lambda: options(window_lines=500, lookahead_lines=16)
    )


def _watched_renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """For each render, the number of mapped files of the page watches active during it."""
    active: list[store.PageWatch] = []
    seen: list[int] = []

    class Recording(store.PageWatch):
        def __enter__(self) -> store.PageWatch:
            active.append(self)
            return super().__enter__()

        def __exit__(self, *rest: object) -> None:
            active.remove(self)
            super().__exit__(*rest)

    def noting(method: Any) -> Any:
        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(sum(len(watch.directory.mapped) for watch in active))
            return method(self, *args, **kwargs)

        return wrapped

    monkeypatch.setattr(store, "PageWatch", Recording)
    monkeypatch.setattr(ParquetRenderer, "write", noting(ParquetRenderer.write))
    monkeypatch.setattr(JsonRenderer, "render", noting(JsonRenderer.render))
    return seen


def test_the_parquet_output_of_mapped_calls_is_written_under_the_page_watch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = CliRunner().invoke(app, [str(TRACE), "--format", "parquet", "-o", str(tmp_path / "a")])
    assert whole.exit_code == 0, whole.stderr
    _small_windows(monkeypatch)
    seen = _watched_renders(monkeypatch)
    spilled = CliRunner().invoke(
        app, [str(TRACE), "--format", "parquet", "-o", str(tmp_path / "b")]
    )
    assert spilled.exit_code == 0, spilled.stderr
    assert seen == [1]  # one render, under a watch of the one mapped calls file
    one, other = (pq.read_table(tmp_path / name / "syscalls") for name in ("a", "b"))
    assert one.num_rows > 1000
    assert other.equals(one)


def test_the_json_report_of_mapped_calls_is_rendered_under_the_page_watch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = CliRunner().invoke(app, [str(TRACE), "--format", "json"])
    _small_windows(monkeypatch)
    seen = _watched_renders(monkeypatch)
    spilled = CliRunner().invoke(app, [str(TRACE), "--format", "json"])
    assert (whole.exit_code, spilled.exit_code) == (0, 0), spilled.stderr
    assert seen == [1]
    assert json.loads(spilled.stdout) == json.loads(whole.stdout)
