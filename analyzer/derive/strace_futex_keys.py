"""The futex key (``futex PID:ADDRESS``) of a few calls of a long trace, without reading
every futex call into memory.

`strace_locks.futex_calls` keys every futex call of a trace (its arrays: ~40 bytes per
futex call, kept for the lock passes). A pass that needs the key of a handful of calls (the
futex waits inside a blocked loop's episodes) gets the same keys here: the address and the
operation are read from the calls' argument heads as `read_futex_calls` reads them, and the
one thing that needs the whole trace, the pairing of a glibc condition variable's two words
(`strace_locks._condvar_pairs`), is read in one scan of the futex calls, a slice at a time,
that keeps only the distinct (process, address) pairs waited on with FUTEX_WAIT_BITSET and
the distinct addresses. The scan runs only when one of the calls asked about may be a
condition variable's second word.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy, numbers
from analyzer.derive import strace_slices
from analyzer.derive.strace import StraceTables
from analyzer.derive.strace_locks import (
    _ADDRESS_AND_OP,
    ARGS_HEAD,
    base_op,
    futex_key,
    hex_value,
)

BITSET_WAIT = "FUTEX_WAIT_BITSET"


def _futex_mask(names: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return filled_numpy(pc.equal(names, "futex"), False)


def _heads(args: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, list[str | None], list[str]]:
    """Per call, the code of its argument head (-1 without arguments), and per head its
    address (None when unreadable) and its operation without flags (``?`` unreadable)."""
    heads = pc.dictionary_encode(
        pc.binary_slice(pc.cast(args, pa.binary()), 0, ARGS_HEAD).combine_chunks()
        if isinstance(args, pa.ChunkedArray)
        else pc.binary_slice(pc.cast(args, pa.binary()), 0, ARGS_HEAD)
    )
    parts = pc.extract_regex(pc.cast(heads.dictionary, pa.string()), _ADDRESS_AND_OP)
    addresses = pc.struct_field(parts, "address").to_pylist()
    ops = [base_op(text) or "?" for text in pc.struct_field(parts, "op").to_pylist()]
    codes = np.asarray(filled_numpy(heads.indices, -1), np.int64)
    return codes, addresses, ops


def _pids(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.nan_to_num(numbers(column), nan=-1).astype(np.int64)


def _pairing(calls: pa.Table) -> tuple[set[tuple[int, str]], dict[int, str]]:
    """Over every futex call: the (pid, address) pairs waited on with FUTEX_WAIT_BITSET, and
    per address value the address text that appeared first LAST (`_condvar_pairs` looks a
    value up in a dict built over the addresses in order of first appearance)."""
    waited: set[tuple[int, str]] = set()
    seen: set[str] = set()
    text_of_value: dict[int, str] = {}
    for _, part in strace_slices.slices(calls, ["syscall", "args", "pid"]):
        local = np.flatnonzero(_futex_mask(part["syscall"]))
        if len(local) == 0:
            continue
        indices = pa.array(local)
        codes, addresses, ops = _heads(part["args"].take(indices))
        for text in addresses:  # the heads in order of first appearance
            if text is not None and text not in seen:
                seen.add(text)
                value = hex_value(text)
                if value >= 0:
                    text_of_value[value] = text
        bitset = np.array(
            [
                op == BITSET_WAIT and text is not None
                for op, text in zip(ops, addresses, strict=True)
            ]
            + [False],
            dtype=bool,
        )
        waits = bitset[codes]
        if waits.any():
            pids = _pids(part["pid"].take(indices))[waits]
            found = np.unique(np.stack([pids, codes[waits]], axis=1), axis=0)
            waited.update((int(pid), str(addresses[code])) for pid, code in found.tolist())
    return waited, text_of_value


def futex_keys_at(trace: StraceTables, rows: np.ndarray) -> np.ndarray:
    """For each of `rows` (rows of the trace's calls), the key `futex_calls` gives a futex
    call there as `futex_key` names it; None for other calls and futex calls without a
    readable address."""
    rows = np.asarray(rows, dtype=np.int64)
    keys = np.full(len(rows), None, dtype=object)
    if len(rows) == 0:
        return keys
    calls = trace.syscalls
    taken = strace_slices.take(calls, ["syscall", "args", "pid"], rows)
    at = np.flatnonzero(_futex_mask(taken["syscall"]))
    if len(at) == 0:
        return keys
    indices = pa.array(at)
    codes, addresses, _ = _heads(taken["args"].take(indices))
    pids = _pids(taken["pid"].take(indices))
    texts = [addresses[code] if code >= 0 else None for code in codes.tolist()]
    second_words = any(text is not None and hex_value(text) % 8 == 4 for text in texts)
    waited, text_of_value = _pairing(calls) if second_words else (set(), {})
    for index, pid, text in zip(at.tolist(), pids.tolist(), texts, strict=True):
        if text is None:
            continue
        value = hex_value(text)
        first = text_of_value.get(value - 4) if value % 8 == 4 else None
        if first is not None and (pid, text) in waited and (pid, first) in waited:
            text = first
        keys[index] = futex_key(pid, text)
    return keys
