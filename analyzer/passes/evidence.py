"""What the passes that join strace with thread snapshots, py-spy dumps and device or cloud
metrics share: the run's alignment (`analyzer.derive.timeline`) and citations of the lines of
those inputs.

A finding cites lines of one input (`Finding.lines`, in `Finding.input`); the lines of the
other inputs it rests on go to its evidence as ``citations``: ``[{source, input, line,
what}]``, and its message names them as ``file:line``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analyzer.passes.base import PassInputs

if TYPE_CHECKING:
    from analyzer.derive.timeline import Alignment, Reference

__all__ = ["EVIDENCE_TABLES", "Timeline", "citation", "file_line", "has_evidence", "timeline"]

EVIDENCE_TABLES = frozenset(
    {
        "top_samples",
        "top_threads",
        "ps_snapshots",
        "ps_threads",
        "ps_nlwp",
        "pidstat_threads",
        "pidstat_intervals",
        "pyspy_dumps",
        "pyspy_threads",
        "iostat_devices",
        "iostat_cpu",
        "cloud_metrics",
    }
)
"""The tables of the snapshot and metrics sources (present only when the run has such an
input)."""


def has_evidence(inputs: PassInputs, names: Iterable[str] = EVIDENCE_TABLES) -> bool:
    """Whether the run has rows in any of these tables: the passes that join them return at
    once otherwise, without importing the joins (a strace-only run stays light)."""
    return any(name in inputs.tables and inputs.tables[name].num_rows for name in names)


class Timeline:
    """The run's alignment: each snapshot/metrics input by name, and the reference clock."""

    def __init__(self, alignments: Sequence[Alignment]) -> None:
        self.alignments = {alignment.input: alignment for alignment in alignments}
        self.reference: Reference | None = next(
            (a.reference for a in alignments if a.reference is not None), None
        )

    def on_trace(self, trace_input: str | None) -> bool:
        """Whether the reference clock is this strace input's."""
        return self.reference is not None and self.reference.input == trace_input

    def methods(self, names: Iterable[str]) -> dict[str, str]:
        """Input -> how it was aligned (for the evidence)."""
        found = {}
        for name in names:
            alignment = self.alignments.get(name)
            if alignment is not None:
                text = f"{alignment.method}, {alignment.offset_s or 0.0:+.3f} s"
                if alignment.reason:
                    text += f" ({alignment.reason})"
                found[name] = text
        return found


def timeline(inputs: PassInputs) -> Timeline:
    from analyzer.derive.timeline import align_all

    return Timeline(align_all(inputs.traces, inputs.tables))


def file_line(input_name: object, line: object) -> str:
    """``top.txt:37`` for a citation in a message."""
    name = PurePath(str(input_name)).name
    if isinstance(line, (int, float, np.integer, np.floating)) and not pd.isna(line):
        return f"{name}:{int(line)}"
    return name


def citation(source: str, input_name: object, line: object, what: str) -> dict[str, Any]:
    """One line of another input a finding rests on."""
    number = None
    if isinstance(line, (int, float, np.integer, np.floating)) and not pd.isna(line):
        number = int(line)
    return {"source": source, "input": str(input_name), "line": number, "what": what}
