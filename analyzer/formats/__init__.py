"""Input formats: one module per format, each with `sniff(head) -> score` and `parse(...)`.

`FORMATS` is the registry the pipeline and the CLI look formats up in; `detect_format`
picks the format whose sniffer is most confident about the first bytes of an input.
A format's module (and with it Arrow) is imported when the registry is first asked for that
format, so that the folding fast path (`analyzer.cli.fold`) can import `perf_assemble`
alone, and a strace run never imports the asyncio and perf parsers.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from analyzer.lazy import LazyImports

MIN_CONFIDENCE = 0.3
MAX_CONFIDENCE = 1.0
"""Every sniffer's score is between 0 and this."""

_MODULES: dict[str, str] = {
    "strace": "analyzer.formats.strace",
    "perf": "analyzer.formats.perf",
    "asyncio": "analyzer.formats.asyncio",
}
"""Format name (the module's `NAME`) -> module, in the order `detect_format` breaks ties."""


@functools.cache
def registry() -> Mapping[str, ModuleType]:
    """The format modules by name, in the order `detect_format` breaks ties."""
    return LazyImports("FORMATS", _MODULES)


def __getattr__(name: str) -> Any:
    if name == "FORMATS":
        return registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def detect_format(head: bytes) -> str | None:
    """The name of the format the input looks like, or None.

    The most confident sniffer wins, the earlier format on a tie. A format that scores the
    highest possible confidence cannot be beaten by a later one, so the later sniffers (and
    their modules) are skipped.
    """
    best, best_score = None, -1.0
    for name, module in registry().items():
        score = module.sniff(head)
        if score > best_score:
            best, best_score = name, score
        if best_score >= MAX_CONFIDENCE:
            break
    return best if best is not None and best_score >= MIN_CONFIDENCE else None
