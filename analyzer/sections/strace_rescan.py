"""The durations of a few groups of calls summed with Kahan's compensation in the calls' order,
read straight from the calls a batch at a time: how `strace_stats` sums its "fragile" groups
again as pandas summed them when their calls interleave.

The engine read them by joining every call with those groups and sorting what matched back
into table order (1.4 of the 8.3 CPU-s of the strace section at 10M lines, four summaries
whose largest syscalls were fragile); the calls are in table order already, so each batch's
matching durations continue their group's sum where the previous batch left it. Memory is a
batch's, whatever the groups' sizes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy

BATCH = 1 << 16
"""Calls read at a time."""


def kahan_totals(
    calls: pa.Table, keys: list[str], known: tuple[str, ...], groups: pa.Table
) -> list[tuple[float, int]]:
    """For each row of `groups` (values of `keys`, a missing one matching a missing one):
    the Kahan sum of the known, non-NaN durations of its calls that returned with the
    columns `known` known, in the calls' order, and how many were added (`strace_stats.
    kahan_sum` of them, step for step)."""
    sets = [pc.unique(groups[key]) for key in keys]
    where = [
        pc.index_in(groups[key], value_set=found, skip_nulls=False).to_numpy()
        for key, found in zip(keys, sets, strict=True)
    ]
    lookup = np.full([max(len(found), 1) for found in sets], -1, dtype=np.int64)
    lookup[tuple(where)] = np.arange(groups.num_rows)
    totals = [0.0] * groups.num_rows
    compensations = [0.0] * groups.num_rows
    sizes = [0] * groups.num_rows
    columns = sorted({*keys, *known, "status", "duration_s"})
    for batch in calls.select(columns).to_batches(max_chunksize=BATCH):
        # the groups' keys first (numbers, when coded): what else a call must be is read
        # for the few calls of the groups only
        at = []
        for key, found in zip(keys, sets, strict=True):
            index = pc.index_in(batch.column(key), value_set=found, skip_nulls=False)
            at.append(filled_numpy(index, -1))
        rows = np.flatnonzero(np.logical_and.reduce([position >= 0 for position in at]))
        gid = lookup[tuple(position[rows] for position in at)]
        rows = rows[gid >= 0]
        if not len(rows):
            continue
        mine = batch.take(pa.array(rows))
        keep = pc.equal(mine.column("status"), "complete")
        for name in known:
            keep = pc.and_(keep, pc.is_valid(mine.column(name)))
        chosen = filled_numpy(keep, False)
        duration = np.asarray(
            mine.column("duration_s").to_numpy(zero_copy_only=False), dtype=np.float64
        )
        chosen &= ~np.isnan(duration)
        gid = gid[gid >= 0][chosen]
        values = duration[chosen]
        if not len(gid):
            continue
        order = np.argsort(gid, kind="stable")
        gid, values = gid[order], values[order]
        bounds = np.flatnonzero(np.diff(gid)) + 1
        for number, part in zip(
            gid[np.concatenate(([0], bounds))].tolist(), np.split(values, bounds), strict=True
        ):
            total = totals[number]
            compensation = compensations[number]
            for value in part.tolist():
                step = value - compensation
                running = total + step
                compensation = running - total - step
                total = running
            totals[number] = total
            compensations[number] = compensation
            sizes[number] += len(part)
    return list(zip(totals, sizes, strict=True))
