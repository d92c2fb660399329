"""`analyzer.cli.fold` folding a file in two halves side by side (`fold_split`) prints what
stackcollapse-perf.pl prints: on FlameGraph's corpus with every option, on every perf dump
in fixtures/ with the default options (its stderr note included), and wherever the cut
falls between samples."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from analyzer.cli import fold as fold_fast
from analyzer.derive.perf_fold import CollapseOptions, folded_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CORPUS = FIXTURES / "perf" / "flamegraph-test"
CURRENT = FIXTURES / "perf" / "stackcollapse"
OPTIONS = ("pid", "tid", "kernel", "jit", "all", "addrs")
DEFAULTS = sorted(path.name.split(".folded")[0] for path in (CURRENT / "default").glob("*.folded*"))


@pytest.fixture
def always_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file is split (two CPUs or not)."""
    monkeypatch.setattr(fold_fast, "SPLIT_BYTES", 1)
    monkeypatch.setattr(fold_fast, "usable_cpus", lambda: 2)


def _fold(path: Path, options: CollapseOptions) -> tuple[bytes, str | None, bool]:
    """(folded output, note, whether it was split) of `fold_file`."""
    with path.open("rb") as stream:
        head = stream.read(fold_fast.HEAD_BYTES)
        folded = fold_fast.fold_file(stream, head, options)
    assert folded is not None
    try:
        return folded_text(folded.items()), folded.note(), isinstance(folded, fold_fast.SplitFold)
    finally:
        folded.close()


@pytest.mark.usefixtures("always_split")
@pytest.mark.parametrize("option", OPTIONS)
def test_split_fold_equals_stackcollapse_perf_on_its_corpus(option: str) -> None:
    split = 0
    for path in sorted(CORPUS.glob("*.txt")):
        name = f"{path.stem}-collapsed-{option}.txt"
        current = CURRENT / "flamegraph-test" / name
        expected = (current if current.exists() else CORPUS / "results" / name).read_bytes()
        folded, _, was_split = _fold(path, CollapseOptions(**{option: True}))
        assert folded == expected, path.name
        split += was_split
    assert split >= 8  # (not: a file without an empty line after its middle)


@pytest.mark.usefixtures("always_split")
@pytest.mark.parametrize("key", DEFAULTS)
def test_split_fold_of_every_fixture_dump(key: str, tmp_path: Path) -> None:
    path = FIXTURES / key.replace("__", "/")
    if not path.exists():  # a compressed dump: the fast path reads it uncompressed
        plain = tmp_path / path.name
        plain.write_bytes(gzip.decompress(path.with_name(path.name + ".gz").read_bytes()))
        path = plain
    if b"\r" in path.read_bytes():
        pytest.skip("the fast path leaves input with CR to the full CLI")
    expected_path = CURRENT / "default" / f"{key}.folded"
    if expected_path.exists():
        expected = expected_path.read_bytes()
    else:
        expected = gzip.decompress(expected_path.with_name(expected_path.name + ".gz").read_bytes())
    folded, note, _ = _fold(path, CollapseOptions())
    assert folded == expected
    note_path = CURRENT / "default" / f"{key}.note"
    if note_path.exists():
        other = note_path.read_text(encoding="utf-8").split(": ", 1)[1].strip()
        assert note is not None and f"such as {other}," in note
    else:
        assert note is None


@pytest.mark.parametrize(
    "name", ["perf-cycles-instructions-01.txt", "perf-java-stacks-01.txt", "perf-dd-stacks-01.txt"]
)
def test_every_cut_between_samples_folds_the_same(name: str) -> None:
    """Cut after every empty line (up to 40 of them, spread over the file): the two halves
    together fold as the whole file does, note included."""
    path = CORPUS / name
    data = path.read_bytes()
    options = CollapseOptions()
    whole, whole_note, _ = _fold(path, options)
    cuts = [index + 2 for index in range(len(data)) if data.startswith(b"\n\n", index)]
    for cut in cuts[:: max(1, len(cuts) // 40)]:
        with path.open("rb") as stream:
            head = stream.read(fold_fast.HEAD_BYTES)
            event = fold_fast.first_event(stream, head, len(data))
            assert event is not None
            explicit = CollapseOptions(event_filter=event.decode())
            stream.seek(len(head))
            folded = fold_fast.fold_split(stream, head, options, cut, explicit)
        assert folded is not None
        assert folded_text(folded.items()) == whole, cut
        assert folded.note() == whole_note
