"""Input layer: from a path or `-` to decompressed bytes, then to numbered lines.

Compression is recognised by magic bytes (a log named `trace.txt` may well be gzip, and stdin
has no name). Lines come out in chunks as Arrow string arrays so the format scanners can work
on them column-wise; each chunk knows the 1-based number of its first line. CRLF endings are
accepted, and bytes that are not UTF-8 survive as ``\\xNN`` escapes and are counted.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.errors import InputError

MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bz2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)

CHUNK_BYTES = 8 << 20
HEAD_BYTES = 64 << 10


def sniff_compression(head: bytes) -> str | None:
    """The compression named by the first bytes of a stream, or None for plain data."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return None


def _zstd_reader(raw: BinaryIO) -> BinaryIO:
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)  # type: ignore[return-value]


_DECOMPRESSORS: dict[str, Callable[[BinaryIO], BinaryIO]] = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw),  # type: ignore[dict-item]
    "xz": lambda raw: lzma.LZMAFile(raw),  # type: ignore[dict-item]  # noqa: SIM115
    "bz2": lambda raw: bz2.BZ2File(raw),  # type: ignore[dict-item]
    "zstd": _zstd_reader,
}


class _Peekable:
    """A binary stream whose first bytes have already been read for sniffing."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            if len(data) < size:
                data += self._rest.read(size - len(data))
            return data
        return self._rest.read(size)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._rest.close()


@dataclass
class Source:
    """An opened input: its display name, compression and decompressed byte stream."""

    name: str
    compression: str | None
    stream: BinaryIO
    size_bytes: int | None
    """Size on disk (compressed), when known; used for progress only."""
    raw: BinaryIO | None = None
    """The underlying (compressed) stream, whose position gives progress in bytes."""
    head: bytes = b""
    """The first decompressed bytes, for format detection (still readable from `stream`)."""

    def close(self) -> None:
        self.stream.close()


def open_source(path: str | Path) -> Source:
    """Open a path, or stdin for ``-``, and undo any compression found by magic bytes."""
    name = str(path)
    if name == "-":
        raw: BinaryIO = sys.stdin.buffer
        size = None
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by Source.close
        except OSError as error:
            raise InputError(f"{name}: cannot open: {error.strerror or error}") from error
        size = Path(path).stat().st_size
    head = raw.read(8)
    compression = sniff_compression(head)
    peekable: BinaryIO = _Peekable(head, raw)  # type: ignore[assignment]
    stream = _DECOMPRESSORS[compression](peekable) if compression else peekable
    try:
        text_head = stream.read(HEAD_BYTES)
    except (OSError, EOFError, lzma.LZMAError) as error:
        raise InputError(f"{name}: cannot decompress {compression} data: {error}") from error
    stream = _Peekable(text_head, stream)  # type: ignore[assignment]
    return Source(name, compression, stream, size, raw, text_head)


@dataclass(frozen=True)
class LineChunk:
    """Consecutive lines of one input, as an Arrow string array without line endings."""

    first_line_no: int
    lines: pa.StringArray
    non_utf8_lines: int

    @property
    def line_numbers(self) -> pa.Int64Array:
        first = self.first_line_no
        return pa.array(np.arange(first, first + len(self.lines), dtype=np.int64), pa.int64())


def _decode_per_line(block: bytes) -> tuple[pa.StringArray, int]:
    """The slow path for a block that is not valid UTF-8: bad bytes become ``\\xNN``."""
    decoded: list[str] = []
    bad = 0
    for raw_line in block.split(b"\n"):
        try:
            decoded.append(raw_line.decode("utf-8"))
        except UnicodeDecodeError:
            decoded.append(raw_line.decode("utf-8", errors="backslashreplace"))
            bad += 1
    return pa.array(decoded, pa.string()), bad


def _split(block: bytes, first_line_no: int) -> LineChunk:
    """Split a block of whole lines (no final newline) into a string array.

    The newlines are dropped with one numpy pass and the rest becomes the array's data
    as is; Arrow then checks the UTF-8 in C. Only a block that fails the check is decoded
    line by line in Python.
    """
    data = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    offsets = np.empty(len(newlines) + 2, dtype=np.int32)
    offsets[0] = 0
    offsets[1:-1] = newlines - np.arange(len(newlines))
    offsets[-1] = len(data) - len(newlines)
    text = np.delete(data, newlines) if len(newlines) else data
    array = pa.StringArray.from_buffers(
        len(newlines) + 1, pa.py_buffer(offsets), pa.py_buffer(text)
    )
    bad = 0
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        array, bad = _decode_per_line(block)
    if b"\r" in block:
        array = pc.utf8_rtrim(array, characters="\r")
    return LineChunk(first_line_no, array, bad)


def iter_line_chunks(
    stream: BinaryIO,
    chunk_bytes: int = CHUNK_BYTES,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[LineChunk]:
    """Yield the stream's lines in chunks of about `chunk_bytes`, numbered from 1.

    A last line without a newline is yielded like any other line.
    """
    line_no = 1
    carry = b""
    while True:
        data = stream.read(chunk_bytes)
        if on_progress is not None:
            on_progress(len(data))
        if not data:
            break
        data = carry + data
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        block, carry = data[:cut], data[cut + 1 :]
        chunk = _split(block, line_no)
        line_no += len(chunk.lines)
        yield chunk
    if carry:
        yield _split(carry, line_no)
