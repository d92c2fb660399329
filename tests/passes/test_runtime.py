"""common.process_runtime: what a traced process runs, on fixtures and hand-written lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from pass_fixtures import DIAGNOSIS_LOGS, STRACE_LOGS, inputs_of

from analyzer.derive.strace_tasks import process_runtime


@pytest.mark.parametrize(
    ("path", "runtime"),
    [
        (DIAGNOSIS_LOGS / "asyncio_server.f_tt_T.log", "python"),
        (STRACE_LOGS / "small_sh.f_tt_T.log", "native"),  # /bin/sh, then cat and sleep
    ],
)
def test_fixture_processes(path: Path, runtime: str) -> None:
    (trace,) = inputs_of(path).traces
    first = trace.syscalls["pid"][0].as_py()
    assert process_runtime(trace, first) == runtime


# Hand-written in strace -f -tt -T -yy's shape (not a capture).
CONSOLE_SCRIPT = "\n".join(
    [
        '900 10:00:00.000000 execve("/srv/venv/bin/gunicorn", ["gunicorn", "app:app"], 0x7ffd'
        " /* 9 vars */) = 0 <0.000300>",
        '900 10:00:00.001000 openat(AT_FDCWD</srv>, "/srv/venv/lib/python3.11/site-packages/'
        'gunicorn/__init__.py", O_RDONLY|O_CLOEXEC) = 3</srv/venv/lib/python3.11/site-packages/'
        "gunicorn/__init__.py> <0.000020>",
        "900 10:00:00.002000 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD, "
        "child_tidptr=0x7f00) = 901 <0.000100>",
        "901 10:00:00.003000 getpid() = 901 <0.000010>",
        "",
    ]
)
ATTACHED = """\
900 10:00:00.000000 read(3, "x", 1) = 1 <0.000010>
"""


def test_console_scripts_and_forked_children_run_python(tmp_path: Path) -> None:
    path = tmp_path / "gunicorn.log"
    path.write_text(CONSOLE_SCRIPT)
    (trace,) = inputs_of(path).traces
    assert process_runtime(trace, 900) == "python"
    assert process_runtime(trace, 901) == "python"  # a worker forked without exec


def test_without_an_execve_the_runtime_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "attached.log"
    path.write_text(ATTACHED)
    (trace,) = inputs_of(path).traces
    assert process_runtime(trace, 900) is None


FORK_THEN_EXEC = "\n".join(
    [
        '910 10:00:00.000000 execve("/bin/sh", ["sh", "-c", "run"], 0x7ffd /* 9 vars */)'
        " = 0 <0.000300>",
        "910 10:00:00.001000 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD, "
        "child_tidptr=0x7f00) = 911 <0.000100>",
        '910 10:00:00.002000 execve("/usr/bin/node", ["node", "app.js"], 0x7ffd /* 9 vars */)'
        " = 0 <0.000300>",
        "911 10:00:00.003000 getpid() = 911 <0.000010>",
        "",
    ]
)


def test_a_child_forked_before_its_parents_exec_runs_what_the_parent_ran_then(
    tmp_path: Path,
) -> None:
    """Hand-written: sh forks a child, then execs node; the child is still a shell."""
    path = tmp_path / "fork_then_exec.log"
    path.write_text(FORK_THEN_EXEC)
    (trace,) = inputs_of(path).traces
    assert process_runtime(trace, 910) == "node"
    assert process_runtime(trace, 911) == "native"
