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
