"""The progress bar's total: the bytes it counts, when they are known before reading."""

from __future__ import annotations

import gzip
from pathlib import Path

from analyzer.cli.analyze import _progress_total


def test_total_is_the_size_of_plain_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_bytes(b"x" * 1000)
    second.write_bytes(b"y" * 24)
    assert _progress_total([str(first), str(second)]) == 1024


def test_total_is_unknown_for_stdin_or_compressed_input(tmp_path: Path) -> None:
    plain, packed = tmp_path / "a.log", tmp_path / "b.log.gz"
    plain.write_bytes(b"x" * 10)
    packed.write_bytes(gzip.compress(b"y" * 10))
    assert _progress_total([str(plain), str(packed)]) is None
    assert _progress_total(["-"]) is None
