"""Numbers wider than 64 bits, and other one-line shapes that raised (issue 14, item 3).

Each input is a real fixture line edited by hand (labelled here as hand-made): the line with
the too-wide number must be counted as unparsed with its reason, the others parsed, and the
command must exit 0 with both engines -- never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import FIXTURES
from typer.testing import CliRunner

from analyzer.cli.analyze import app
from analyzer.formats.wide_numbers import REASON

WIDE = "99999999999999999999999"
"""23 digits: more than any 64-bit integer."""

CLOSE = "1234 close(4) = 0"
STRACE_LINES = {
    "pid": f'{WIDE} read(3, "abc", 3) = 3',
    "bracket pid": f'[pid {WIDE}] read(3, "abc", 3) = 3',
    "return value": f'1234 read(3, "abc", 3) = {WIDE}',
    "exit code": f"1234 +++ exited with {WIDE} +++",
    "duration": f'1234 read(3, "abc", 3) = 3 <{WIDE}.000000>',
    "duration of 1e11 s": '1234 read(3, "abc", 3) = 3 <99999999999.000000>',
    "epoch time": f"1234 {WIDE}.000001 close(3) = 0",
    "epoch time past 2262": "1234 9300000000.000001 close(3) = 0",
    "hex return of 17 digits": "1234 mmap(NULL, 8192) = 0x1ffffffffffffffff",
}


def _analyze(tmp_path: Path, name: str, text: str, *options: str) -> dict:
    path = tmp_path / name
    path.write_text(text)
    out = tmp_path / f"{name}.json"
    result = CliRunner().invoke(app, [str(path), "-f", "json", "-o", str(out), *options])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(out.read_text())["inputs"][0]


@pytest.mark.parametrize("engine", ["fast", "lark"])
@pytest.mark.parametrize("field", sorted(STRACE_LINES))
def test_strace_line_with_a_wide_number_is_unparsed(
    tmp_path: Path, field: str, engine: str
) -> None:
    text = f"{CLOSE}\n{STRACE_LINES[field]}\n1234 close(3) = 0\n"
    report = _analyze(tmp_path, "wide.log", text, "--engine", engine, "--input-format", "strace")
    assert report["unparsed_lines"] == 1
    assert report["unparsed_samples"][0]["line"] == 2
    assert report["unparsed_samples"][0]["reason"] == REASON


@pytest.mark.parametrize(
    "line",
    [
        f'1234 read({WIDE}, "abc", 3) = 3',  # an overlong fd is no fd
        "1234 futex(0xffffffffffffffff, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, "
        "FUTEX_BITSET_MATCH_ANY) = 0",
        f"1234 futex(0x{'f' * 24}, FUTEX_WAIT, 0, NULL) = 0",
        '1234 read(3, "", 3) = 0 <10000000.000000>',  # 116 days: beyond float64's exact ns
        '1234 open("x", O_RDONLY) = -1 ENOENT (' + "x" * 300 + ")",
    ],
)
def test_strace_lines_that_raised_are_read(tmp_path: Path, line: str) -> None:
    report = _analyze(tmp_path, "odd.log", f"{CLOSE}\n{line}\n1234 close(3) = 0\n")
    assert report["unparsed_lines"] == 0
    assert report["parsed_lines"] == 3


def test_a_log_of_resumed_halves_only(tmp_path: Path) -> None:
    text = '1234 <... read resumed>"abc", 3) = 3\n1235 <... write resumed>) = 3\n'
    report = _analyze(tmp_path, "resumed.log", text)
    assert report["parsed_lines"] == 2


def test_ff_suffix_of_twenty_digits_is_no_pid(tmp_path: Path) -> None:
    source = FIXTURES / "strace/logs/ff"
    first, second = sorted(source.iterdir())[:2]
    (tmp_path / "t.8363").write_bytes(first.read_bytes())
    (tmp_path / "t.99999999999999999999").write_bytes(second.read_bytes())
    result = CliRunner().invoke(
        app, [str(tmp_path / "t.8363"), str(tmp_path / "t.99999999999999999999"), "-f", "text"]
    )
    assert result.exit_code == 0, (result.output, result.exception)


PERF = FIXTURES / "public/perf/speedscope_forks_multiprocess_cpu.txt"
PERF_EDITS = {
    "pid": ("forks     9 [002]", f"forks     {WIDE} [002]"),
    "time": ("203265.377019:", f"{WIDE}.377019:"),
    "period": ("1001001 cpu-clock", f"{WIDE} cpu-clock"),
}


@pytest.mark.parametrize("engine", ["fast", "lark"])
@pytest.mark.parametrize("field", sorted(PERF_EDITS))
def test_perf_sample_with_a_wide_number_is_unparsed(
    tmp_path: Path, field: str, engine: str
) -> None:
    original = PERF.read_text()
    before = _analyze(tmp_path, "perf.txt", original, "--engine", engine)
    old, new = PERF_EDITS[field]
    edited = original.replace(old, new, 1)
    assert edited != original
    report = _analyze(tmp_path, "perf.txt", edited, "--engine", engine)
    reasons = [sample["reason"] for sample in report["unparsed_samples"]]
    assert REASON in reasons
    # the header and its frame lines, which then belong to no sample
    assert report["unparsed_lines"] > before["unparsed_lines"]
