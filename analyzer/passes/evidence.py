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
from typing import Any

import numpy as np
import pandas as pd

from analyzer.derive.timeline import Alignment, Reference, align_all
from analyzer.passes.base import PassInputs

__all__ = ["Timeline", "citation", "file_line", "timeline"]


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
