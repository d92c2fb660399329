"""The report's `perf` section: what the perf tables say.

`perf_section` summarises the samples: per event, the heaviest symbols and DSOs (self and
total sample counts, as ``perf report --no-children`` and ``--children`` count them) and the
samples per thread; `tracepoint_sections` summarises the paired tracepoint tables: block I/O
latency per device (BCC biolatency's log2 histogram, percentiles, the read/write/flush split
and the queue depth over time), off-CPU time per thread and state, and syscall latency per
thread in the layout of ``perf trace -s``. docs/report-json.md documents every key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy
from analyzer.model import Derived
from analyzer.sections.perf_histograms import in_flight, log2_histogram, syscall_stats

TOP_STACKS = 20
"""Folded stacks in ``top_stacks``."""
TOP_SYMBOLS = 20
"""Symbols kept per event: the `TOP_SYMBOLS` heaviest by self count and by total count."""
TOP_DSOS = 15
"""DSOs kept per event (heaviest by self count and by total count)."""
TOP_THREADS = 20
"""Threads kept per event, per off-CPU ranking and in the syscall summary."""
UNKNOWN_SYMBOL = "[unknown]"
"""The symbol of a frame perf could not resolve (as perf prints it)."""

_CLOCK_EVENTS = frozenset({"cpu-clock", "task-clock"})
# "subsystem:name" with no perf modifier letters after the colon: block:block_rq_issue,
# sched:sched_switch, raw_syscalls:sys_enter; not cycles:u, cpu-clock:uhH, cpu/cycles/.
_TRACEPOINT = re.compile(r"[A-Za-z0-9_]+:(?![ukhIGHpPSDWeb]+$)[A-Za-z0-9_]+")


def _latency_stats(nanoseconds: pa.Array | pa.ChunkedArray | np.ndarray) -> dict[str, Any]:
    if isinstance(nanoseconds, np.ndarray):
        values = nanoseconds[~np.isnan(nanoseconds)] / 1e9
    else:
        values = pc.drop_null(nanoseconds).to_numpy(zero_copy_only=False) / 1e9
    if len(values) == 0:
        return {"count": 0}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "count": len(values),
        "total_s": float(values.sum()),
        "p50_s": float(p50),
        "p95_s": float(p95),
        "p99_s": float(p99),
        "max_s": float(values.max()),
    }


def _grouped(table: pa.Table, key: str, value: str) -> dict[str, Any]:
    groups: dict[str, Any] = {}
    for name in pc.unique(pc.drop_null(table[key])).to_pylist():
        groups[str(name)] = _latency_stats(table.filter(pc.equal(table[key], name))[value])
    return dict(sorted(groups.items()))


def _none(value: Any) -> Any:
    """pandas' missing values (NaN, NA, NaT) as None, numpy scalars as Python scalars."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _int(value: Any) -> int | None:
    """An id from a pandas column (where a null turns ints into floats) as an int or None."""
    value = _none(value)
    return None if value is None else int(value)


def _seconds(nanoseconds: Any) -> float | None:
    value = _none(nanoseconds)
    return None if value is None else int(value) / 1e9


# --------------------------------------------------------------------------- block I/O

_OPS = {"R": "read", "W": "write", "D": "discard", "F": "flush"}


def block_op(rwbs: str | None) -> str:
    """The operation of a request from its RWBS flags: ``read``, ``write``, ``discard``,
    ``flush`` or ``other``. A leading ``F`` is the preflush flag when more letters follow
    (``FWS`` is a write with a preflush, ``FF`` a flush), as the kernel's ``blk_fill_rwbs``
    writes them."""
    text = rwbs or ""
    op = text[1:2] if text.startswith("F") and len(text) > 1 else text[:1]
    return _OPS.get(op, "other")


def _block_devices(table: pa.Table) -> list[dict[str, Any]]:
    """Per device: latency percentiles, bytes, the log2 histogram (µs), the read/write/flush
    split and the queue depth over time."""
    frame = table.select(["dev", "rwbs", "bytes", "issue_ns", "complete_ns", "latency_ns"])
    frame = frame.to_pandas()
    frame["op"] = frame["rwbs"].map(block_op)
    devices: list[dict[str, Any]] = []
    for dev, rows in frame.groupby("dev", sort=True, dropna=True):
        latency = rows["latency_ns"].to_numpy(dtype=np.float64, na_value=np.nan)
        timed = latency[~np.isnan(latency)]
        by_op: dict[str, Any] = {}
        for op, op_rows in rows.groupby("op", sort=True):
            by_op[str(op)] = {
                **_latency_stats(op_rows["latency_ns"].to_numpy(np.float64, na_value=np.nan)),
                "bytes": int(op_rows["bytes"].fillna(0).sum()),
            }
        paired = rows.dropna(subset=["issue_ns", "complete_ns"])
        devices.append(
            {
                "dev": str(dev),
                **_latency_stats(latency),
                "bytes": int(rows["bytes"].fillna(0).sum()),
                "histogram": {
                    "unit": "usecs",
                    # BCC divides the nanosecond delta by 1000 (integer division)
                    "buckets": log2_histogram(np.maximum(timed, 0).astype(np.int64) // 1000),
                },
                "by_op": by_op,
                "queue_depth": in_flight(
                    paired["issue_ns"].to_numpy(np.int64), paired["complete_ns"].to_numpy(np.int64)
                ),
            }
        )
    return devices


# --------------------------------------------------------------------------- off-CPU


def _off_cpu_threads(table: pa.Table, top: int) -> tuple[list[dict[str, Any]], float]:
    """Off-CPU time per (thread, comm, state), largest total first, and the overall total."""
    frame = table.select(["tid", "pid", "comm", "state", "duration_ns"]).to_pandas()
    frame = frame.dropna(subset=["duration_ns"])
    total = float(frame["duration_ns"].sum()) / 1e9
    if frame.empty:
        return [], total
    keys = ["tid", "comm", "state"]
    groups = frame.groupby(keys, dropna=False, sort=False)
    summary = groups["duration_ns"].agg(["count", "sum", "max"]).reset_index()
    summary["pid"] = groups["pid"].first().to_numpy()
    summary = summary.sort_values(
        ["sum", "tid", "comm", "state"], ascending=[False, True, True, True], kind="stable"
    )
    rows = []
    for row in summary.head(top).itertuples(index=False):
        rows.append(
            {
                "tid": _int(row.tid),
                "pid": _int(row.pid),
                "comm": _none(row.comm),
                "state": _none(row.state),
                "count": int(row.count),
                "total_s": float(row.sum) / 1e9,
                "avg_s": float(row.sum) / row.count / 1e9,
                "max_s": float(row.max) / 1e9,
                "share": float(row.sum) / 1e9 / total if total > 0 else None,
            }
        )
    return rows, total


# --------------------------------------------------------------------------- syscalls


def _syscall_threads(table: pa.Table, top: int) -> tuple[list[dict[str, Any]], int]:
    """Per thread, its syscalls in the ``perf trace -s`` table: calls, errors, total, min,
    avg, max and stddev (%), largest total first. Threads are ranked by events (enter and
    exit records of their paired calls), busiest first; returns the `top` threads and the
    number of threads."""
    frame = table.select(["tid", "pid", "comm", "nr", "syscall", "duration_ns", "error"])
    frame = frame.to_pandas()
    if frame.empty:
        return [], 0
    names = frame["syscall"].astype(object)
    unknown = names.isna()
    names[unknown] = "NR_" + frame.loc[unknown, "nr"].astype("Int64").astype(str)
    frame["name"] = names
    frame["tid_key"] = frame["tid"].astype("Int64").fillna(-1)
    events_total = 2 * len(frame)
    threads: list[dict[str, Any]] = []
    for tid, rows in frame.groupby("tid_key", sort=False):
        syscalls: list[dict[str, Any]] = []
        for name, calls in rows.groupby("name", sort=False):
            syscalls.append(
                {
                    "syscall": str(name),
                    "calls": len(calls),
                    "errors": int(calls["error"].fillna(False).sum()),
                    **syscall_stats(calls["duration_ns"].dropna().to_numpy(np.float64)),
                }
            )
        syscalls.sort(key=lambda row: (-row["total_s"], row["syscall"]))
        comms = rows["comm"].dropna()
        pids = rows["pid"].dropna()
        threads.append(
            {
                "tid": None if tid == -1 else int(tid),
                "pid": int(pids.iloc[0]) if len(pids) else None,
                "comm": str(comms.iloc[-1]) if len(comms) else None,
                "events": 2 * len(rows),
                "share": 2 * len(rows) / events_total,
                "calls": len(rows),
                "errors": int(rows["error"].fillna(False).sum()),
                "total_s": float(rows["duration_ns"].sum()) / 1e9,
                "syscalls": syscalls,
            }
        )
    threads.sort(key=lambda row: (-row["events"], -row["total_s"], row["tid"] or -1))
    return threads[:top], len(threads)


def tracepoint_sections(
    block_io: pa.Table, off_cpu: pa.Table, syscalls: pa.Table, counts: dict[str, dict[str, int]]
) -> dict[str, Any]:
    """Block I/O latency per device, off-CPU time per state and thread, syscall latency per
    call and per thread."""
    sections: dict[str, Any] = {}
    if counts["block_io"].get("issues") or block_io.num_rows:
        sections["block_io"] = {
            "counts": counts["block_io"],
            "latency_by_device": _grouped(block_io, "dev", "latency_ns"),
            "devices": _block_devices(block_io),
        }
    if off_cpu.num_rows or counts["off_cpu"].get("switches"):
        by_thread, total = _off_cpu_threads(off_cpu, TOP_THREADS)
        sections["off_cpu"] = {
            "counts": counts["off_cpu"],
            "by_state": _grouped(off_cpu, "state", "duration_ns"),
            "total_s": total,
            "threads": len(pc.unique(pc.drop_null(off_cpu["tid"]))),
            "by_thread": by_thread,
        }
    if syscalls.num_rows or counts["syscall_latency"].get("enters"):
        by_thread, threads = _syscall_threads(syscalls, TOP_THREADS)
        sections["syscall_latency"] = {
            "counts": counts["syscall_latency"],
            "by_syscall": _grouped(syscalls, "syscall", "duration_ns"),
            "threads": threads,
            "by_thread": by_thread,
        }
    return sections


# --------------------------------------------------------------------------- samples


def _is_tracepoint(event: str) -> bool:
    return _TRACEPOINT.fullmatch(event) is not None


def _is_clock(event: str) -> bool:
    return re.split(r"[:/]", event, maxsplit=1)[0] in _CLOCK_EVENTS


def _dense(ids: np.ndarray, size: int) -> np.ndarray:
    """A lookup array: ``lookup[id] = row`` for the rows of a table keyed by `ids`."""
    lookup = np.full(max(size, 1), -1, dtype=np.int64)
    lookup[ids] = np.arange(ids.size)
    return lookup


class _Stacks:
    """The stacks of a run, ready for counting: for every stack row, the symbol of its leaf
    and the distinct symbols in it (a recursive function counts once per stack), and the
    same for DSOs.

    A symbol is (name, DSO, inlined). perf prints an inlined function as a frame of its own
    with the pseudo-DSO ``(inlined)``; such a frame is given the DSO of the next real frame of
    the same stack (the function it was inlined into, at the same address).

    The stacks' frames are read `SLICE_FRAMES` at a time (whole stacks), so the arrays made
    per frame of every stack (24M of them for 2 GB of distinct stacks) never exist at once."""

    SLICE_FRAMES = 1 << 20

    def __init__(self, stacks: pa.Table, frames: pa.Table) -> None:
        frame_ids = frames["frame_id"].to_numpy()
        self.frame_row = _dense(frame_ids, int(frame_ids.max()) + 1 if frame_ids.size else 0)
        self.inlined = filled_numpy(frames["inlined"], False)
        self.symbol_codes, self.names = _codes(
            pc.fill_null(frames["symbol"], UNKNOWN_SYMBOL), as_list=False
        )
        self.dso_codes, self.dsos = _codes(frames["dso"])

        stack_ids = stacks["stack_id"].to_numpy()
        self.stack_row = _dense(stack_ids, int(stack_ids.max()) + 1 if stack_ids.size else 0)
        self.n_stacks = stacks.num_rows
        self.lists = stacks["frame_ids"].combine_chunks()
        # A symbol as one number: (name, DSO, inlined); a frame's own, but for an inlined
        # frame, which takes the DSO of the next real frame in its stack.
        self.width = max(len(self.dsos), 1)
        self.frame_key = (self.symbol_codes * self.width + self.dso_codes) * 2 + self.inlined
        used = np.zeros(self.frame_key.size, dtype=bool)
        moved_keys = []
        for _, flat, _parent, _starts, entry_key, moved, _dso in self._slices():
            kept = np.ones(flat.size, dtype=bool)
            kept[moved] = False
            used[flat[kept]] = True
            if moved.size:
                moved_keys.append(np.unique(entry_key[moved]))
        # the keys present, sorted (as np.unique of every entry's key gives them)
        keys = np.unique(self.frame_key[used])
        if moved_keys:
            keys = np.union1d(keys, np.concatenate(moved_keys))
        self.keys = keys
        self.symbol_count = int(keys.size)

    def symbol(self, key: int) -> tuple[str, str | None, bool]:
        """(name, DSO, inlined) of symbol `key` (an index into `keys`): made only for the
        symbols a report shows, not a Python string per distinct symbol (1.4M in 2 GB of
        distinct stacks)."""
        value = int(self.keys[key])
        name = self.names[value // 2 // self.width].as_py()
        return name, self.dsos[value // 2 % self.width], bool(value % 2)

    def _slices(
        self,
    ) -> Iterator[
        tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    ]:
        """Per slice of whole stacks: (first stack row, frame rows of its entries, each
        entry's stack row within the slice, each stack's first entry, entry symbol keys,
        entries of inlined frames given another DSO, entry DSOs)."""
        lists = self.lists
        offsets = lists.offsets.to_numpy().astype(np.int64)
        offsets -= offsets[0]
        values = lists.values
        base = lists.offsets[0].as_py()
        row = 0
        while row < self.n_stacks:
            stop = int(np.searchsorted(offsets, offsets[row] + self.SLICE_FRAMES, "right")) - 1
            stop = min(max(stop, row + 1), self.n_stacks)
            first, last = int(offsets[row]), int(offsets[stop])
            flat = self.frame_row[values.slice(base + first, last - first).to_numpy()]
            depths = np.diff(offsets[row : stop + 1])
            parent = np.repeat(np.arange(stop - row, dtype=np.int64), depths)
            starts = offsets[row:stop] - first
            entry_key = self.frame_key[flat]
            entry_dso = self.dso_codes[flat]
            entry_inlined = self.inlined[flat]
            moved = np.zeros(0, dtype=np.int64)
            if entry_inlined.any():
                real = np.flatnonzero(~entry_inlined)
                if real.size:
                    nearest = np.minimum(np.searchsorted(real, np.arange(flat.size)), real.size - 1)
                    moved = np.flatnonzero(entry_inlined & (parent[real[nearest]] == parent))
                    entry_dso[moved] = self.dso_codes[flat[real[nearest[moved]]]]
                    symbols = self.symbol_codes[flat[moved]]
                    entry_key[moved] = (symbols * self.width + entry_dso[moved]) * 2 + 1
            yield row, flat, parent, starts, entry_key, moved, entry_dso
            row = stop

    def counts(self, weights: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Self and total counts per key of `kind` (``symbol`` or ``dso``) when stack row
        ``i`` was sampled ``weights[i]`` times."""
        size = self.symbol_count if kind == "symbol" else len(self.dsos)
        self_counts = np.zeros(size, dtype=np.float64)
        total_counts = np.zeros(size, dtype=np.float64)
        for row, _flat, parent, starts, entry_key, _moved, entry_dso in self._slices():
            codes = np.searchsorted(self.keys, entry_key) if kind == "symbol" else entry_dso
            depths = np.diff(np.append(starts, parent.size))
            has_leaf = np.flatnonzero(depths > 0)
            self_counts += np.bincount(
                codes[starts[has_leaf]], weights=weights[row + has_leaf], minlength=size
            )
            stacks, keys = _distinct_pairs(parent, codes, size)
            total_counts += np.bincount(keys, weights=weights[row + stacks], minlength=size)
        return self_counts.astype(np.int64), total_counts.astype(np.int64)


def _codes(values: pa.Array | pa.ChunkedArray, as_list: bool = True) -> tuple[np.ndarray, Any]:
    """`values` dictionary-encoded: an index per value (nulls get their own index) and the
    distinct values (None for null), as a list or (not `as_list`) as an Arrow array."""
    if isinstance(values, pa.ChunkedArray):
        # (Arrow cannot unify the dictionaries of chunks with nulls: frames of several inputs)
        values = values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return indices, encoded.dictionary.to_pylist() if as_list else encoded.dictionary


def _distinct_pairs(stacks: np.ndarray, keys: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """The distinct (stack, key) pairs, as two arrays."""
    codes = np.unique(stacks * max(size, 1) + keys)
    return codes // max(size, 1), codes % max(size, 1)


def _ranked(
    self_counts: np.ndarray, total_counts: np.ndarray, name: Callable[[int], Any], top: int
) -> list[int]:
    """Keys among the `top` by self count or the `top` by total count (non-zero), ordered by
    self count, then total count (both descending), then ``str(name(key))``."""

    def order(first: np.ndarray, second: np.ndarray) -> list[int]:
        keys = np.flatnonzero(first > 0)
        if keys.size > top:
            # only the keys that can make the top (ties at the cut included) are sorted
            floor = np.partition(first[keys], keys.size - top)[keys.size - top]
            keys = keys[first[keys] >= floor]
        ranked = sorted(keys.tolist(), key=lambda k: (-first[k], -second[k], str(name(k))))
        return ranked[:top]

    chosen = set(order(self_counts, total_counts)) | set(order(total_counts, self_counts))
    return sorted(chosen, key=lambda k: (-self_counts[k], -total_counts[k], str(name(k)), k))


def _share(count: int, whole: int) -> float | None:
    return count / whole if whole else None


def _event_threads(
    samples: pa.Table, total: int, clock: bool, top: int
) -> tuple[list[dict[str, Any]], int]:
    """Samples per (pid, tid, comm), most first, with first/last time and (for clock events)
    the CPU time their periods stand for; the `top` threads and the number of threads."""
    grouped = samples.group_by(["pid", "tid", "comm"], use_threads=False).aggregate(
        [
            ("line_no", "count"),
            ("time_ns", "min"),
            ("time_ns", "max"),
            ("period", "sum"),
            ("period", "count"),
        ]
    )
    ranked = grouped.sort_by(
        [("line_no_count", "descending"), ("tid", "ascending"), ("comm", "ascending")]
    )
    threads = []
    for row in ranked.slice(0, top).to_pylist():
        count = row["line_no_count"]
        periods_known = row["period_count"] == count
        threads.append(
            {
                "pid": row["pid"],
                "tid": row["tid"],
                "comm": row["comm"],
                "samples": count,
                "share": _share(count, total),
                "first_s": _seconds(row["time_ns_min"]),
                "last_s": _seconds(row["time_ns_max"]),
                "cpu_s": (row["period_sum"] or 0) / 1e9 if clock and periods_known else None,
            }
        )
    return threads, grouped.num_rows


def _event_section(
    event: str, samples: pa.Table, stacks: _Stacks | None, top: int
) -> dict[str, Any]:
    count = samples.num_rows
    clock = _is_clock(event)
    periods = samples["period"]
    period_known = pc.count(periods).as_py() == count
    period_total = int(pc.sum(periods).as_py() or 0) if period_known else None
    first, last = pc.min(samples["time_ns"]).as_py(), pc.max(samples["time_ns"]).as_py()
    threads, thread_count = _event_threads(samples, count, clock, top)
    section: dict[str, Any] = {
        "samples": count,
        "tracepoint": _is_tracepoint(event),
        "period": period_total,
        "cpu_s": period_total / 1e9 if clock and period_total is not None else None,
        "first_s": _seconds(first),
        "last_s": _seconds(last),
        "span_s": (last - first) / 1e9 if first is not None and last is not None else None,
        "threads": thread_count,
        "by_thread": threads,
    }
    stack_ids = pc.drop_null(samples["stack_id"]).to_numpy()
    section["with_stack"] = int(stack_ids.size)
    if stacks is None:
        return section
    known = stack_ids[(stack_ids >= 0) & (stack_ids < stacks.stack_row.size)]
    rows = stacks.stack_row[known]
    rows = rows[rows >= 0]
    section["with_stack"] = int(rows.size)
    weights = np.bincount(rows, minlength=stacks.n_stacks).astype(np.float64)
    stacked = int(rows.size)
    symbol_self, symbol_total = stacks.counts(weights, "symbol")
    symbols = []
    for key in _ranked(symbol_self, symbol_total, _symbol_name(stacks), TOP_SYMBOLS):
        name, dso, inlined = stacks.symbol(key)
        symbols.append(
            {
                "symbol": name,
                "dso": dso,
                "inlined": inlined,
                "self_samples": int(symbol_self[key]),
                "self_share": _share(int(symbol_self[key]), stacked),
                "total_samples": int(symbol_total[key]),
                "total_share": _share(int(symbol_total[key]), stacked),
            }
        )
    section["symbols"] = symbols
    dso_self, dso_total = stacks.counts(weights, "dso")
    section["dsos"] = [
        {
            "dso": stacks.dsos[key],
            "self_samples": int(dso_self[key]),
            "self_share": _share(int(dso_self[key]), stacked),
            "total_samples": int(dso_total[key]),
            "total_share": _share(int(dso_total[key]), stacked),
        }
        for key in _ranked(dso_self, dso_total, stacks.dsos.__getitem__, TOP_DSOS)
    ]
    return section


def _symbol_name(stacks: _Stacks) -> Callable[[int], tuple[str, str]]:
    """What symbols are ordered by after their counts: (name, DSO or "")."""

    def name(key: int) -> tuple[str, str]:
        symbol, dso, _ = stacks.symbol(key)
        return symbol, dso or ""

    return name


def perf_section(
    samples: Sequence[pa.Table] | pa.Table,
    folded: pa.Table,
    *,
    stacks: pa.Table | None = None,
    frames: pa.Table | None = None,
    top: int = TOP_THREADS,
) -> dict[str, Any]:
    """Sample counts per event, the heaviest folded stacks, the time span and, per event, the
    samples per thread and (given the run's `stacks` and `frames`, whose ids the samples'
    ``stack_id`` must refer to: the pipeline's ``perf_samples``, ``perf_stacks`` and
    ``perf_frames``) the heaviest symbols and DSOs."""
    parts = [samples] if isinstance(samples, pa.Table) else list(samples)
    table = pa.concat_tables(parts) if parts else None
    events: dict[str, int] = {}
    if table is not None:
        for item in table["event"].value_counts().to_pylist():
            if item["values"] is not None:
                events[item["values"]] = events.get(item["values"], 0) + item["counts"]
    total = int(pc.sum(folded["count"]).as_py() or 0)
    order = pc.sort_indices(folded, [("count", "descending"), ("stack", "ascending")])
    top_stacks = folded.take(order[:TOP_STACKS])  # not a sorted copy of every stack
    section: dict[str, Any] = {
        "samples": table.num_rows if table is not None else 0,
        "events": dict(sorted(events.items())),
        "folded_total": total,
        "top_stacks": [
            {"stack": row["stack"], "count": row["count"], "share": row["count"] / total}
            for row in top_stacks.slice(0, TOP_STACKS).to_pylist()
        ],
    }
    if table is None or table.num_rows == 0:
        return section
    first, last = pc.min(table["time_ns"]).as_py(), pc.max(table["time_ns"]).as_py()
    section["span"] = {
        "first_s": _seconds(first),
        "last_s": _seconds(last),
        "span_s": (last - first) / 1e9 if first is not None and last is not None else None,
    }
    flattened = (
        _Stacks(stacks, frames)
        if stacks is not None and frames is not None and stacks.num_rows
        else None
    )
    by_event: dict[str, Any] = {}
    for event in sorted(events):
        if events[event] == table.num_rows:  # every sample: no copy of the table
            rows = table
        else:
            rows = table.filter(pc.fill_null(pc.equal(table["event"], event), False))
        by_event[event] = _event_section(event, rows, flattened, top)
    section["by_event"] = by_event
    return section


def section(derived: Derived) -> dict[str, Any]:
    """The report's `perf` key: samples, stacks and tracepoint sections of the run."""
    tables = derived.tables
    return {
        "perf": {
            **perf_section(
                tables["perf_samples"],
                tables["perf_folded"],
                stacks=tables["perf_stacks"],
                frames=tables["perf_frames"],
            ),
            **tracepoint_sections(
                tables["perf_block_io"],
                tables["perf_off_cpu"],
                tables["perf_syscall_latency"],
                derived.extras["tracepoint_counts"],
            ),
        }
    }
