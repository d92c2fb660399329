"""Input layer: from a path or `-` to decompressed bytes, then to numbered lines.

Compression is recognised by magic bytes (a log named `trace.txt` may well be gzip, and stdin
has no name). Lines come out in chunks as Arrow string arrays so the format scanners can work
on them column-wise; each chunk knows the 1-based number of its first line. CRLF endings are
accepted, and bytes that are not UTF-8 survive as ``\\xNN`` escapes and are counted.
"""

from __future__ import annotations

import bz2
import lzma
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

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


_NOT_TRACES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x7fELF", "an ELF binary (a program, not its trace)"),
)
_PERF_REPORT = re.compile(
    rb"^# (?:To display the perf\.data header info|Samples: |Overhead +Command|"
    rb"Children +Self +Command|Event count \(approx\.\))",
    re.MULTILINE,
)


def unrecognised_reason(head: bytes) -> str | None:
    """Why an input that no source recognised is not a trace, when its first bytes say it:
    empty, blank, an image or another binary file, a ``perf.data`` recording, or ``perf
    report`` output (a summary, where iodiag reads ``perf script``). None otherwise."""
    if not head:
        return "the file is empty (0 bytes): there is nothing to analyze"
    if not head.strip():
        return "the file has only blank lines: there is nothing to analyze"
    for magic, what in _NOT_TRACES:
        if head.startswith(magic):
            return f"this is {what}, not a trace: give the strace, perf script or asyncio log"
    if head.startswith((b"PERFILE2", b"PERFFILE")):
        return (
            "this is a perf.data recording (binary): run `perf script -i perf.data > perf.txt` "
            "and give perf.txt"
        )
    if _PERF_REPORT.search(head[:8192]):
        return (
            "this is `perf report` output, a summary without the samples: iodiag reads "
            "`perf script` output (`perf script > perf.txt`)"
        )
    return None


class ByteStream(Protocol):
    """What this layer reads bytes from: a binary file or stdin, a decompressor, or one of the
    wrappers below. Those that can also fill a buffer have ``readinto`` (see `_readinto`)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


def sniff_compression(head: bytes) -> str | None:
    """The compression named by the first bytes of a stream, or None for plain data."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return None


class _Decoder(Protocol):
    """An incremental decompressor of one stream (zlib, bz2, lzma, zstandard objects)."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, /) -> bytes: ...


def _zstd_decoder() -> _Decoder:
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj()


_DECODERS: dict[str, Callable[[], _Decoder]] = {
    "gzip": lambda: zlib.decompressobj(wbits=16 + zlib.MAX_WBITS),
    "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
    "bz2": bz2.BZ2Decompressor,
    "zstd": _zstd_decoder,
}


class _Frames:
    """Compressed streams (gzip members, xz or zstd frames, bz2 streams) one after another,
    decoded piece by piece, as `gzip -dc` reads them: every byte that decodes is handed out,
    and only then does reading raise (EOFError where the data ends inside a stream, the
    decoder's error where it turns corrupt), so a cut or damaged trace is read up to the
    damage and reported as damaged. The stdlib's file objects instead lose the whole read
    call that meets the damage (all but the first 64 KiB of a gzip missing its last bytes).
    """

    PIECE = 64 << 10
    """Compressed bytes per decoder call: at most this much before a corruption is lost."""

    def __init__(self, raw: ByteStream, compression: str) -> None:
        self._new_decoder = _DECODERS[compression]
        self._decoder = self._new_decoder()
        self._raw = raw
        self._buffer = bytearray()
        self._in_stream = False
        self._ended = False
        self._error: BaseException | None = None

    def _fill(self, size: int) -> None:
        while not self._ended and (size < 0 or len(self._buffer) < size):
            piece = self._raw.read(self.PIECE)
            if not piece:
                self._ended = True
                if self._in_stream:
                    self._drain()
                    self._error = EOFError("the data ends inside a compressed stream")
                return
            try:
                self._decode(piece)
            except _decompression_errors() as error:
                self._ended = True
                self._error = error

    def _decode(self, piece: bytes) -> None:
        while piece:
            if not self._in_stream:
                piece = piece.lstrip(b"\0")  # padding between or after streams (gzip, xz)
                if not piece:
                    return
            self._in_stream = True
            self._buffer += self._decoder.decompress(piece)
            if not self._decoder.eof:
                return
            piece = self._decoder.unused_data  # the next stream starts here
            self._decoder = self._new_decoder()
            self._in_stream = False

    def _drain(self) -> None:
        """What the decoder still holds of a stream whose data has ended (bz2 hands out
        a decoded block a little at a time, one call after another)."""
        try:
            while decoded := self._decoder.decompress(b""):
                self._buffer += decoded
        except _decompression_errors():
            pass  # the error that stops the stream is reported by the caller

    def _check_end(self) -> None:
        if not self._buffer and self._error is not None:
            raise self._error

    def read(self, size: int = -1) -> bytes:
        self._fill(size)
        self._check_end()
        size = len(self._buffer) if size < 0 else size
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readinto(self, view: memoryview) -> int:
        self._fill(len(view))
        self._check_end()
        count = min(len(view), len(self._buffer))
        with memoryview(self._buffer) as decoded:
            view[:count] = decoded[:count]
        del self._buffer[:count]
        return count

    def close(self) -> None:
        self._raw.close()


def _zstd_errors() -> tuple[type[BaseException], ...]:
    try:
        import zstandard
    except ImportError:
        return ()
    return (zstandard.ZstdError,)


def _decompression_errors() -> tuple[type[BaseException], ...]:
    return (EOFError, OSError, lzma.LZMAError, zlib.error, *_zstd_errors())


class _Decompressed:
    """A decompressing stream that ends where its compressed data ends early or turns
    corrupt (a trace copied while still being written, a cut download) instead of raising
    in the middle of a run; `error` says what happened, and the report shows it."""

    def __init__(self, stream: ByteStream, compression: str) -> None:
        self.stream = stream
        self.compression = compression
        self.error: str | None = None

    def _stop(self, error: BaseException) -> None:
        self.error = f"the {self.compression} data ends early or is corrupt ({error})"

    def read(self, size: int = -1) -> bytes:
        if self.error is not None:
            return b""
        try:
            return self.stream.read(size)
        except _decompression_errors() as error:
            self._stop(error)
            return b""

    def readinto(self, view: memoryview) -> int:
        if self.error is not None:
            return 0
        try:
            return _readinto(self.stream, view)
        except _decompression_errors() as error:
            self._stop(error)
            return 0

    def close(self) -> None:
        self.stream.close()


class _Peekable:
    """A binary stream whose first bytes have already been read for sniffing."""

    def __init__(self, head: bytes, rest: ByteStream) -> None:
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

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer).cast("B")
        with view:
            if not self._head:
                return _readinto(self._rest, view)
            count = min(len(self._head), len(view))
            view[:count] = self._head[:count]
            self._head = self._head[count:]
            if count < len(view):
                with view[count:] as rest:
                    count += _readinto(self._rest, rest)
            return count

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._rest.close()


def _readinto(stream: ByteStream, view: memoryview) -> int:
    """`stream.readinto(view)`, or `read` and a copy for streams without it."""
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return int(readinto(view) or 0)
    data = stream.read(len(view))
    view[: len(data)] = data
    return len(data)


@dataclass
class OpenedInput:
    """An opened input: its display name, compression and decompressed byte stream."""

    name: str
    compression: str | None
    stream: ByteStream
    size_bytes: int | None
    """Size on disk (compressed), when known; used for progress only."""
    raw: BinaryIO | None = None
    """The underlying (compressed) stream, whose position gives progress in bytes."""
    head: bytes = b""
    """The first decompressed bytes, for format detection (still readable from `stream`)."""
    decompressed: _Decompressed | None = None

    @property
    def truncated(self) -> str | None:
        """Why the decompressed data ended before the compressed stream's end marker (read
        up to that point), or None."""
        return self.decompressed.error if self.decompressed is not None else None

    def close(self) -> None:
        self.stream.close()


def open_input(path: str | Path) -> OpenedInput:
    """Open a path, or stdin for ``-``, and undo any compression found by magic bytes."""
    name = str(path)
    if name == "-":
        raw: BinaryIO = sys.stdin.buffer
        size = None
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by OpenedInput.close
        except OSError as error:
            raise InputError(f"{name}: cannot open: {error.strerror or error}") from error
        size = Path(path).stat().st_size
    head = raw.read(8)
    compression = sniff_compression(head)
    peekable = _Peekable(head, raw)
    decompressed = None
    stream: ByteStream = peekable
    if compression:
        try:
            decompressed = _Decompressed(_Frames(peekable, compression), compression)
        except _decompression_errors() as error:
            raise InputError(f"{name}: cannot decompress {compression} data: {error}") from error
        stream = decompressed
    text_head = stream.read(HEAD_BYTES)
    if decompressed is not None and decompressed.error and not text_head:
        raise InputError(f"{name}: cannot decompress {compression} data: {decompressed.error}")
    stream = _Peekable(text_head, stream)
    return OpenedInput(name, compression, stream, size, raw, text_head, decompressed)


class LineChunk:
    """Consecutive lines of one input, without line endings, the first numbered `first_line_no`.

    A chunk is made from a block of whole lines (`block`: the raw bytes without the final
    newline; a bytearray when read by `iter_line_chunks`, never changed afterwards). The
    Arrow string array `lines` is built on first use, so a scanner that reads the bytes
    itself (the asyncio log's pre-filter) never pays for the split; `line_count` and
    `non_utf8_lines` are known without it. A chunk can also be made from `lines` alone.
    """

    __slots__ = ("_lines", "_non_utf8", "block", "first_line_no", "line_count")

    def __init__(
        self,
        first_line_no: int,
        lines: pa.StringArray | None = None,
        non_utf8_lines: int | None = None,
        *,
        block: bytes | bytearray | None = None,
    ) -> None:
        if lines is None and block is None:
            raise ValueError("a LineChunk needs lines or a block")
        self.first_line_no = first_line_no
        self.block = block
        self._lines = lines
        self._non_utf8 = (non_utf8_lines or 0) if lines is not None else non_utf8_lines
        self.line_count = len(lines) if lines is not None else _count_lines(block or b"")

    @property
    def lines(self) -> pa.StringArray:
        """The lines as an Arrow string array (CR trimmed; bad bytes as ``\\xNN``)."""
        if self._lines is None:
            assert self.block is not None
            self._lines, self._non_utf8 = _split_lines(self.block)
        return self._lines

    @property
    def non_utf8_lines(self) -> int:
        """Lines that were not valid UTF-8 (decoded with ``\\xNN`` escapes)."""
        if self._non_utf8 is None:
            assert self.block is not None
            if _valid_utf8(self.block):
                self._non_utf8 = 0
            else:
                self._lines, self._non_utf8 = _split_lines(self.block)
        return self._non_utf8

    @property
    def line_numbers(self) -> pa.Int64Array:
        first = self.first_line_no
        return pa.array(np.arange(first, first + self.line_count, dtype=np.int64), pa.int64())


def _count_lines(block: bytes | bytearray) -> int:
    """Lines in a block of whole lines without the final newline (numpy; frees the GIL)."""
    return int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == 10)) + 1


def _valid_utf8(block: bytes | bytearray) -> bool:
    """Whether the block is valid UTF-8 (checked by Arrow in C)."""
    offsets = np.array([0, len(block)], dtype=np.int64)
    array = pa.LargeStringArray.from_buffers(1, pa.py_buffer(offsets), pa.py_buffer(block))
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _decode_per_line(block: bytes | bytearray) -> tuple[pa.StringArray, int]:
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


def split_with_numpy(block: bytes | bytearray) -> pa.Array:
    """The lines of `block` by dropping its newlines and taking offsets from their positions:
    the split `_split_lines` did before it used Arrow's (kept for blocks of 2 GiB or more,
    and as the tests' reference)."""
    data = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    offsets = np.empty(len(newlines) + 2, dtype=np.int32)
    offsets[0] = 0
    offsets[1:-1] = newlines - np.arange(len(newlines))
    offsets[-1] = len(data) - len(newlines)
    text = np.delete(data, newlines) if len(newlines) else data
    return pa.StringArray.from_buffers(len(newlines) + 1, pa.py_buffer(offsets), pa.py_buffer(text))


def _split_lines(block: bytes | bytearray) -> tuple[pa.StringArray, int]:
    """Split a block of whole lines (no final newline) into a string array.

    The block is viewed as one Arrow string without copying; Arrow checks its UTF-8 and
    splits it at the newlines in C (one copy of the text). Only a block that fails the check
    is decoded line by line in Python.
    """
    bad = 0
    if not _valid_utf8(block):
        array, bad = _decode_per_line(block)
    elif len(block) < 2**31:
        whole = pa.StringArray.from_buffers(
            1, pa.py_buffer(np.array([0, len(block)], dtype=np.int32)), pa.py_buffer(block)
        )
        array = pc.split_pattern(whole, "\n").flatten()
    else:  # one line of 2 GiB or more: too long for 32-bit offsets either way
        array = split_with_numpy(block)
    if b"\r" in block:
        array = pc.utf8_rtrim(array, characters="\r")
    return array, bad


def _split(block: bytes | bytearray, first_line_no: int) -> LineChunk:
    """A chunk of a block of whole lines, split at once (see `_split_lines`)."""
    array, bad = _split_lines(block)
    return LineChunk(first_line_no, array, bad)


LINE_CAP = 1 << 20
"""Longest line read (bytes); a longer one is replaced by `CUT_MARK` and listed (`CutLine`)."""
CUT_MARK = b"\0iodiag: line cut\0"
"""What stands in for an overlong line: no format reads it (a NUL is in no trace's syntax)."""
CUT_HEAD = 200
"""Bytes of an overlong line kept to show it."""


@dataclass(frozen=True)
class CutLine:
    """A line longer than `LINE_CAP`: its number, length and first bytes."""

    line_no: int
    length: int
    head: str

    @property
    def reason(self) -> str:
        return f"a line of {self.length:,} bytes, longer than the {LINE_CAP:,} read per line"


def iter_line_chunks(
    stream: ByteStream,
    chunk_bytes: int = CHUNK_BYTES,
    on_progress: Callable[[int], None] | None = None,
    cut: list[CutLine] | None = None,
    line_cap: int = LINE_CAP,
) -> Iterator[LineChunk]:
    """Yield the stream's lines in chunks of about `chunk_bytes`, numbered from 1.

    A last line without a newline is yielded like any other line. Each chunk keeps its raw
    block and splits it into `LineChunk.lines` only when asked. A line longer than `line_cap`
    is replaced by `CUT_MARK` and added to `cut`; only its head is kept while the rest is
    read past, so memory stays bounded whatever the line lengths.
    """
    line_no = 1
    carry = b""
    dropped = 0  # bytes of the carried partial line already read past
    while True:
        # One fresh buffer per chunk, read into after the carried partial line: the block
        # is the buffer itself, cut at its last newline (no copy of the chunk's bytes).
        data = bytearray(len(carry) + chunk_bytes)
        data[: len(carry)] = carry
        with memoryview(data) as view, view[len(carry) :] as free:
            count = _readinto(stream, free)
        if on_progress is not None:
            on_progress(count)
        if not count:
            break
        del data[len(carry) + count :]
        if b"\r" in data:
            data = _lone_cr_to_lf(data)
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) > line_cap:
                keep = min(CUT_HEAD, line_cap)
                dropped += len(data) - keep
                del data[keep:]
            carry = bytes(data)
            continue
        carry = bytes(data[end + 1 :])
        del data[end:]
        if dropped or len(data) > line_cap:
            data = _cut_overlong(data, line_no, dropped, line_cap, cut)
            dropped = 0
        chunk = LineChunk(line_no, block=data)
        line_no += chunk.line_count
        yield chunk
    if carry.endswith(b"\r"):  # a lone CR that ends the input ends its last line
        carry = carry[:-1]
    if carry:
        if dropped or len(carry) > line_cap:
            carry = bytes(_cut_overlong(bytearray(carry), line_no, dropped, line_cap, cut))
        yield LineChunk(line_no, block=carry)


def _cut_overlong(
    block: bytearray, first_line_no: int, dropped: int, line_cap: int, cut: list[CutLine] | None
) -> bytearray:
    """The block with each line longer than `line_cap` (the first one `dropped` bytes
    longer than it reads here) replaced by `CUT_MARK`, the cut lines added to `cut`."""
    newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    starts = np.concatenate([[0], newlines + 1])
    ends = np.concatenate([newlines, [len(block)]])
    lengths = ends - starts
    lengths[0] += dropped
    long = np.flatnonzero(lengths > line_cap)
    if not len(long):
        return block
    pieces: list[bytes] = []
    position = 0
    for index in long.tolist():
        start, end = int(starts[index]), int(ends[index])
        head = bytes(block[start : min(end, start + CUT_HEAD)])
        if cut is not None:
            text = head.decode("utf-8", errors="backslashreplace")
            cut.append(CutLine(first_line_no + index, int(lengths[index]), text))
        pieces += [bytes(block[position:start]), CUT_MARK]
        position = end
    pieces.append(bytes(block[position:]))
    return bytearray(b"".join(pieces))


def _lone_cr_to_lf(data: bytearray) -> bytearray:
    """CR-only line endings (old Mac files, a terminal capture's carriage returns) as LF;
    CRLF is left for the splitter, and a CR at the very end waits for the next read, which
    may begin with its LF. Without this, 500 CR-ended calls read as one line."""
    last_cr = data.endswith(b"\r")
    body = _LONE_CR.sub(b"\n", data[:-1] if last_cr else data)
    return bytearray(body + b"\r" if last_cr else body)


_LONE_CR = re.compile(rb"\r(?!\n)")
