"""The engine path's interleaved fragile groups summed again from the calls themselves
(`analyzer.sections.strace_rescan`) equal what the engine's join and sort gave: pandas' own
totals and means, to the last bit (made-up calls)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from analyzer.sections import strace_rescan, strace_stats
from tests.strace_grouped import grouped


def _calls(rows: int, seed: int) -> pa.Table:
    """Made-up calls: microsecond durations (means often on a rounding tie), some missing,
    one NaN, missing targets and threads, calls that did not return."""
    rng = np.random.default_rng(seed)
    duration = rng.choice([1, 3, 5, 8, 11, 13, 16, 17, 40, 1200], size=rows) / 1e6
    duration[rng.random(rows) < 0.05] = np.nan
    durations = pa.array(duration, from_pandas=True)
    durations = pa.array(
        [float("nan") if i == 3 else value for i, value in enumerate(durations.to_pylist())],
        pa.float64(),
    )
    target = np.array(["/a", "/b", "é", "Z", "socket:[1]"], dtype=object)[rng.integers(0, 5, rows)]
    target[rng.random(rows) < 0.2] = None
    tid = pa.array(rng.integers(1, 6, rows)).to_pylist()
    tid = [None if i % 97 == 0 else value for i, value in enumerate(tid)]
    return pa.table(
        {
            "tid": pa.array(tid, pa.int64()),
            "syscall": np.array(["read", "write", "futex"])[rng.integers(0, 3, rows)],
            "target": pa.array(target, pa.string()),
            "duration_s": durations,
            "errno": pa.nulls(rows, pa.string()),
            "status": np.where(rng.random(rows) < 0.95, "complete", "in-flight"),
        }
    )


@pytest.mark.parametrize(
    ("keys", "known"),
    [
        (["syscall"], ()),
        (["tid", "syscall"], ("tid",)),
        (["syscall", "target"], ()),
    ],
)
def test_rescanned_fragile_groups_equal_the_engines(
    monkeypatch: Any, keys: list[str], known: tuple[str, ...]
) -> None:
    """Every group fragile: the totals and means read again from the calls are those the
    engine's join and sort gave, bit for bit, missing keys matching missing keys."""
    monkeypatch.setattr(strace_stats, "ULPS", 10**15)
    monkeypatch.setattr(strace_rescan, "BATCH", 1000)
    calls = _calls(30_000, 4)
    where = " AND ".join(["status = 'complete'", *(f"{name} IS NOT NULL" for name in known)])
    engine = grouped(calls, keys, where, (0.5,), mean=True)
    rescanned = grouped(calls, keys, where, (0.5,), mean=True, known=known)
    assert len(engine) == len(rescanned) >= 3
    for name in ("total_s", "avg_s", "calls", "p50_s"):
        mine, theirs = rescanned[name].to_numpy(float), engine[name].to_numpy(float)
        assert np.array_equal(mine, theirs, equal_nan=True), name
    complete = calls.filter(pa.compute.equal(calls["status"], "complete")).to_pandas()
    for row in rescanned[rescanned["total_s"].notna()].head(5).itertuples(index=False):
        mine = complete
        for key in keys:
            value = getattr(row, key)
            mine = mine[mine[key].isna()] if pd.isna(value) else mine[mine[key] == value]
        assert row.total_s == strace_stats.kahan_sum(mine["duration_s"].to_numpy())


def test_kahan_totals_add_in_the_calls_order_across_batches(monkeypatch: Any) -> None:
    """A group's sum continues from one batch to the next: the same as `kahan_sum` of all
    its durations at once, whatever the batch size."""
    calls = _calls(5000, 9)
    groups = pa.table({"syscall": ["read", "futex", "nope"]})
    complete = calls.filter(pa.compute.equal(calls["status"], "complete")).to_pandas()
    for batch, known in ((7, ()), (100, ("tid",)), (1 << 16, ())):
        monkeypatch.setattr(strace_rescan, "BATCH", batch)
        found = strace_rescan.kahan_totals(calls, ["syscall"], known, groups)
        mine = complete[complete["tid"].notna()] if known else complete
        for (total, size), name in zip(found, ["read", "futex", "nope"], strict=True):
            values = mine[mine["syscall"] == name]["duration_s"].to_numpy()
            values = values[~np.isnan(values)]
            assert size == len(values)
            assert total == strace_stats.kahan_sum(values)
