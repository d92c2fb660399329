"""Grouped duration statistics of the calls that returned, computed by the engine
(`analyzer.engine`), equal to pandas' to the last digit the report prints.

The report's figures were pandas ``groupby`` results, rounded to the nanosecond. DuckDB's
`fsum` and `quantile_cont` differ from pandas' in-order Kahan sum and interpolation by a unit
or two in the last place, which the rounding absorbs except where a value lies within those
units of a rounding tie (a mean of microsecond durations often ends in exactly 5 in its tenth
decimal), or where two groups' totals tie and the last bits order them. Those groups are
"fragile": their durations are read again in table order and summed as pandas summed them
(Kahan's compensation, or numpy's pairwise sum for groups that are runs of rows). They are
few, but one may be a syscall of millions of calls: the engine sorts their durations (and
spills them) and they come back a batch at a time, so memory stays that of the engine's.

What comes back to Python is bounded too: the groups stay in the engine (a temporary table,
spilled beyond its memory limit) and only those a report showing the `top` largest totals may
show come back, with their `extra` aggregates and quantiles computed for them alone. The
quantiles are read off the engine's count of calls per (group, duration), strace's durations
being whole microseconds, and interpolated as pandas does: pandas' figures to the last bit.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import engine
from analyzer.sections import strace_rescan

CODED_CALLS = 1_000_000
"""Up to this many calls, the text columns the sections group by are numbered once for all
of their queries (`coded`): the engine groups and joins numbers in about half the time it
takes for texts (1M lines: the (syscall, target) groups 0.12 -> 0.06 CPU-s). Beyond, the
queries read the texts: a trace of more than one window (`strace_stream.WINDOW_LINES`) has
its calls in a mapped file, and numbering its columns read them whole: at 10M lines the run
peaked at 1,102 MiB instead of 838 (the file's pages), for no CPU time measured."""


@dataclass(frozen=True)
class Coded:
    """Calls whose columns named in `texts` hold integer codes instead of their texts: code i
    stands for ``texts[name][i]``, the column's distinct texts sorted by their bytes, so the
    codes order and group as the texts do (a missing text stays missing)."""

    table: pa.Table
    texts: Mapping[str, pa.Array] = field(default_factory=dict)

    def decoded(self, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Array:
        """`values` of the column `name` as texts (as they are when it is not coded)."""
        if name not in self.texts:
            return values
        return self.texts[name].take(values)

    def decoded_lists(self, name: str, lists: Sequence[list[Any]]) -> list[list[str]]:
        """Values of a ``list()`` aggregate of the column `name` (codes when it is coded,
        else texts) as lists of texts, each sorted."""
        if name not in self.texts:
            return [sorted(items) for items in lists]
        texts = self.texts[name].to_pylist()
        return [[texts[code] for code in sorted(items)] for items in lists]


def coded(calls: pa.Table, columns: Sequence[str]) -> Coded:
    """`calls` with its text `columns` coded (`Coded`), when it has at most `CODED_CALLS`
    rows. The codes are made a chunk at a time, as small as the number of texts allows
    (int16 for syscalls): no more than the coded columns is held."""
    if calls.num_rows > CODED_CALLS:
        return Coded(calls)
    table = calls
    texts: dict[str, pa.Array] = {}
    for name in columns:
        # one hash of the texts (a dictionary shared by every chunk), its entries then
        # numbered by their rank: index_in per chunk hashed the distinct texts per chunk
        encoded = pc.dictionary_encode(calls[name])
        if encoded.num_chunks:
            found = encoded.chunk(0).dictionary
            if not all(chunk.dictionary.equals(found) for chunk in encoded.chunks):
                encoded = encoded.unify_dictionaries()
                found = encoded.chunk(0).dictionary
        else:
            found = pa.array([], calls[name].type)
        by_text = pc.sort_indices(found)
        distinct = found.take(by_text)
        kind = pa.int16() if len(distinct) <= np.iinfo(np.int16).max else pa.int32()
        rank = np.empty(len(found), dtype=kind.to_pandas_dtype())
        rank[by_text.to_numpy()] = np.arange(len(found))
        ranks = pa.array(rank, kind)
        codes = pa.chunked_array([ranks.take(chunk.indices) for chunk in encoded.chunks], kind)
        table = table.set_column(table.schema.get_field_index(name), name, codes)
        texts[name] = distinct
    return Coded(table, texts)


_NUMBERED = "SELECT * FROM shown ORDER BY first"
_CUT = "SELECT total_s FROM g WHERE timed > 0 ORDER BY total_s DESC LIMIT 1 OFFSET {offset}"
JOIN_SMALL_SIDE = ("SET disabled_optimizers = 'join_order,build_side_probe_side'",)
"""The engine cannot tell the stream of calls is the larger side of a join with a few
groups: this makes it hash the groups, not every call."""

_AGAIN = """
SELECT f.gid, c.duration_s FROM (
    SELECT * FROM calls WHERE ({where}) AND duration_s IS NOT NULL AND NOT isnan(duration_s)
) c JOIN fragile f ON {match}
ORDER BY f.gid, c.idx
"""
"""The durations of the fragile groups, group after group, each in table order: sorted by
the engine (spilling beyond its memory limit) and read back a batch at a time, as a group
of millions of calls (a syscall of the whole trace) would not fit whole."""

_SIZES = """
SELECT f.gid, count(*) AS size FROM (
    SELECT * FROM calls WHERE ({where}) AND duration_s IS NOT NULL AND NOT isnan(duration_s)
) c JOIN fragile f ON {match}
GROUP BY f.gid
"""
"""How many durations each fragile group has (`pairwise_sum` halves them by their number)."""

BLOCK = 1 << 16
"""Values summed by one numpy call in `pairwise_sum`: the slices a stream of durations is
summed in, as numpy sums an array held whole."""

BATCH = 1 << 16
"""Rows of the fragile groups' durations read back from the engine at a time."""

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


@dataclass(frozen=True)
class View:
    """One summary `grouped_views` makes of a shared scan: the groups by `keys` (some of the
    scan's keys) of the calls the scan selected whose keys `present` are known, which are
    the calls `where` selects; with `mean` their avg_s and one column per quantile of
    `quantiles` (``p50_s`` ...); `extra` aggregates over the scan's groups of each group
    shown (of the scan's keys), and the columns `at_first` of each group's first call (what
    ``arg_min_null(column, idx)`` gives).

    With `top`, only the `top` groups of the largest totals are shown, so only they (and
    those tied with the last of them) need pandas' last digits; when fewer than `top` groups
    have a duration, the others are shown by calls (most first), then by `keys` (ascending,
    a missing key last): a trace without ``-T`` brings back `top` groups, not every target.
    `known`, when `where` selects the calls that returned with those columns known, lets
    interleaved fragile groups be read again from the calls themselves (`strace_rescan`)
    instead of through the engine (`_again`)."""

    keys: list[str]
    where: str
    present: tuple[str, ...] = ()
    known: tuple[str, ...] | None = None
    quantiles: tuple[float, ...] = ()
    mean: bool = False
    top: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    at_first: tuple[str, ...] = ()


_SCANNED = """
CREATE TEMP TABLE g0 AS
SELECT {keys}, count(*) AS calls, count(errno) AS errors, count(duration_s) AS timed,
    fsum(duration_s) AS total_s, min(duration_s) AS min_s, max(duration_s) AS max_s,
    min(idx) AS first, max(idx) AS last{extra}
FROM calls WHERE {where}
GROUP BY {keys}
"""
_SCANNED_COUNTS = """
CREATE TEMP TABLE l0 AS
SELECT {keys}, duration_s AS duration, count(*) AS n
FROM raw WHERE {where} AND duration_s IS NOT NULL
GROUP BY {keys}, duration_s
"""
"""The scan's groups, and its calls per group and duration (what `_levels_from` reads the
quantiles off), for the views that show every group."""

_SAME = "CREATE OR REPLACE TEMP TABLE g AS SELECT * FROM g0 WHERE {present}"
"""A view by the scan's own keys: its groups are the scan's."""

_VIEWED = """
CREATE OR REPLACE TEMP TABLE g AS
SELECT {keys}, sum(calls)::BIGINT AS calls, sum(errors)::BIGINT AS errors,
    sum(timed)::BIGINT AS timed, fsum(total_s) AS total_s, min(min_s) AS min_s,
    max(max_s) AS max_s, min(first) AS first, max(last) AS last
FROM g0 WHERE {present}
GROUP BY {keys}
"""
"""A view's groups from the scan's: counts, extremes and first and last calls combine as
they are; a total is the compensated sum of the finer groups' totals, within a unit or two
in the last place of the sum of their calls' (which `ULPS` absorbs)."""

_VIEW_SHOWN = "CREATE OR REPLACE TEMP TABLE shown AS SELECT * FROM g {where}"
_VIEW_UNTIMED = """
CREATE OR REPLACE TEMP TABLE shown AS
SELECT * FROM g WHERE timed > 0
UNION ALL
(SELECT * FROM g WHERE timed = 0 ORDER BY calls DESC, {order} LIMIT {top})
"""
_VIEW_NUMBERED = "(SELECT {keys}, row_number() OVER (ORDER BY first) - 1 AS gid FROM shown)"
"""The groups shown numbered in the order of their first call, as they come back."""

_VIEWED_COUNTS = """
SELECT s.gid, l.duration, sum(l.n)::BIGINT AS n
FROM l0 l JOIN {numbered} s ON {match}
WHERE {present}
GROUP BY s.gid, l.duration
"""
_SAME_COUNTS = """
SELECT s.gid, l.duration, l.n FROM l0 l JOIN {numbered} s ON {match} WHERE {present}
"""
"""`_VIEWED_COUNTS` of a view by the scan's own keys: the counts are the scan's."""

_VIEW_EXTRA = """
SELECT s.gid, {extra} FROM g0 l JOIN {numbered} s ON {match}
WHERE {present}
GROUP BY s.gid
"""
"""The `View.extra` aggregates of the groups shown, over their groups of the scan."""

_VIEW_LEVELS = """
SELECT s.gid, c.duration_s AS duration, count(*) AS n
FROM (SELECT * FROM raw WHERE {where} AND duration_s IS NOT NULL) c
JOIN {numbered} s ON {match}
GROUP BY s.gid, c.duration_s
"""
"""The calls per group and duration of the groups shown, when they are a few of many."""


_COUNTED = """
SELECT count(*) AS groups, coalesce(sum(timed) = sum(calls), true) AS all_timed FROM g
"""
_RUNS = """
SELECT coalesce(bool_and(following IS NULL OR last < following), true) AS runs
FROM (SELECT last, lead(first) OVER (ORDER BY first) AS following FROM g)
"""
"""How many groups there are and whether every call has a duration; and whether every group
is one run of rows (how pandas summed), asked only when the groups shown cannot tell
(`_show`)."""


def _show(
    ask: engine.Ask, keys: list[str], top: int | None
) -> tuple[pa.Table, pa.Table, float | None]:
    """The groups of ``g`` a report of the `top` largest totals may show (`View.top`), kept
    as ``shown``, in the order of their first call; the layout of every group (`_COUNTED`,
    `_RUNS`) and the cut of the totals (None: every group is shown)."""
    counted = ask(_COUNTED)
    groups = counted["groups"][0].as_py()
    cut: float | None = None
    if top is not None and groups > top:
        found = ask(_CUT.format(offset=top - 1))["total_s"].to_pylist()
        cut = float(found[0]) if found else -np.inf
    if cut is None:
        ask(_VIEW_SHOWN.format(where=""))
    elif cut == -np.inf:  # fewer than `top` groups have a duration: the others by calls
        order = ", ".join(f"{key} ASC NULLS LAST" for key in keys)
        ask(_VIEW_UNTIMED.format(order=order, top=top))
    else:
        floor = float(cut - ULPS * np.spacing(abs(cut)))
        where = f"WHERE timed > 0 AND total_s >= CAST('{floor!r}' AS DOUBLE)"
        ask(_VIEW_SHOWN.format(where=where))
    result = ask(_NUMBERED)
    first = result["first"].to_numpy()
    last = result["last"].to_numpy()
    # two groups shown that interleave say the groups are not runs; the shown ones being
    # every group and none interleaving say they are; only else is the engine asked
    runs: bool | None = None
    if bool(np.any(last[:-1] >= first[1:])):
        runs = False
    elif result.num_rows == groups:
        runs = True
    elif counted["all_timed"][0].as_py():  # (else pandas' sum is Kahan's whatever the runs)
        runs = bool(ask(_RUNS)["runs"][0].as_py())
    layout = pa.table({"groups": [groups], "runs": [runs], "all_timed": counted["all_timed"]})
    return result, layout, cut


def _aggregates(extra: Mapping[str, str]) -> str:
    return "".join(f", {expression} AS {name}" for name, expression in extra.items())


def grouped_views(
    calls: pa.Table | Coded,
    keys: list[str],
    where: str,
    views: Sequence[View],
    extra: Mapping[str, str] | None = None,
    reads: tuple[str, ...] = (),
    digits: int = 9,
) -> list[pd.DataFrame]:
    """The frame of each of `views`, from one scan of the calls `where` selects grouped by
    `keys` (with the `extra` aggregates over the columns `reads`), instead of a scan (and a
    join for the quantiles or extra aggregates) per view, on one connection.

    A view's frame has per group its keys, calls, errors, total_s, min_s, max_s and the
    columns the `View` asks for; the groups in the order of their first call. A group
    without a single duration has NaN figures, as pandas gives. Keys of coded `calls`
    (`Coded`) come back as texts; `View.extra` aggregates as the engine gives them (codes
    of a coded column). (The tests check each view against the same summary made by a query
    of its own, ``tests/strace_grouped.py``.)"""
    coded_calls = calls if isinstance(calls, Coded) else Coded(calls)
    calls = coded_calls.table
    columns = sorted({*keys, "errno", "duration_s", "status", *reads})
    raw_columns = sorted({*keys, "duration_s", "status", "errno"})
    listed = ", ".join(keys)
    Found = tuple[pa.Table, pa.Table, float | None, pa.Table | None, pa.Table | None]

    def viewed(ask: engine.Ask) -> list[Found]:
        ask(_SCANNED.format(keys=listed, where=where, extra=_aggregates(extra or {})))
        if any(view.quantiles and view.top is None for view in views):
            ask(_SCANNED_COUNTS.format(keys=listed, where=where))
        found: list[Found] = []
        for view in views:
            named = ", ".join(view.keys)
            present = " AND ".join(f"{key} IS NOT NULL" for key in view.present) or "true"
            if view.keys == keys:
                ask(_SAME.format(present=present))
            else:
                ask(_VIEWED.format(keys=named, present=present))
            result, layout, cut = _show(ask, view.keys, view.top)
            numbered = _VIEW_NUMBERED.format(keys=named)
            on = " AND ".join(f"l.{key} IS NOT DISTINCT FROM s.{key}" for key in view.keys)
            scanned = " AND ".join(f"l.{key} IS NOT NULL" for key in view.present) or "true"
            counts = None
            if view.quantiles and view.top is None:
                counted = _SAME_COUNTS if view.keys == keys else _VIEWED_COUNTS
                counts = ask(counted.format(numbered=numbered, match=on, present=scanned))
            elif view.quantiles:
                match = " AND ".join(f"c.{key} IS NOT DISTINCT FROM s.{key}" for key in view.keys)
                counts = ask(_VIEW_LEVELS.format(where=view.where, numbered=numbered, match=match))
            aggregated = None
            if view.extra:
                aggregated = ask(
                    _VIEW_EXTRA.format(
                        extra=_aggregates(view.extra)[2:],
                        numbered=numbered,
                        match=on,
                        present=scanned,
                    )
                )
            found.append((result, layout, cut, counts, aggregated))
        return found

    found = engine.session(
        viewed,
        JOIN_SMALL_SIDE + engine.ONE_THREAD,
        calls=lambda: engine.numbered(calls.select(columns)),
        raw=calls.select(raw_columns),
    )
    frames = []
    for view, (result, layout, cut, counts, aggregated) in zip(views, found, strict=True):
        added: list[tuple[str, Any]] = []
        if counts is not None:
            gids = np.arange(result.num_rows)
            added += _levels_from(counts, gids, result.num_rows, view.quantiles)
        if aggregated is not None:
            at = np.empty(result.num_rows, dtype=np.int64)
            at[aggregated["gid"].to_numpy()] = np.arange(aggregated.num_rows)
            chosen = aggregated.take(pa.array(at))
            added += [(name, chosen[name].to_pylist()) for name in view.extra]
        firsts = result["first"]
        added += [(name, calls[name].take(firsts).to_pylist()) for name in view.at_first]
        frame = _frame(
            coded_calls,
            view.keys,
            view.where,
            result,
            layout,
            cut,
            view.mean,
            added,
            digits,
            view.known,
        )
        frames.append(frame)
    return frames


def _frame(
    coded_calls: Coded,
    keys: list[str],
    where: str,
    result: pa.Table,
    layout: pa.Table,
    cut: float | None,
    mean: bool,
    added: list[tuple[str, Any]],
    digits: int,
    known: tuple[str, ...] | None,
) -> pd.DataFrame:
    """A view's frame (`grouped_views`) of the groups the engine gave back (`result`, in the
    order of their first call), given the `layout` of every group and the columns `added`
    after the figures (quantiles, `extra` aggregates)."""
    calls = coded_calls.table
    frame = pd.DataFrame({key: coded_calls.decoded(key, result[key]).to_pandas() for key in keys})
    groups = result.select(keys)  # the keys as the engine holds them, to join on
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
    for name, column in added:
        frame[name] = column
    fragile = _near_other(frame["total_s"].to_numpy())
    for name in figures:
        fragile |= _near_tie(frame[name].to_numpy(), digits)
    if cut is not None:
        # (none when fewer than `top` groups have a duration: the cut is -inf)
        fragile &= np.nan_to_num(total, nan=-np.inf) >= cut - ULPS * np.spacing(abs(cut))
    fragile &= timed >= 3  # a sum of one or two values is the rounded sum in every method
    if fragile.any():
        # pandas adds a column without NaN whose groups are each one run of rows with
        # `np.add.reduceat`, any other with Kahan's compensation (pandas/core/groupby/ops.py)
        runs = bool(layout["runs"][0].as_py())
        plain = runs and bool(layout["all_timed"][0].as_py())
        if not plain and known is not None:
            _rescanned(calls, groups, frame, keys, known, mean, fragile)
        else:
            _again(calls, groups, frame, keys, where, mean, fragile, plain)
    return frame


def _chosen(groups: pa.Table, chosen: np.ndarray) -> pa.Table:
    """The keys of the `chosen` groups, with their row in `groups` (``gid``)."""
    table = groups.filter(pa.array(chosen, pa.bool_()))
    return table.append_column("gid", pa.array(np.flatnonzero(chosen), pa.int64()))


def _match(keys: list[str]) -> str:
    return " AND ".join(f"c.{key} IS NOT DISTINCT FROM f.{key}" for key in keys)


def _levels_from(
    counts: pa.Table, gids: np.ndarray, groups: int, quantiles: tuple[float, ...]
) -> list[tuple[str, np.ndarray]]:
    """Per quantile, its column: for the groups numbered `gids` (of `groups`) the quantile of
    their durations as pandas interpolates it (`pandas_quantile`), NaN elsewhere, from the
    engine's `counts` of calls per group number and duration (gid, duration, n).

    Exact quantiles of millions of calls held every duration (8-16 bytes per call in the
    engine's quantile states, which cannot spill); the counts are a fraction of that and
    can. For the groups the engine's own quantile would have been used for, the two agree to
    the nanosecond the report prints (the module docstring)."""
    gid = counts["gid"].to_numpy()
    duration = counts["duration"].to_numpy(zero_copy_only=False).astype(np.float64)
    many = counts["n"].to_numpy().astype(np.int64)
    # by duration, then stably by group: a (group, duration) is counted once, so this is
    # the order of both (np.lexsort took twice as long)
    order = np.argsort(duration)
    order = order[np.argsort(gid[order], kind="stable")]
    gid, duration, many = gid[order], duration[order], many[order]
    if len(many) == 0:  # no chosen group has a duration
        return [(name, np.full(groups, np.nan)) for name in _level_names(quantiles)]
    ends = np.cumsum(many)  # calls up to and including each (group, duration), in order
    first = np.searchsorted(gid, gids, side="left")
    last = np.searchsorted(gid, gids, side="right")
    before = np.where(first > 0, ends[np.maximum(first - 1, 0)], 0)
    size = np.where(last > first, ends[np.maximum(last - 1, 0)] - before, 0)
    found = size > 0
    columns_out = []
    for q, name in zip(quantiles, _level_names(quantiles), strict=True):
        column = np.full(groups, np.nan)
        position = q * (size[found] - 1)
        low = position.astype(np.int64)
        fraction = position % 1
        start = before[found]
        value = duration[np.searchsorted(ends, start + low, side="right")]
        following = np.searchsorted(
            ends, start + np.minimum(low + 1, size[found] - 1), side="right"
        )
        step = (duration[following] - value) * fraction
        column[gids[found]] = np.where(fraction == 0.0, value, value + step)
        columns_out.append((name, column))
    return columns_out


def _level_names(quantiles: tuple[float, ...]) -> list[str]:
    return [f"p{round(q * 100):02d}_s" for q in quantiles]


def kahan_sum(values: np.ndarray) -> float:
    """The sum of `values` in their order with Kahan's compensation, step for step as
    pandas' ``groupby().sum()`` adds a group (``group_sum`` in pandas/_libs/groupby.pyx),
    NaN left out as pandas leaves it out."""
    return _kahan(iter([values]))[0]


def _kahan(chunks: Iterator[np.ndarray]) -> tuple[float, int]:
    """`kahan_sum` of the values of `chunks` one after the other, NaN left out, and how
    many were added."""
    total = 0.0
    compensation = 0.0
    size = 0
    for chunk in chunks:
        known = chunk[~np.isnan(chunk)]
        size += len(known)
        for value in known.tolist():
            step = value - compensation
            running = total + step
            compensation = running - total - step
            total = running
    return total, size


def pairwise_sum(chunks: Iterator[np.ndarray], size: int, block: int = BLOCK) -> float:
    """``np.add.reduceat(values, [0])[0]`` of the `size` values of `chunks` one after the
    other, without holding them: numpy keeps the first value and adds the pairwise sum of
    the others, which halves them (to a multiple of 8) until at most 128 remain; any part
    of at most `block` values is summed by numpy itself (a -0.0 in front of it, which adds
    nothing, takes the place of the kept value)."""
    take = _Taker(chunks)
    first = float(take(1)[0])
    return first + _pairwise(take, size - 1, max(block, 128))


def _pairwise(take: Callable[[int], np.ndarray], size: int, block: int) -> float:
    if size <= block:
        values = np.concatenate((np.array([-0.0]), take(size)))
        return float(np.add.reduceat(values, [0])[0])
    half = size // 2
    half -= half % 8
    return _pairwise(take, half, block) + _pairwise(take, size - half, block)


class _Taker:
    """The next values of a stream of arrays, so many at a time."""

    def __init__(self, chunks: Iterator[np.ndarray]) -> None:
        self._chunks = chunks
        self._held = np.empty(0)

    def __call__(self, size: int) -> np.ndarray:
        parts = []
        while size > 0:
            if not len(self._held):
                following = next(self._chunks, None)
                if following is None:
                    raise ValueError("fewer values than counted")
                self._held = following
            parts.append(self._held[:size])
            self._held = self._held[size:]
            size -= len(parts[-1])
        return np.concatenate(parts) if parts else np.empty(0)


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
    groups: pa.Table,
    frame: pd.DataFrame,
    keys: list[str],
    where: str,
    mean: bool,
    fragile: np.ndarray,
    plain: bool,
) -> None:
    """Put pandas' own totals (and means) in the `fragile` rows of `frame`: their groups'
    durations read in table order, a batch at a time, and summed as pandas summed them
    (`pairwise_sum` when `plain`, else `kahan_sum`). Their quantiles are pandas' already
    (`_levels_from`)."""
    sql = dict(where=where, match=_match(keys))
    columns = sorted({*keys, "duration_s", "status", "errno"})
    chosen = _chosen(groups, fragile)
    sizes: dict[int, int] = {}
    if plain:
        counted = engine.query(
            _SIZES.format(**sql), JOIN_SMALL_SIDE, calls=calls.select(columns), fragile=chosen
        )
        sizes = dict(zip(counted["gid"].to_pylist(), counted["size"].to_pylist(), strict=True))
    found: dict[int, tuple[float, int]] = {}
    with engine.stream(
        _AGAIN.format(**sql),
        BATCH,
        JOIN_SMALL_SIDE,
        calls=lambda: engine.numbered(calls.select(columns)),
        fragile=chosen,
    ) as batches:
        for gid, chunks in _by_group(batches):
            if plain:
                found[gid] = (pairwise_sum(chunks, sizes[gid], BLOCK), sizes[gid])
            else:
                found[gid] = _kahan(chunks)
    at = frame.columns
    for number, (total, size) in found.items():
        frame.iat[number, at.get_loc("total_s")] = total
        if mean:
            frame.iat[number, at.get_loc("avg_s")] = total / size


def _rescanned(
    calls: pa.Table,
    groups: pa.Table,
    frame: pd.DataFrame,
    keys: list[str],
    known: tuple[str, ...],
    mean: bool,
    fragile: np.ndarray,
) -> None:
    """`_again` for groups pandas summed with Kahan's compensation, read in the calls'
    order straight from them (`strace_rescan`): no join and sort of their calls in the
    engine."""
    at = frame.columns
    numbers = np.flatnonzero(fragile).tolist()
    chosen = groups.filter(pa.array(fragile, pa.bool_()))
    found = strace_rescan.kahan_totals(calls, keys, known, chosen)
    for number, (total, size) in zip(numbers, found, strict=True):
        if size:  # (a group of NaN durations only is left as the engine left it)
            frame.iat[number, at.get_loc("total_s")] = total
            if mean:
                frame.iat[number, at.get_loc("avg_s")] = total / size


def _by_group(batches: pa.RecordBatchReader) -> Iterator[tuple[int, Iterator[np.ndarray]]]:
    """The durations of a stream of (gid, duration) sorted by gid: per gid, its durations in
    the stream's order, as arrays (to be read before the next gid's)."""

    def pieces() -> Iterator[tuple[int, np.ndarray]]:
        for batch in batches:
            gid = batch.column(0).to_numpy()
            duration = batch.column(1).to_numpy(zero_copy_only=False).astype(np.float64)
            bounds = [0, *(np.flatnonzero(np.diff(gid)) + 1).tolist(), len(gid)]
            for start, end in itertools.pairwise(bounds):
                if end > start:
                    yield int(gid[start]), duration[start:end]

    for gid, group in itertools.groupby(pieces(), key=lambda piece: piece[0]):
        yield gid, (values for _, values in group)
