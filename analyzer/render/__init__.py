"""Output formats: the registry of renderers and the lookups the CLI uses.

`RENDERERS` is the only list of formats. ``--format NAME`` looks `NAME` up in it
(`renderer_for`), and ``-o FILE`` looks the file's extension up in the same dict
(`renderer_for_path`), so the two can never disagree. To add a format, subclass `Renderer`
and add the class to `_CLASSES`. A renderer's module is imported on the first lookup of its
format (an extension lookup imports them all).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer.lazy import LazyImports
from analyzer.render.base import Renderer, RenderError
from analyzer.render.view import ReportView

if TYPE_CHECKING:
    from analyzer.render.flamegraph import FlamegraphRenderer
    from analyzer.render.folded import FoldedRenderer
    from analyzer.render.github import GithubRenderer
    from analyzer.render.html import HtmlRenderer
    from analyzer.render.jsonout import JsonRenderer
    from analyzer.render.junit import JunitRenderer
    from analyzer.render.markdown import MarkdownRenderer
    from analyzer.render.parquet import ParquetRenderer
    from analyzer.render.perfetto import PerfettoRenderer
    from analyzer.render.sarif import SarifRenderer
    from analyzer.render.speedscope import SpeedscopeRenderer
    from analyzer.render.text import TextRenderer

__all__ = [
    "RENDERERS",
    "FlamegraphRenderer",
    "FoldedRenderer",
    "GithubRenderer",
    "HtmlRenderer",
    "JsonRenderer",
    "JunitRenderer",
    "MarkdownRenderer",
    "ParquetRenderer",
    "PerfettoRenderer",
    "RenderError",
    "Renderer",
    "ReportView",
    "SarifRenderer",
    "SpeedscopeRenderer",
    "TextRenderer",
    "renderer_for",
    "renderer_for_path",
]

_CLASSES: dict[str, str] = {
    "text": "analyzer.render.text:TextRenderer",
    "md": "analyzer.render.markdown:MarkdownRenderer",
    "html": "analyzer.render.html:HtmlRenderer",
    "json": "analyzer.render.jsonout:JsonRenderer",
    "parquet": "analyzer.render.parquet:ParquetRenderer",
    "folded": "analyzer.render.folded:FoldedRenderer",
    "flamegraph": "analyzer.render.flamegraph:FlamegraphRenderer",
    "speedscope": "analyzer.render.speedscope:SpeedscopeRenderer",
    "perfetto": "analyzer.render.perfetto:PerfettoRenderer",
    "junit": "analyzer.render.junit:JunitRenderer",
    "sarif": "analyzer.render.sarif:SarifRenderer",
    "github": "analyzer.render.github:GithubRenderer",
}
"""Format name -> ``module:class`` of its renderer; the class's own `name` is the key
(tested). A renderer's module is imported on its first lookup, so a JSON run does not import
the template, chart and rich-text machinery of the others."""

RENDERERS: Mapping[str, type[Renderer]] = LazyImports("RENDERERS", _CLASSES)
"""Format name (``--format``) -> renderer class; also searched by extension."""

_BY_CLASS_NAME = {target.partition(":")[2]: name for name, target in _CLASSES.items()}


def __getattr__(name: str) -> Any:
    """The renderer classes by class name (``from analyzer.render import HtmlRenderer``)."""
    if name in _BY_CLASS_NAME:
        return RENDERERS[_BY_CLASS_NAME[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def renderer_for(name: str) -> Renderer:
    """A new renderer for format `name`, or for a file extension given as one (`markdown`,
    `htm`, `txt`, `svg`); `RenderError` lists the known names otherwise."""
    cls = RENDERERS.get(name.lower())
    if cls is not None:
        return cls()
    by_extension = renderer_for_path(f"output.{name}") if name.isalnum() else None
    if by_extension is None:
        known = ", ".join(RENDERERS)
        raise RenderError(f"unknown output format {name!r} (known: {known})")
    return by_extension


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
