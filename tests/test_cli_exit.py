"""How the `iodiag-analyze` process ends (`analyzer.cli.exit_without_teardown`): the exit
handlers run and the output is flushed, the interpreter's teardown is skipped, and the exit
status is the command's, in a process of its own as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
POOL8 = REPO / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log"

_ENDING = """\
import atexit, sys
from pathlib import Path
from analyzer.cli import exit_without_teardown

class Teardown:
    def __del__(self):
        sys.stderr.write("torn down\\n")

kept = Teardown()  # freed by the interpreter's teardown, which prints it
atexit.register(lambda: Path(sys.argv[1]).write_text("handler ran"))
sys.stdout.write("unflushed")
code = eval(sys.argv[2])
if sys.argv[3] == "fast":
    exit_without_teardown(code)
sys.exit(code)
"""


def _end(tmp_path: Path, code: str, how: str) -> subprocess.CompletedProcess[str]:
    marker = tmp_path / f"marker-{how}"
    # buffered, as stdout to a pipe is by default: what is written must be flushed
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    done = subprocess.run(
        [sys.executable, "-c", _ENDING, str(marker), code, how],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=buffered,
        timeout=60,
    )
    assert marker.read_text() == "handler ran"
    return done


@pytest.mark.parametrize(("code", "status"), [("None", 0), ("0", 0), ("3", 3), ("2", 2)])
def test_status_handlers_and_output_as_sys_exit(tmp_path: Path, code: str, status: int) -> None:
    fast = _end(tmp_path, code, "fast")
    assert fast.returncode == status
    assert fast.stdout == "unflushed"
    assert fast.stderr == ""
    # sys.exit tears down: the one difference is the object freed at the end
    slow = _end(tmp_path, code, "slow")
    assert (slow.returncode, slow.stdout, slow.stderr) == (status, "unflushed", "torn down\n")


def test_message_goes_to_stderr_with_status_1(tmp_path: Path) -> None:
    fast = _end(tmp_path, "'no such trace'", "fast")
    assert (fast.returncode, fast.stdout, fast.stderr) == (1, "unflushed", "no such trace\n")


def _command(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "analyzer", *map(str, args)],
        capture_output=True,
        cwd=cwd,
        timeout=300,
    )


def test_command_output_and_work_dir(tmp_path: Path) -> None:
    """The report on stdout arrives whole, the kept-or-not work directory is as asked, and the
    command's status is its own."""
    to_file = _command(POOL8, "--format", "md", "-o", tmp_path / "report.md", cwd=tmp_path)
    assert to_file.returncode == 0, to_file.stderr
    work = tmp_path / "work"
    to_stdout = _command(POOL8, "--format", "md", "--work-dir", work, cwd=tmp_path)
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert to_stdout.stdout == (tmp_path / "report.md").read_bytes()
    assert work.is_dir()
    assert list(work.iterdir()) == []


def test_command_error_status(tmp_path: Path) -> None:
    missing = _command(tmp_path / "absent.log", "--format", "json", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stdout == b""
    assert len(missing.stderr.decode().strip().splitlines()) == 1
    assert b"Traceback" not in missing.stderr
