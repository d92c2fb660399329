"""The perf tables of a run are bounded in memory (issue 15 item 3): the parse hands its
frames over to Arrow as it goes and keys its dictionaries compactly; in a run with a work
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
from hypothesis import given
from hypothesis import strategies as st

from analyzer import inputs, store
from analyzer.config import CollapseOptions, Config
from analyzer.derive import perf as perf_derive
from analyzer.formats import perf, perf_assemble
from analyzer.model import ParsedInput
from analyzer.sections import perf as perf_section
from analyzer.sources.perf import SOURCE

ROOT = Path(__file__).resolve().parent.parent / "fixtures"
PERF_FILES = sorted((ROOT / "perf").glob("*/*.txt"))
PERF_TABLES = ("perf_samples", "perf_stacks", "perf_frames", "perf_folded")


def _inputs(path: Path, engine: str = "fast") -> list[ParsedInput[perf.ParsedPerf]]:
    opened = inputs.open_input(path)
    try:
        parsed = perf.parse(
            inputs.iter_line_chunks(opened.stream), str(path), engine=engine, refold=True
        )
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


_FIELD = st.none() | st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=6)
_FRAME_KEY = st.tuples(_FIELD, _FIELD, _FIELD, _FIELD, _FIELD, st.booleans())


@given(st.lists(_FRAME_KEY, min_size=2, max_size=6, unique=True))
def test_frame_codes_tell_frames_apart(keys: list[perf_assemble.FrameKey]) -> None:
    codes = [perf_assemble.frame_code(key) for key in keys]
    assert len(set(codes)) == len(keys)
    assert [perf_assemble.frame_code(key) for key in keys] == codes


@pytest.mark.parametrize("engine", perf_assemble.ENGINES)
def test_frames_are_handed_over_as_the_parse_goes(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The assembler keeps at most `FRAME_BATCH` frames' tuples and its dictionaries hold
    compact keys; the tables are those of one batch at the end."""
    path = _largest()
    whole = _inputs(path, engine)[0].parsed
    monkeypatch.setattr(perf_assemble, "FRAME_BATCH", 7)
    held: list[int] = []
    seen_keys: list[object] = []
    original = perf_assemble.Assembler.frame_id

    def frame_id(self: perf_assemble.Assembler, key: perf_assemble.FrameKey) -> int:
        held.append(len(self.new_frames))
        seen_keys.extend(list(self.frame_ids)[:1])
        return original(self, key)

    monkeypatch.setattr(perf_assemble.Assembler, "frame_id", frame_id)
    batched = _inputs(path, engine)[0].parsed
    assert whole.frames.num_rows > 7 * 3
    assert held and max(held) < 7
    assert all(isinstance(key, str) for key in seen_keys)
    for name in ("samples", "stacks", "frames"):
        assert getattr(batched, name).equals(getattr(whole, name)), name


def test_section_of_frames_in_several_chunks_is_that_of_one() -> None:
    """Frames of several inputs (or read back from a file of batches) are chunked, and
    their DSO column has nulls, which Arrow cannot unify chunk by chunk."""
    derived = SOURCE.derive(_inputs(_largest()), Config())
    frames = derived.tables["perf_frames"]
    half = frames.num_rows // 2
    chunked = pa.Table.from_batches(
        [*frames.slice(0, half).to_batches(), *frames.slice(half).to_batches()]
    )
    assert chunked["dso"].num_chunks == 2
    with_nulls = chunked.set_column(
        chunked.schema.get_field_index("dso"),
        "dso",
        pa.chunked_array(
            [
                pa.array([None] * chunk_len, pa.string())
                for chunk_len in (half, frames.num_rows - half)
            ]
        ),
    )
    for table in (chunked, with_nulls):
        tables = {**derived.tables, "perf_frames": table}
        whole = {**derived.tables, "perf_frames": table.combine_chunks()}
        assert perf_section.section(dataclasses.replace(derived, tables=tables)) == (
            perf_section.section(dataclasses.replace(derived, tables=whole))
        )
