"""`analyzer.cli.fold` folding a file in two halves side by side (`fold_split`), and
`DirectReader` naming frame lines by key, print what stackcollapse-perf.pl prints: on
FlameGraph's corpus with every option, on every perf dump in fixtures/ with the default
options (its stderr note included), and wherever the cut falls between samples."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from test_perf_collapse import KEYED_FOLDED, KEYED_SAMPLES

from analyzer.cli import fold as fold_fast
from analyzer.derive.perf_fold import CollapseOptions, StreamingFolder, fold_reader, folded_text
from analyzer.derive.perf_fold_direct import DirectReader
from analyzer.formats.perf_collapse import CollapseReader

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
    if b"\r" in path.read_bytes():  # the fast path leaves it to the full CLI
        with path.open("rb") as stream:
            head = stream.read(fold_fast.HEAD_BYTES)
            assert fold_fast.fold_file(stream, head, CollapseOptions()) is None
        return
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


@pytest.fixture
def by_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks named by key (`DirectReader.ADDRESSES`) from the second on, but every 3rd
    (a probe that always finds lines repeated)."""
    monkeypatch.setattr(DirectReader, "LINE_BLOCKS", 0)
    monkeypatch.setattr(DirectReader, "KEY_SHARE", -1.0)
    monkeypatch.setattr(DirectReader, "LINE_SHARE", 2.0)
    monkeypatch.setattr(DirectReader, "PROBE", 3)


@pytest.fixture
def only_by_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every block named by key but the first."""
    monkeypatch.setattr(DirectReader, "LINE_BLOCKS", 0)
    monkeypatch.setattr(DirectReader, "KEY_SHARE", -1.0)
    monkeypatch.setattr(DirectReader, "PROBE", 1 << 30)


@pytest.mark.usefixtures("by_key")
@pytest.mark.parametrize("option", ("", *OPTIONS))
def test_naming_by_key_folds_the_corpus_as_the_script(option: str) -> None:
    options = CollapseOptions(**({option: True} if option else {}))
    keyed = 0
    for path in sorted(CORPUS.glob("*.txt")):
        name = f"{path.stem}-collapsed-{option}.txt"
        current = CURRENT / "flamegraph-test" / name
        if option:
            expected = (current if current.exists() else CORPUS / "results" / name).read_bytes()
        else:
            expected = _default(f"perf__flamegraph-test__{path.name}")
        data = path.read_bytes()
        for size in (997, 20_000):
            folder = StreamingFolder(options)
            for start in range(0, len(data), size):
                folder.feed_raw(data[start : start + size])
            assert folded_text(folder.items()) == expected, (path.name, size)
            keyed += bool(folder.reader.key_texts)
    assert keyed >= 16  # (not: files of one block, frame lines without an indent)


@pytest.mark.usefixtures("by_key")
@pytest.mark.parametrize("key", DEFAULTS)
def test_naming_by_key_folds_every_fixture_dump(key: str) -> None:
    path = FIXTURES / key.replace("__", "/")
    data = (
        path.read_bytes()
        if path.exists()
        else gzip.decompress(path.with_name(path.name + ".gz").read_bytes())
    )
    folder = StreamingFolder()
    for start in range(0, len(data), 4093):
        folder.feed_raw(data[start : start + 4093])
    assert folded_text(folder.items()) == _default(key)


def _default(key: str) -> bytes:
    expected_path = CURRENT / "default" / f"{key}.folded"
    if expected_path.exists():
        return expected_path.read_bytes()
    return gzip.decompress(expected_path.with_name(expected_path.name + ".gz").read_bytes())


def test_lines_named_by_key_as_the_script_names_them(by_key: None) -> None:
    """HAND-WRITTEN samples (those of test_perf_collapse for `CollapseReader`'s keys): the
    same frame at two addresses, ``[unknown]`` frames (``--addrs`` prints the address),
    lines whose address the script's regular expression does not take whole (``abcd (e)``
    is address ``abc`` and symbol ``d``), a NUL byte, a Java class name. The expected
    outputs are what stackcollapse-perf.pl 41fee1f prints."""
    data, expected = KEYED_SAMPLES, KEYED_FOLDED
    without_nul = data.replace(b"\t4 g\x00h (/x)\n", b"")
    for option, output in expected.items():
        options = CollapseOptions(**({option: True} if option else {}))
        lines = output.replace(b";g\x00h", b"").splitlines(keepends=True)
        lines.sort(key=lambda line: line.rpartition(b" ")[0])
        for text, want in ((data, output), (without_nul, b"".join(lines))):
            for size in (7, 60, len(text)):
                folder = StreamingFolder(options)
                for start in range(0, len(text), size):
                    folder.feed_raw(text[start : start + size])
                assert folded_text(folder.items()) == want, (option, size)


def test_keys_whose_address_decides_are_read_by_line(only_by_key: None) -> None:
    """HAND-WRITTEN: ``abcd (e)``, ``abce (e)``, ``abcf (e)`` share a key, but the script
    reads address ``abc`` and symbols ``d``, ``e``, ``f``; with ``--addrs`` the ``[unknown]``
    frames at other addresses differ too. As `CollapseReader` (checked against the script
    in test_perf_collapse) folds them."""
    sample = b"perf 1 [000] 1.0: 1 cycles: \n\t%d f+0x1 (/x)\n\t%d [unknown] (/y)\n\tabc%s (e)\n\n"
    data = b"".join(sample % (n, n + 100, bytes([c])) for n, c in enumerate(b"deffed", 1))
    data += b"".join(b"perf 1 [000] 1.0: 1 cycles: \n\t%d [unknown] (/y)\n\n" % n for n in range(9))
    for options in (CollapseOptions(), CollapseOptions(addrs=True)):
        reader = CollapseReader()
        reader.feed_raw(data)
        reader.finish()
        expected = folded_text(fold_reader(reader, options))
        assert b"perf;d;[y <101>];f 1\nperf;d;[y <106>];f 1\n" in expected or not options.addrs
        assert b"perf;[y <8>] 1\n" in expected or not options.addrs
        for size in (60, 90):
            folder = StreamingFolder(options)
            for start in range(0, len(data), size):
                folder.feed_raw(data[start : start + size])
            assert folded_text(folder.items()) == expected, (options, size)
