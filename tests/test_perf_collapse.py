"""Folded stacks equal FlameGraph's current `stackcollapse-perf.pl`, byte for byte.

FlameGraph's `test.sh` runs every option of ``pid tid kernel jit all addrs`` over every
`test/*.txt` and diffs against `test/results/NAME-collapsed-OPT.txt`; the same 13 x 6 cases
run here (fixtures/perf/flamegraph-test, see its PROVENANCE.md), except that for 8 of them the
current script (41fee1f) prints something else than FlameGraph's committed results: those come
from `fixtures/perf/stackcollapse/flamegraph-test/` (see its README). Every other perf dump in
fixtures/ is folded with the default options and compared with what the script printed
(`fixtures/perf/stackcollapse/default/`), its stderr note about left-out events included.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from analyzer.derive.perf import folded_notes, perf_tables
from analyzer.derive.perf_fold import (
    CollapseOptions,
    StreamingFolder,
    collapse,
    collapse_lines,
    fold_reader,
    folded_note,
    folded_text,
)
from analyzer.formats.perf import parse
from analyzer.formats.perf_collapse import CollapseReader
from analyzer.inputs import iter_line_chunks
from analyzer.model import ParsedInput

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORPUS = FIXTURES / "perf" / "flamegraph-test"
RESEARCH = CORPUS.parent / "research"
CURRENT = FIXTURES / "perf" / "stackcollapse"
INPUTS = sorted(path.stem for path in CORPUS.glob("*.txt"))
OPTIONS = sorted(
    {path.stem.rsplit("-collapsed-", 1)[1] for path in (CORPUS / "results").glob("*.txt")}
)
DEFAULTS = sorted(path.name.split(".folded")[0] for path in (CURRENT / "default").glob("*.folded*"))


def test_corpus_layout() -> None:
    assert len(INPUTS) == 13
    assert OPTIONS == ["addrs", "all", "jit", "kernel", "pid", "tid"]
    assert len(list((CURRENT / "flamegraph-test").glob("*.txt"))) == 8
    assert len(DEFAULTS) >= 60


def _parsed(path: Path, engine: str = "fast"):
    with path.open("rb") as stream:
        return parse(iter_line_chunks(stream), str(path), engine=engine)


def _expected(name: str, option: str) -> bytes:
    current = CURRENT / "flamegraph-test" / f"{name}-collapsed-{option}.txt"
    if current.exists():
        return current.read_bytes()
    return (CORPUS / "results" / f"{name}-collapsed-{option}.txt").read_bytes()


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("name", INPUTS)
def test_folded_equals_stackcollapse_perf(name: str, option: str) -> None:
    expected = _expected(name, option)
    folded = collapse(_parsed(CORPUS / f"{name}.txt"), CollapseOptions(**{option: True}))
    assert folded.encode("utf-8") == expected


def test_the_eight_regenerated_files_differ_from_flamegraphs_by_the_java_prefix() -> None:
    for current in sorted((CURRENT / "flamegraph-test").glob("*.txt")):
        stale = (CORPUS / "results" / current.name).read_text(encoding="utf-8")
        text = current.read_text(encoding="utf-8")
        assert text != stale, current.name
        stripped = [
            ";".join(
                name[1:] if name.startswith("L") and "/" in name else name
                for name in line.split(";")
            )
            for line in stale.splitlines()
        ]
        counts: dict[str, int] = {}
        for line in stripped:  # two stale stacks can become one
            stack, _, count = line.rpartition(" ")
            counts[stack] = counts.get(stack, 0) + int(count)
        assert text == "".join(f"{stack} {counts[stack]}\n" for stack in sorted(counts))


def _input_of(key: str) -> Path:
    path = FIXTURES / key.replace("__", "/")
    return path if path.exists() else path.with_name(path.name + ".gz")


def _expected_default(key: str) -> bytes:
    plain = CURRENT / "default" / f"{key}.folded"
    if plain.exists():
        return plain.read_bytes()
    return gzip.decompress(plain.with_name(plain.name + ".gz").read_bytes())


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


@pytest.mark.parametrize("key", DEFAULTS)
def test_every_fixture_dump_folds_as_the_script_does(key: str) -> None:
    """Default options, read three ways: whole, streamed in small pieces cut anywhere, and
    through `perf.parse`'s line chunks; the note equals the script's stderr line."""
    path = _input_of(key)
    data = _raw(path)
    expected = _expected_default(key)
    reader = CollapseReader()
    reader.feed_raw(data)
    reader.finish()
    assert folded_text(fold_reader(reader)) == expected
    folder = StreamingFolder()
    for start in range(0, len(data), 4093):
        folder.feed_raw(data[start : start + 4093])
    assert folded_text(folder.items()) == expected
    note_path = CURRENT / "default" / f"{key}.note"
    note = folded_note(reader, CollapseOptions())
    if note_path.exists():
        other = note_path.read_text(encoding="utf-8").split(": ", 1)[1].strip()
        assert note is not None and f"such as {other}," in note
    else:
        assert note is None
    if b"\r" not in data and path.suffix != ".gz":
        assert collapse(_parsed(path)).encode("utf-8") == expected


def test_the_note_reaches_the_folded_table() -> None:
    path = CORPUS / "perf-cycles-instructions-01.txt"
    source = ParsedInput("x.txt", None, "perf", _parsed(path))
    tables, _ = perf_tables([source], CollapseOptions())
    [note] = folded_notes(tables["perf_folded"])
    assert note.startswith("x.txt: folded only events of type instructions,")
    assert "such as cycles," in note
    tables, _ = perf_tables([source], CollapseOptions(event_filter="cycles"))
    assert folded_notes(tables["perf_folded"]) == []


def test_grammar_engine_and_line_api_fold_the_same() -> None:
    for name in ("perf-vertx-stacks-01", "perf-java-stacks-02"):
        options = CollapseOptions(all=True)
        expected = _expected(name, "all").decode("utf-8")
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


# The script's own readings, which an earlier iodiag "corrected" (issue 14 item 9): the
# expected values are what stackcollapse-perf.pl 41fee1f prints for the same lines.


def test_comm_with_spaces_and_digits_is_read_as_the_script_reads_it() -> None:
    folded = collapse(
        _parsed(RESEARCH / "cpu_awkward_comm_callchain.txt"), CollapseOptions(tid=True)
    )
    roots = {line.split(";", 1)[0] for line in folded.splitlines()}
    assert {"io_worker-?/1", "[brkt]-?/7", "evil:_1.5:_x-?/11711"} <= roots


def test_single_line_samples_fold_nothing() -> None:
    # right-aligned headers start with blanks: the script takes them for frames
    assert collapse(_parsed(RESEARCH / "cpu_awkward_comm_nocallchain.txt")) == ""


def test_dso_with_parentheses() -> None:
    lines = [
        "python3.11 15563 [000]   745.996531: cpu-clock: ",
        "\t           c584f [unknown] (/memfd:sealed-91173221a7ea (deleted))",
        "\t           4ccc6 [unknown] (/usr/bin/x86_64-linux-gnu-as)",
        "",
    ]
    assert collapse_lines(lines) == "python3.11;[x86_64-linux-gnu-as];[unknown]  1\n"


def test_srcline_lines_are_unrecognised() -> None:
    lines = [
        "python3.12  8962   311.667718:    5025125 cpu-clock: ",
        "\t           97cc3 _int_malloc+0x963 (/usr/lib/x86_64-linux-gnu/libc.so.6)",
        "  malloc.c:4140",
        "\t           98ac9 __GI___libc_malloc+0x199",
        "  malloc.c:3315 (inlined)",
        "",
    ]
    assert collapse_lines(lines) == "python3.12;.c:3315;_int_malloc 5025125\n"


def test_jitdump_frames_are_not_jit() -> None:
    lines = [
        "python3.13  9290   323.407580:    5025125 cpu-clock: ",
        "\t              85 py::fib:/tmp/perfwork/cpu_work.py+0x5 (/tmp/jitted-9290-433.so)",
        "\t          1b8d9f _PyEval_EvalFrameDefault+0x22f (/usr/lib/libpython3.13.so.1.0)",
        "",
    ]
    assert collapse_lines(lines, CollapseOptions(jit=True)) == (
        "python3.13;_PyEval_EvalFrameDefault;py::fib:/tmp/perfwork/cpu_work.py 5025125\n"
    )


def test_samples_without_blank_separator_merge() -> None:
    lines = ["a 1 1.0: 1 cycles: ", "\t1 f (x)", "b 2 2.0: 1 cycles: ", "\t2 g (x)", ""]
    assert collapse_lines(lines) == "b_2_2.0:;g;f 1\n"


def test_empty_input_and_no_blank_line_at_the_end_fold_nothing() -> None:
    assert collapse_lines([]) == ""
    assert collapse_lines(["a 1 1.0: 1 cycles: ", "\t1 f (x)"]) == ""


KEYED_SAMPLES = (
    b"java 1 [000] 1.0: 1 cycles: \n\t1111 f+0x1 (/x)\n\t2222 [unknown] (/lib/y.so)\n"
    b"\t3333  (z)\n\tabcd (e)\n\n"
    b"java 1 [000] 1.0: 1 cycles: \n\t1112 f+0x2 (/x)\n\t2223 [unknown] (/lib/y.so)\n"
    b"\t3334  (z)\n\tabce (e)\n\t5 Lp/Q;.m (/tmp/perf-1.map)\n\n"
    b"java 1 [000] 1.0: 1 cycles: \n\t4 g\x00h (/x)\n\t5 Lp/Q;.m (/tmp/perf-1.map)\n\n"
)
"""HAND-WRITTEN samples for the lookup of frame lines without their address: the same frame
at two addresses, ``[unknown]`` frames (``--addrs`` prints the address), lines whose address
the script's regular expression does not take whole (``abcd (e)`` is address ``abc`` and
symbol ``d``), a NUL byte, and a Java class name."""

KEYED_FOLDED = {
    "": b"java;d; ;[y.so];f 1\njava;p/Q:.m;e; ;[y.so];f 1\njava;p/Q:.m;g\x00h 1\n",
    "addrs": (
        b"java;d; ;[y.so <2222>];f 1\njava;p/Q:.m;e; ;[y.so <2223>];f 1\njava;p/Q:.m;g\x00h 1\n"
    ),
    "all": b"java;d; ;[y.so];f 1\njava;p/Q:.m_[j];e; ;[y.so];f 1\njava;p/Q:.m_[j];g\x00h 1\n",
}
"""What stackcollapse-perf.pl 41fee1f prints for `KEYED_SAMPLES`, per option."""


def test_lines_read_by_their_key_fold_as_the_script_folds_them() -> None:
    """HAND-WRITTEN samples for the lookup of frame lines without their address
    (`CollapseReader._read_lines`): the same frame at two addresses, ``[unknown]`` frames
    (``--addrs`` prints the address), lines whose address the script's regular expression
    does not take whole (``abcd (e)`` is address ``abc`` and symbol ``d``), a NUL byte, and
    a Java class name. The expected outputs are what stackcollapse-perf.pl 41fee1f prints."""
    data, expected = KEYED_SAMPLES, KEYED_FOLDED
    for option, output in expected.items():
        options = CollapseOptions(**({option: True} if option else {}))
        for size in (7, len(data)):  # cut anywhere, and whole
            folder = StreamingFolder(options)
            for start in range(0, len(data), size):
                folder.feed_raw(data[start : start + size])
            assert folded_text(folder.items()) == output, (option, size)
