"""Format detection over every fixture in the repository: each file is detected as the source
of the folder it lives in, or refused.

The folder says the source: ``fixtures/<source>/...`` and ``fixtures/public/<source>/...``.
The mixed folders (``diagnosis/``, ``incidents/``, ``blind/``) name their captures by what they hold
(``strace.*``, ``*.f_tt_T.log``, ``perf.*``, ``app.*`` or ``*.debug.log`` for asyncio logs,
``top.*``, ``iostat.*``, ``pyspy.*`` ...); the programs' own JSON, configuration files and the
golden findings are no input at all and must be refused. The inputs an incident's truth.json
lists, and the captures of the snapshot and metrics sources, must be detected (not refused),
except the public samples their PROVENANCE.md files say iodiag does not read.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from analyzer.inputs import InputError, open_input
from analyzer.sources import SOURCES, detect

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SKIP_SUFFIXES = {".py", ".sh", ".md", ".png", ".svg", ".html", ".j2", ".lark", ".mjs"}
NEW_SOURCES = ("top", "ps_threads", "pidstat", "pyspy", "iostat", "cloudwatch")
NOT_READ = {
    # public samples their PROVENANCE.md says are not read (no header or time iodiag reads)
    "sysstat-11_issue-344_zh_CN.txt",
    "sys-proctable-pr-40_eLf-grep.txt",
    "opensuse-supportutils-pr-262_lstart-etime.txt",
    "env_logger_errors_0.2.0.txt",
    "hex_thread_id_line.txt",
}
NAMED = (
    (re.compile(r"program_stderr\.txt$"), "asyncio"),  # the traced program's debug log
    (re.compile(r"^app\.|\.debug\.log$"), "asyncio"),
    (re.compile(r"^strace\.|\.f_ttt?_T|\.p_f_"), "strace"),
    (re.compile(r"^perf\.|\.perf_"), "perf"),
    (re.compile(r"^top\."), "top"),
    (re.compile(r"^ps\."), "ps_threads"),
    (re.compile(r"^pidstat\."), "pidstat"),
    (re.compile(r"^pyspy\."), "pyspy"),
    (re.compile(r"^iostat\."), "iostat"),
    (re.compile(r"^cloudwatch\."), "cloudwatch"),
)
NO_INPUT = re.compile(r"(measured|truth|VERSIONS|PROVENANCE|COMMANDS)|\.json$|\.conf$")


def expected(path: Path) -> str | None:
    """The source a fixture holds by where it lives and its name, or None for no input."""
    parts = path.relative_to(FIXTURES).parts
    for pattern, source in NAMED[:1]:
        if pattern.search(path.name):
            return source
    if parts[0] in SOURCES:
        return parts[0]
    if parts[0] == "public" and parts[1] in SOURCES:
        return parts[1]
    if parts[0] == "fuzz":  # fuzzing regressions: named after their seed's source
        return path.name.split("_")[0]
    if parts[0] in ("diagnosis", "incidents", "blind"):
        for pattern, source in NAMED:
            if pattern.search(path.name):
                return source
    return None


@cache
def fixture_heads() -> list[tuple[Path, bytes]]:
    heads = []
    for path in sorted(FIXTURES.rglob("*")):
        if not path.is_file() or path.suffix in SKIP_SUFFIXES:
            continue
        try:
            opened = open_input(path)
        except InputError:
            continue
        try:
            heads.append((path, opened.head))
        finally:
            opened.close()
    return heads


@cache
def incident_inputs() -> frozenset[Path]:
    found = set()
    for truth in [*FIXTURES.glob("incidents/*/truth.json"), *FIXTURES.glob("blind/*/truth.json")]:
        for name in json.loads(truth.read_text(encoding="utf-8"))["inputs"]:
            found.add(truth.parent / name)
    return frozenset(found)


@pytest.mark.slow
def test_every_fixture_is_its_folders_source_or_refused() -> None:
    heads = fixture_heads()
    assert len(heads) > 500
    wrong = []
    for path, head in heads:
        found = detect(head)
        want = expected(path)
        if found is not None and found != want:
            wrong.append((str(path.relative_to(FIXTURES)), found, want))
    assert wrong == []


@pytest.mark.slow
def test_no_input_is_refused_where_it_must_be_read() -> None:
    must = set(incident_inputs())
    for source in NEW_SOURCES:
        for path in (FIXTURES / source).rglob("*"):
            if (
                path.is_file()
                and path.suffix in (".txt", ".out", ".json", ".csv")
                and not NO_INPUT.search(path.name)
                and path.name not in NOT_READ
            ):
                must.add(path)
    refused = []
    for path, head in fixture_heads():
        if path in must and detect(head) is None and expected(path) != "asyncio":
            refused.append(str(path.relative_to(FIXTURES)))
    assert refused == []
    assert len(must) > 70


@pytest.mark.parametrize("source", NEW_SOURCES)
def test_each_new_source_detects_its_captures(source: str) -> None:
    detected = [
        detect(head)
        for path, head in fixture_heads()
        if path.relative_to(FIXTURES).parts[0] == source and path.name not in NOT_READ
        if not NO_INPUT.search(path.name)
    ]
    assert detected and set(detected) == {source}
