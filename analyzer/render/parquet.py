"""Parquet hand-off (``--format parquet -o DIR``): one ``<table>.parquet`` per Arrow table.

The tables of `AnalysisResult.tables` are written as they are, so their schema metadata and
field metadata (``iodiag.schema``, per-column ``doc``/``unit``, see docs/schema.md) survive and
the files can be queried directly, e.g. ``duckdb -c "select * from 'out/calls.parquet'"``.
Parquet output is a directory, not a stream: use `ParquetRenderer.write`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, ClassVar

from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer, RenderError

__all__ = ["ParquetRenderer"]

_TABLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class ParquetRenderer(Renderer):
    """Writes every Arrow table of the result as a Parquet file in a directory."""

    name: ClassVar[str] = "parquet"
    extensions: ClassVar[tuple[str, ...]] = (".parquet",)

    compression: ClassVar[str] = "zstd"

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        raise RenderError(
            "parquet output is a directory of files (one per table), not a stream: "
            "pass a directory with -o DIR (it is created if missing)"
        )

    def write(self, result: AnalysisResult, directory: Path) -> list[Path]:
        """Write ``<name>.parquet`` for each table into `directory` (created if missing).

        Returns the paths written, in table-name order. Existing files of the same name are
        replaced. Raises `RenderError` for a table name that is not a plain file name.
        """
        import pyarrow.parquet as pq  # only this output needs the Parquet writer

        directory = Path(directory)
        for name in result.tables:
            if not _TABLE_NAME.fullmatch(name):
                raise RenderError(f"table name {name!r} cannot be used as a file name")
        if directory.exists() and not directory.is_dir():
            raise RenderError(f"{directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for name in sorted(result.tables):
            path = directory / f"{name}.parquet"
            pq.write_table(result.tables[name], path, compression=self.compression)
            written.append(path)
        return written
