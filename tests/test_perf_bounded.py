"""The perf tables of a run are bounded in memory (issue 15 item 3): in a run with a work
directory, the folded stacks and the samples, stacks and frames tables are Arrow files
there, mapped, not heap; the report's section ranks symbols without a Python string per
distinct symbol; and `PerfSource.slim` lets go of the parse's copies. Every output stays
what the tables held in memory give."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from analyzer import inputs, store
from analyzer.config import CollapseOptions, Config
from analyzer.derive import perf as perf_derive
from analyzer.formats import perf
from analyzer.model import ParsedInput
from analyzer.sections import perf as perf_section
from analyzer.sources.perf import SOURCE

ROOT = Path(__file__).resolve().parent.parent / "fixtures"
PERF_FILES = sorted((ROOT / "perf").glob("*/*.txt"))
PERF_TABLES = ("perf_samples", "perf_stacks", "perf_frames", "perf_folded")


def _inputs(path: Path) -> list[ParsedInput[perf.ParsedPerf]]:
    opened = inputs.open_input(path)
    try:
        parsed = perf.parse(inputs.iter_line_chunks(opened.stream), str(path), refold=True)
    finally:
        opened.close()
    return [ParsedInput(name=str(path), compression=None, format="perf", parsed=parsed)]


def _largest() -> Path:
    return max(PERF_FILES, key=lambda path: path.stat().st_size)


def test_in_a_run_the_perf_tables_are_mapped_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _largest()
    options = CollapseOptions()
    held, _ = perf_derive.perf_tables(_inputs(path), options)
    monkeypatch.setattr(perf_derive, "SPILL_ROWS", 10)
    with store.work_dir(tmp_path / "work", keep=True) as directory:
        mapped, _ = perf_derive.perf_tables(_inputs(path), options)
        files = sorted(item.name for item in (tmp_path / "work").glob("*/*.arrow"))
        assert len(directory.mapped) == len(PERF_TABLES)
    assert files == sorted(f"{name}.arrow" for name in PERF_TABLES)
    for name in PERF_TABLES:
        assert held[name].num_rows > 10, name
        assert mapped[name].equals(held[name]), name
        assert mapped[name].schema.metadata == held[name].schema.metadata, name


def test_small_tables_and_runs_without_a_work_dir_stay_in_memory(tmp_path: Path) -> None:
    path = _largest()
    with store.work_dir(tmp_path / "work", keep=True) as directory:
        tables, _ = perf_derive.perf_tables(_inputs(path), CollapseOptions())
        assert directory.mapped == []
    assert not list((tmp_path / "work").glob("*/*.arrow"))
    assert tables["perf_folded"].num_rows > 0


def test_slim_keeps_what_the_input_report_reads() -> None:
    (item,) = _inputs(_largest())
    slim = SOURCE.slim(item.parsed)
    assert slim.stacks.num_rows == 0 and slim.frames.num_rows == 0
    assert slim.samples.column_names == ["time_ns"]
    assert SOURCE.input_report(slim) == SOURCE.input_report(item.parsed)
    assert dataclasses.replace(slim, samples=item.parsed.samples).samples.num_rows > 0


def test_ranked_names_only_the_keys_that_can_make_the_top() -> None:
    rng = np.random.default_rng(15)
    size = 10_000
    self_counts = rng.integers(0, 1000, size).astype(np.float64)
    total_counts = self_counts + rng.integers(0, 1000, size)
    names = [f"f{key:05d}" for key in rng.permutation(size)]
    asked: list[int] = []

    def name(key: int) -> str:
        asked.append(key)
        return names[key]

    ranked = perf_section._ranked(self_counts, total_counts, name, 20)

    def order(first: np.ndarray, second: np.ndarray) -> list[int]:
        keys = [key for key in range(size) if first[key] > 0]
        return sorted(keys, key=lambda k: (-first[k], -second[k], names[k]))[:20]

    chosen = set(order(self_counts, total_counts)) | set(order(total_counts, self_counts))
    expected = sorted(chosen, key=lambda k: (-self_counts[k], -total_counts[k], names[k], k))
    assert ranked == expected
    assert 0 < len(set(asked)) < 200  # not one name per key


def test_section_of_mapped_tables_is_that_of_tables_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    derived_in_memory = SOURCE.derive(_inputs(_largest()), Config())
    monkeypatch.setattr(perf_derive, "SPILL_ROWS", 10)
    monkeypatch.setattr(perf_section._Stacks, "SLICE_FRAMES", 64)
    with store.work_dir(tmp_path / "work"):
        derived_mapped = SOURCE.derive(_inputs(_largest()), Config())
        assert isinstance(derived_mapped.tables["perf_folded"], pa.Table)
        assert perf_section.section(derived_mapped) == perf_section.section(derived_in_memory)
