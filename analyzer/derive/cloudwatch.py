"""From parsed CloudWatch exports to the run's cloudwatch tables: every input's tables concatenated
(`analyzer.derive.evidence_tables`); `analyzer.derive.timeline` puts their times on the run's
clock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analyzer.derive.evidence_tables import concatenated
from analyzer.formats.cloudwatch import SPECS
from analyzer.model import Derived, ParsedInput


def derive(inputs: Sequence[ParsedInput[Any]]) -> Derived:
    """The cloudwatch tables of the run (`SPECS`), one set per input concatenated."""
    return concatenated(inputs, SPECS)
