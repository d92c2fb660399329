"""End-to-end checks of the strace pipeline against real captures and what their programs
measured (fixtures/strace/logs/*.measured.json), and against strace's own -C -w table."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import analyzer
from analyzer.model import AnalysisResult

LOGS = Path(__file__).resolve().parent.parent / "fixtures" / "strace" / "logs"
FIXTURES = LOGS.parent.parent
RESEARCH = Path(__file__).resolve().parent.parent / "fixtures" / "strace" / "research" / "logs"
ORACLE_LOGS = sorted([*LOGS.glob("*_C_w.log"), *RESEARCH.glob("*_C_w.log")])


def measured(name: str) -> dict:
    return json.loads((LOGS / name).read_text())


def calls_of(result: AnalysisResult, syscall: str) -> list[dict]:
    table = result.tables["syscalls"]
    return table.filter(pc.equal(table["syscall"], syscall)).to_pylist()


@pytest.mark.parametrize("path", ORACLE_LOGS, ids=lambda p: p.name)
def test_summary_equals_strace_own_table(path: Path) -> None:
    report = analyzer.analyze(path).report
    theirs = report["strace_summary"]
    assert theirs is not None and len(theirs["rows"]) >= 30
    assert theirs["mismatches"] == []
    ours = {row["syscall"]: row for row in report["syscalls"]}
    for row in theirs["rows"]:
        assert ours[row["syscall"]]["calls"] == row["calls"]
        assert ours[row["syscall"]]["errors"] == row["errors"]
        assert abs(ours[row["syscall"]]["total_s"] - row["seconds"]) <= row["calls"] * 1e-6 + 1e-6


@pytest.mark.slow
def test_every_line_accounted_for_in_research_samples() -> None:
    broken: dict[str, int] = {}
    for path in sorted(RESEARCH.rglob("*")):
        if not path.is_file() or path.suffix == ".txt":
            continue
        report = analyzer.analyze(path).report["inputs"][0]
        assert report["parsed_lines"] + report["unparsed_lines"] == report["lines"], path
        assert report["unparsed_lines"] == broken.get(path.name, 0), (
            path,
            report["unparsed_samples"],
        )


def test_blocked_pipe_reads_match_what_the_program_measured() -> None:
    truth = measured("mt_pipes.f_tt_T.measured.json")
    result = analyzer.analyze(LOGS / "mt_pipes.f_tt_T.log")
    reads = calls_of(result, "read")
    for reader in truth["readers"]:
        mine = [c for c in reads if c["tid"] == reader["tid"] and c["fd"] == reader["read_fd"]]
        assert len(mine) == len(reader["reads"])
        for call, expected in zip(mine, reader["reads"], strict=True):
            assert call["duration_s"] == pytest.approx(expected["blocked_s"], abs=0.005)
            assert call["target_kind"] == "pipe"
            assert call["status"] == "complete"


def test_pool_workers_block_on_the_same_socket_peer() -> None:
    truth = measured("pool8.f_tt_T.measured.json")
    host, port = truth["server"]
    result = analyzer.analyze(LOGS / "pool8.f_tt_T.log")
    by_tid = {c["tid"]: c for c in calls_of(result, "recvfrom") if c["duration_s"] > 0.1}
    assert len(by_tid) == truth["workers"]
    for task in truth["task_records"]:
        call = by_tid[task["tid"]]
        assert call["fd"] == task["fd"]
        assert call["target"] == f"TCP:[->{host}:{port}]"
        assert call["target_kind"] == "socket"
        assert call["duration_s"] == pytest.approx(task["recv_blocked_s"], abs=0.005)


def test_signals_exits_and_execve_from_a_thread() -> None:
    truth = measured("signals.f_tt_T.measured.json")
    result = analyzer.analyze(LOGS / "signals.f_tt_T.log")
    exits = {row["tid"]: row for row in result.tables["exits"].to_pylist()}
    assert exits[truth["exit_child"]["pid"]]["exit_code"] == truth["exit_child"]["exit_code"]
    assert exits[truth["killed_child"]["pid"]]["signal"] == "SIGKILL"
    execve = [c for c in calls_of(result, "execve") if c["line_start"] != c["line_end"]]
    assert len(execve) == 1
    assert execve[0]["tid"] == truth["pid"]  # re-attributed to the leader
    assert execve[0]["status"] == "complete"
    reads = [c for c in calls_of(result, "read") if c["errno"] == "ERESTARTSYS"]
    assert len(reads) == 1
    assert reads[0]["duration_s"] == pytest.approx(truth["alarm_read"]["blocked_s"], abs=0.005)
    signals = result.tables["signals"]["signal"].to_pylist()
    assert signals.count("SIGALRM") == truth["sigalrm_handled"]


def test_thread_creation_and_peak() -> None:
    truth = measured("thread_loop.f_tt_T.measured.json")
    report = analyzer.analyze(LOGS / "thread_loop.f_tt_T.log")
    tasks = report.tables["tasks"].to_pylist()
    threads = [t for t in tasks if t["is_thread"]]
    assert len(threads) == truth["threads_created"]
    assert {t["tid"] for t in threads} == {t["tid"] for t in truth["threads"]}
    assert all(t["pid"] == truth["pid"] for t in threads)
    assert report.report["tasks"]["peak_threads"] == max(truth["active_count_after_each_start"])


def test_cut_last_line_is_an_in_flight_call() -> None:
    report = analyzer.analyze(LOGS / "truncated_midline.tt_T.log").report
    assert report["inputs"][0]["unparsed_lines"] == 0
    assert [row["syscall"] for row in report["in_flight"]] == ["clock_nanosleep"]


def test_stderr_capture_mends_split_lines_and_finds_one_process() -> None:
    report = analyzer.analyze(LOGS / "mt_pipes.f_tt_T.stderr.log").report
    assert report["inputs"][0]["unparsed_lines"] == 0
    assert report["tasks"]["processes"] == 1
    assert report["tasks"]["threads"] == 5


def test_ff_files_take_the_tid_from_the_file_name() -> None:
    for path in sorted((LOGS / "ff").iterdir()):
        tids = analyzer.analyze(path).tables["syscalls"]["tid"].unique().to_pylist()
        assert tids == [int(path.suffix[1:])]


def test_compressed_copies_give_the_same_report() -> None:
    original = analyzer.analyze(LOGS / "small_sh.f_tt_T.log").report
    derived = sorted((LOGS / "derived").glob("small_sh*"))
    compressed = [
        p
        for p in derived
        if "crlf" not in p.name and "bad_utf8" not in p.name and p.suffix != ".json"
    ]
    assert len(compressed) == 8
    for path in compressed:
        report = analyzer.analyze(path).report
        assert report["inputs"][0]["compression"] in {"gzip", "xz", "bz2", "zstd"}
        assert report["syscalls"] == original["syscalls"]


def test_crlf_and_invalid_utf8_survive() -> None:
    original = analyzer.analyze(LOGS / "small_sh.f_tt_T.log").report
    crlf = analyzer.analyze(LOGS / "derived" / "small_sh.f_tt_T.crlf.log").report
    assert crlf["syscalls"] == original["syscalls"]
    bad = analyzer.analyze(LOGS / "derived" / "small_sh.f_tt_T.bad_utf8.log").report
    assert bad["inputs"][0]["non_utf8_lines"] == 1
    assert bad["inputs"][0]["unparsed_lines"] == 0
    assert [r["calls"] for r in bad["syscalls"]] == [r["calls"] for r in original["syscalls"]]


def test_stdin_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    data = (LOGS / "derived" / "small_sh.f_tt_T.log.gz").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    report = analyzer.analyze("-").report
    assert report["inputs"][0]["path"] == "-"
    assert report["inputs"][0]["compression"] == "gzip"
    assert report["syscalls"] == analyzer.analyze(LOGS / "small_sh.f_tt_T.log").report["syscalls"]


def test_yy_decorations_are_used_as_targets() -> None:
    result = analyzer.analyze(LOGS / "sockets.f_tt_T_yy.log")
    kinds = {c["target_kind"] for c in calls_of(result, "sendto") + calls_of(result, "recvfrom")}
    assert kinds == {"socket"}
    targets = {c["target"] for c in calls_of(result, "recvfrom")}
    assert any(t.startswith("TCP:[127.0.0.1:") and "->" in t for t in targets)


def test_ff_set_is_merged_into_one_trace() -> None:
    """The files of one -ff capture are analysed together: one process, fds resolved across
    files, and every call still cites its own file and line."""
    truth = measured("mt_pipes.ff_tt_T.measured.json")
    files = sorted((LOGS / "ff").iterdir())
    result = analyzer.analyze(files)
    assert result.report["tasks"]["processes"] == 1
    assert result.report["tasks"]["threads"] == len(files)
    assert [row["path"] for row in result.report["inputs"]] == [str(f) for f in files]
    reads = calls_of(result, "read")
    line_counts = {str(f): len(f.read_text().splitlines()) for f in files}
    for reader in truth["readers"]:
        own_file = str(LOGS / "ff" / f"mt_pipes.{reader['tid']}")
        mine = [c for c in reads if c["tid"] == reader["tid"] and c["fd"] == reader["read_fd"]]
        assert len(mine) == len(reader["reads"])
        for call, expected in zip(mine, reader["reads"], strict=True):
            assert call["target_kind"] == "pipe"  # the pipe was made in the main thread's file
            assert call["pid"] == truth["pid"]
            assert call["input"] == own_file
            assert 1 <= call["line_start"] <= line_counts[own_file]
            assert call["duration_s"] == pytest.approx(expected["blocked_s"], abs=0.005)


def test_ff_groups() -> None:
    from analyzer.derive.strace_ff import ff_groups

    names = ["a/t.10", "b.log", "a/t.11", "c/x.5", "a/t.12"]
    assert ff_groups(names) == [[0, 2, 4], [1], [3]]


def test_compressed_ff_files_are_one_set_and_keep_their_tids() -> None:
    """`strace -ff -o PREFIX` then compressed: `PREFIX.TID.gz` (or .bz2, .xz, .zst) is still
    the file of task TID, and a set mixing suffixes is still one set."""
    from analyzer.derive.strace import default_tid
    from analyzer.derive.strace_ff import ff_groups, set_name

    names = ["a/t.10.gz", "b.log.gz", "a/t.11.bz2", "a/t.12.XZ", "c/x.5", "a/t.13.zst"]
    assert ff_groups(names) == [[0, 2, 3, 5], [1], [4]]
    assert set_name(["a/t.10.gz", "a/t.11.gz"]) == "a/t"
    empty = pa.table({"pid": pa.array([], pa.int64())})
    assert [default_tid(name, empty, set()) for name in names[2:4]] == [11, 12]


def test_a_compressed_ff_capture_is_merged_into_one_process() -> None:
    """A real `-ff` capture whose files were gzipped (fixtures/blind/log_rollover_fsync_lock):
    one process, each file's calls under its own tid."""
    files = sorted((FIXTURES / "blind" / "log_rollover_fsync_lock").glob("strace.*.gz"))
    assert len(files) == 7
    result = analyzer.analyze(files)
    assert result.report["tasks"]["processes"] == 1
    tids = set(result.tables["syscalls"]["tid"].unique().to_pylist())
    assert tids == {int(f.name.split(".")[-2]) for f in files}


CUT_SOURCE = LOGS.parent.parent / "diagnosis" / "logs" / "sqlite_writers.f_tt_T.log"
"""Over 1 MB, so that a bz2 copy has a whole 900 kB block before the cut."""


def _compressed(kind: str, data: bytes) -> bytes:
    import bz2
    import gzip
    import lzma

    if kind == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    return {"gzip": gzip.compress, "xz": lzma.compress, "bz2": bz2.compress}[kind](data)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gzip", "xz", "bz2", "zstd"])
def test_a_compressed_trace_cut_short_is_read_up_to_the_cut(kind: str, tmp_path: Path) -> None:
    """A compressed trace copied while still being written ends without its end marker: it
    is analysed up to there and the report says so (it used to abort the run)."""
    whole = _compressed(kind, CUT_SOURCE.read_bytes())
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    report = analyzer.analyze(path).report
    (entry,) = report["inputs"]
    assert entry["compression"] == kind and entry["truncated"]
    total = CUT_SOURCE.read_bytes().count(b"\n")
    assert 0 < entry["lines"] < total
    assert entry["unparsed_lines"] <= 1  # at most the line cut in the middle
    intact = tmp_path / f"whole.{kind}"
    intact.write_bytes(whole)
    assert analyzer.analyze(intact).report["inputs"][0]["truncated"] is None


def test_the_cli_says_an_input_is_truncated(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from analyzer.cli.analyze import app

    whole = _compressed("gzip", CUT_SOURCE.read_bytes())
    path = tmp_path / "cut.log.gz"
    path.write_bytes(whole[: len(whole) // 2])
    result = CliRunner().invoke(app, [str(path), "--format", "text"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "TRUNCATED: the gzip data ends early" in result.stdout


def test_compressed_data_that_cannot_be_read_at_all_is_an_input_error(tmp_path: Path) -> None:
    from analyzer.errors import InputError

    path = tmp_path / "broken.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 64)
    with pytest.raises(InputError, match="cannot decompress gzip"):
        analyzer.analyze(path)


SUMMARY_ONLY = RESEARCH / "threadpool32.f_c_U.summary.txt"


def test_a_summary_only_input_is_shown_as_strace_counted_it() -> None:
    """`strace -f -c -U ...` output alone (a research capture with chosen columns): its
    table is the data, nothing is 'missing -f', and nothing is compared with nothing."""
    text = SUMMARY_ONLY.read_text()
    total = next(line for line in text.splitlines() if line.rstrip().endswith(" total"))
    report = analyzer.analyze(SUMMARY_ONLY).report
    summary = report["strace_summary"]
    assert summary["summary_only"] is True and summary["matches"] is None
    assert summary["mismatches"] == []
    calls, errors = (int(value) for value in total.split()[-3:-1])
    assert sum(row["calls"] for row in summary["rows"]) == calls
    assert sum(row["errors"] for row in summary["rows"]) == errors
    futex = next(row for row in summary["rows"] if row["syscall"] == "futex")
    futex_line = next(line for line in text.splitlines() if line.rstrip().endswith(" futex"))
    assert (futex["calls"], futex["errors"]) == tuple(int(v) for v in futex_line.split()[-3:-1])
    limits = [f["evidence"]["limit"] for f in report["findings"] if f["kind"] == "data_limits"]
    assert limits == ["No syscall lines"]


def test_the_text_report_prints_a_summary_only_table() -> None:
    from analyzer.render import TextRenderer

    result = analyzer.analyze(SUMMARY_ONLY)
    text = TextRenderer(width=120, color=False).render_to_string(result)
    assert "strace -c table, top 15 of 37 by time" in text
    assert "clock_nanosleep" in text and "differs from our totals" not in text
