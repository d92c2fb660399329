"""The strace captures the fast-path tests run over, parsed in small chunks."""

from __future__ import annotations

from pathlib import Path

from analyzer.formats import strace
from analyzer.inputs import iter_line_chunks, open_input

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TRACES = sorted((FIXTURES / "strace" / "logs").glob("*.log")) + sorted(
    (FIXTURES / "diagnosis" / "logs").glob("*.f_tt*_T.log")
)


def parsed_in_small_chunks(path: Path) -> strace.ParsedLines:
    """`strace.parse` of `path` in 16 KiB chunks, so that the columns have many chunks as
    they do on a big input."""
    source = open_input(path)
    try:
        return strace.parse(iter_line_chunks(source.stream, chunk_bytes=1 << 14), str(path))
    finally:
        source.close()
