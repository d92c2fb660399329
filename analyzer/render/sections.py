"""The order of the sources' sections in every report, and where each source's parts are.

A report has one section per source (`analyzer.sources.SOURCES`), in the order of
`section_names`: `SECTION_ORDER`, then any other source in registry order. Every format
follows that one order. A source's parts are found by their names, so a new source adds its
own files and no renderer changes:

- ``analyzer/render/<source>_view.py``: ``section_view(view) -> object | None``, the source's
  part of the report laid out for display (`analyzer.render.view.ReportView.sections`);
- ``analyzer/render/<source>_text.py``: ``print_section(console, view)``, its part of the
  terminal summary;
- ``analyzer/render/<source>_plots.py``: ``section_charts(view, result, limits)``, its charts
  in the HTML report (name -> SVG text, or None when there is nothing to draw);
- ``reports/sections/<source>.html.j2`` and ``reports/sections/<source>.md.j2``: its partials,
  imported by ``report.html.j2`` and ``report.md.j2`` (see `analyzer.render.templates`).

A source without one of these files has no such part.
"""

from __future__ import annotations

import importlib
import importlib.util
from functools import cache
from types import ModuleType

__all__ = ["SECTION_ORDER", "section_modules", "section_names"]

SECTION_ORDER: tuple[str, ...] = ("strace", "asyncio", "perf")
"""The sources whose sections come first, in this order."""


@cache
def section_names() -> tuple[str, ...]:
    """The sources in report order: `SECTION_ORDER`, then the others in `SOURCES` order."""
    from analyzer.sources import SOURCES  # iterating the registry imports no source

    return (*SECTION_ORDER, *(name for name in SOURCES if name not in SECTION_ORDER))


@cache
def section_modules(kind: str) -> tuple[tuple[str, ModuleType], ...]:
    """(source, module) for each ``analyzer.render.<source>_<kind>`` module that exists
    (`kind` is ``view``, ``text`` or ``plots``), in report order. Imports them."""
    found: list[tuple[str, ModuleType]] = []
    for name in section_names():
        module_name = f"{__package__}.{name}_{kind}"
        if importlib.util.find_spec(module_name) is not None:
            found.append((name, importlib.import_module(module_name)))
    return tuple(found)
