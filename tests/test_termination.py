"""A run stopped by SIGTERM or SIGHUP removes its work directory and exits 128 + the signal,
as a Ctrl-C'd run does (issue 14: outputs and temporary files are never left behind).

The run reads a FIFO that is held open and silent, so it is stopped at a known point: after
its work directory exists, while it waits for input. A run whose SIGHUP is ignored (started
under nohup) keeps ignoring it: the handler is installed only over the default action.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_a_stopped_run_leaves_no_work_directory(tmp_path: Path, number: int) -> None:
    fifo = tmp_path / "trace.fifo"
    os.mkfifo(fifo)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "TMPDIR": str(temporary), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "analyzer",
            str(fifo),
            "--input-format",
            "strace",
            "--format",
            "json",
            "-o",
            str(tmp_path / "out.json"),
        ],
        env=env,
        stderr=subprocess.PIPE,
        # as from a terminal: a run started under nohup (SIGHUP ignored) keeps ignoring it
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, b"1234  10:00:00.000001 getpid() = 1234 <0.000010>\n")
        deadline = time.monotonic() + 60
        while not list(temporary.glob("iodiag-work-*")):
            assert time.monotonic() < deadline, "the run made no work directory"
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(number)
        code = process.wait(timeout=60)
    finally:
        os.close(writer)
        if process.poll() is None:
            process.kill()
    assert code == 128 + number
    assert list(temporary.glob("iodiag-work-*")) == []
    assert not (tmp_path / "out.json").exists()
