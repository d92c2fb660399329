"""``python -m analyzer.schema_doc > docs/schema.md``: the documentation of every table.

The tables of the first sources are specified in `analyzer.schema`; a source added later
declares its own (`analyzer.sources.base.Source.tables`), so that adding one touches only
its files. This module gathers both, in registry order.
"""

from __future__ import annotations

import sys

from analyzer.schema import TABLES, TableSpec, render_markdown
from analyzer.sources import SOURCES


def every_table() -> list[TableSpec]:
    """The specs of `analyzer.schema`, then each source's own, without repeats."""
    specs = list(TABLES)
    names = {spec.name for spec in specs}
    for source in SOURCES.values():
        for spec in source.tables:
            if spec.name not in names:
                specs.append(spec)
                names.add(spec.name)
    return specs


if __name__ == "__main__":
    sys.stdout.write(render_markdown(every_table()))
