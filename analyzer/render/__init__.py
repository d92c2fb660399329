"""Output formats: the registry of renderers and the lookups the CLI uses.

`RENDERERS` is the only list of formats. ``--format NAME`` looks `NAME` up in it
(`renderer_for`), and ``-o FILE`` looks the file's extension up in the same dict
(`renderer_for_path`), so the two can never disagree. To add a format, subclass `Renderer`
and add the class here.
"""

from __future__ import annotations

from pathlib import Path

from analyzer.render.base import Renderer, RenderError, ReportView
from analyzer.render.flamegraph import FlamegraphRenderer
from analyzer.render.folded import FoldedRenderer
from analyzer.render.html import HtmlRenderer
from analyzer.render.jsonout import JsonRenderer
from analyzer.render.markdown import MarkdownRenderer
from analyzer.render.parquet import ParquetRenderer
from analyzer.render.speedscope import SpeedscopeRenderer
from analyzer.render.text import TextRenderer

__all__ = [
    "RENDERERS",
    "FlamegraphRenderer",
    "FoldedRenderer",
    "HtmlRenderer",
    "JsonRenderer",
    "MarkdownRenderer",
    "ParquetRenderer",
    "RenderError",
    "Renderer",
    "ReportView",
    "SpeedscopeRenderer",
    "TextRenderer",
    "renderer_for",
    "renderer_for_path",
]

RENDERERS: dict[str, type[Renderer]] = {
    cls.name: cls
    for cls in (
        TextRenderer,
        MarkdownRenderer,
        HtmlRenderer,
        JsonRenderer,
        ParquetRenderer,
        FoldedRenderer,
        FlamegraphRenderer,
        SpeedscopeRenderer,
    )
}
"""Format name (``--format``) -> renderer class; also searched by extension."""


def renderer_for(name: str) -> Renderer:
    """A new renderer for format `name`; `RenderError` lists the known names otherwise."""
    try:
        cls = RENDERERS[name]
    except KeyError:
        known = ", ".join(RENDERERS)
        raise RenderError(f"unknown output format {name!r} (known: {known})") from None
    return cls()


def renderer_for_path(path: str | Path) -> Renderer | None:
    """A new renderer chosen by the extension of `path` (case-insensitive), or None.

    Only the last suffix counts: ``trace.iodiag.html`` is HTML.
    """
    suffix = Path(path).suffix.lower()
    if not suffix:
        return None
    for cls in RENDERERS.values():
        if suffix in cls.extensions:
            return cls()
    return None
