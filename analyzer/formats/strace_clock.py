"""Put every strace line on one clock: seconds, with `-t/-tt` midnight rollovers inferred.

`-t/-tt` timestamps carry no date, so a jump backwards of more than half a day between
consecutive timestamped lines is taken as midnight passing. `-r` prints the delta from the
previous line, so its clock is the running sum. `-ttt` is already absolute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


def midnight_rollovers(clock_ns: pd.Series, ts_ns: pd.Series) -> int:
    """How many midnights were inferred."""
    difference = (clock_ns - ts_ns).dropna()
    return int(difference.max() // NS_PER_DAY) if len(difference) else 0
