"""On a fresh capture (made now, not kept in the repo), iodiag's syscall table equals the
wall-clock summary strace appends with -C -w: calls and errors exactly, seconds within
calls × 1 µs + 1 µs. Needs strace (installed by .ci/run) and ptrace permission."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import analyzer

pytestmark = pytest.mark.slow

PROGRAMS = Path(__file__).resolve().parent.parent / "fixtures" / "strace" / "programs"


def _can_trace() -> bool:
    if shutil.which("strace") is None:
        return False
    probe = subprocess.run(["strace", "-o", "/dev/null", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_trace(), reason="strace is missing or ptrace is not permitted")
@pytest.mark.parametrize("program", ["pool8.py", "mt_pipes.py", "thread_loop.py"])
def test_fresh_capture_matches_strace_summary(program: str, tmp_path: Path) -> None:
    log = tmp_path / "trace.log"
    subprocess.run(
        [
            "strace",
            "-f",
            "-tt",
            "-T",
            "-C",
            "-w",
            "-o",
            str(log),
            sys.executable,
            str(PROGRAMS / program),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
    )
    report = analyzer.analyze(log).report
    assert report["inputs"][0]["unparsed_lines"] == 0
    comparison = report["strace_summary"]
    assert comparison is not None and len(comparison["rows"]) > 10
    assert comparison["mismatches"] == []
