"""A strace-only run imports none of the parsers, derivations, joins or sections of the
thread-snapshot, py-spy and metrics sources (their source modules are small registry
entries; everything else is imported when the run has such an input)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEW = ("top", "ps_threads", "pidstat", "pyspy", "iostat", "cloudwatch")


@pytest.mark.slow
def test_a_strace_run_imports_none_of_the_new_parsers() -> None:
    code = (
        "import sys, analyzer\n"
        "analyzer.analyze(sys.argv[1])\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    trace = ROOT / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log"
    out = subprocess.run(
        [sys.executable, "-c", code, str(trace)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    loaded = set(out)
    heavy = {
        module
        for module in loaded
        if module.startswith(("analyzer.formats.", "analyzer.derive.", "analyzer.sections."))
        and module.rsplit(".", 1)[1].startswith((*NEW, "snapshot_", "evidence_", "timeline"))
    }
    assert heavy == set()
    # the registry entries themselves are loaded: the pipeline asks every source
    assert {f"analyzer.sources.{name}" for name in NEW} <= loaded
