"""`analyzer.derive.fold_runs`: runs of folded counts written and merged back equal the
counts summed in memory; and `StreamingFolder` spilling to runs folds as it does without."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from analyzer.derive import fold_runs
from analyzer.derive.fold_runs import (
    RunReader,
    folded_batch,
    merge_batches,
    write_counts,
    write_run,
)
from analyzer.derive.perf_fold import CollapseOptions, StreamingFolder, folded_line, folded_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORPUS = FIXTURES / "perf" / "flamegraph-test"


def _random_runs(seed: int) -> list[dict[bytes, int]]:
    rng = random.Random(seed)
    alphabet = [b"a", b"b", b";", b" ", b"\t", b"\x00", b"\xff", b"z"]
    runs = []
    for _ in range(rng.randint(1, 5)):
        run: dict[bytes, int] = {}
        for _ in range(rng.randint(0, 60)):
            key = b"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
            run[key] = rng.choice([1, rng.randint(1, 10**6), (1 << 64) - 1, 1 << 64, 10**30])
        runs.append(run)
    return runs


@pytest.mark.parametrize("seed", range(40))
def test_merge_equals_summing_in_memory(
    seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fold_runs, "CHUNK_BYTES", 7)  # many small batches, keys cut across reads
    monkeypatch.setattr(fold_runs, "WRITE_ITEMS", 3)  # a run's keys written 3 at a time
    runs = _random_runs(seed)
    expected: dict[bytes, int] = {}
    for run in runs:
        for key, count in run.items():
            expected[key] = expected.get(key, 0) + count
    *on_disk, last = runs
    paths = [
        # every other run written from its counts, unsorted (`write_counts` sorts)
        write_counts(str(tmp_path / f"run{i}"), run)
        if i % 2
        else write_run(str(tmp_path / f"run{i}"), sorted(run.items()))
        for i, run in enumerate(on_disk)
    ]
    readers = [RunReader(path, chunk=7) for path in paths]
    for reader, run in zip(readers, on_disk, strict=True):  # a run reads back as written
        items = []
        while batch := reader.next_batch():
            items += batch
        assert items == sorted(run.items())
    batches = list(merge_batches(paths, sorted(last.items())))
    assert all(batches)
    merged = [item for batch in batches for item in batch]
    assert merged == sorted(expected.items())
    text = b"".join(folded_batch(batch) for batch in batches)
    assert text == b"".join(folded_line(key, count) for key, count in sorted(expected.items()))


def test_spilling_folds_as_without(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs written every few kilobytes of counts, merged at the end: the same output."""
    for path in sorted(CORPUS.glob("*.txt")):
        data = path.read_bytes()
        for options in (CollapseOptions(), CollapseOptions(all=True, tid=True)):
            whole = StreamingFolder(options)
            whole.feed_raw(data)
            expected = folded_text(whole.items())
            spilling = StreamingFolder(options)
            spilling.SPILL_BYTES = 4096
            for start in range(0, len(data), 50_000):
                spilling.feed_raw(data[start : start + 50_000])
            spilled = bool(spilling.runs)
            assert folded_text(spilling.items()) == expected, path.name
            assert spilled or len(data) < 200_000, path.name
            assert spilling._tmp is None  # the runs are removed


@pytest.mark.parametrize("count", [1, 10101010, (1 << 64) - 1, 1 << 64, 10**30])
def test_a_batch_prints_as_each_line(count: int) -> None:
    """`folded_batch` prints each distinct count once and joins them with the stacks; the
    lines equal the script's one at a time (`folded_line`, also past Perl's 64-bit
    integers), with one count and with several."""
    stacks = [b"a", b"a;b", b"a b;\xff", b"z" * 300, b"q"]
    batch = [(stack, count) for stack in stacks]
    assert folded_batch(batch) == b"".join(folded_line(stack, count) for stack in stacks)
    batch[2] = (stacks[2], count + 1)
    batch[4] = (stacks[4], 7)
    assert folded_batch(batch) == b"".join(folded_line(s, c) for s, c in batch)
    assert folded_batch([]) == b""
