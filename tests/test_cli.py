"""Tests of the `iodiag-analyze` command (`analyzer.cli.app`), run in-process with CliRunner.

Inputs are small real captures from fixtures/ (see fixtures/README.md); the numbers the tests
compare are counted from the fixture files here, never copied from the README.
"""

from __future__ import annotations

import errno
import gzip
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from analyzer import __version__
from analyzer.cli.analyze import app, report_stem
from analyzer.render import HtmlRenderer, JsonRenderer, Renderer
from analyzer.schema import SCHEMA_VERSION, SYSCALLS

REPO = Path(__file__).resolve().parents[1]
LOGS = REPO / "fixtures" / "strace" / "logs"
MT_PIPES = LOGS / "mt_pipes.f_tt_T.log"
POOL8 = LOGS / "pool8.f_tt_T.log"
ROOT = REPO
GZIP_NO_EXT = LOGS / "derived" / "small_sh_gzip_no_ext.log"
SMALL_SH_GZ = LOGS / "derived" / "small_sh.f_tt_T.log.gz"
NO_DURATIONS = REPO / "fixtures" / "strace" / "research" / "logs" / "variants" / "ts_tt_r.log"
# `python -m analyzer` run from another folder imports this checkout, not an installed copy
WITH_REPO = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


def run(*args: str | Path, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], input=stdin)


def line_count(data: bytes) -> int:
    """Lines as a text tool counts them: a last line without a newline still counts."""
    return len(data.splitlines())


def assert_one_line_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    err = result.stderr
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("iodiag-analyze: "), err
    for needle in needles:
        assert needle in err, err
    assert result.stdout == ""


# --- default run: terminal summary + HTML and Markdown reports --------------------------------


def test_default_run_prints_summary_and_writes_both_reports(tmp_path: Path) -> None:
    result = run(MT_PIPES, "--out-dir", tmp_path)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "mt_pipes.f_tt_T.log" in out
    assert "read" in out.split()  # the top syscall by total time in this capture
    html = tmp_path / "mt_pipes.f_tt_T.iodiag.html"
    md = tmp_path / "mt_pipes.f_tt_T.iodiag.md"
    # where the reports went is status, on stderr: stdout is the summary alone
    assert "wrote " not in out
    assert result.stderr.splitlines() == [f"wrote {html}", f"wrote {md}"]
    assert html.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    assert "read" in md.read_text(encoding="utf-8")


def test_default_run_on_a_log_without_durations(tmp_path: Path) -> None:
    """Most real strace logs are taken without -T: the default run used to crash in the
    HTML report (exit 1, a cut .iodiag.html left behind, no Markdown; issue 14, item 1)."""
    result = run(NO_DURATIONS, "--out-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert all(line.startswith("wrote ") for line in result.stderr.splitlines())
    html = (tmp_path / "ts_tt_r.iodiag.html").read_text(encoding="utf-8")
    assert html.rstrip().endswith("</html>")
    assert "## Syscalls" in (tmp_path / "ts_tt_r.iodiag.md").read_text(encoding="utf-8")


def test_quiet_default_run_prints_nothing_and_writes_both_reports(tmp_path: Path) -> None:
    for flag in ("-q", "--quiet"):
        result = run(MT_PIPES, flag, "--out-dir", tmp_path)
        assert result.exit_code == 0, result.output
        assert result.stdout == "" and result.stderr == ""
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "mt_pipes.f_tt_T.iodiag.html",
            "mt_pipes.f_tt_T.iodiag.md",
        ]


def test_help_has_examples_exit_codes_and_the_default_files() -> None:
    short, long = run("-h"), run("--help")
    assert short.exit_code == long.exit_code == 0
    assert short.stdout == long.stdout
    text = " ".join(long.stdout.split())
    assert "writes two files into the current directory" in text
    assert "INPUT.iodiag.html and INPUT.iodiag.md" in text
    assert "Examples:" in long.stdout and "iodiag-analyze strace.log.gz -f json" in long.stdout
    assert "Exit codes: 0 done; 1 --fail-on met" in text and "-q, --quiet" in long.stdout
    assert all(line == line.rstrip() for line in long.stdout.splitlines())


@pytest.mark.slow
def test_piped_summary_at_80_columns(tmp_path: Path) -> None:
    """`iodiag-analyze trace | less` in an 80-column terminal: no line wider than 80, none with
    trailing spaces, no duration cut from its unit, long paths shortened in their middle."""
    trace = tmp_path / ("a-very-long-directory-name-for-a-trace-file-" * 2) / "pool8.f_tt_T.log"
    trace.parent.mkdir(parents=True)
    trace.write_bytes(POOL8.read_bytes())
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "analyzer", str(trace), "-f", "text"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert [line for line in lines if line != line.rstrip()] == []
    for before, after in itertools.pairwise(lines):  # a number is never cut from its unit
        if re.search(r"\d\.?\d*$", before):
            assert not re.match(r"\s*(?:s|ms|µs|ns)\b", after), (before, after)
    # findings wrap under their own text, not at column 0
    heads = [i for i, line in enumerate(lines) if re.match(r"  (error|warning|info)\s+IOD", line)]
    assert heads
    for i in heads:
        for follow in lines[i + 1 : i + 4]:
            if follow.strip() and not re.match(r"  (error|warning|info)\s+IOD", follow):
                assert follow.startswith("          "), follow


def test_snapshot_sections_at_80_columns() -> None:
    """The top, iostat and py-spy parts of the summary at 80 columns: no line wider, the top
    table's cells whole (no "…"), and their notes and bullets wrapped under their own text."""
    volume = REPO / "fixtures" / "incidents" / "slow_volume_gil_compactor"
    inputs = ["top.H_b_d1_p.txt", "iostat.x_t_y_1.txt", "pyspy.dump_nonblocking_loop.txt"]
    result = CliRunner().invoke(
        app, [*(str(volume / name) for name in inputs), "-f", "text"], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert [line for line in lines if line != line.rstrip()] == []
    top = lines[lines.index(next(line for line in lines if line.startswith("Busiest threads"))) :]
    assert not any("…" in line for line in top[:8])
    assert "16375   python   47.1   62.0   10:04:27   R 11, S 2, t 2   top.H_b_d1_p.txt:23" in top
    heads = ("Note: ", "  D state:", "  saturated", "  20")  # 20: py-spy's dump times
    wrapped = 0
    for before, after in itertools.pairwise(lines):
        if before.startswith(heads) and after.strip() and not after.startswith(heads):
            assert after.startswith("    "), (before, after)
            wrapped += 1
    assert wrapped >= 3


def test_tables_too_wide_for_80_columns_become_lines() -> None:
    """pidstat's and CloudWatch's tables need ~100 and ~115 columns: at 80 each row is a line
    of its own, wrapped with a hanging indent, instead of cells cut to 'pidstat_t_…' or
    'VolumeQue…'; at 140 they are tables."""
    fixtures = REPO / "fixtures"
    inputs = [
        fixtures / "pidstat" / "captures" / "pidstat_t_u_w_p_1_5.txt",
        fixtures / "cloudwatch" / "get_metric_data_ebs_throttle.json",
    ]
    argv = [*(str(path) for path in inputs), "-f", "text"]
    narrow = CliRunner().invoke(app, argv, env={"COLUMNS": "80"})
    assert narrow.exit_code == 0, narrow.output
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    sections = lines[: lines.index(next(line for line in lines if line.startswith("Findings")))]
    assert not any("…" in line for line in sections)  # (a finding's long path loses its middle)
    assert "pid 63 tid 109 iodw-burn: %CPU 66.8 (max 74.0), %wait 32.7, cswch/s 98.6," in lines
    assert "    nvcswch/s 226.9 (pidstat_t_u_w_p_1_5.txt:50)" in lines
    assert any(line.startswith("VolumeQueueLength (ebs_queue): 30 values") for line in lines)
    wide = CliRunner().invoke(app, argv, env={"COLUMNS": "140"})
    assert wide.exit_code == 0, wide.output
    assert any(re.match(r"63 +109 +iodw-burn +66\.8", line) for line in wide.stdout.splitlines())


def test_default_run_creates_missing_out_dir(tmp_path: Path) -> None:
    out_dir = tmp_path / "a" / "b"
    result = run(MT_PIPES, "--out-dir", out_dir)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "mt_pipes.f_tt_T.iodiag.html",
        "mt_pipes.f_tt_T.iodiag.md",
    ]


def test_default_run_stem_drops_compression_suffix(tmp_path: Path) -> None:
    trace = tmp_path / "x.log.gz"
    shutil.copyfile(SMALL_SH_GZ, trace)
    out_dir = tmp_path / "out"
    result = run(trace, "--out-dir", out_dir)
    assert result.exit_code == 0, result.output
    assert (out_dir / "x.iodiag.html").is_file()
    assert (out_dir / "x.iodiag.md").is_file()


@pytest.mark.parametrize(
    ("path", "stem"),
    [
        ("-", "stdin"),
        ("/a/trace.log.gz", "trace"),
        ("/a/x.log.GZ", "x"),
        ("x.log.zst", "x"),
        ("trace.log", "trace"),
        ("trace", "trace"),
        ("mt_pipes.f_tt_T.log", "mt_pipes.f_tt_T"),
    ],
)
def test_report_stem(path: str, stem: str) -> None:
    assert report_stem(path) == stem


# --- --format json -----------------------------------------------------------------------------


def test_json_to_stdout(tmp_path: Path) -> None:
    result = run(MT_PIPES, "--format", "json", "--out-dir", tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["schema"] == "iodiag.report/1"
    assert list(report) == sorted(report)
    assert len(report["inputs"]) == 1
    lines = line_count(MT_PIPES.read_bytes())
    assert report["inputs"][0]["lines"] == lines
    assert report["inputs"][0]["parsed_lines"] == lines
    assert {f["kind"] for f in report["findings"]} <= {"slow_syscall", "data_limits"}
    # One explicit output: no default reports next to it.
    assert list(tmp_path.iterdir()) == []


def test_json_from_stdin_gzip() -> None:
    data = GZIP_NO_EXT.read_bytes()
    result = run("-", "--format", "json", stdin=data)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["schema"] == "iodiag.report/1"
    (source,) = report["inputs"]
    assert source["compression"] == "gzip"
    assert source["lines"] == line_count(gzip.decompress(data))
    assert source["parsed_lines"] == source["lines"]


def test_json_is_deterministic() -> None:
    first = run(MT_PIPES, "-f", "json")
    second = run(MT_PIPES, "-f", "json")
    assert first.exit_code == second.exit_code == 0
    assert first.stdout == second.stdout


# --- other formats to a file -------------------------------------------------------------------


def test_markdown_to_file(tmp_path: Path) -> None:
    out = tmp_path / "out.md"
    result = run(MT_PIPES, "--format", "md", "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("#")
    assert "read" in text
    assert result.stdout == ""


def test_html_to_file(tmp_path: Path) -> None:
    out = tmp_path / "out.html"
    result = run(MT_PIPES, "--format", "html", "-o", out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html")
    assert text.rstrip().endswith("</html>")
    assert result.stdout == ""


def test_json_format_from_extension(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = run(MT_PIPES, "-o", out)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["schema"] == "iodiag.report/1"
    assert result.stdout == ""


def test_text_to_stdout(tmp_path: Path) -> None:
    result = run(MT_PIPES, "--format", "text", "--out-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "read" in result.stdout.split()
    assert "wrote " not in result.stdout
    assert list(tmp_path.iterdir()) == []


# --- parquet -----------------------------------------------------------------------------------


def test_parquet_to_directory(tmp_path: Path) -> None:
    out = tmp_path / "pq"
    result = run(MT_PIPES, "--format", "parquet", "-o", out)
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"manifest.json", "syscalls", "tasks"} <= names
    wrote = [line.removeprefix("wrote ") for line in result.stderr.splitlines()]
    assert sorted(Path(p).name for p in wrote) == sorted(names)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"] == [{"input_no": 0, "input": str(MT_PIPES)}]
    for name in ("syscalls", "tasks"):
        files = sorted((out / name).glob("input_no=0/part-*.parquet"))
        assert [f"{name}/{p.relative_to(out / name)}" for p in files] == manifest["tables"][name][
            "files"
        ]
        table = pq.read_table(files[0])
        assert table.schema.metadata is not None
        assert table.schema.metadata[b"iodiag.schema"] == f"{name}/1".encode()
    syscalls = pq.read_table(out / "syscalls" / "input_no=0" / "part-00000.parquet")
    assert syscalls.num_rows == manifest["tables"]["syscalls"]["rows"] > 0
    # the manifest's columns are docs/schema.md's
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["tables"]["syscalls"]["columns"] == [
        {"name": c.name, "type": str(c.type), "doc": c.doc, **({"unit": c.unit} if c.unit else {})}
        for c in SYSCALLS.columns
    ]


def test_parquet_without_output_is_usage_error() -> None:
    result = run(MT_PIPES, "--format", "parquet")
    assert_one_line_error(result, "-o")


# --- errors: one line on stderr, exit 2 ---------------------------------------------------------


def test_non_trace_file_is_rejected() -> None:
    result = run(REPO / "pyproject.toml")
    assert_one_line_error(result, "pyproject.toml")


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    missing = tmp_path / "nope.log"
    result = run(missing, "--out-dir", tmp_path)
    assert_one_line_error(result, "nope.log")
    assert list(tmp_path.iterdir()) == []


def test_unknown_output_extension_needs_format(tmp_path: Path) -> None:
    out = tmp_path / "out.unknownext"
    result = run(MT_PIPES, "-o", out)
    assert_one_line_error(result, "--format")
    assert not out.exists()


def test_unknown_format_name() -> None:
    result = run(MT_PIPES, "--format", "bogus")
    assert_one_line_error(result, "bogus")


def test_unknown_engine() -> None:
    result = run(MT_PIPES, "--engine", "bogus", "-f", "json")
    assert_one_line_error(result, "--engine")


def test_unwritable_output_is_one_line_error(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "out.json"
    result = run(MT_PIPES, "-o", out)
    assert_one_line_error(result, "cannot write")


def test_out_dir_that_is_a_file_is_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run(MT_PIPES, "--out-dir", blocker / "sub")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("iodiag-analyze: cannot write")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("present", "args", "missing"),
    [
        ([], ["--format", "json", "-o", "out.json"], "grammars"),
        (["grammars"], ["-o", "out.html"], "reports"),
    ],
    ids=["no-grammars", "no-reports"],
)
def test_a_missing_data_folder_is_a_one_line_error(
    tmp_path: Path, present: list[str], args: list[str], missing: str
) -> None:
    """A broken installation: the package without the data folder the run needs beside it.
    The grammar is built on the first line the fast paths leave to it (here the summary table
    that ``strace -C`` appends: exit, signal and frame lines no longer need it), the templates
    when a report is rendered. The command says which folder is missing in one line and exits
    2."""
    shutil.copytree(REPO / "analyzer", tmp_path / "analyzer")
    for folder in present:
        shutil.copytree(REPO / folder, tmp_path / folder)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "analyzer", str(LOGS / "mt_pipes.f_tt_T_C_w.log"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("iodiag-analyze: this installation is broken: "), done.stderr
    assert f"data folder {missing!r} is missing" in done.stderr
    assert not (tmp_path / args[-1]).exists()


# --- version -----------------------------------------------------------------------------------


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"iodiag {__version__} ")
    assert result.stdout.startswith("iodiag 0.1.0")


def test_version_imports_neither_pandas_nor_pyarrow() -> None:
    """`--version` reads versions from metadata: it imported the whole pipeline (pandas,
    pyarrow, every pass) and took seconds before."""
    code = (
        "import sys; sys.argv = ['iodiag-analyze', '--version'];"
        "from analyzer.cli import main; main();"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'lark', 'typer') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    version, imported = proc.stdout.splitlines()
    assert version.startswith(f"iodiag {__version__} (pyarrow ")
    assert imported == "[]"


@pytest.mark.slow
def test_python_dash_m_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "analyzer", "--version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("iodiag 0.1.0")


@pytest.mark.slow
@pytest.mark.parametrize("args", [[], ["--format", "json"]], ids=["default", "json"])
def test_a_closed_stdout_pipe_is_not_an_error(args: list[str], tmp_path: Path) -> None:
    """`iodiag-analyze trace | head`: the reader leaves before the summary is written. The
    run still succeeds quietly, and the default run still writes its two reports."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "analyzer", str(MT_PIPES), "--out-dir", str(tmp_path), *args],
        cwd=tmp_path,
        env=WITH_REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the analysis has written anything
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    written = sorted(path.name for path in tmp_path.iterdir())
    expected = ["mt_pipes.f_tt_T.iodiag.html", "mt_pipes.f_tt_T.iodiag.md"] if not args else []
    assert written == expected
    # only the status lines of the reports written, on stderr
    assert [line.rsplit("/", 1)[-1] for line in stderr.splitlines()] == expected


# --- safe output (issue 14, items 10-12) ---------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    """Temporary files or folders a run left in `folder`."""
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def _failing_render(
    monkeypatch: pytest.MonkeyPatch, cls: type[Renderer], error: BaseException
) -> None:
    """Make `cls.render` write the start of its output, then fail with `error`."""

    def render(self: Renderer, result: object, out: IO[str]) -> None:
        out.write("the start of an output that never ends")
        raise error

    monkeypatch.setattr(cls, "render", render)


def test_a_failed_run_keeps_the_existing_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.json"
    out.write_text("the report of yesterday\n", encoding="utf-8")
    _failing_render(monkeypatch, JsonRenderer, RuntimeError("a bug in a renderer"))
    result = run(MT_PIPES, "-o", out)
    assert isinstance(result.exception, RuntimeError)
    assert out.read_text(encoding="utf-8") == "the report of yesterday\n"
    assert _leftovers(tmp_path) == []


def test_a_failed_default_run_leaves_no_partial_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HTML report failing half-way left a cut ``.iodiag.html`` behind (item 1)."""
    _failing_render(monkeypatch, HtmlRenderer, RuntimeError("a bug in a template"))
    result = run(MT_PIPES, "--out-dir", tmp_path)
    assert isinstance(result.exception, RuntimeError)
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_a_full_disk_keeps_the_existing_output_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "report.json"
    out.write_text("the report of yesterday\n", encoding="utf-8")
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    _failing_render(monkeypatch, JsonRenderer, full)
    result = run(MT_PIPES, "-o", out)
    assert_one_line_error(result, f"cannot write {out}: No space left on device")
    assert out.read_text(encoding="utf-8") == "the report of yesterday\n"
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_device_that_is_full_is_named() -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does; it is written in
    place (a device is not replaced by a renamed file)."""
    result = run(MT_PIPES, "--format", "json", "-o", "/dev/full")
    assert_one_line_error(result, "cannot write /dev/full: No space left on device")


def test_two_runs_to_one_path_do_not_splice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second run writes the same file while the first is half-way through writing it
    (nested here, so the interleaving is certain): the file ends up whole, from one run."""
    out = tmp_path / "report.json"
    original = JsonRenderer.render
    expected = {}
    for trace in (MT_PIPES, SMALL_SH_GZ):
        assert run(trace, "-o", out).exit_code == 0
        expected[trace] = out.read_text(encoding="utf-8")
    out.unlink()
    calls = []

    def interleaved(self: JsonRenderer, result: object, handle: IO[str]) -> None:
        calls.append(1)
        if len(calls) > 1:
            original(self, result, handle)  # the second run: whole, undisturbed
            return
        text = JsonRenderer().render_to_string(result)
        handle.write(text[:200])
        handle.flush()
        inner = run(SMALL_SH_GZ, "-o", out)  # the second run, to the same path
        assert inner.exit_code == 0, inner.output
        handle.write(text[200:])

    monkeypatch.setattr(JsonRenderer, "render", interleaved)
    assert run(MT_PIPES, "-o", out).exit_code == 0
    assert out.read_text(encoding="utf-8") in expected.values()
    assert _leftovers(tmp_path) == []


def test_a_failed_parquet_run_keeps_the_existing_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "tables"
    assert run(MT_PIPES, "--format", "parquet", "-o", out).exit_code == 0
    before = _tree(out)
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    written = []
    write_table = pq.ParquetWriter.write_table

    def failing(writer: pq.ParquetWriter, table: object, **options: object) -> None:
        written.append(table)
        if len(written) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write_table(writer, table, **options)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    result = run(SMALL_SH_GZ, "--format", "parquet", "-o", out)
    assert_one_line_error(result, f"cannot write {out}: No space left on device")
    after = {name: data for name, data in _tree(out).items() if name != "notes.txt"}
    assert after == before
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert _leftovers(tmp_path) == []


def _tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by its path there, with its content."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }


def test_parquet_into_an_existing_folder_replaces_its_tables(tmp_path: Path) -> None:
    out = tmp_path / "tables"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    result = run(MT_PIPES, "--format", "parquet", "-o", out)
    assert result.exit_code == 0, result.output
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert pq.read_table(out / "syscalls").num_rows > 0
    assert _leftovers(tmp_path) == [] and _leftovers(out) == []
    # a second run replaces each table's folder whole: no file of the first one is left
    stale = out / "syscalls" / "input_no=7"
    stale.mkdir()
    (stale / "part-00000.parquet").write_bytes(b"an earlier run's")
    assert run(SMALL_SH_GZ, "--format", "parquet", "-o", out).exit_code == 0
    assert [p.name for p in (out / "syscalls").iterdir()] == ["input_no=0"]
    assert set(pq.read_table(out / "syscalls").column("input").to_pylist()) == {str(SMALL_SH_GZ)}
    assert (out / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert _leftovers(tmp_path) == [] and _leftovers(out) == []
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_a_new_output_gets_the_usual_mode_and_a_replaced_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    out = tmp_path / "report.json"
    assert run(MT_PIPES, "-o", out).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()
    out.chmod(0o640)
    assert run(MT_PIPES, "-o", out).exit_code == 0
    assert out.stat().st_mode & 0o777 == 0o640


def test_an_output_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert run(MT_PIPES, "-o", link).exit_code == 0
    assert link.is_symlink()
    assert json.loads(real.read_text(encoding="utf-8"))["schema"] == "iodiag.report/1"


# --- never overwrite an input --------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["same", "relative", "hardlink"])
def test_an_output_that_is_an_input_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    trace = tmp_path / "trace.log"
    shutil.copyfile(MT_PIPES, trace)
    output: str | Path = trace
    if spelling == "relative":
        monkeypatch.chdir(tmp_path)
        output = "./sub/../trace.log"
        (tmp_path / "sub").mkdir()
    elif spelling == "hardlink":
        output = tmp_path / "also.log"
        os.link(trace, output)
    result = run(trace, "--format", "json", "-o", output)
    assert_one_line_error(result, "will not overwrite the input")
    assert trace.read_bytes() == MT_PIPES.read_bytes()


def test_a_default_report_named_like_another_input_is_refused(tmp_path: Path) -> None:
    trace = tmp_path / "mt_pipes.f_tt_T.log"
    shutil.copyfile(MT_PIPES, trace)
    notes = tmp_path / "mt_pipes.f_tt_T.iodiag.md"  # an input that has the report's name
    notes.write_text("my notes\n", encoding="utf-8")
    result = run(trace, notes, "--out-dir", tmp_path)
    assert_one_line_error(result, "will not overwrite the input", "iodiag.md")
    assert notes.read_text(encoding="utf-8") == "my notes\n"
    assert not (tmp_path / "mt_pipes.f_tt_T.iodiag.html").exists()


# --- option values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--slow-ms", "nan"),
        ("--slow-ms", "-1"),
        ("--slow-ms", "inf"),
        ("--loop-block-ms", "nan"),
        ("--loop-block-ms", "-100"),
        ("--threads", "0"),
        ("--threads", "-5"),
        ("--clock-offset", "nan"),
        ("--clock-offset", "inf"),
    ],
)
def test_option_values_are_checked(option: str, value: str, tmp_path: Path) -> None:
    result = run(MT_PIPES, option, value, "--format", "json", "-o", tmp_path / "out.json")
    assert_one_line_error(result, option, value)
    assert list(tmp_path.iterdir()) == []


# --- --fail-on and the exit codes ----------------------------------------------------------------


@pytest.mark.parametrize("level", ["error", "warning"])
def test_fail_on_lists_the_findings_that_met_it(level: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run(MT_PIPES, "--fail-on", level, "-o", out)
    assert result.exit_code == 1, result.output
    findings = json.loads(out.read_text(encoding="utf-8"))["findings"]
    worse = ("error",) if level == "error" else ("error", "warning")
    met = [f for f in findings if f["severity"] in worse and f["kind"] != "data_limits"]
    assert met
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"iodiag-analyze: --fail-on {level}: {len(met)} findings at or above {level}:"
    )
    assert lines[1:] == [f"  {f['code']} {f['severity']}: {f['title']}" for f in met]


def test_fail_on_not_met_prints_nothing(tmp_path: Path) -> None:
    result = run(LOGS / "sockets.f_tt_T_yy.log", "--fail-on", "warning", "-o", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_readme_documents_the_exit_codes() -> None:
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert "Exit codes: **0** the run succeeded; **1** `--fail-on` was met" in text
    assert "**2** an input could not be read" in text


def test_help_documents_the_exit_codes() -> None:
    result = run("--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Exit codes: 0 done; 1 --fail-on met" in text
    assert "2 an input that cannot be read" in text


# --- closed and early-closed standard streams --------------------------------------------------


@pytest.mark.slow
def test_a_reader_that_leaves_after_the_summary_does_not_stop_the_reports(
    tmp_path: Path,
) -> None:
    """`iodiag-analyze trace | head -40`: the reader takes the whole summary and leaves while
    the HTML report is being written; the ``wrote ...`` line then meets a closed pipe. The
    Markdown report is still written."""
    command = [sys.executable, "-m", "analyzer", str(MT_PIPES), "--out-dir", str(tmp_path)]
    whole = subprocess.run(
        command, env=WITH_REPO, capture_output=True, text=True, timeout=120, check=True
    )
    summary = whole.stdout.splitlines()
    for path in tmp_path.iterdir():
        path.unlink()
    proc = subprocess.Popen(
        command, env=WITH_REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    for line in summary:  # every line of the summary, then no more
        assert proc.stdout.readline().rstrip("\n") == line
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, stderr
    assert [line.split("/")[-1] for line in stderr.splitlines()] == [
        "mt_pipes.f_tt_T.iodiag.html",
        "mt_pipes.f_tt_T.iodiag.md",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "mt_pipes.f_tt_T.iodiag.html",
        "mt_pipes.f_tt_T.iodiag.md",
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "closed", "needle"),
    [
        (["-", "--format", "json"], "<&-", "stdin is closed"),
        (["{trace}"], ">&-", "stdout is closed"),
        (["{trace}", "--format", "json"], ">&-", "stdout is closed"),
    ],
    ids=["stdin", "stdout-default", "stdout-json"],
)
def test_a_closed_standard_stream_is_one_line(
    args: list[str], closed: str, needle: str, tmp_path: Path
) -> None:
    words = " ".join(shlex.quote(arg.format(trace=MT_PIPES)) for arg in args)
    command = f"exec {shlex.quote(sys.executable)} -m analyzer {words} {closed}"
    proc = subprocess.run(
        ["sh", "-c", command],
        cwd=tmp_path,
        env=WITH_REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("iodiag-analyze: ") and needle in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_parquet_will_not_replace_a_folder_that_holds_an_input(tmp_path: Path) -> None:
    out = tmp_path / "tables"
    inside = out / "syscalls" / "input_no=0"
    inside.mkdir(parents=True)
    trace = inside / "trace.log"
    trace.write_bytes(MT_PIPES.read_bytes())
    result = run(trace, "--format", "parquet", "-o", out)
    assert_one_line_error(result, "will not overwrite the input")
    assert trace.read_bytes() == MT_PIPES.read_bytes()
