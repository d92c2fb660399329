"""From parsed ps thread-snapshot logs to the run's ps_threads tables: every input's tables
concatenated (`analyzer.derive.evidence_tables`); `analyzer.derive.timeline` puts their times
on the run's clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analyzer.derive.evidence_tables import concatenated
from analyzer.formats.ps_threads import SPECS
from analyzer.model import Derived, ParsedInput


def derive(inputs: Sequence[ParsedInput[Any]]) -> Derived:
    """The ps_threads tables of the run (`SPECS`), one set per input concatenated."""
    return concatenated(inputs, SPECS)
