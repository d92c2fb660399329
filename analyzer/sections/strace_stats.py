"""Grouped duration statistics of the calls that returned, computed by the engine
(`analyzer.engine`), equal to pandas' to the last digit the report prints.

The report's figures were pandas ``groupby`` results, rounded to the nanosecond. DuckDB's
`fsum` and `quantile_cont` differ from pandas' in-order Kahan sum and interpolation by a unit
or two in the last place, which the rounding absorbs except where a value lies within those
units of a rounding tie (a mean of microsecond durations often ends in exactly 5 in its tenth
decimal), or where two groups' totals tie and the last bits order them. Those groups are
"fragile": their rows are read again in table order and summarised by pandas itself, as
before. They are few and small (a mean near a tie, equal totals of a few calls), so memory
stays that of the engine's grouping.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from analyzer import engine

_GROUPED = """
SELECT {keys}, count(*) AS calls, count(errno) AS errors, count(duration_s) AS timed,
    fsum(duration_s) AS total_s, min(duration_s) AS min_s, max(duration_s) AS max_s,
    {levels} min(idx) AS first, max(idx) AS last {extra}
FROM calls WHERE {where}
GROUP BY {keys} ORDER BY first
"""

_AGAIN = """
SELECT f.gid, c.idx, c.duration_s FROM (SELECT * FROM calls WHERE {where}) c
JOIN fragile f ON {match}
"""

ULPS = 64
"""How close, in units in the last place, a value may come to a rounding tie or another
group's total before its group is summarised again by pandas."""


def _near_tie(values: np.ndarray, digits: int) -> np.ndarray:
    """Whether each value lies within `ULPS` of a tie when rounded to `digits` decimals."""
    with np.errstate(invalid="ignore"):
        scaled = values * 10.0**digits
        distance = np.abs(scaled - np.floor(scaled) - 0.5)
        slack = ULPS * (np.spacing(np.abs(values)) * 10.0**digits + np.spacing(np.abs(scaled)))
        return np.nan_to_num(distance <= slack, nan=False).astype(bool)


def _near_other(values: np.ndarray) -> np.ndarray:
    """Whether each value lies within `ULPS` of another value of the array."""
    near = np.zeros(len(values), dtype=bool)
    known = np.flatnonzero(~np.isnan(values))
    if len(known) < 2:
        return near
    order = known[np.argsort(values[known], kind="stable")]
    ordered = values[order]
    close = np.diff(ordered) <= ULPS * np.spacing(np.abs(ordered[1:]))
    near[order[1:][close]] = True
    near[order[:-1][close]] = True
    return near


def grouped(
    calls: pa.Table,
    keys: list[str],
    where: str,
    quantiles: tuple[float, ...] = (),
    mean: bool = False,
    extra: dict[str, str] | None = None,
    reads: tuple[str, ...] = (),
    top: int | None = None,
    digits: int = 9,
) -> pd.DataFrame:
    """Per group of `keys` of the calls `where` selects: calls, errors, total_s, min_s,
    max_s, with `mean` avg_s and one column per quantile (``p50_s`` ...), plus the `extra`
    aggregates (name → SQL over the columns `reads`); the groups in the order of their
    first call. A group without a single duration has NaN figures, as pandas gives. With
    `top`, only the `top` groups of the largest totals are shown, so only they (and those
    tied with the last of them) need pandas' last digits."""
    extra = extra or {}
    columns = sorted({*keys, "errno", "duration_s", "status", *reads})
    levels = f"quantile_cont(duration_s, {list(quantiles)}) AS levels," if quantiles else ""
    sql = _GROUPED.format(
        keys=", ".join(keys),
        levels=levels,
        where=where,
        extra="".join(f", {expression} AS {name}" for name, expression in extra.items()),
    )
    result = engine.query(sql, calls=lambda: engine.numbered(calls.select(columns)))
    frame = pd.DataFrame({key: result[key].to_pandas() for key in keys})
    timed = result["timed"].to_numpy()
    total = result["total_s"].to_numpy(zero_copy_only=False).astype(np.float64)
    total[timed == 0] = np.nan
    frame["calls"] = result["calls"].to_numpy()
    frame["errors"] = result["errors"].to_numpy()
    frame["timed"] = timed
    frame["total_s"] = total
    frame["min_s"] = result["min_s"].to_numpy(zero_copy_only=False).astype(np.float64)
    frame["max_s"] = result["max_s"].to_numpy(zero_copy_only=False).astype(np.float64)
    figures = ["total_s"]
    if mean:
        with np.errstate(invalid="ignore", divide="ignore"):
            frame["avg_s"] = total / timed
        figures.append("avg_s")
    if quantiles:
        values = result["levels"].to_pylist()
        for at, name in enumerate(_level_names(quantiles)):
            frame[name] = np.array(
                [np.nan if level is None else level[at] for level in values], np.float64
            )
            figures.append(name)
    for name in extra:
        frame[name] = result[name].to_pylist()
    fragile = _near_other(frame["total_s"].to_numpy())
    for name in figures:
        fragile |= _near_tie(frame[name].to_numpy(), digits)
    if top is not None and len(total) > top:
        cut = np.sort(np.nan_to_num(total, nan=-np.inf))[-top]
        fragile &= np.nan_to_num(total, nan=-np.inf) >= cut - ULPS * np.spacing(abs(cut))
    fragile &= timed >= 3  # a sum of one or two values is the rounded sum in every method
    if fragile.any():
        first = result["first"].to_numpy()
        last = result["last"].to_numpy()
        # pandas adds a column without NaN whose groups are each one run of rows with
        # `np.add.reduceat`, any other with Kahan's compensation (pandas/core/groupby/ops.py)
        runs = bool((last[:-1] < first[1:]).all())
        plain = runs and int(timed.sum()) == int(frame["calls"].sum())
        _again(calls, frame, keys, where, quantiles, mean, fragile, plain)
    return frame


def _level_names(quantiles: tuple[float, ...]) -> list[str]:
    return [f"p{round(q * 100):02d}_s" for q in quantiles]


def kahan_sum(values: np.ndarray) -> float:
    """The sum of `values` in their order with Kahan's compensation, step for step as
    pandas' ``groupby().sum()`` adds a group (``group_sum`` in pandas/_libs/groupby.pyx)."""
    total = 0.0
    compensation = 0.0
    for value in values.tolist():
        step = value - compensation
        running = total + step
        compensation = running - total - step
        total = running
    return total


def pandas_quantile(ordered: np.ndarray, q: float) -> float:
    """The `q` quantile of sorted values with linear interpolation, computed as pandas'
    ``groupby().quantile()`` does (``group_quantile``)."""
    size = len(ordered)
    if size == 0:
        return float("nan")
    position = q * (size - 1)
    low = int(position)
    fraction = position % 1
    value = float(ordered[low])
    if fraction == 0.0:
        return value
    return float(value + (float(ordered[low + 1]) - value) * fraction)


def _again(
    calls: pa.Table,
    frame: pd.DataFrame,
    keys: list[str],
    where: str,
    quantiles: tuple[float, ...],
    mean: bool,
    fragile: np.ndarray,
    plain: bool,
) -> None:
    """Put pandas' own figures in the `fragile` rows of `frame`: their groups' durations read
    in table order and summed (in order, or with Kahan's compensation unless `plain`) and
    interpolated as pandas did before the engine."""
    gids = np.flatnonzero(fragile)
    chosen = pa.Table.from_pandas(frame.loc[fragile, keys], preserve_index=False)
    chosen = chosen.append_column("gid", pa.array(gids, pa.int64()))
    sql = _AGAIN.format(
        match=" AND ".join(f"c.{key} IS NOT DISTINCT FROM f.{key}" for key in keys),
        where=where,
    )
    columns = sorted({*keys, "duration_s", "status", "errno"})
    rows = engine.query(
        sql,
        # The engine cannot tell the stream of calls is the larger side: the join must hash
        # the few fragile groups, not every call.
        setup=("SET disabled_optimizers = 'join_order,build_side_probe_side'",),
        calls=lambda: engine.numbered(calls.select(columns)),
        fragile=chosen,
    )
    gid = rows["gid"].to_numpy()
    duration = rows["duration_s"].to_numpy(zero_copy_only=False).astype(np.float64)
    order = np.lexsort((rows["idx"].to_numpy(), gid))  # by group, each in table order
    bounds = (
        np.searchsorted(gid[order], gids, side="left"),
        np.searchsorted(gid[order], gids, side="right"),
    )
    at = frame.columns
    for number, first, last in zip(gids.tolist(), *bounds, strict=True):
        values = duration[order[first:last]]
        values = values[~np.isnan(values)]
        if not len(values):
            continue
        total = float(np.add.reduceat(values, [0])[0]) if plain else kahan_sum(values)
        frame.iat[number, at.get_loc("total_s")] = total
        if mean:
            frame.iat[number, at.get_loc("avg_s")] = total / len(values)
        ordered = np.sort(values)
        for q, name in zip(quantiles, _level_names(quantiles), strict=True):
            frame.iat[number, at.get_loc(name)] = pandas_quantile(ordered, q)
