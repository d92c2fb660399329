"""Parquet hand-off (``--format parquet -o DIR``): a partitioned Parquet dataset per table.

Each table of `AnalysisResult.tables` becomes a folder, ``DIR/<table>/input_no=<n>/
part-NNNNN.parquet`` (`parquet_dataset`), written as its rows stream by, and
``DIR/manifest.json`` says what is there: the format version, the schema version and each
table's schema name, columns (with their docs and units), row count and files, and which
input each ``input_no`` is. The files keep the tables' schema and field metadata
(``iodiag.schema``, per-column ``doc``/``unit``, see docs/schema.md), so DuckDB, Polars and
pandas query them in place without loading them whole, e.g.
``duckdb -c "select count(*) from read_parquet('DIR/syscalls/**/*.parquet',
hive_partitioning=true)"``; docs/parquet.md has example queries.
Parquet output is a directory, not a stream: use `ParquetRenderer.write`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

import pyarrow as pa

from analyzer import __version__
from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer, RenderError
from analyzer.schema import SCHEMA_VERSION

__all__ = ["DATASET_FORMAT", "MANIFEST", "ParquetRenderer"]

DATASET_FORMAT = "iodiag.parquet/1"
"""The version of the dataset's layout and of its manifest (docs/parquet.md)."""
MANIFEST = "manifest.json"

_TABLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _schema_of(source: Any) -> pa.Schema | None:
    schema = getattr(source, "schema", None)
    return schema if isinstance(schema, pa.Schema) else None


def _columns(schema: pa.Schema) -> list[dict[str, str]]:
    columns = []
    for item in schema:
        meta = item.metadata or {}
        column = {"name": item.name, "type": str(item.type)}
        for key in ("unit", "doc"):
            if key.encode() in meta:
                column[key] = meta[key.encode()].decode()
        columns.append(column)
    return columns


def _input_names(result: AnalysisResult) -> list[str]:
    inputs = result.report.get("inputs") if isinstance(result.report, Mapping) else None
    names: list[str] = []
    for item in inputs or []:
        path = item.get("path") if isinstance(item, Mapping) else None
        if isinstance(path, str) and path not in names:
            names.append(path)
    return names


class ParquetRenderer(Renderer):
    """Writes every Arrow table of the result as a partitioned Parquet dataset in a directory."""

    name: ClassVar[str] = "parquet"
    extensions: ClassVar[tuple[str, ...]] = (".parquet",)
    manifest: ClassVar[str] = MANIFEST

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        raise RenderError(
            "parquet output is a directory of files (a folder per table), not a stream: "
            "pass a directory with -o DIR (it is created if missing)"
        )

    def write(self, result: AnalysisResult, directory: Path) -> list[Path]:
        """Write a folder per table and ``manifest.json`` into `directory` (created if
        missing). A table is an Arrow table or anything `write_table_dataset` streams from
        (then it needs a ``schema`` attribute, or batches to take it from).

        Returns the paths written: the manifest, then the table folders in name order.
        Raises `RenderError` for a table name that is not a plain file name.
        """
        from analyzer.render.parquet_dataset import (  # only this output writes Parquet
            FILE_ROWS,
            PARTITION_KEY,
            ROW_GROUP_ROWS,
            write_table_dataset,
        )

        directory = Path(directory)
        for name in result.tables:
            if not _TABLE_NAME.fullmatch(name) or name == MANIFEST:
                raise RenderError(f"table name {name!r} cannot be used as a folder name")
        if directory.exists() and not directory.is_dir():
            raise RenderError(f"{directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        inputs = _input_names(result)

        def number_of(input_name: str | None) -> int:
            name = "" if input_name is None else input_name
            if name not in inputs:
                inputs.append(name)
            return inputs.index(name)

        tables: dict[str, Any] = {}
        written: list[Path] = []
        for name in sorted(result.tables):
            source = result.tables[name]
            done = write_table_dataset(directory / name, source, number_of, _schema_of(source))
            schema = _schema_of(source)
            if schema is None:  # a stream of batches: the schema its files carry
                import pyarrow.parquet as pq

                schema = pq.read_schema(directory / name / done.files[0])
            meta = schema.metadata or {}
            tables[name] = {
                "schema": meta.get(b"iodiag.schema", f"{name}/{SCHEMA_VERSION}".encode()).decode(),
                "partitioned": "input" in schema.names,
                "rows": done.rows,
                "files": sorted(f"{name}/{path}" for path in done.files),
                "columns": _columns(schema),
            }
            written.append(directory / name)
        manifest = {
            "format": DATASET_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "iodiag", "version": __version__},
            "layout": {
                "partitioning": "hive",
                "key": PARTITION_KEY,
                "row_group_rows": ROW_GROUP_ROWS,
                "file_rows": FILE_ROWS,
                "compression": "zstd",
            },
            "inputs": [{PARTITION_KEY: n, "input": path} for n, path in enumerate(inputs)],
            "tables": tables,
        }
        path = directory / MANIFEST
        path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
        return [path, *written]
