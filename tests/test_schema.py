"""docs/schema.md is generated from analyzer/schema.py and the tables follow it."""

from __future__ import annotations

from pathlib import Path

import analyzer
from analyzer.schema import SCHEMA_VERSION, TABLES, render_markdown
from analyzer.schema_doc import every_table

ROOT = Path(__file__).resolve().parent.parent


def test_schema_doc_is_up_to_date() -> None:
    assert (ROOT / "docs" / "schema.md").read_text() == render_markdown(every_table())


def test_result_tables_carry_their_documented_schema() -> None:
    result = analyzer.analyze(ROOT / "fixtures" / "strace" / "logs" / "mt_pipes.f_tt_T.log")
    specs = {spec.name: spec for spec in TABLES}
    for name, table in result.tables.items():
        spec = specs[name]
        assert table.schema.equals(spec.schema, check_metadata=False), name
        assert table.schema.metadata[b"iodiag.schema"] == f"{name}/{SCHEMA_VERSION}".encode()
        for column in spec.columns:
            assert table.schema.field(column.name).metadata[b"doc"] == column.doc.encode()
