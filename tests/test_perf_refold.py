"""The pipeline folds a perf file by reading it again with the run's options
(`ParsedPerf.refold`, `analyzer.derive.perf.folded_and_note`) instead of keeping the whole
input (`CollapseReader`): the folded stacks, the note and every output built on them are
what the kept input gives, whatever the options and the file's bytes."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import inputs
from analyzer.derive.perf import folded_and_note
from analyzer.derive.perf_fold import CollapseOptions, collapse
from analyzer.errors import InputError
from analyzer.formats import perf
from analyzer.formats.perf import FoldSource, ParsedPerf
from analyzer.pipeline import Config, analyze
from analyzer.render import renderer_for
from analyzer.render.flamegraph import collapse_unknown, flame_frames, unknown_runs

ROOT = Path(__file__).resolve().parent.parent / "fixtures"
PERF_FILES = sorted((ROOT / "perf").glob("*/*.txt")) + sorted(
    (ROOT / "diagnosis" / "logs").glob("*perf*.txt")
)
OPTION_SETS = (
    CollapseOptions(),
    CollapseOptions(pid=True, all=True),
    CollapseOptions(tid=True, addrs=True, kernel=True),
    CollapseOptions(jit=True, event_filter="cpu-clock"),
)


def _parse(path: Path, refold: bool) -> ParsedPerf:
    opened = inputs.open_input(path)
    try:
        return perf.parse(inputs.iter_line_chunks(opened.stream), str(path), refold=refold)
    finally:
        opened.close()


def _both(path: Path, options: CollapseOptions) -> tuple[tuple[pa.Table, str | None], ...]:
    kept = _parse(path, refold=False)
    again = _parse(path, refold=True)
    assert kept.refold is None and again.refold is not None
    assert again.collapsed.pairs == {}  # nothing of the input kept for folding
    return folded_and_note("x", kept, options), folded_and_note("x", again, options)


@pytest.mark.parametrize("path", PERF_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_folding_the_file_again_gives_what_the_kept_input_gives(path: Path) -> None:
    for options in OPTION_SETS:
        (kept, kept_note), (again, again_note) = _both(path, options)
        assert again.equals(kept), options
        assert again_note == kept_note


@pytest.mark.parametrize("name", ["perf-java-stacks-01.txt", "perf-cycles-instructions-01.txt"])
def test_collapse_reads_a_refold_parse_again(name: str) -> None:
    path = ROOT / "perf" / "flamegraph-test" / name
    for options in OPTION_SETS:
        kept = collapse(_parse(path, refold=False), options)
        assert collapse(_parse(path, refold=True), options) == kept


def _variants(tmp_path: Path) -> list[Path]:
    """Hand-made variants of a real capture: CRLF line ends, bytes that are not UTF-8 in a
    symbol, gzip (whole and cut in the middle), and an overlong line (past the input
    layer's cap, read as its cut mark)."""
    source = (ROOT / "perf" / "flamegraph-test" / "perf-vertx-stacks-01.txt").read_bytes()
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(source.replace(b"\n", b"\r\n"))
    latin = tmp_path / "latin1.txt"
    first = source.index(b"\n\t") + 2
    latin.write_bytes(source[:first] + b"\xe9\xff" + source[first:])
    packed = tmp_path / "packed.txt.gz"
    packed.write_bytes(gzip.compress(source))
    damaged = tmp_path / "damaged.txt.gz"  # read up to where the data ends
    damaged.write_bytes(gzip.compress(source)[: packed.stat().st_size // 2])
    long = tmp_path / "long.txt"
    middle = source.index(b"\n\n", len(source) // 2) + 2
    long.write_bytes(source[:middle] + b"x" * (inputs.LINE_CAP + 10) + b"\n" + source[middle:])
    return [crlf, latin, packed, damaged, long]


def test_variants_of_the_bytes_fold_alike(tmp_path: Path) -> None:
    for path in _variants(tmp_path):
        for options in OPTION_SETS[:2]:
            (kept, kept_note), (again, again_note) = _both(path, options)
            assert kept.num_rows > 0
            assert again.equals(kept), (path.name, options)
            assert again_note == kept_note


def test_not_a_regular_file_keeps_the_input() -> None:
    assert FoldSource.of("-") is None
    assert FoldSource.of(os.devnull) is None
    assert FoldSource.of("/no/such/file") is None


def test_a_file_changed_after_its_parse_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_bytes((ROOT / "perf" / "flamegraph-test" / "perf-dd-stacks-01.txt").read_bytes())
    parsed = _parse(path, refold=True)
    with path.open("ab") as handle:
        handle.write(b"\n")
    with pytest.raises(InputError, match="changed while it was read"):
        folded_and_note("x", parsed, CollapseOptions())


def _outputs(path: Path, options: CollapseOptions) -> dict[str, str]:
    result = analyze(path, Config(collapse=options))
    texts = {}
    for name in ("folded", "flamegraph", "json", "speedscope", "md"):
        out = io.StringIO()
        renderer_for(name).render(result, out)
        texts[name] = out.getvalue()
    return texts


@pytest.mark.parametrize(
    "name", ["perf-vertx-stacks-01.txt", "perf-java-stacks-01.txt", "perf-dd-stacks-01.txt"]
)
def test_outputs_are_those_of_the_kept_input(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / "perf" / "flamegraph-test" / name
    options = CollapseOptions(all=True)
    again = _outputs(path, options)
    monkeypatch.setattr(FoldSource, "of", staticmethod(lambda _path: None))
    kept = _outputs(path, options)
    assert again["folded"]  # something was folded
    for output, text in kept.items():
        assert again[output] == text, output


NAMES = st.sampled_from(["a", "a-b", "a b", "b", "[unknown]", "[unknown]", "A", "é", "0", "a:"])
STACKS = st.lists(
    st.tuples(
        st.lists(NAMES, min_size=1, max_size=6).map(";".join),
        st.integers(min_value=-2, max_value=50),
    ),
    max_size=40,
)


@given(STACKS, st.sampled_from([0.0, 0.001, 0.1]))
@settings(max_examples=300, deadline=None)
def test_flame_frames_of_a_table_are_those_of_its_pairs(
    pairs: list[tuple[str, int]], share: float
) -> None:
    """The flame graph reads the folded table in Arrow (sorted there, a batch at a time, the
    [unknown] runs rewritten only where there are some): the frames of its pairs."""
    table = pa.table(
        {"stack": pa.array([s for s, _ in pairs], pa.string()), "count": [c for _, c in pairs]},
        schema=pa.schema([("stack", pa.string()), ("count", pa.int64())]),
    )
    drawn = [(collapse_unknown(stack)[0], count) for stack, count in pairs]
    runs = unknown_runs(table["stack"]).to_pylist()
    assert runs == [collapse_unknown(stack)[1] for stack, _ in pairs]
    assert flame_frames(table, share, collapse=True) == flame_frames(drawn, share)
    assert flame_frames(table, share) == flame_frames(pairs, share)
    halves = pa.concat_tables([table.slice(0, len(pairs) // 2), table.slice(len(pairs) // 2)])
    assert flame_frames(halves, share, collapse=True) == flame_frames(drawn, share)
