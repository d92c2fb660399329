"""Cut and corrupt compressed inputs are read as far as they decode (issue 14, item 4).

`gzip -dc`, `bzip2 -dc` and `xz -dc` print every byte they can decode before the damage;
iodiag must read as much, then say the input is damaged. The reference here is the stdlib's
incremental decoder fed the whole damaged file at once (what those tools do), and the content
is a real capture (`fixtures/strace/logs/asyncio_block.f_tt_T.log`, 270 KB), compressed here.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from pathlib import Path

import pytest
from support import FIXTURES

from analyzer.errors import InputError
from analyzer.inputs import iter_line_chunks, open_input

TRACE = (FIXTURES / "strace/logs/asyncio_block.f_tt_T.log").read_bytes()
LINES = TRACE.count(b"\n")


def _read(path: Path) -> tuple[int, str | None]:
    """(lines read, the damage reported) through the input layer."""
    opened = open_input(path)
    try:
        lines = sum(chunk.line_count for chunk in iter_line_chunks(opened.stream))
    finally:
        opened.close()
    return lines, opened.truncated


def _decodable_lines(
    decoder: zlib._Decompress | bz2.BZ2Decompressor | lzma.LZMADecompressor, data: bytes
) -> int:
    text = decoder.decompress(data)
    while more := decoder.decompress(b""):
        text += more
    return text.count(b"\n") + (not text.endswith(b"\n") and bool(text))


@pytest.mark.parametrize("cut", [4, 8, 1000])
def test_a_gzip_missing_its_last_bytes_is_read_to_the_cut(tmp_path: Path, cut: int) -> None:
    data = gzip.compress(TRACE)[:-cut]
    path = tmp_path / "trace.log.gz"
    path.write_bytes(data)
    lines, damage = _read(path)
    expected = _decodable_lines(zlib.decompressobj(wbits=31), data)
    assert expected > 2000  # far past the first 64 KiB
    assert lines == expected
    assert damage is not None and "gzip" in damage


def test_a_gzip_cut_in_half(tmp_path: Path) -> None:
    compressed = gzip.compress(TRACE)
    data = compressed[: len(compressed) // 2]
    path = tmp_path / "half.gz"
    path.write_bytes(data)
    lines, damage = _read(path)
    assert lines == _decodable_lines(zlib.decompressobj(wbits=31), data)
    assert damage is not None


def test_an_xz_cut_short(tmp_path: Path) -> None:
    data = lzma.compress(TRACE)[:-10]
    path = tmp_path / "trace.xz"
    path.write_bytes(data)
    lines, damage = _read(path)
    assert lines >= _decodable_lines(lzma.LZMADecompressor(), data) > 2000
    assert damage is not None


def test_a_cut_bz2_with_whole_blocks_is_read(tmp_path: Path) -> None:
    """Blocks of 100 KB (-1): the blocks before the cut decode; it is no unknown input."""
    data = bz2.compress(TRACE, compresslevel=1)
    data = data[: len(data) * 2 // 3]
    path = tmp_path / "trace.bz2"
    path.write_bytes(data)
    lines, damage = _read(path)
    assert lines >= _decodable_lines(bz2.BZ2Decompressor(), data) > 0
    assert damage is not None and "bz2" in damage


def test_a_bz2_missing_its_end_marker_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "trace.bz2"
    path.write_bytes(bz2.compress(TRACE)[:-10])
    lines, damage = _read(path)
    assert lines == LINES
    assert damage is not None


def test_concatenated_gzip_members_and_zero_padding_are_whole(tmp_path: Path) -> None:
    half = TRACE.index(b"\n", len(TRACE) // 2) + 1
    path = tmp_path / "members.gz"
    path.write_bytes(gzip.compress(TRACE[:half]) + gzip.compress(TRACE[half:]) + bytes(512))
    assert _read(path) == (LINES, None)


def test_nothing_decodable_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.gz"
    path.write_bytes(gzip.compress(TRACE)[:12])
    with pytest.raises(InputError):
        open_input(path)
