"""`strace_waits.waits_for_client` and `resource_waits` without whole-trace columns.

Both are row by row except for what the whole trace decides: the addresses the trace listens
on (a server's accepted connections) and, for `resource_waits`, the periodic waits of a
thread on one target. So the functions themselves run here on small tables: a slice of
calls (or the poll/select calls alone) behind one row per listening target of the trace,
with the `wait_fds` rows of those calls renumbered. Their results are the whole-trace ones
(tests/passes/test_call_slices.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import contiguous, filled_numpy, is_in, selected_rows, take_rows
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_waits import WAITS_ON_SETS, resource_waits, waits_for_client
from analyzer.passes import call_slices
from analyzer.passes.call_names import NamedScan
from analyzer.passes.targets import once_per_trace

ACCEPTING = frozenset({"accept", "accept4", "listen"})
"""The calls whose targets `strace_waits.server_side` reads the listening addresses from."""
CLIENT_READS = frozenset({"read", "readv", "recv", "recvfrom", "recvmsg", "recvmmsg"})
"""The calls `strace_waits.waits_for_client` can find waiting by their name, besides the
polls for input of the trace's `wait_fds` (its receives: a test checks they are the same)."""
CLIENT_COLUMNS = ["syscall", "target"]
"""What `strace_waits.waits_for_client` reads of the calls."""
COLUMNS = ["syscall", "target", "target_kind", "aux", "tid"]
"""The columns the two functions read."""


def _listeners(calls: pa.Table, trace: StraceTables | None) -> pa.Table:
    """One accepting call per distinct target (the first): all `server_side` needs to know
    which addresses the trace listens on (once per trace: the two functions here read it)."""
    if trace is not None and trace.syscalls is calls:
        known = once_per_trace(
            trace, ("listeners",), lambda: _accepting(calls, NamedScan(trace, ACCEPTING))
        )
        assert isinstance(known, pa.Table)
        return known
    return _accepting(calls, lambda part: is_in(part["syscall"], ACCEPTING))


def _accepting(calls: pa.Table, keep: Callable[[pa.Table], np.ndarray]) -> pa.Table:
    rows = selected_rows(calls, ["syscall"], keep, call_slices.SLICE_ROWS)
    targets = pc.dictionary_encode(contiguous(take_rows(calls["target"], rows)))
    codes = filled_numpy(targets.indices, -1)
    firsts = np.unique(codes, return_index=True)[1]
    listeners: pa.Table = take_rows(calls.select(COLUMNS), rows[np.sort(firsts)])
    return listeners


def _renumbered(wait_fds: pa.Table | None, rows: np.ndarray, shift: int) -> pa.Table | None:
    """The `wait_fds` of the calls at `rows` (ascending), numbered by their position among
    them plus `shift`."""
    if wait_fds is None or wait_fds.num_rows == 0:
        return wait_fds
    numbers = np.asarray(wait_fds["row"].to_numpy(zero_copy_only=False), dtype=np.int64)
    at = np.searchsorted(rows, numbers)
    inside = (at < len(rows)) & (rows[np.minimum(at, len(rows) - 1)] == numbers)
    picked = wait_fds.filter(pa.array(inside))
    position = pa.array(shift + at[inside], pa.int64())
    return picked.set_column(picked.schema.get_field_index("row"), "row", position)


def _named(
    calls: pa.Table, trace: StraceTables | None, names: frozenset[str]
) -> Callable[[pa.Table], np.ndarray]:
    """Which calls of a slice have one of `names`, for a scan of `calls` in row order: from
    the names the passes share when `calls` are the `trace`'s."""
    if trace is not None and trace.syscalls is calls:
        return NamedScan(trace, names)
    return lambda part: is_in(part["syscall"], names)


def client_waits(
    calls: pa.Table, wait_fds: pa.Table | None = None, trace: StraceTables | None = None
) -> np.ndarray:
    """`waits_for_client(calls, wait_fds)`, run on the calls it can find waiting alone (the
    receives and the polls for input: it finds no other) with the two columns it reads, a
    slice of calls at a time (`trace`: the trace whose calls these are, when they are)."""
    found = np.zeros(calls.num_rows, dtype=bool)
    listeners = _listeners(calls, trace)
    if listeners.num_rows == 0:
        return found
    polls = np.zeros(0, dtype=np.int64)
    if wait_fds is not None and wait_fds.num_rows:
        wants_in = pc.is_in(wait_fds["want"], value_set=pa.array(["in", "inout"]))
        polls = np.unique(np.asarray(wait_fds["row"].filter(wants_in).to_numpy(), np.int64))
    shift = listeners.num_rows
    heads = listeners.select(CLIENT_COLUMNS)
    reads = _named(calls, trace, CLIENT_READS)
    # a slice at a time: only a slice's candidates are held (a receive in four calls)
    for offset, part in call_slices.slices(calls, CLIENT_COLUMNS):
        candidate = np.array(reads(part), dtype=bool)
        low, high = np.searchsorted(polls, [offset, offset + part.num_rows])
        candidate[polls[low:high] - offset] = True
        local = np.flatnonzero(candidate)
        if len(local) == 0:
            continue
        rows = offset + local
        table = pa.concat_tables([heads, take_rows(part, local)])
        found[rows] = waits_for_client(table, _renumbered(wait_fds, rows, shift))[shift:]
    return found


def one_resource_waits(
    calls: pa.Table, wait_fds: pa.Table | None = None, trace: StraceTables | None = None
) -> np.ndarray:
    """`resource_waits(calls, wait_fds)`, run on the poll and select calls alone (`trace`:
    the trace whose calls these are, when they are)."""
    found = np.zeros(calls.num_rows, dtype=bool)
    rows = selected_rows(
        calls, ["syscall"], _named(calls, trace, WAITS_ON_SETS), call_slices.SLICE_ROWS
    )
    if len(rows) == 0:
        return found
    listeners = _listeners(calls, trace)
    shift = listeners.num_rows
    table = pa.concat_tables([listeners, take_rows(calls.select(COLUMNS), rows)])
    found[rows] = resource_waits(table, _renumbered(wait_fds, rows, shift))[shift:]
    return found
