"""Slice-by-slice helpers for the strace passes that must not hold whole-trace arrays.

A long trace's calls table is memory-mapped; a pass that copies a column of every call into
numpy (a float64 is 8 bytes a call: 650 MiB at 100M lines) is what bounds memory. These
helpers read a slice of rows at a time (`SLICE_ROWS`, patchable in tests) and keep only
small per-slice results: the resource code of a slice's calls with a numbering identical to
`targets.encode_resources` of the whole trace, the times of a few chosen rows, and the
(pandas) group sums of a subset of calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import ROWS_PER_SLICE, contiguous, filled_numpy, row_slices, take_rows

SLICE_ROWS = ROWS_PER_SLICE // 4
"""Rows per slice of the scans here (tests patch it small to cross slice boundaries): a
quarter of `arrays.ROWS_PER_SLICE`, as a slice's target texts, regex matches and codes
take some 200 bytes a row."""


def slices(table: pa.Table, columns: Sequence[str]) -> Iterator[tuple[int, pa.Table]]:
    """`arrays.row_slices` with this module's `SLICE_ROWS` (read at call time): when the
    table is a mapped file (a long trace), the pages a slice read are given back after it."""
    return row_slices(table, columns, SLICE_ROWS)


class ResourceEncoder:
    """Resource codes of a trace's calls, a slice at a time, numbered as
    `targets.encode_resources` numbers them over the whole trace: resources in the order
    of their first call, each with the class of its first target text.

    Feed it the slices in row order (`encode`); `names` and `classes` grow as new resources
    appear. The regexes run on each slice's distinct target texts only."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.classes: list[str | None] = []
        self._codes: dict[str, int] = {}

    def encode(
        self,
        targets: pa.Array | pa.ChunkedArray,
        indices: np.ndarray | None = None,
        classes: pa.Array | None = None,
    ) -> np.ndarray:
        """The code of each row of `targets` (a slice of `with_paths`, or that slice
        dictionary-encoded: `targets.slice_paths`), -1 without one; `indices`: the
        dictionary-encoded slice's indices with -1 for nulls (`targets.coded_slice_paths`),
        `classes` the classes of its dictionary, when known."""
        # imported here: targets imports this module for trace_resources
        from analyzer.passes.targets import resources, target_classes

        encoded = (
            targets
            if isinstance(targets, pa.DictionaryArray)
            else pc.dictionary_encode(contiguous(targets))
        )
        dictionary = encoded.dictionary
        if len(dictionary) == 0:
            return np.full(len(encoded), -1, dtype=np.int64)
        target_codes = (
            np.asarray(filled_numpy(encoded.indices, -1), dtype=np.int64)
            if indices is None
            else indices.astype(np.int64)
        )
        texts = resources(dictionary).to_pylist()
        fresh = [i for i, text in enumerate(texts) if text not in self._codes]
        if fresh:
            # the class of a new resource is that of its first target in this slice (the
            # dictionary keeps first-seen order)
            chosen = pa.array(fresh, pa.int64())
            fresh_classes = (
                target_classes(dictionary.take(chosen)) if classes is None else classes.take(chosen)
            ).to_pylist()
            for index, cls in zip(fresh, fresh_classes, strict=True):
                text = texts[index]
                if text not in self._codes:
                    self._codes[text] = len(self.names)
                    self.names.append(text)
                    self.classes.append(cls)
        mapping = np.array([self._codes[text] for text in texts], dtype=np.int64)
        return np.where(target_codes >= 0, mapping[np.maximum(target_codes, 0)], -1)


def taken(calls: pa.Table, columns: Sequence[str], rows: np.ndarray) -> pa.Table:
    """The `columns` of the calls at `rows` (a few rows of a mapped table), chunk by chunk."""
    result: pa.Table = take_rows(calls.select(list(columns)), rows)
    return result


LARGE_GROUP = 1 << 22
"""Groups with more calls are summed with `math.fsum` (correctly rounded), not pandas:
its group sum takes 17 bytes a value more than the values (516 MiB for 30M calls)."""


def exact_sum(values: np.ndarray) -> float:
    """The sum pandas' ``groupby(...).sum()`` gives a group with these values in this order,
    summed alone: within 1-2 ULP of its sum among the other groups (pandas' compensated
    group sums are not quite independent of the other groups), which the report's rounding
    to the nanosecond absorbs. A group of more than `LARGE_GROUP` calls gets the correctly
    rounded sum, as close."""
    if len(values) == 0:
        return 0.0
    if len(values) > LARGE_GROUP:
        step = 1 << 16
        return math.fsum(
            value
            for start in range(0, len(values), step)
            for value in values[start : start + step].tolist()
        )
    labels = np.zeros(len(values), dtype=np.int8)
    return float(pd.Series(values).groupby(labels, sort=False).sum().iloc[0])
