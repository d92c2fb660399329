"""Input formats: one module per format, each with `sniff(head) -> score` and `parse(...)`.

`FORMATS` is the registry the pipeline and the CLI look formats up in; `detect_format`
picks the format whose sniffer is most confident about the first bytes of an input.
"""

from __future__ import annotations

from types import ModuleType

from analyzer.formats import asyncio_log, perf_script, strace

FORMATS: dict[str, ModuleType] = {
    module.NAME: module for module in (strace, perf_script, asyncio_log)
}

MIN_CONFIDENCE = 0.3


def detect_format(head: bytes) -> str | None:
    """The name of the format the input looks like, or None."""
    scores = {name: module.sniff(head) for name, module in FORMATS.items()}
    best = max(scores, key=lambda name: scores[name])
    return best if scores[best] >= MIN_CONFIDENCE else None
