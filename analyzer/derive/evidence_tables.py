"""What the derivations of the snapshot and metrics sources share (top, ps, pidstat, py-spy,
iostat, CloudWatch): each input's tables concatenated, in input order.

Those parsers already make one row per thread per snapshot, per device per report, per
metric value; their derivation is the concatenation of the inputs' tables (with the `input`
column telling them apart). What joins them with the other sources' times lives in
`analyzer.derive.timeline`, where the passes and the sections read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from analyzer.model import Derived, ParsedInput
from analyzer.schema import TableSpec

__all__ = ["concatenated"]


def concatenated(inputs: Sequence[ParsedInput[Any]], specs: Sequence[TableSpec]) -> Derived:
    """Each table of `specs` over all `inputs` (their parsed results have ``tables`` by
    name), in input order; an empty table of the spec's schema when there is no input."""
    tables: dict[str, pa.Table] = {}
    for spec in specs:
        parts = [item.parsed.tables[spec.name] for item in inputs]
        tables[spec.name] = pa.concat_tables(parts) if parts else spec.schema.empty_table()
    return Derived(tables)
