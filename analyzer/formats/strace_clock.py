"""Put every strace line on one clock: seconds, with `-t/-tt` midnight rollovers inferred.

`-t/-tt` timestamps carry no date, so a jump backwards of more than half a day between
consecutive timestamped lines is taken as midnight passing. `-r` prints the delta from the
previous line, so its clock is the running sum. `-ttt` is already absolute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    import pandas as pd

NS_PER_DAY = 86_400 * 1_000_000_000
_HALF_DAY_NS = NS_PER_DAY // 2


def trace_clock_ns(
    ts_ns: pa.Array | pa.ChunkedArray, ts_kind: pa.Array | pa.ChunkedArray
) -> np.ndarray:
    """Absolute nanoseconds on the trace clock for each line, as float64 (NaN where none).

    The arithmetic is done on int64 (epoch nanoseconds do not fit a float64 exactly) and only
    the result is converted.
    """
    present = pc.is_valid(ts_ns).to_numpy(zero_copy_only=False)
    clock = np.full(len(present), np.nan)
    if not present.any():
        return clock
    stamped = ts_ns if ts_ns.null_count == 0 else pc.drop_null(ts_ns)
    stamped = stamped.to_numpy().astype(np.int64, copy=False)
    kinds = set(pc.unique(ts_kind).to_pylist()) - {None}
    if len(kinds) > 1:
        # Only the kinds of timestamped lines count; filtering the strings costs more, so only
        # do it when it can make a difference.
        kinds = set(pc.unique(pc.drop_null(pc.filter(ts_kind, present))).to_pylist())
    elif not pc.any(pc.and_(pc.is_valid(ts_kind), present)).as_py():
        kinds = set()
    if "relative" in kinds and len(kinds) == 1:
        absolute = np.cumsum(stamped)
    elif "clock" in kinds:
        rollover = np.diff(stamped, prepend=stamped[0]) < -_HALF_DAY_NS
        absolute = stamped + np.cumsum(rollover) * NS_PER_DAY if rollover.any() else stamped
    else:
        absolute = stamped
    clock[present] = absolute
    return clock


class ClockCarry:
    """`trace_clock_ns` window by window: the clock of each window of an input, in order,
    equals that part of `trace_clock_ns` over all of its lines.

    What carries over is the previous timestamp (for midnight roll-overs of ``-t/-tt``),
    the days rolled over so far and the running sum of ``-r`` deltas. The way the clock
    reads (which kinds of timestamps) is decided on the first window given, as
    `trace_clock_ns` decides it on the whole input: a kind that appears only later is read
    as that first decision says (only a concatenation of differently taken traces mixes
    kinds).
    """

    def __init__(self) -> None:
        self.kinds: set[str] | None = None
        self._previous: int | None = None
        self._days = 0
        self._sum = 0

    def decide(
        self, ts_ns: pa.Array | pa.ChunkedArray, ts_kind: pa.Array | pa.ChunkedArray
    ) -> None:
        """Decide how the clock reads from these lines (the first window, or more)."""
        if self.kinds is not None:
            return
        present = pc.is_valid(ts_ns).to_numpy(zero_copy_only=False)
        if not present.any():
            return
        kinds = set(pc.unique(ts_kind).to_pylist()) - {None}
        if len(kinds) > 1:
            kinds = set(pc.unique(pc.drop_null(pc.filter(ts_kind, present))).to_pylist())
        elif not pc.any(pc.and_(pc.is_valid(ts_kind), present)).as_py():
            kinds = set()
        self.kinds = kinds

    def clock_ns(
        self, ts_ns: pa.Array | pa.ChunkedArray, ts_kind: pa.Array | pa.ChunkedArray
    ) -> np.ndarray:
        """The next window's clock (NaN where a line has no timestamp)."""
        present = pc.is_valid(ts_ns).to_numpy(zero_copy_only=False)
        clock = np.full(len(present), np.nan)
        if not present.any():
            return clock
        self.decide(ts_ns, ts_kind)
        kinds = self.kinds or set()
        stamped = ts_ns if ts_ns.null_count == 0 else pc.drop_null(ts_ns)
        stamped = stamped.to_numpy().astype(np.int64, copy=False)
        if "relative" in kinds and len(kinds) == 1:
            absolute = np.cumsum(stamped) + self._sum
            self._sum = int(absolute[-1])
        elif "clock" in kinds:
            previous = stamped[0] if self._previous is None else self._previous
            rollover = np.diff(stamped, prepend=previous) < -_HALF_DAY_NS
            days = np.cumsum(rollover) + self._days
            absolute = stamped + days * NS_PER_DAY if (rollover.any() or self._days) else stamped
            self._days = int(days[-1])
        else:
            absolute = stamped
        self._previous = int(stamped[-1])
        clock[present] = absolute
        return clock


def midnight_rollovers(clock_ns: pd.Series, ts_ns: pd.Series) -> int:
    """How many midnights were inferred."""
    difference = (clock_ns - ts_ns).dropna()
    return int(difference.max() // NS_PER_DAY) if len(difference) else 0
