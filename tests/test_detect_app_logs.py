"""A Python application log whose asyncio records come later than the sniffed head is read
as an asyncio log, not refused or taken for perf (found by the asyncio benchmark's log with one
record in 1,000 lines, which was read as a perf dump: every line a sample or unparsed).

The heads are the real application logs of incident fixtures with their asyncio lines taken
out, as the first 200 lines of a log with rarer records look.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer import sources
from analyzer.formats import asyncio as asyncio_format

ROOT = Path(__file__).resolve().parent.parent
ENVELOPED_LOGS = ["fixtures/incidents/syn_drops_backlog/app.log"]
"""Logs in an envelope the line grammar reads without an asyncio record to learn from."""

OTHER_LOGS = [
    "fixtures/incidents/healthy_asyncio_api/app.asctime_utc.log",
    "fixtures/incidents/executor_slow_storage/app.asctime.log",
    "fixtures/incidents/sync_http_batch/app.log",
    "fixtures/incidents/dns_ndots_in_coroutine/app.asctime.log",
    "fixtures/incidents/pids_limit_prefork/app.log",
    "fixtures/incidents/slow_dns_pool/app.log",
]
"""Logs whose envelope is learned from their asyncio records: without one in the head they
are refused (exit 2), but never taken for another source."""


def _application_lines(path: str) -> bytes:
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if "asyncio" not in line and line[:4].isdigit()]
    assert len(kept) >= 10, path
    return "".join(kept[: asyncio_format.SNIFF_LINES]).encode()


@pytest.mark.parametrize("path", ENVELOPED_LOGS)
def test_application_lines_alone_read_as_an_asyncio_log(path: str) -> None:
    head = _application_lines(path)
    assert asyncio_format.sniff(head) == asyncio_format.ENVELOPE_ONLY_CONFIDENCE
    assert sources.detect(head) == "asyncio"


def test_the_benchmark_log_shape_reads_as_asyncio() -> None:
    # hand-written in the shape of benchmarks/run_asyncio_benchmark.py's application lines
    head = "".join(
        f"2023-11-14 22:15:{n % 60:02d},008 DEBUG app.db: query took {n} ms: SELECT 1\n"
        f'2023-11-14 22:15:{n % 60:02d},010 INFO app.http: 127.0.0.1:4000 - "GET /x" 200\n'
        for n in range(100)
    ).encode()
    assert sources.detect(head) == "asyncio"


@pytest.mark.parametrize("path", OTHER_LOGS)
def test_application_lines_are_never_another_source(path: str) -> None:
    assert sources.detect(_application_lines(path)) in (None, "asyncio")


def test_text_without_logging_envelopes_is_still_refused() -> None:
    head = (ROOT / "README.md").read_bytes()[:8192]
    assert asyncio_format.sniff(head) == 0.0
    assert sources.detect(head) is None
