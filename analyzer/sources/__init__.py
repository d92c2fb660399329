"""The registry of sources (`SOURCES`) and format detection (`detect`).

To add a source, write its modules (see `analyzer.sources.base`) and add one line to
`_SOURCES`. A source's module, and with it its parser, is imported when the registry is first
asked for it, so that a strace run does not import the perf and asyncio parsers unless
detection needs their sniffers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analyzer.lazy import LazyImports

MIN_CONFIDENCE = 0.3
MAX_CONFIDENCE = 1.0
"""Every sniffer's score is between 0 and this."""

_SOURCES: dict[str, str] = {
    "strace": "analyzer.sources.strace:SOURCE",
    "top": "analyzer.sources.top:SOURCE",
    "ps_threads": "analyzer.sources.ps_threads:SOURCE",
    "pidstat": "analyzer.sources.pidstat:SOURCE",
    "pyspy": "analyzer.sources.pyspy:SOURCE",
    "iostat": "analyzer.sources.iostat:SOURCE",
    "cloudwatch": "analyzer.sources.cloudwatch:SOURCE",
    "perf": "analyzer.sources.perf:SOURCE",
    "asyncio": "analyzer.sources.asyncio:SOURCE",
}
"""Source name -> its `Source` object, in the order `detect` breaks ties and the report lists
sections."""

SOURCES: Mapping[str, Any] = LazyImports("SOURCES", _SOURCES)
"""Source name -> `analyzer.sources.base.Source`."""


def detect(head: bytes) -> str | None:
    """The name of the source the input looks like, or None.

    The most confident sniffer wins, the earlier source on a tie. A source that scores the
    highest possible confidence cannot be beaten by a later one, so the later sniffers (and
    their modules) are skipped.
    """
    best, best_score = None, -1.0
    for name, source in SOURCES.items():
        score = source.sniff(head)
        if score > best_score:
            best, best_score = name, score
        if best_score >= MAX_CONFIDENCE:
            break
    return best if best is not None and best_score >= MIN_CONFIDENCE else None
