"""Build pass inputs from fixture files with the real pipeline stages (parse, derive)."""

from __future__ import annotations

from pathlib import Path

from analyzer.inputs import open_source
from analyzer.passes import PassInputs
from analyzer.pipeline import (
    Config,
    ParsedInput,
    build_tables,
    derive_strace,
    parse_source,
    pass_inputs,
)

ROOT = Path(__file__).resolve().parents[2]
STRACE_LOGS = ROOT / "fixtures" / "strace" / "logs"
DIAGNOSIS_LOGS = ROOT / "fixtures" / "diagnosis" / "logs"


def inputs_of(*paths: Path, config: Config | None = None) -> PassInputs:
    """PassInputs for these files (strace traces, asyncio logs, perf dumps), as analyze() makes."""
    config = config or Config()
    parsed = []
    for path in paths:
        source = open_source(path)
        try:
            fmt, result = parse_source(source, config)
        finally:
            source.close()
        parsed.append(ParsedInput(source.name, source.compression, fmt, result))
    traces = [derive_strace(p.name, p.parsed) for p in parsed if p.format == "strace"]
    return pass_inputs(traces, build_tables(parsed, traces, config.collapse))
