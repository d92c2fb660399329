"""Put every strace line on one clock: seconds, with `-t/-tt` midnight rollovers inferred.

`-t/-tt` timestamps carry no date, so a jump backwards of more than half a day between
consecutive timestamped lines is taken as midnight passing. `-r` prints the delta from the
previous line, so its clock is the running sum. `-ttt` is already absolute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NS_PER_DAY = 86_400 * 1_000_000_000
_HALF_DAY_NS = NS_PER_DAY // 2


def trace_clock_ns(ts_ns: pd.Series, ts_kind: pd.Series) -> pd.Series:
    """Absolute nanoseconds on the trace clock for each line (NA where the line has none)."""
    values = ts_ns.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(values)
    if not present.any():
        return pd.Series(pd.NA, index=ts_ns.index, dtype="Int64")
    kinds = ts_kind[present].dropna().unique()
    stamped = ts_ns[present].astype("int64").to_numpy()
    if "relative" in kinds and len(kinds) == 1:
        absolute = np.cumsum(stamped)
    elif "clock" in kinds:
        steps = np.diff(stamped, prepend=stamped[0])
        days = np.cumsum(steps < -_HALF_DAY_NS)
        absolute = stamped + days * NS_PER_DAY
    else:
        absolute = stamped
    result = pd.Series(pd.NA, index=ts_ns.index, dtype="Int64")
    result[present] = absolute
    return result


def midnight_rollovers(clock_ns: pd.Series, ts_ns: pd.Series) -> int:
    """How many midnights were inferred."""
    difference = (clock_ns - ts_ns).dropna()
    return int(difference.max() // NS_PER_DAY) if len(difference) else 0
