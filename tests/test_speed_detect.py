"""Format detection's shortcuts against the computations they replace: the strace sniff that
gives the grammar only the lines the scanner leaves, and `analyzer.sources.detect` stopping at
the first source that is fully confident. Hand-written heads here are marked as such."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from analyzer import sources
from analyzer.formats import strace
from analyzer.formats.strace_mend import parse_lines
from analyzer.inputs import HEAD_BYTES, open_input

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
INPUTS = sorted(
    path
    for path in FIXTURES.rglob("*")
    if path.is_file()
    and path.suffix in {".log", ".txt", ".gz", ".xz", ".zst"}
    # fixtures/fuzz holds generated, damaged inputs: the engines agree on real lines
    and path.relative_to(FIXTURES).parts[0] != "fuzz"
)

# Hand-written heads: blank, mixed, truncated, and none of the formats.
HAND_WRITTEN = [
    b"",
    b"\n\n  \n",
    b'1234 12:00:00.000001 read(3, "x", 1) = 1 <0.000010>\nnot strace at all\n',
    b'1234 12:00:00.000001 read(3, "x", 1) = 1 <0.000010>\n1234 12:00:00.0000',
    b"[pid 7] +++ exited with 0 +++\n--- SIGCHLD {si_signo=SIGCHLD} ---\n",
    b"hello\r\nworld\x0bagain\xff\xfe\n",
]


def _heads() -> list[tuple[str, bytes]]:
    heads = [(f"hand-written {index}", head) for index, head in enumerate(HAND_WRITTEN)]
    for path in INPUTS:
        source = open_input(path)
        try:
            heads.append((str(path.relative_to(FIXTURES)), source.stream.read(HEAD_BYTES)))
        finally:
            source.close()
    return heads


HEADS = _heads()


def _grammar_sniff(head: bytes) -> float:
    """`strace.sniff` as it was: every line through the grammar (with the reader's mending of a
    call cut by one of strace's messages)."""
    lines = head.decode("utf-8", errors="replace").splitlines()[: strace.SNIFF_LINES]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines = lines[:-1]
    lines = [line for line in lines if line.strip()]
    if not lines:
        return 0.0
    _, rejected = parse_lines(list(range(1, len(lines) + 1)), lines)
    return (len(lines) - len(rejected)) / len(lines)


def _exhaustive_detect(head: bytes) -> str | None:
    """`detect` as it was: every sniffer, then the first best score."""
    scores = {name: source.sniff(head) for name, source in sources.SOURCES.items()}
    best = max(scores, key=lambda name: scores[name])
    return best if scores[best] >= sources.MIN_CONFIDENCE else None


@pytest.mark.parametrize("name_head", HEADS, ids=[name for name, _ in HEADS])
def test_strace_sniff_equals_the_grammar_only_sniff(name_head: tuple[str, bytes]) -> None:
    _, head = name_head
    assert strace.sniff(head) == _grammar_sniff(head)


@pytest.mark.slow
@pytest.mark.parametrize("name_head", HEADS, ids=[name for name, _ in HEADS])
def test_detect_format_equals_the_exhaustive_choice(name_head: tuple[str, bytes]) -> None:
    _, head = name_head
    assert sources.detect(head) == _exhaustive_detect(head)


@pytest.mark.slow
@pytest.mark.parametrize("name_head", HEADS, ids=[name for name, _ in HEADS])
def test_every_sniff_is_within_the_confidence_range(name_head: tuple[str, bytes]) -> None:
    _, head = name_head
    for source in sources.SOURCES.values():
        assert 0.0 <= source.sniff(head) <= sources.MAX_CONFIDENCE


def test_registry_names_are_the_sources_names() -> None:
    assert list(sources.SOURCES) == [
        "strace",
        "top",
        "ps_threads",
        "pidstat",
        "pyspy",
        "iostat",
        "cloudwatch",
        "perf",
        "asyncio",
    ]
    for name, source in sources.SOURCES.items():
        assert name == source.name
    assert "strace" in sources.SOURCES and "nope" not in sources.SOURCES
    with pytest.raises(KeyError):
        sources.SOURCES["nope"]


@pytest.mark.slow
def test_a_strace_head_imports_no_other_parser() -> None:
    """Detection stops at strace's full score before the asyncio and perf sniffers, so a
    fresh interpreter analysing strace never imports their modules."""
    import subprocess

    code = (
        "import sys\n"
        "from analyzer.sources import detect\n"
        "head = open(sys.argv[1], 'rb').read(65536)\n"
        "assert detect(head) == 'strace'\n"
        "print(sorted(m for m in sys.modules if m.startswith('analyzer.formats.')))\n"
    )
    trace = FIXTURES / "strace" / "logs" / "pool8.f_tt_T.log"
    out = subprocess.run(
        [sys.executable, "-c", code, str(trace)], capture_output=True, text=True, check=True
    ).stdout
    assert "analyzer.formats.asyncio" not in out and "analyzer.formats.perf" not in out
