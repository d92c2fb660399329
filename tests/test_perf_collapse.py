"""Folded stacks equal FlameGraph's `stackcollapse-perf.pl`, byte for byte, on its test corpus.

FlameGraph's `test.sh` runs every option of ``pid tid kernel jit all addrs`` over every
`test/*.txt` and diffs against `test/results/NAME-collapsed-OPT.txt`; the same 13 x 6 cases
run here (fixtures/perf/flamegraph-test, see its PROVENANCE.md). None of iodiag's deliberate
differences (listed in `analyzer/perf/collapse.py`) changes these outputs, so there is no
expected failure; the differences are pinned by the tests at the end instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.derive.perf_fold import CollapseOptions, collapse, collapse_lines
from analyzer.formats.perf import parse
from analyzer.inputs import iter_line_chunks

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "perf" / "flamegraph-test"
RESEARCH = CORPUS.parent / "research"
INPUTS = sorted(path.stem for path in CORPUS.glob("*.txt"))
OPTIONS = sorted(
    {path.stem.rsplit("-collapsed-", 1)[1] for path in (CORPUS / "results").glob("*.txt")}
)


def test_corpus_layout() -> None:
    assert len(INPUTS) == 13
    assert OPTIONS == ["addrs", "all", "jit", "kernel", "pid", "tid"]


def _parsed(path: Path, engine: str = "fast"):
    with path.open("rb") as stream:
        return parse(iter_line_chunks(stream), str(path), engine=engine)


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("name", INPUTS)
def test_folded_equals_stackcollapse_perf(name: str, option: str) -> None:
    expected = (CORPUS / "results" / f"{name}-collapsed-{option}.txt").read_bytes()
    folded = collapse(_parsed(CORPUS / f"{name}.txt"), CollapseOptions(**{option: True}))
    assert folded.encode("utf-8") == expected


@pytest.mark.parametrize("name", ["perf-vertx-stacks-01", "perf-java-stacks-02"])
def test_grammar_engine_and_line_api_fold_the_same(name: str) -> None:
    options = CollapseOptions(all=True)
    expected = (CORPUS / "results" / f"{name}-collapsed-all.txt").read_text(encoding="utf-8")
    assert collapse(_parsed(CORPUS / f"{name}.txt", engine="lark"), options) == expected
    lines = (CORPUS / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    assert collapse_lines(lines, options) == expected


def test_default_folds_first_event_only_and_event_filter_selects() -> None:
    parsed = _parsed(CORPUS / "perf-cycles-instructions-01.txt")
    first = collapse(parsed)
    assert first == collapse(parsed, CollapseOptions(event_filter="instructions"))
    cycles = collapse(parsed, CollapseOptions(event_filter="cycles"))
    assert cycles and cycles != first
    assert collapse(parsed, CollapseOptions(event_filter="no-such-event")) == ""


def test_counts_are_periods() -> None:
    folded = collapse(_parsed(CORPUS / "perf-dd-stacks-01.txt"))
    assert all(int(line.rsplit(" ", 1)[1]) % 10101010 == 0 for line in folded.splitlines())


# Deliberate differences from stackcollapse-perf.pl (module docstring of analyzer.derive.perf_fold)


def test_difference_1_comm_with_spaces_and_digits_keeps_name_and_tid() -> None:
    # perl: "io_worker-?/1" and "[brkt]-?/7"
    folded = collapse(
        _parsed(RESEARCH / "cpu_awkward_comm_callchain.txt"), CollapseOptions(tid=True)
    )
    roots = {line.split(";", 1)[0] for line in folded.splitlines()}
    assert "io_worker_1-?/11709" in roots
    assert "[brkt]_7-?/11712" in roots
    assert "evil:_1.5:_x-?/11711" in roots


def test_difference_2_single_line_samples_are_folded() -> None:
    # perl folds nothing: every header is right-aligned, so it starts with blanks
    folded = collapse(_parsed(RESEARCH / "cpu_awkward_comm_nocallchain.txt"))
    lines = folded.splitlines()
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == 98 * 5025125
    assert all(line.count(";") == 1 for line in lines)


def test_difference_4_dso_with_parentheses() -> None:
    lines = [
        "python3.11 15563 [000]   745.996531: cpu-clock: ",
        "\t           c584f [unknown] (/memfd:sealed-91173221a7ea (deleted))",
        "\t           4ccc6 [unknown] (/usr/bin/x86_64-linux-gnu-as)",
        "",
    ]
    folded = collapse_lines(lines)
    # perl: "python3.11;[x86_64-linux-gnu-as];[unknown]  1" (DSO read as "deleted)")
    assert folded == "python3.11;[x86_64-linux-gnu-as];[memfd:sealed-91173221a7ea (deleted)] 1\n"


def test_difference_5_srcline_lines_are_not_frames() -> None:
    lines = [
        "python3.12  8962   311.667718:    5025125 cpu-clock: ",
        "\t           97cc3 _int_malloc+0x963 (/usr/lib/x86_64-linux-gnu/libc.so.6)",
        "  malloc.c:4140",
        "\t           98ac9 __GI___libc_malloc+0x199",
        "  malloc.c:3315 (inlined)",
        "",
    ]
    assert collapse_lines(lines) == "python3.12;__GI___libc_malloc;_int_malloc 5025125\n"


def test_difference_6_jitdump_frames_are_jit() -> None:
    lines = [
        "python3.13  9290   323.407580:    5025125 cpu-clock: ",
        "\t              85 py::fib:/tmp/perfwork/cpu_work.py+0x5 (/tmp/jitted-9290-433.so)",
        "\t          1b8d9f _PyEval_EvalFrameDefault+0x22f (/usr/lib/libpython3.13.so.1.0)",
        "",
    ]
    assert collapse_lines(lines, CollapseOptions(jit=True)) == (
        "python3.13;_PyEval_EvalFrameDefault;py::fib:/tmp/perfwork/cpu_work.py_[j] 5025125\n"
    )


def test_difference_7_samples_without_blank_separator_stay_apart() -> None:
    lines = [
        "a 1 1.0: 1 cycles: ",
        "\t1 f (x)",
        "b 2 2.0: 1 cycles: ",
        "\t2 g (x)",
        "",
    ]
    assert collapse_lines(lines) == "a;f 1\nb;g 1\n"
