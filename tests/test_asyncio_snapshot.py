"""aiomonitor dumps in asyncio inputs: the `tasks_snapshot` rows of `ps`, `ps-terminated`,
`where` and `where-terminated` output.

Two real captures: fixtures/asyncio/research/out/aiomonitor_ps_where.txt (made by
aiomonitor_demo.py beside it), and `CAPTURE` below. Expectations are read from the capture
text with plain regular expressions written here, and from the source of the program that
made it (which line created which task), not from the parser's own output.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from analyzer.formats import asyncio as asyncio_format
from analyzer.formats import asyncio_assemble
from analyzer.formats.asyncio_record import TaskSnapshot
from analyzer.inputs import iter_line_chunks
from analyzer.schema import TASKS_SNAPSHOT
from analyzer.sources import detect

ROOT = Path(__file__).resolve().parent.parent
RESEARCH = ROOT / "fixtures" / "asyncio" / "research"
DEMO_OUTPUT = RESEARCH / "out" / "aiomonitor_ps_where.txt"
DEMO_SOURCE = RESEARCH / "aiomonitor_demo.py"

# Captured for this test with aiomonitor 0.7.1 on CPython 3.11.7 (a venv with
# `pip install aiomonitor==0.7.1`), by a copy of aiomonitor_demo.py that starts four tasks
# with hook_task_factory=True -- "worker pool 1" (a name with blanks, capture.py line 41),
# "工作者" (wide characters, line 42), "victim" (cancelled after 0.3 s) and "failer"
# (raises ValueError("bad input") on line 19) -- and then runs `ps`, `ps-terminated`,
# `where-terminated ID` for each terminated task and `where ID` for "worker pool 1".
# Verbatim output (prompt_toolkit ends the stack headers with CR LF).
CAPTURE = (
    "monitor >>> ps\n"
    "3 tasks running\n"
    "+-------------------------------------------------------------------------------"
    "-----+\n"
    "| Task ID          State    Name           Coroutine  Created Location     Since"
    "     |\n"
    "+-------------------------------------------------------------------------------"
    "-----+\n"
    "| 140455904267520  PENDING  Task-1         main()     -                    -    "
    "     |\n"
    "| 140455904269824  PENDING  worker pool 1  sleeper()  <cwd>/capture.py:41  00:00"
    ".612 |\n"
    "| 140455904270400  PENDING  工作者         sleeper()  <cwd>/capture.py:42  00:00.608 |\n"
    "+-------------------------------------------------------------------------------"
    "-----+\n"
    "monitor >>> ps-terminated\n"
    "2 tasks terminated (old ones may be stripped)\n"
    "+-------------------------------------------------------------------+\n"
    "| Trace ID       Name    Coro       Since Started  Since Terminated |\n"
    "+-------------------------------------------------------------------+\n"
    "| INMFKCK2S7GQ6  victim  sleeper()  00:00.609      00:00.307        |\n"
    "| QXL7NCQFUD22E  failer  failer()   00:00.609      00:00.504        |\n"
    "+-------------------------------------------------------------------+\n"
    "monitor >>> where-terminated QXL7NCQFUD22E\n"
    "\n"
    "Stack of the root task or coroutine scheduled in the event loop(most recent call"
    " last)\n"
    "  No stack available (maybe it is a self-raised cancellation or exception)\n"
    "\n"
    "Stack of <TerminatedTask name=failer coro=failer() exc=ValueError('bad input')> "
    "(most recent call last)\n"
    '  File "/tmp/aiomon-capture/capture.py", line 19, in failer\n'
    '    raise ValueError("bad input")\n'
    "monitor >>> where-terminated INMFKCK2S7GQ6\n"
    "\n"
    "Stack of the root task or coroutine scheduled in the event loop(most recent call"
    " last)\n"
    "  No stack available (maybe it is a self-raised cancellation or exception)\n"
    "\n"
    "Stack of <TerminatedTask name=victim coro=sleeper() cancelled> (most recent call"
    " last)\n"
    '  File "/root/.pyenv/versions/3.11.7/lib/python3.11/asyncio/tasks.py", line 649,'
    " in sleep\n"
    "    return await future\n"
    '  File "/tmp/aiomon-capture/capture.py", line 14, in sleeper\n'
    "    await asyncio.sleep(30)\n"
    "monitor >>> where 140455904269824\n"
    "\n"
    "Stack of the root task or coroutine scheduled in the event loop (most recent cal"
    "l last)\n"
    "  No stack available (maybe it is a native code, a synchronous callback function"
    ", or the event loop itself)\n"
    "\n"
    "Stack of <Task name=Task-1 coro=main()> when creating the next task (most recent"
    " call last)\n"
    '  File "/tmp/aiomon-capture/capture.py", line 41, in main\n'
    '    a = asyncio.create_task(sleeper(), name="worker pool 1")\n'
    "\n"
    "Stack of <Task name=worker pool 1 coro=Monitor._coro_wrapper()> (most recent cal"
    "l last)\n"
    '  File "/tmp/aiomon-venv/lib/python3.11/site-packages/aiomonitor/monitor.py", li'
    "ne 509, in _coro_wrapper\n"
    "    return await coro\n"
    '  File "/tmp/aiomon-capture/capture.py", line 14, in sleeper\n'
    "    await asyncio.sleep(30)\n"
    '  File "/root/.pyenv/versions/3.11.7/lib/python3.11/asyncio/tasks.py", line 649,'
    " in sleep\n"
    "    return await future\n"
)


def _parse(data: bytes, engine: str, chunk_bytes: int = 1 << 20) -> asyncio_format.ParsedLog:
    return asyncio_format.parse(
        iter_line_chunks(io.BytesIO(data), chunk_bytes=chunk_bytes), "-", engine=engine
    )


def _rows(parsed: asyncio_format.ParsedLog) -> list[TaskSnapshot]:
    return asyncio_format.table_to_snapshots(parsed.tasks_snapshot)


def _since(text: str) -> float:
    minutes, seconds = text.split(":")
    return int(minutes) * 60 + float(seconds)


INPUTS = {"demo": DEMO_OUTPUT.read_bytes(), "capture": CAPTURE.encode()}


@pytest.mark.parametrize("name", INPUTS)
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 200])
def test_both_engines_read_the_dumps_alike_and_every_line_is_accounted(
    name: str, chunk_bytes: int
) -> None:
    fast = _parse(INPUTS[name], "fast", chunk_bytes)
    lark = _parse(INPUTS[name], "lark", chunk_bytes)
    assert _rows(fast) == _rows(lark)
    assert fast.unparsed.to_pylist() == lark.unparsed.to_pylist() == []
    counts = (fast.line_count, fast.snapshot_lines, fast.application_lines)
    assert counts == (lark.line_count, lark.snapshot_lines, lark.application_lines)
    # Every line of these files is aiomonitor output (the prompts included).
    assert fast.snapshot_lines == fast.line_count == INPUTS[name].count(b"\n")
    assert fast.tasks_snapshot.schema.equals(TASKS_SNAPSHOT.schema)


def test_demo_ps_rows_are_the_tasks_the_table_lists() -> None:
    text = DEMO_OUTPUT.read_text(encoding="utf-8")
    rows = [row for row in _rows(_parse(INPUTS["demo"], "fast")) if row.command == "ps"]
    count = int(re.search(r"^(\d+) tasks running$", text, re.M)[1])  # type: ignore[index]
    table = re.findall(r"^\| (\d+) +([A-Z]+) +(\S+) +(\S+)\(\) +(\S+) +(\S+) +\|$", text, re.M)
    assert len(rows) == count == len(table) == 5
    for row, (task_id, state, name, coro, created, since) in zip(rows, table, strict=True):
        assert (row.task_id, row.state, row.name, row.coro) == (task_id, state, name, coro)
        assert row.created_at == (None if created == "-" else created)
        assert row.since_s == (None if since == "-" else pytest.approx(_since(since)))
        assert row.frames is None and row.snapshot == 1


def test_demo_created_locations_are_the_create_task_lines_of_the_program() -> None:
    source = DEMO_SOURCE.read_text(encoding="utf-8").split("\n")
    parsed = _parse(INPUTS["demo"], "fast")
    rows = {row.name: row for row in _rows(parsed) if row.command == "ps"}
    for name, coro in (("db-poller", "db_poller"), ("spawner", "spawner")):
        path, line = rows[name].created_at.rsplit(":", 1)  # type: ignore[union-attr]
        assert path == "<cwd>/aiomonitor_demo.py"
        assert f'create_task({coro}(), name="{name}")' in source[int(line) - 1]


def test_demo_where_is_the_creation_chain_and_stack_of_the_task_asked_for() -> None:
    text = DEMO_OUTPUT.read_text(encoding="utf-8")
    source = DEMO_SOURCE.read_text(encoding="utf-8").split("\n")
    rows = _rows(_parse(INPUTS["demo"], "fast"))
    where = [row for row in rows if row.command == "where"]
    asked = re.search(r"^monitor >>> where (\d+)$", text, re.M)[1]  # type: ignore[index]
    assert [row.section for row in where] == ["root", "creator", "task"]
    root, creator, task = where
    assert root.note is not None and root.note.startswith("No stack available")
    assert root.frames == []
    # The task asked for is "spawner" in the ps table; main() (Task-1) created it.
    ps = {row.task_id: row for row in rows if row.command == "ps"}
    assert task.task_id == asked and ps[asked].name == task.name == "spawner"
    assert (creator.name, creator.coro, creator.task_id) == ("Task-1", "main", None)
    (frame,) = creator.frames  # type: ignore[misc]
    assert frame["file"].endswith("/aiomonitor_demo.py") and frame["function"] == "main"
    assert frame["code"] == source[frame["line"] - 1].strip()
    assert "create_task(spawner()" in frame["code"]
    # The task's own stack ends in spawner(), suspended in gather (line 23 of the demo).
    assert task.coro == "Monitor._coro_wrapper"  # aiomonitor's task factory wraps it
    assert [f["function"] for f in task.frames] == ["_coro_wrapper", "spawner"]  # type: ignore[union-attr]
    last = task.frames[-1]  # type: ignore[index]
    assert last["code"] == source[last["line"] - 1].strip() == source[22].strip()
    assert (task.line_no, task.line_end) == (21, 25)
    assert {row.snapshot for row in where} == {
        text.split("\n").index(f"monitor >>> where {asked}") + 1
    }


def test_capture_names_with_blanks_and_wide_characters() -> None:
    rows = [row for row in _rows(_parse(INPUTS["capture"], "fast")) if row.command == "ps"]
    ids = re.findall(r"^\| (\d+) ", CAPTURE, re.M)
    assert [row.task_id for row in rows] == ids
    assert [row.name for row in rows] == ["Task-1", "worker pool 1", "工作者"]
    assert [row.created_at for row in rows] == [None, "<cwd>/capture.py:41", "<cwd>/capture.py:42"]
    assert rows[1].since_s == pytest.approx(0.612) and rows[2].since_s == pytest.approx(0.608)


def test_capture_terminated_tasks() -> None:
    rows = _rows(_parse(INPUTS["capture"], "fast"))
    table = [row for row in rows if row.command == "ps-terminated"]
    listed = re.findall(r"^\| ([A-Z2-7]+) +(\w+) +(\w+)\(\) +(\S+) +(\S+) +\|$", CAPTURE, re.M)
    assert len(table) == len(listed) == 2
    for row, (trace_id, name, coro, started, ended) in zip(table, listed, strict=True):
        assert (row.task_id, row.name, row.coro) == (trace_id, name, coro)
        assert (row.since_s, row.terminated_s) == (
            pytest.approx(_since(started)),
            pytest.approx(_since(ended)),
        )
    stacks = {row.name: row for row in rows if row.command == "where-terminated" and row.name}
    asked = re.findall(r"^monitor >>> where-terminated (\S+)$", CAPTURE, re.M)
    assert {row.task_id for row in stacks.values()} == set(asked)
    failer, victim = stacks["failer"], stacks["victim"]
    assert (failer.state, failer.exception) == ("FINISHED", "ValueError('bad input')")
    assert failer.frames[-1]["code"] == 'raise ValueError("bad input")'  # type: ignore[index]
    assert failer.frames[-1]["line"] == 19  # type: ignore[index]
    assert (victim.state, victim.exception) == ("CANCELLED", None)
    assert victim.frames[-1]["function"] == "sleeper"  # type: ignore[index]
    roots = [row for row in rows if row.command == "where-terminated" and row.section == "root"]
    assert len(roots) == 2 and all("self-raised" in (row.note or "") for row in roots)


def test_dumps_inside_an_application_log_and_lookalikes() -> None:
    """Hand-written around the real demo output: application lines before and after, a
    `N tasks running` line that heads no table, a prompt with no dump after it, and a
    table row that fits no column (counted as unparsed)."""
    demo = DEMO_OUTPUT.read_text(encoding="utf-8").split("\n")[:11]  # prompt + ps table
    row = demo[7]
    bad_row = "| 12  PENDING |"
    lines = [
        "2026-11-26 15:08:49,529 INFO     [svc.api] 3 tasks running",
        "3 tasks running",
        "monitor >>> help",
        "Commands: ps, where, ...",
        *demo[:7],
        bad_row,
        *demo[7:],
        "job 4 done",
    ]
    text = "\n".join(lines) + "\n"
    for engine in ("fast", "lark"):
        parsed = _parse(text.encode(), engine)
        rows = _rows(parsed)
        assert [r.task_id for r in rows] == re.findall(r"^\| (\d+) ", "\n".join(demo), re.M)
        assert rows[2].line_no == lines.index(row) + 1
        assert parsed.unparsed.to_pylist() == [
            {"input": "-", "line_no": 12, "text": bad_row, "reason": asyncio_assemble.ROW_UNFIT}
        ]
        assert parsed.snapshot_lines == len(demo)  # the bad row is counted as unparsed
        assert parsed.application_lines == 5


def test_an_aiomonitor_dump_is_detected_as_an_asyncio_input() -> None:
    assert detect(DEMO_OUTPUT.read_bytes()) == "asyncio"
    assert asyncio_format.sniff(CAPTURE.encode()) >= 0.5


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        # Printed by aiomonitor 0.7.1's utils._format_timedelta for these timedeltas.
        ("01:02.500", 62.5),
        ("2h05:03.120", 7503.12),
        ("1d00:00.000", 86400.0),
        ("1m00:05.000", 2592005.0),
        ("1y1m5d1h02:03.004", 34563723.004),
        ("-", None),
    ],
)
def test_since_columns_read_as_seconds(text: str, seconds: float | None) -> None:
    assert asyncio_assemble.since_seconds(text) == (
        None if seconds is None else pytest.approx(seconds)
    )


def test_analyze_exposes_the_dumps_as_the_tasks_snapshot_table() -> None:
    from analyzer import analyze

    table = analyze(DEMO_OUTPUT).tables["tasks_snapshot"]
    assert table.schema.equals(TASKS_SNAPSHOT.schema)
    assert set(table["input"].to_pylist()) == {str(DEMO_OUTPUT)}
    alone = _parse(DEMO_OUTPUT.read_bytes(), "fast").tasks_snapshot
    assert alone.num_rows > 0
    assert table.drop_columns(["input"]).equals(alone.drop_columns(["input"]))
