"""Fuzzing every input format through the whole command (issue 14, "fuzzing that stays").

Hypothesis picks a real fixture of one format (strace, perf script, asyncio log, and the
snapshot formats), takes a window of its lines and damages it the ways real inputs are
damaged -- bytes flipped or inserted, lines cut, dropped, duplicated, swapped or glued, huge
numbers put where numbers are, lines of another format spliced in, compression cut short --
then runs the analysis and every text renderer. Nothing may raise but the one-line
`InputError` (exit 2); a traceback is a crash.

Short run (CI, `.ci/run`): `FUZZ_EXAMPLES` examples per format (default 25, ~1 min in all).
Long run, e.g. an hour in all:

    FUZZ_EXAMPLES=20000 python -m pytest -p no:randomly -x tests/test_fuzz.py

or, to list every unique crash instead of stopping at the first (MINUTES, OUT_DIR, seed):

    PYTHONPATH=. python tests/test_fuzz.py 60 /tmp/fuzz-crashes 1

Hypothesis keeps the failing inputs it found in `.hypothesis/` and shrinks them; each unique
crash becomes a regression file under `fixtures/fuzz/` (see its README), which
tests/test_render_every_input.py then runs through every renderer.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import FIXTURES

from analyzer import analyze
from analyzer.config import Config
from analyzer.errors import InputError
from analyzer.render import JsonRenderer, MarkdownRenderer, TextRenderer

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
WINDOW = 120
"""Lines of a seed given to one example (the analysis of a whole big fixture is slow)."""

SEEDS: dict[str, list[Path]] = {
    "strace": sorted((FIXTURES / "public/strace").glob("*.log"))
    + sorted((FIXTURES / "strace/logs").glob("*.log")),
    "perf": sorted((FIXTURES / "public/perf").glob("*.txt"))
    + sorted((FIXTURES / "perf/research").rglob("*.txt")),
    "asyncio": sorted((FIXTURES / "public/asyncio").glob("*.txt"))
    + sorted((FIXTURES / "asyncio/research/out").glob("*.txt")),
    "snapshots": sorted(
        path
        for folder in ("top", "ps_threads", "pidstat", "iostat", "pyspy")
        for path in (FIXTURES / folder).rglob("*")
        if path.is_file() and path.suffix in {".txt", ".log", ""}
    ),
}
ALL_SEEDS = [path for paths in SEEDS.values() for path in paths]
_LINES: dict[Path, list[bytes]] = {}


def _lines(path: Path) -> list[bytes]:
    if path not in _LINES:
        _LINES[path] = path.read_bytes().split(b"\n")
    return _LINES[path]


HUGE_NUMBERS = [
    b"99999999999999999999999",
    b"18446744073709551616",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"0x1ffffffffffffffff",
    b"1e308",
    b"nan",
    b"-1",
    b"99999999999.999999",
]
JUNK = [b"\x00", b"\r", b"\xff\xfe", b"<... ", b" <unfinished ...>", b") = ", b'"', b"\t", b"\n"]


def damaged_input(rng: random.Random, kind: str) -> tuple[bytes, str]:
    """(bytes of one damaged input, file name) seeded from a fixture of `kind`."""
    seed = rng.choice(SEEDS[kind])
    lines = _lines(seed)
    start = rng.randint(0, max(0, len(lines) - 1))
    window = list(lines[start : start + WINDOW])
    for _ in range(rng.randint(0, 6)):
        if not window:
            window.append(b"")
        index = rng.randrange(len(window))
        line = window[index]
        action = rng.randrange(10)
        if action == 0:  # flip or insert a byte
            where = rng.randint(0, len(line))
            window[index] = line[:where] + bytes([rng.randrange(256)]) + line[where + 1 :]
        elif action == 1:  # cut the line
            window[index] = line[: rng.randint(0, len(line))]
        elif action == 2:
            del window[index]
        elif action == 3:
            window.insert(index, line)
        elif action == 4:  # glue with the next line
            if index + 1 < len(window):
                window[index : index + 2] = [line + window[index + 1]]
        elif action == 5:  # a huge number where a number is
            digits = [i for i, byte in enumerate(line) if 48 <= byte <= 57]
            if digits:
                at = end = rng.choice(digits)
                while end < len(line) and 48 <= line[end] <= 57:
                    end += 1
                window[index] = line[:at] + rng.choice(HUGE_NUMBERS) + line[end:]
        elif action == 6:  # junk inserted
            where = rng.randint(0, len(line))
            window[index] = line[:where] + rng.choice(JUNK) + line[where:]
        elif action == 7:  # a line of another input spliced in
            other = _lines(rng.choice(ALL_SEEDS))
            window.insert(index, rng.choice(other))
        elif action == 8:  # swap with the next line
            if index + 1 < len(window):
                window[index], window[index + 1] = window[index + 1], window[index]
        else:  # a long line
            window[index] = line + line[-40:] * rng.randint(100, 3000)
    data = b"\n".join(window)
    envelope = rng.choice(["plain", "plain", "plain", "gzip", "gzip-cut", "bz2"])
    if envelope == "gzip":
        return gzip.compress(data), "input.gz"
    if envelope == "gzip-cut":
        compressed = gzip.compress(data)
        return compressed[: rng.randint(10, max(10, len(compressed)))], "input.gz"
    if envelope == "bz2":
        return bz2.compress(data), "input.bz2"
    return data, seed.name


def run_one(tmp_path: Path, data: bytes, name: str) -> None:
    """Analyze one input and render it as text, Markdown and JSON: only `InputError` may
    come out (a crash is anything else)."""
    path = tmp_path / name
    path.write_bytes(data)
    try:
        result = analyze([path], Config(threads=1))
    except InputError:
        return
    for renderer in (TextRenderer(), MarkdownRenderer(), JsonRenderer()):
        renderer.render(result, io.StringIO())


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_fuzz(kind: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert SEEDS[kind], f"no seed fixtures for {kind}"
    tmp_path = tmp_path_factory.mktemp(f"fuzz_{kind}")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.randoms(use_true_random=False))
    def check(rng: random.Random) -> None:
        run_one(tmp_path, *damaged_input(rng, kind))

    check()


REGRESSIONS = sorted(path for path in (FIXTURES / "fuzz").iterdir() if path.suffix != ".md")


@pytest.mark.parametrize("path", REGRESSIONS, ids=[path.name for path in REGRESSIONS])
def test_fuzz_regression(path: Path, tmp_path: Path) -> None:
    run_one(tmp_path, path.read_bytes(), path.name)


def crash_key(error: BaseException) -> str:
    """What makes a crash unique: its type and the innermost frame in `analyzer/`."""
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if "/analyzer/" in frame.filename
    ]
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__} at {where}"


def main() -> None:
    """The long run: `python tests/test_fuzz.py MINUTES OUT_DIR [SEED]`; prints executions
    and unique crashes, and writes the first input of each crash to OUT_DIR."""
    minutes, out = float(sys.argv[1]), Path(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    deadline = time.monotonic() + 60 * minutes
    runs, crashes = 0, {}
    kinds = sorted(SEEDS)
    while time.monotonic() < deadline:
        kind = kinds[runs % len(kinds)]
        data, name = damaged_input(rng, kind)
        runs += 1
        try:
            run_one(work, data, name)
        except Exception as error:
            key = crash_key(error)
            if key not in crashes:
                crashes[key] = name
                target = out / f"crash{len(crashes):02d}_{kind}_{name}"
                target.write_bytes(data)
                print(f"{key}: {target}", flush=True)
    print(f"{runs} executions, {len(crashes)} unique crashes")


if __name__ == "__main__":
    main()
