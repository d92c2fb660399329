"""Input formats: one module per format, each with `sniff(head) -> score` and `parse(...)`.

`FORMATS` is the registry the pipeline and the CLI look formats up in; `detect_format`
picks the format whose sniffer is most confident about the first bytes of an input.
The format modules (and with them Arrow) are imported on the first use of the registry, so
that the folding fast path (`analyzer.perf.fold_fast`) can import `perf_assemble` alone.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

MIN_CONFIDENCE = 0.3


@functools.cache
def registry() -> dict[str, ModuleType]:
    """The format modules by name, in the order `detect_format` breaks ties."""
    from analyzer.formats import asyncio_log, perf_script, strace

    return {module.NAME: module for module in (strace, perf_script, asyncio_log)}


def __getattr__(name: str) -> Any:
    if name == "FORMATS":
        return registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def detect_format(head: bytes) -> str | None:
    """The name of the format the input looks like, or None."""
    scores = {name: module.sniff(head) for name, module in registry().items()}
    best = max(scores, key=lambda name: scores[name])
    return best if scores[best] >= MIN_CONFIDENCE else None
