"""The py-spy, iostat and CloudWatch sniffers accept their own inputs and nothing else.

Each sniffer is run on the head of every fixture file in the repository that belongs to
another format (strace, perf script, asyncio logs, each other's files and whatever formats
are added later under fixtures/), and on `seq`, `cat -n` and `xxd -p` output; it must score
below the detection threshold there. The existing sniffers must not beat them on their own
files either.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from analyzer.formats import cloudwatch, iostat, pyspy
from analyzer.inputs import open_input
from analyzer.sources import MIN_CONFIDENCE, SOURCES
from tests.snapshot_fixtures import is_capture_of

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
OWN = {"pyspy": pyspy, "iostat": iostat, "cloudwatch": cloudwatch}
OWN_FILES = {
    "pyspy": sorted(FIXTURES.glob("pyspy/*/*.txt")),
    "iostat": sorted(FIXTURES.glob("iostat/*/*.txt")),
    "cloudwatch": [
        path
        for path in sorted(FIXTURES.glob("cloudwatch/**/*"))
        if path.suffix in (".json", ".csv") and path.name != "truth.json"
    ],
}
_SKIP_SUFFIXES = {".py", ".sh", ".md", ".png", ".svg", ".html"}


def _head(path: Path) -> bytes:
    source = open_input(path)
    try:
        return source.head
    finally:
        source.close()


def _other_files(name: str) -> list[Path]:
    own_dir = FIXTURES / name
    files = []
    for path in sorted(FIXTURES.rglob("*")):
        if not path.is_file() or path.suffix in _SKIP_SUFFIXES:
            continue
        if own_dir in path.parents or path.name.endswith(".measured.json"):
            continue
        if is_capture_of(name, path):
            continue  # an incident's capture of this very format
        if path.name in ("VERSIONS.txt", "truth.json") or path.stat().st_size == 0:
            continue
        files.append(path)
    return files


def _tool_outputs() -> dict[str, bytes]:
    numbers = "\n".join(str(n) for n in range(1, 2001)).encode() + b"\n"
    catted = subprocess.run(
        ["cat", "-n", str(ROOT / "README.md")], capture_output=True, check=True
    ).stdout
    hexed = subprocess.run(
        ["xxd", "-p", str(ROOT / "README.md")], capture_output=True, check=False
    ).stdout
    outputs = {"seq": numbers, "cat -n": catted}
    if hexed:
        outputs["xxd -p"] = hexed
    outputs["cat -n seq"] = b"".join(
        f"{index:6d}\t{index * 3}\n".encode() for index in range(1, 500)
    )
    outputs["seq -f %.2f"] = "\n".join(f"{n / 7:.2f}" for n in range(500)).encode()
    return outputs


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OWN))
def test_rejects_every_other_fixture(name: str) -> None:
    module = OWN[name]
    checked = 0
    for path in _other_files(name):
        score = module.sniff(_head(path))
        assert score < MIN_CONFIDENCE, (name, str(path.relative_to(FIXTURES)), score)
        checked += 1
    assert checked > 50


@pytest.mark.parametrize("name", sorted(OWN))
def test_rejects_tool_outputs(name: str) -> None:
    for tool, output in _tool_outputs().items():
        assert OWN[name].sniff(output) < MIN_CONFIDENCE, (name, tool)


@pytest.mark.parametrize("name", sorted(OWN))
def test_existing_sniffers_do_not_claim_these_files(name: str) -> None:
    for path in OWN_FILES[name]:
        head = _head(path)
        own = OWN[name].sniff(head)
        for other, source in SOURCES.items():
            if other != name:
                assert source.sniff(head) < max(own, MIN_CONFIDENCE), (other, path.name)
