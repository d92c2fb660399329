"""Analysis passes: ordered, each turns tables into findings and never prints.

A pass is a callable with a stable rule `code` (``IODnnn``) and a `name`; `PASSES` is the
ordered registry, as sqlglot orders its optimizer rules. The diagnosis passes (slow
syscalls, blocked loops, pile-ups, thread exhaustion) are the subject of a later issue; until
they land the registry is empty and every report has ``findings: []``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Pass(Protocol):
    code: str
    name: str

    def __call__(self, inputs: Sequence[Any]) -> list[dict[str, Any]]: ...


PASSES: tuple[Pass, ...] = ()


def run_passes(inputs: Sequence[Any]) -> list[dict[str, Any]]:
    """Findings of every registered pass, in registry order."""
    findings: list[dict[str, Any]] = []
    for analysis_pass in PASSES:
        findings.extend(analysis_pass(inputs))
    return findings
