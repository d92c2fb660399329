"""`analyzer.cli.fold`: ``--format folded`` without the pipeline prints what the pipeline
prints, and leaves every case it does not handle to the full CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import modules_after_cli
from typer.testing import CliRunner

from analyzer import inputs
from analyzer.cli import fold as fold_fast
from analyzer.cli.analyze import app
from analyzer.derive.perf_fold import CollapseOptions
from analyzer.errors import InputError
from analyzer.pipeline import Config, analyze
from analyzer.render import renderer_for
from analyzer.sources import SOURCES, detect

ROOT = Path(__file__).resolve().parent.parent / "fixtures"
CORPUS = ROOT / "perf" / "flamegraph-test"
CURRENT = ROOT / "perf" / "stackcollapse" / "flamegraph-test"
PERF_FILES = sorted((ROOT / "perf").glob("*/*.txt")) + sorted(
    (ROOT / "diagnosis" / "logs").glob("*perf*.txt")
)
OPTIONS = ("pid", "tid", "kernel", "jit", "all", "addrs")


def _full(path: Path, options: CollapseOptions, input_format: str | None = None) -> str:
    """What the CLI prints for ``PATH --format folded`` through the whole pipeline."""
    result = analyze(path, Config(collapse=options, format=input_format))
    out = io.StringIO()
    renderer_for("folded").render(result, out)
    return out.getvalue()


def _fast(argv: list[str], tmp_path: Path) -> str | None:
    target = tmp_path / "out.folded"
    target.unlink(missing_ok=True)
    code = fold_fast.run([*argv, "-o", str(target)])
    if code is None:
        assert not target.exists()
        return None
    assert code == 0
    return target.read_text(encoding="utf-8")


def test_constants_are_those_of_the_input_layer() -> None:
    assert tuple(magic for magic, _ in inputs.MAGIC) == fold_fast.COMPRESSION_MAGIC
    assert inputs.HEAD_BYTES == fold_fast.HEAD_BYTES
    # a perf sniff of 1.0 can only be tied by strace (checked) or by asyncio (loses the tie)
    names = list(SOURCES)
    assert names.index("strace") < names.index("perf") < names.index("asyncio")


@pytest.mark.slow
@pytest.mark.parametrize("path", PERF_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_fast_fold_prints_what_the_pipeline_prints(path: Path, tmp_path: Path) -> None:
    fast = _fast([str(path), "--format", "folded"], tmp_path)
    head = path.read_bytes()[: inputs.HEAD_BYTES]
    if fold_fast.perf_head_is_certain(head):
        assert fast is not None
        assert detect(head) == "perf"
        assert fast == _full(path, CollapseOptions())
    else:
        assert fast is None
    forced = _fast([str(path), "--input-format", "perf", "--format=folded", "--all"], tmp_path)
    try:
        full = _full(path, CollapseOptions(all=True), input_format="perf")
    except InputError:  # no perf sample in it: the full CLI says so, the fast path defers
        assert forced is None
    else:  # the same output, or (nothing folded) left to the full CLI
        assert forced == full or (forced is None and full == "")


@pytest.mark.parametrize("option", OPTIONS)
def test_fast_fold_equals_stackcollapse_perf_on_its_corpus(
    option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FlameGraph's expected results, or the current script's where they differ (see
    fixtures/perf/stackcollapse/README.md); printed 7 lines at a time (`WRITE_ITEMS`)."""
    monkeypatch.setattr(fold_fast, "WRITE_ITEMS", 7)
    for path in sorted(CORPUS.glob("*.txt")):
        name = f"{path.stem}-collapsed-{option}.txt"
        current = CURRENT / name
        expected = (current if current.exists() else CORPUS / "results" / name).read_text()
        assert _fast(["-f", "folded", f"--{option}", str(path)], tmp_path) == expected, path.name


def test_left_out_events_are_said_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As stackcollapse-perf.pl says "Filtering for events of type: cycles" on stderr."""
    path = CORPUS / "perf-cycles-instructions-01.txt"
    assert fold_fast.run([str(path), "--format", "folded"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"iodiag-analyze: {path}: folded only events of type instructions,")
    assert "such as cycles," in err
    result = CliRunner().invoke(app, [str(path), "--format", "folded", "-o", str(tmp_path / "f")])
    assert result.exit_code == 0
    assert "such as cycles," in result.stderr
    assert fold_fast.run([str(path), "-f", "folded", "--event-filter", "cycles"]) == 0
    assert capsys.readouterr().err == ""


def test_event_filter_and_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = CORPUS / "perf-cycles-instructions-01.txt"
    for argv in (["--event-filter", "cycles"], ["--event-filter=cycles"]):
        assert fold_fast.run([str(path), "--format", "folded", *argv]) == 0
        assert capsys.readouterr().out == _full(path, CollapseOptions(event_filter="cycles"))


def test_every_head_called_perf_is_perf_for_detection() -> None:
    """Over every fixture of every format: the fast path takes only what detection calls perf
    (strace logs are read entirely by the perf scanner, as frames: the strace check rejects
    them)."""
    taken = 0
    for path in sorted(ROOT.rglob("*")):
        if not path.is_file():
            continue
        try:
            source = inputs.open_input(path)
        except inputs.InputError:  # not an input at all
            continue
        head = source.head
        source.close()
        if fold_fast.perf_head_is_certain(head):
            taken += 1
            assert detect(head) == "perf", path
    assert taken >= 30


def test_the_strace_check_is_strace_sniff() -> None:
    """`fold_fast` runs the strace grammar as `strace.sniff` does (without importing it)."""
    from analyzer.formats import strace
    from analyzer.formats.perf_assemble import sniff_lines

    paths = [*PERF_FILES, *sorted((ROOT / "strace").rglob("*.log"))]
    for path in paths:
        head = path.read_bytes()[: inputs.HEAD_BYTES]
        lines = sniff_lines(head)
        if lines:
            assert fold_fast._strace_reads_all(lines) == (strace.sniff(head) == 1.0), path


def test_strace_input_goes_to_the_full_cli(tmp_path: Path) -> None:
    path = ROOT / "strace" / "logs" / "pool8.f_tt_T.log"
    assert _fast([str(path), "--format", "folded"], tmp_path) is None
    forced = _fast([str(path), "--format", "folded", "--input-format", "perf"], tmp_path)
    assert forced is None  # not one perf line: the full CLI says so
    with pytest.raises(InputError, match="none of its 2,504 lines has perf data"):
        _full(path, CollapseOptions(), input_format="perf")


@pytest.mark.parametrize(
    "argv",
    [
        ["--format", "folded"],
        ["X", "X", "--format", "folded"],
        ["-", "--format", "folded"],
        ["X", "--format", "json"],
        ["X"],
        ["X", "-o", "out.folded"],
        ["X", "--format", "folded", "--engine", "lark"],
        ["X", "--format", "folded", "--threads", "1"],
        ["X", "--format", "folded", "--input-format", "strace"],
        ["X", "--format", "folded", "--fail-on", "warning"],
        ["X", "--format", "folded", "--help"],
        ["X", "--format", "folded", "--version"],
        ["X", "--format", "folded", "--"],
        ["X", "-f=folded"],
        ["X", "-ffolded"],
        ["X", "--format"],
        ["X", "--format", "folded", "--pid=1"],
        ["X", "--format", "folded", "--event-filter"],
        ["does-not-exist.txt", "--format", "folded"],
    ],
)
def test_other_command_lines_go_to_the_full_cli(argv: list[str]) -> None:
    path = str(CORPUS / "perf-dd-stacks-01.txt")
    assert fold_fast.run([path if arg == "X" else arg for arg in argv]) is None


def test_inputs_the_fast_path_does_not_read_go_to_the_full_cli(tmp_path: Path) -> None:
    data = (CORPUS / "perf-dd-stacks-01.txt").read_bytes()
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(data.replace(b"\n", b"\r\n"))
    late_cr = tmp_path / "late_cr.txt"  # a \r after the head, in a later block
    late_cr.write_bytes(data * 40 + b"x\r\n")
    assert len(data) * 40 > fold_fast.HEAD_BYTES
    gz = ROOT / "strace" / "logs" / "derived" / "small_sh.f_tt_T.log.gz"
    for path in (crlf, late_cr, gz, tmp_path):
        assert fold_fast.run([str(path), "--format", "folded"]) is None, path
    assert _fast([str(crlf), "--format", "folded"], tmp_path) is None
    good = str(CORPUS / "perf-dd-stacks-01.txt")
    assert fold_fast.run([good, "-f", "folded", "-o", str(tmp_path / "no" / "such.folded")]) is None


def test_bad_utf8_and_blockwise_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (CORPUS / "perf-vertx-stacks-01.txt").read_bytes()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(data.replace(b"java", b"ja\xffva", 3))
    monkeypatch.setattr(fold_fast, "BLOCK_BYTES", 4093)  # many blocks, cut anywhere
    assert _fast([str(bad), "--format", "folded"], tmp_path) == _full(bad, CollapseOptions())


def test_utf8_names_reach_the_output_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HAND-WRITTEN: names that are UTF-8 but not ASCII (written as bytes, not re-encoded),
    to a file and to stdout."""
    data = (CORPUS / "perf-dd-stacks-01.txt").read_bytes().replace(b"dd", "dé→".encode(), 5)
    path = tmp_path / "utf8.txt"
    path.write_bytes(data)
    expected = _full(path, CollapseOptions())
    assert "dé→" in expected
    assert _fast([str(path), "--format", "folded"], tmp_path) == expected
    assert fold_fast.run([str(path), "--format", "folded"]) == 0
    assert capsys.readouterr().out == expected


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        [CORPUS / "perf-vertx-stacks-01.txt", "--all"],
        [CORPUS / "perf-cycles-instructions-01.txt", "--event-filter=cycles", "--tid"],
        [ROOT / "strace" / "logs" / "pool8.f_tt_T.log"],
    ],
    ids=["vertx-all", "event-filter", "strace"],
)
def test_python_dash_m_prints_what_the_cli_app_prints(args: list[object]) -> None:
    """Whether or not ``python -m analyzer`` takes the fast path, it prints what the CLI does."""
    argv = [str(arg) for arg in args] + ["--format", "folded"]
    proc = subprocess.run(
        [sys.executable, "-m", "analyzer", *argv],
        cwd=ROOT.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "100"},
    )
    result = CliRunner().invoke(app, argv, env={"NO_COLOR": "1", "COLUMNS": "100"})
    assert (proc.returncode, proc.stdout) == (result.exit_code, result.stdout)
    assert proc.stderr.strip() == result.stderr.strip()


# --- safe output (issue 14, items 10-12) ---------------------------------------------------------

VERTX = CORPUS / "perf-vertx-stacks-01.txt"
"""Its folded stacks (about 240 KB) are more than a pipe holds."""


def test_an_output_that_is_the_input_goes_to_the_full_cli(tmp_path: Path) -> None:
    """``perf.txt -f folded -o perf.txt`` used to replace the capture by its folded stacks."""
    perf = tmp_path / "perf.txt"
    perf.write_bytes(VERTX.read_bytes())
    assert fold_fast.run([str(perf), "-f", "folded", "-o", str(perf)]) is None
    result = CliRunner().invoke(app, [str(perf), "-f", "folded", "-o", str(perf)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("iodiag-analyze: will not overwrite the input")
    assert perf.read_bytes() == VERTX.read_bytes()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_output_that_cannot_be_written_goes_to_the_full_cli() -> None:
    """/dev/full answers writes with ENOSPC: no traceback, the full CLI names it."""
    assert fold_fast.run([str(VERTX), "-f", "folded", "-o", "/dev/full"]) is None
    result = CliRunner().invoke(app, [str(VERTX), "-f", "folded", "-o", "/dev/full"])
    assert result.exit_code == 2, result.output
    assert result.stderr == "iodiag-analyze: cannot write /dev/full: No space left on device\n"


def test_a_closed_stdout_goes_to_the_full_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", None)  # what Python makes of a closed fd 1
    assert fold_fast.run([str(VERTX), "-f", "folded"]) is None


@pytest.mark.slow
def test_a_reader_that_leaves_early_is_not_an_error() -> None:
    """``iodiag-analyze perf.txt -f folded | head -1``: a quiet exit 0, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "analyzer", str(VERTX), "-f", "folded"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    assert stderr == ""


def test_the_fast_path_imports_no_arrow(tmp_path: Path) -> None:
    """The command folds without importing pyarrow, numpy, pandas or Typer (pyarrow and
    numpy alone took ~0.1 CPU-s of a fold's start-up); the full CLI it declines to still
    gets them."""

    def imported(*args: str) -> set[str]:
        return modules_after_cli(*args) & {"pyarrow", "numpy", "pandas", "typer"}

    path = str(CORPUS / "perf-dd-stacks-01.txt")
    assert imported(path, "--format", "folded", "-o", str(tmp_path / "out.folded")) == set()
    full = imported(path, "--format", "json", "-q", "-o", str(tmp_path / "out.json"))
    assert "pyarrow" in full and "typer" in full
