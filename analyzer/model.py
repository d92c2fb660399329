"""Result types that flow from the analysis stages to the renderers.

`AnalysisResult.report` is the JSON-ready report (contract `iodiag.report/1`,
docs/report-json.md); `AnalysisResult.tables` holds the Arrow tables behind it
(docs/schema.md). Renderers read these and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class AnalysisResult:
    """Everything one run of `analyzer.analyze` produced."""

    report: dict[str, Any]
    """The `iodiag.report/1` document: plain JSON types only, keys as documented."""
    tables: Mapping[str, pa.Table] = field(default_factory=dict)
    """Named Arrow tables (`syscalls`, `signals`, `exits`, `tasks`, ...), one set per input
    concatenated, each with an `input` column naming the input it came from."""


@dataclass(frozen=True)
class StraceTables:
    """Everything derived from one trace (one input, or one merged -ff set)."""

    input: str
    syscalls: pa.Table
    signals: pa.Table
    exits: pa.Table
    tasks: pa.Table
    first_s: float | None
    """Earliest timestamp on the trace clock, in seconds (None without timestamps)."""
    last_s: float | None
    clock: str | None = None
    """How the trace clock reads: ``clock`` (-t/-tt: seconds since the first day's midnight,
    local time), ``epoch`` (-ttt), ``relative`` (-r), ``mixed`` or None (no timestamps)."""
    has_durations: bool = False
    """Whether the trace has `-T` durations."""
    follows_forks: bool = False
    """Whether the trace shows more than one task (-f/-ff), so other threads are visible."""

    @property
    def wall_s(self) -> float | None:
        if self.first_s is None or self.last_s is None:
            return None
        return self.last_s - self.first_s
