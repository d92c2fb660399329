"""`DirectReader` (folding straight to text, frame lines named a block at a time by line or
by key) folds generated `perf script` text as `CollapseReader` does, which
test_perf_collapse checks against stackcollapse-perf.pl.

The generated lines mix the cases where the script's regular expressions are subtle: symbols
with spaces, parentheses (``(anonymous namespace)``, Go methods ``.(*T).``, a DSO with
``(deleted)``), offsets, ``;`` and quotes, ``->`` inlining, ``[unknown]``, kernel and JIT
DSOs, unindented and empty-symbol frame lines, comments (also before a sample's first
line), header lines inside a sample and
headers of two events."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import examples

from analyzer.derive.perf_fold import CollapseOptions, StreamingFolder, fold_reader, folded_text
from analyzer.derive.perf_fold_direct import DirectReader
from analyzer.formats.perf_collapse import CollapseReader

SETTINGS = settings(
    max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
OPTION_SETS = [
    CollapseOptions(),
    CollapseOptions(all=True),
    CollapseOptions(kernel=True, addrs=True),
    CollapseOptions(jit=True, tid=True),
    CollapseOptions(pid=True, event_filter="cycles"),
]

SYMBOLS = [
    "main",
    "f+0x1a",
    "f+0x1a+0x2b",
    "g x",
    "g  ",
    "std::vector<int>::push_back",
    "foo(int, char)",
    "foo (bar)",
    "(anonymous namespace)::h",
    "x::(anonymous namespace)::h(int)",
    "net/http.(*Client).Do",
    "a.(b",
    "a->b",
    "a->b->",
    "->a",
    "[unknown]",
    "[unknown]+0x1",
    "Lorg/a/B;.m(I)V",
    "Lorg/a/B;.m",
    "L/x",
    "q;r",
    "it's",
    '"quoted"',
    "\"'",
    "+0x10",
    "(x)",
    "_[i]a",
    "f_[j]",
    "é→",
    "a\x00b",
    "w 1 x",  # header-like without its address
]
DSOS = [
    "/lib/x.so",
    "[kernel.kallsyms]",
    "[unknown]",
    "/boot/vmlinux",
    "/tmp/perf-12.map",
    "/x/jitted-1-2.so",
    "/tmp/a (deleted)",
    "a)b",
    "",
]
ADDRESSES = ["7f00", "ffffffff8100", "0", "abc", "1234"]
INDENTS = ["\t", "    ", "\t    ", "", " \t "]
HEADERS = [
    "prog {tid} [000] {time}: {period} cycles: ",
    "prog {tid} {time}: {period} cycles:",
    "java {tid}/{tid} [001] {time}: {period} cpu-clock: ",
    "V8 Worker {tid} [002] {time}:     {period} cycles: ",
    "prog {tid} [000] {time}: instructions: ",
    "prog {tid} [000] {time}: {period} instructions: ",
    "prog {tid} [000] {time}: {period}",
    "x 1 [000] {time}: 0 cycles: ",
    "# comment {tid}",
    # without a time (FlameGraph's perf-vertx-stacks-01.txt, perf-funcab-pid-01.txt)
    "java  {tid} cpu-clock: ",
    "prog {tid} [000] {period} cycles: ",
]

frame_lines = st.builds(
    lambda indent, address, gap, symbol, dso, tail: f"{indent}{address}{gap}{symbol} ({dso}){tail}",
    st.sampled_from(INDENTS),
    st.sampled_from(ADDRESSES),
    st.sampled_from([" ", "  ", "\t", ""]),
    st.sampled_from(SYMBOLS),
    st.sampled_from(DSOS),
    st.sampled_from(["", "", "", " ", " x"]),
)
header_lines = st.builds(
    lambda template, tid, time, period: template.format(tid=tid, time=time, period=period),
    st.sampled_from(HEADERS),
    st.integers(1, 3),
    st.sampled_from(["1.0", "12.345", "7.5", "x.1"]),
    st.sampled_from(["1", "100", "0", "250000"]),
)
samples = st.builds(
    lambda comments, header, frames, extra: "\n".join([*comments, header, *frames, *extra]),
    # comment lines before a sample's first line (``perf script --header``), none in most
    st.lists(st.sampled_from(["# c", "#", "# cmdline : perf record -g x"]), max_size=2)
    | st.just([]),
    st.one_of(header_lines, header_lines, frame_lines),  # (frames without a header)
    st.lists(frame_lines, max_size=6),
    st.lists(st.one_of(header_lines, st.just("# c"), st.just("   ")), max_size=1),
)
dumps = st.lists(samples, min_size=1, max_size=12).map(lambda s: "\n\n".join(s) + "\n\n")


def _reference(data: bytes, options: CollapseOptions) -> bytes:
    reader = CollapseReader()
    reader.feed_raw(data)
    reader.finish()
    return folded_text(fold_reader(reader, options))


def _direct(data: bytes, options: CollapseOptions, size: int) -> bytes:
    folder = StreamingFolder(options)
    for start in range(0, len(data), size):
        folder.feed_raw(data[start : start + size])
    return folded_text(folder.items())


MODES = {
    "default": None,
    # (LINE_BLOCKS, KEY_SHARE, LINE_SHARE, PROBE): never by key
    "by-line": (10**9, 0.5, 0.5, 8),
    # every block named by key (a probe every third block keeps it)
    "by-key": (0, -1.0, -1.0, 3),
    # by key and by line in turn (a probe every second block goes back to lines)
    "alternating": (0, -1.0, 2.0, 2),
    # by key when most of a block's lines are new, back by line when a probe (every
    # second block) finds most of its lines repeated
    "by-share": (0, 0.6, 0.6, 2),
}
_MODE_ATTRIBUTES = ("LINE_BLOCKS", "KEY_SHARE", "LINE_SHARE", "PROBE")


@pytest.mark.parametrize("mode", MODES)
@SETTINGS
@given(text=dumps, size=st.sampled_from([50, 300, 1 << 20]))
def test_direct_folding_equals_the_reader(text: str, size: int, mode: str) -> None:
    data = text.encode("utf-8")
    saved = [getattr(DirectReader, name) for name in _MODE_ATTRIBUTES]
    for name, value in zip(_MODE_ATTRIBUTES, MODES[mode] or saved, strict=True):
        setattr(DirectReader, name, value)
    try:
        for options in OPTION_SETS:
            assert _direct(data, options, size) == _reference(data, options), options
    finally:
        for name, value in zip(_MODE_ATTRIBUTES, saved, strict=True):
            setattr(DirectReader, name, value)


@pytest.mark.parametrize("mode", MODES)
def test_callers_named_late_keep_java_names_apart(mode: str) -> None:
    """HAND-WRITTEN: the same callers under a root that is not ``java`` and under ``java``
    (which drops the ``L`` of a class name), after an unindented frame line that is named
    only when first met (so their names are joined late, `DirectReader._chain`)."""
    sample = b"%s 1 [000] 1.0: 1 cycles: \n\t%x leaf (/x)\n7f Lorg/a/B;.m (/y)\n\t3 main (/x)\n\n"
    roots = [b"prog", b"prog", b"java", b"prog", b"java", b"java"]
    data = b"".join(sample % (root, n) for n, root in enumerate(roots * 3))
    saved = [getattr(DirectReader, name) for name in _MODE_ATTRIBUTES]
    for name, value in zip(_MODE_ATTRIBUTES, MODES[mode] or saved, strict=True):
        setattr(DirectReader, name, value)
    try:
        expected = _reference(data, CollapseOptions())
        assert b"java;main;org/a/B:.m;leaf 9\n" in expected
        for size in (40, 70, 130, len(data)):
            assert _direct(data, CollapseOptions(), size) == expected, size
    finally:
        for name, value in zip(_MODE_ATTRIBUTES, saved, strict=True):
            setattr(DirectReader, name, value)


@pytest.mark.parametrize("mode", MODES)
def test_comments_before_a_header_are_skipped(mode: str) -> None:
    """HAND-WRITTEN: ``perf script --header`` comment lines right before a sample (no empty
    line between, as where captures are concatenated) are skipped by the script; the sample
    after them folds as any other, in a block named by line or by key, and its piece is not
    given to the token replay."""
    sample = b"prog 1 [000] 1.0: 5 cycles: \n\t%x leaf+0x1 (/x)\n\t%x main (/x)\n\n"
    preamble = b"# ========\n# cmdline : /usr/bin/perf record -g prog\n#\n"
    data = b"".join(
        (preamble if n % 4 == 2 else b"") + sample % (2 * n, 2 * n + 1) for n in range(12)
    )
    saved = [getattr(DirectReader, name) for name in _MODE_ATTRIBUTES]
    for name, value in zip(_MODE_ATTRIBUTES, MODES[mode] or saved, strict=True):
        setattr(DirectReader, name, value)
    try:
        expected = _reference(data, CollapseOptions())
        assert expected == b"prog;main;leaf 60\n"
        for size in (60, 150, len(data)):
            folder = StreamingFolder(CollapseOptions())
            for start in range(0, len(data), size):
                folder.feed_raw(data[start : start + size])
            if size == len(data):
                assert not folder.reader.general, "a sample after comments was replayed"
            assert folded_text(folder.items()) == expected, size
    finally:
        for name, value in zip(_MODE_ATTRIBUTES, saved, strict=True):
            setattr(DirectReader, name, value)


def test_distinct_lines_are_named_by_key_from_the_first_block() -> None:
    """HAND-WRITTEN: frame lines that never repeat (every address differs) are named by
    key from the first block on (`LINE_BLOCKS`: reading such a block by line took ~3x the
    time), and lines that repeat by line; both fold as the reader does."""
    sample = b"prog 1 [000] %d.5: 7 cycles: \n\t%x leaf%d (/x)\n\t%x f (/x)\n\t%x main (/x)\n\n"
    distinct = b"".join(sample % (n, 3 * n, n, 3 * n + 1, 3 * n + 2) for n in range(400))
    repeated = b"".join(sample % (n, 1, n, 2, 3) for n in range(400))
    for data, by_key in ((distinct, True), (repeated, False)):
        folder = StreamingFolder(CollapseOptions())
        folder.feed_raw(data)
        assert folder.reader._blocks == 1
        assert bool(folder.reader.key_texts) is by_key
        assert folded_text(folder.items()) == _reference(data, CollapseOptions())
