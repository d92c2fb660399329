"""Perf stacks indexed for the passes: which frames a sample's stack holds, fast.

A derivation over the `perf_stacks` / `perf_frames` tables that several passes share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike

MAX_SKIPPED = 16
"""Leaf-side frames a stack prefix may skip (scheduler frames) before its first kept one."""


PYTHON_FRAME = "py::"
"""Prefix of the frames CPython's perf trampoline (-X perf) writes to /tmp/perf-PID.map."""


UNKNOWN = "[unknown]"
DEFAULT_DEPTH = 8
"""Innermost frames kept per stack unless a caller asks for another depth."""


@dataclass(frozen=True)
class StackPrefixes:
    """The innermost frames of some perf stacks as symbol codes.

    Row i is stack ``stack_ids[i]``, column 0 its leaf; -1 pads stacks with fewer frames.
    Codes are ranks in the alphabetically sorted `symbols`, so ordering rows by their codes
    orders them by their symbol text.
    """

    stack_ids: np.ndarray
    codes: np.ndarray
    symbols: np.ndarray

    def text(self, codes: np.ndarray) -> str:
        """A prefix as ``leaf <- caller <- ...`` (the order ``perf sched timehist`` prints)."""
        return " <- ".join(str(self.symbols[code]) for code in codes if code >= 0)

    def heaviest(
        self, weights: np.ndarray, columns: int, top: int, also: np.ndarray | None = None
    ) -> list[tuple[str, float, float]]:
        """The `top` distinct prefixes of `columns` frames by summed weight (ties in text
        order), each as (text, summed weight, summed `also`); empty prefixes are left out."""
        keys = self.codes[:, :columns]
        if len(keys) == 0:
            return []
        group = _row_groups(keys)
        sums = np.bincount(group, weights=weights)
        others = np.bincount(group, weights=weights if also is None else also)
        first_row = np.full(len(sums), len(keys))
        np.minimum.at(first_row, group, np.arange(len(keys)))
        rows = keys[first_row]
        kept = np.flatnonzero(rows[:, 0] >= 0)
        if len(kept) > top:
            # only the groups that can make the top (ties at the cut included) are ordered
            floor = np.partition(sums[kept], len(kept) - top)[len(kept) - top]
            kept = kept[sums[kept] >= floor]
        order = kept[np.lexsort((*rows[kept].T[::-1], -sums[kept]))][:top]
        return [(self.text(rows[i]), float(sums[i]), float(others[i])) for i in order]


def _row_groups(keys: np.ndarray) -> np.ndarray:
    """A group number per row, equal for equal rows: the columns are folded in one at a time,
    re-numbered after each so the key stays small."""
    group = np.zeros(len(keys), dtype=np.int64)
    for column in keys.T:
        combined = group * (int(column.max(initial=0)) + 2) + (column + 1)
        _, group = np.unique(combined, return_inverse=True)
        group = group.ravel()
    return group


@dataclass(frozen=True)
class StackIndex:
    """Every perf stack's frames as symbol codes, built once per run: the frame ids of all
    stacks end to end (`frame_ids`, leaf first, stack i at ``offsets[i]:offsets[i+1]``)."""

    stack_rows: pd.Index
    offsets: np.ndarray
    frame_ids: np.ndarray
    frame_codes: np.ndarray
    """Symbol code of each frame id (-1 for ids not in perf_frames)."""
    symbols: np.ndarray
    python: np.ndarray
    """Per symbol code: a CPython perf-trampoline frame (``py::``)."""

    @classmethod
    def build(cls, perf: Mapping[str, pa.Table]) -> StackIndex | None:
        stacks, frames = perf.get("perf_stacks"), perf.get("perf_frames")
        if stacks is None or frames is None or stacks.num_rows == 0:
            return None
        encoded = pc.dictionary_encode(pc.fill_null(frames["symbol"], UNKNOWN)).combine_chunks()
        order = np.asarray(pc.array_sort_indices(encoded.dictionary))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        ids = np.asarray(frames["frame_id"].to_numpy(), dtype=np.int64)
        frame_codes = np.full(int(ids.max(initial=-1)) + 1, -1, dtype=np.int64)
        frame_codes[ids] = rank[np.asarray(encoded.indices)]
        lists = stacks["frame_ids"].combine_chunks()
        sorted_symbols = encoded.dictionary.take(order)
        # in Arrow: numpy's fixed-width text (``astype(str)``) of 1.4M distinct symbols of
        # up to a few hundred characters took over a gigabyte
        python = pc.starts_with(sorted_symbols, PYTHON_FRAME).to_numpy(zero_copy_only=False)
        return cls(
            stack_rows=pd.Index(np.asarray(stacks["stack_id"].to_numpy(), dtype=np.int64)),
            offsets=np.asarray(lists.offsets, dtype=np.int64),
            frame_ids=np.asarray(lists.values, dtype=np.int64),
            frame_codes=frame_codes,
            symbols=np.asarray(sorted_symbols.to_numpy(zero_copy_only=False)),
            python=np.asarray(python, dtype=bool),
        )

    def _codes(self, flat_positions: np.ndarray) -> np.ndarray:
        ids = self.frame_ids[flat_positions]
        inside = (ids >= 0) & (ids < len(self.frame_codes))
        return np.where(inside, self.frame_codes[np.where(inside, ids, 0)], -1)

    def _extent(self, stack_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = self.stack_rows.get_indexer(stack_ids)
        found = rows >= 0
        starts = np.where(found, self.offsets[np.maximum(rows, 0)], 0)
        ends = np.where(found, self.offsets[np.maximum(rows, 0) + 1], 0)
        return starts, ends - starts

    def prefixes(
        self, stack_ids: ArrayLike, depth: int = DEFAULT_DEPTH, skip: frozenset[str] = frozenset()
    ) -> StackPrefixes:
        """The innermost `depth` frames of each stack (ids sorted and made unique), after
        dropping the leaf-side frames named in `skip` (``__schedule``...: they say that a
        thread slept, not why)."""
        ids = np.unique(np.asarray(stack_ids, dtype=np.int64))
        starts, lengths = self._extent(ids)
        width = depth + (MAX_SKIPPED if skip else 0)
        column = np.arange(width)
        present = column < lengths[:, None]
        positions = np.where(present, starts[:, None] + column, 0)
        codes = np.where(present, self._codes(positions), -1)
        if skip:
            skipped = np.isin(codes, np.flatnonzero(np.isin(self.symbols, sorted(skip))))
            wanted = np.argmin(skipped, axis=1)[:, None] + np.arange(depth)  # from the first kept
            shifted = np.take_along_axis(codes, np.minimum(wanted, width - 1), axis=1)
            codes = np.where(wanted < width, shifted, -1)
        return StackPrefixes(ids, codes[:, :depth], self.symbols)

    def python_leaves(self, stack_ids: ArrayLike) -> StackPrefixes:
        """The innermost ``py::`` frame of each stack (one column, -1 when it has none)."""
        ids = np.unique(np.asarray(stack_ids, dtype=np.int64))
        starts, lengths = self._extent(ids)
        owner = np.repeat(np.arange(len(ids)), lengths)
        first = np.repeat(np.cumsum(lengths) - lengths, lengths)
        codes = self._codes(np.repeat(starts, lengths) + np.arange(lengths.sum()) - first)
        is_python = (codes >= 0) & self.python[np.maximum(codes, 0)]
        leaf = np.full((len(ids), 1), -1, dtype=np.int64)
        stacks, first_python = np.unique(owner[is_python], return_index=True)
        leaf[stacks, 0] = codes[is_python][first_python]
        return StackPrefixes(ids, leaf, self.symbols)


def perf_input(perf: Mapping[str, pa.Table]) -> str | None:
    """The perf input the tables came from, when there is exactly one (the sample tables
    have no input column; `perf_folded` names the inputs in its schema metadata, and in
    its `input` column those that folded something)."""
    folded = perf.get("perf_folded")
    if folded is None:
        return None
    named = (folded.schema.metadata or {}).get(b"iodiag.inputs")
    if named is not None:
        inputs = named.decode("utf-8", "surrogateescape").split("\n")
    else:
        inputs = pc.unique(folded["input"]).drop_null().to_pylist()
    return str(inputs[0]) if len(inputs) == 1 else None
