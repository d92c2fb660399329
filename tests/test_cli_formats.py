"""The CLI on perf and asyncio inputs: folded output equal to FlameGraph's expected results,
the perf and asyncio report sections checked against the input text, format overrides."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli.analyze import app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORPUS = FIXTURES / "perf" / "flamegraph-test"
ASYNCIO_LOGS = FIXTURES / "asyncio" / "research" / "out"
FOLD_OPTIONS = ("pid", "tid", "kernel", "jit", "all", "addrs")
CASES = [
    (path, option)
    for path in sorted(CORPUS.glob("perf-*.txt"))
    for option in FOLD_OPTIONS
    if (CORPUS / "results" / f"{path.stem}-collapsed-{option}.txt").exists()
]


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


def test_every_corpus_case_is_covered() -> None:
    assert len(CASES) == 78


@pytest.mark.slow
@pytest.mark.parametrize("path,option", CASES, ids=lambda v: getattr(v, "stem", v))
def test_folded_output_equals_stackcollapse_perf(path: Path, option: str) -> None:
    code, out, err = run(path, "--format", "folded", f"--{option}")
    assert code == 0, err
    expected = (CORPUS / "results" / f"{path.stem}-collapsed-{option}.txt").read_text()
    assert out == expected


def test_perf_section_counts_what_the_folded_output_counts() -> None:
    path = CORPUS / "perf-dd-stacks-01.txt"
    code, out, err = run(path, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    expected = (CORPUS / "results" / "perf-dd-stacks-01-collapsed-pid.txt").read_text()
    total = sum(int(line.rsplit(" ", 1)[1]) for line in expected.splitlines())
    assert report["inputs"][0]["format"] == "perf"
    assert report["inputs"][0]["unparsed_lines"] == 0
    assert report["perf"]["folded_total"] == total
    assert report["perf"]["top_stacks"][0]["count"] == max(
        int(line.rsplit(" ", 1)[1]) for line in expected.splitlines()
    )
    headers = [line for line in path.read_text().splitlines() if line and not line[0].isspace()]
    assert report["perf"]["samples"] == len(headers)


def test_asyncio_section_groups_slow_callbacks_by_location() -> None:
    path = ASYNCIO_LOGS / "py311_slow_callbacks.txt"
    code, out, err = run(path, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    text = path.read_text()
    # The callback's own location: " at FILE:LINE" not preceded by "created".
    taken = re.findall(r"^Executing <.*?(?<!created) at (\S+:\d+)", text, re.MULTILINE)
    expected = Counter(taken)
    section = report["asyncio"]
    assert report["inputs"][0]["format"] == "asyncio"
    assert section["slow_callbacks"]["count"] == text.count("Executing ")
    groups = section["slow_callbacks"]["by_location"]
    got = {row["location"]: row["count"] for row in groups if row["location"]}
    assert got == dict(expected)
    # steps whose repr names no file:line are grouped by their callback
    unlocated = sum(row["count"] for row in groups if not row["location"])
    assert unlocated == text.count("Executing ") - len(taken) > 0
    assert report["syscalls"] == [] and report["perf"] is None


def test_input_format_can_be_forced_and_is_checked() -> None:
    path = ASYNCIO_LOGS / "py311_send_after_close.txt"
    code, _, err = run(path, "--format", "json")
    assert code == 2 and "not a recognised input" in err
    code, out, err = run(path, "--format", "json", "--input-format", "asyncio")
    assert code == 0, err
    assert json.loads(out)["inputs"][0]["format"] == "asyncio"
    code, _, err = run(path, "--input-format", "nonsense")
    assert code == 2 and "--input-format" in err


def test_folded_needs_a_perf_input() -> None:
    strace_log = FIXTURES / "strace" / "logs" / "small_sh.f_tt_T.log"
    code, _, err = run(strace_log, "--format", "folded")
    assert code == 2 and "perf" in err


def test_perf_block_io_section_pairs_issues_with_completions() -> None:
    path = FIXTURES / "perf" / "research" / "block_rq_insert_issue_complete.txt"
    code, out, err = run(path, "--format", "json")
    assert code == 0, err
    text = path.read_text()
    issues = len(re.findall(r" block:block_rq_issue: ", text))
    flush_completions = len(re.findall(r" block:block_rq_complete: .* FF ", text))
    block = json.loads(out)["perf"]["block_io"]
    assert block["counts"]["issues"] == issues
    assert block["counts"]["pairs"] == issues  # every request issued here also completed
    assert block["counts"]["unmatched_completions"] == flush_completions
    (device,) = block["latency_by_device"].values()
    assert device["count"] == issues


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "the file is empty (0 bytes)"),
        (b"\n\n  \n", "only blank lines"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "this is a PNG image, not a trace"),
        (b"PERFILE2\x68\x00\x00\x00", "perf.data recording (binary): run `perf script"),
        (
            # the head of `perf report --stdio` output, hand-written after perf 6.x's layout
            b"# To display the perf.data header info, please use --header/--header-only options.\n"
            b"#\n# Samples: 1K of event 'cpu-clock:ppp'\n# Event count (approx.): 252000000\n#\n"
            b"# Overhead  Command  Shared Object     Symbol\n"
            b"    50.00%  python3  libc.so.6         [.] __GI___libc_read\n",
            "this is `perf report` output",
        ),
    ],
    ids=["empty", "blank", "png", "perf.data", "perf-report"],
)
def test_inputs_that_are_no_trace_say_what_they_are(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    code, out, err = run(path, "--format", "json")
    assert code == 2 and out == ""
    assert needle in err and "not a recognised input" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("forced", ["perf", "asyncio"])
def test_a_forced_format_that_reads_nothing_is_an_error(forced: str) -> None:
    """`--input-format perf` on a strace log: every line unparsed (or, as an application log,
    not one asyncio record) is not "no problem found" with exit 0."""
    path = FIXTURES / "strace" / "logs" / "pool8.f_tt_T.log"
    code, out, err = run(path, "--format", "text", "--input-format", forced)
    assert code == 2 and out == ""
    assert f"(--input-format {forced}), but none of its 2,504 lines has {forced} data" in err
    assert "it looks like strace output" in err
