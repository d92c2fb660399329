"""Folding straight to stackcollapse-perf.pl's stack text, for `StreamingFolder`.

`analyzer.formats.perf_collapse.CollapseReader` reads without knowing the fold options, so it
keeps every sample as ids (a header id and a tuple of frame ids) that
`analyzer.derive.perf_fold` names later. When the options are known up front (``--format
folded``), `DirectReader` names each frame line once, when first met, and adds every common
piece (a header, then frame lines) to the folded counts as text: one lookup for the header
(the reader's templates), then, in C, a lookup per frame line and a join. Pieces of any other
shape still go to the reader's token replay (`general`), which `perf_fold` folds.

Frame lines never seen are named a block at a time: most are "simple" (an indented address,
a symbol with no character the script rewrites, an offset, a DSO without parentheses), and
for those the script's folded name is the symbol without its offset, which one regular
expression substitution over all of them gives (`simple_frame_pattern`). The others are read
one at a time with `read_frame` and `perf_fold.frame_text`, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import compress
from operator import not_
from typing import cast

from analyzer.config import CollapseOptions
from analyzer.derive.perf_fold import _java_text, frame_text
from analyzer.formats.perf_collapse import (
    BLANKS,
    FRAME,
    HEADER,
    CollapseReader,
    header_key,
    read_frame,
)

__all__ = ["DirectReader", "simple_frame_pattern"]

MARK = b"\n"
"""The text of a line that makes its piece one for the token replay: a line read as a
header, or a frame whose folded name is empty (no real name holds a newline)."""
SKIP = b""
"""The text of a line that adds nothing (a comment, an unrecognised line, a skipped frame)."""
_BLANK_STARTS = frozenset(BLANKS) - {10}


def simple_frame_pattern(options: CollapseOptions) -> re.Pattern[bytes]:
    """One match per line (MULTILINE, ``findall``), for lines without ``->`` (inlining) or
    ``.(`` (a Go method, which the script does not cut) and whose offsets `OFFSET` removed:
    group 1 or 2 is the line's folded name with these options (under a root that is not
    ``java...``) before the script replaces ``;`` and removes quotes, when the line is a
    "simple" frame line; else both are empty.

    The line starts with a blank (so it is no header) and the address is one word followed
    by blanks (so it is the script's ``\\s*(\\w+)\\s*``). The symbol does not start with
    ``(``, ``[`` (``[unknown]``) or ``+``, and either (group 1) has no ``(`` and is followed
    by a DSO without parentheses that closes the line (the name is the symbol), or (group
    2) has a ``(`` that does not open ``(anonymous namespace)`` with another `` (...)`` after
    it (the name is what comes before that ``(``). With ``--kernel`` the DSO must not start
    with ``[`` nor end with ``vmlinux``, with ``--jit`` not hold ``/tmp/perf-`` (those get
    annotations)."""
    dso = rb"[^()\n]*"
    rest = rb""
    if options.kernel or options.all:
        dso = rb"(?!\[)" + dso + rb"(?<!vmlinux)"
        rest += rb"(?![^\n]* \(\[)(?![^\n]*vmlinux\))"
    if options.jit or options.all:
        dso = rb"(?![^\n]*/tmp/perf-)" + dso
        rest += rb"(?![^\n]*/tmp/perf-)"
    return re.compile(
        rb"^(?:[ \t\f\v\r]+\w+[ \t\f\v\r]+"
        rb"(?:([^\s(\[+][^\n(]*) \(" + dso + rb"\)"
        rb"|([^\s(\[+][^\n(]*)\((?!anonymous namespace\))" + rest + rb"(?=[^\n]* \([^\n]*\))[^\n]*)"
        rb"|[^\n]*)$",
        re.MULTILINE,
    )


OFFSET = re.compile(rb"\+0x[\da-f]+(?= \([^()\n]*\)$)", re.MULTILINE)
"""The offset the script removes from the symbol of a line whose DSO has no parentheses."""


class DirectReader(CollapseReader):
    """A `CollapseReader` that adds common pieces to `counts` as folded text.

    `roots(header_id)` must give the root of a header (None for an event left out); the
    owner (`StreamingFolder`) keeps it up to date."""

    LINE_LIMIT = 300_000
    """Frame lines whose text is remembered; past this the memory restarts (between
    blocks: nothing refers to it)."""

    def __init__(self, options: CollapseOptions) -> None:
        super().__init__()
        self.options = options
        self.counts: dict[bytes, int] = {}
        """Folded stack -> summed periods, of the common pieces."""
        self.root_of: list[bytes | None] = []
        """Header id -> root (``$pname``), None for an event left out; `StreamingFolder`
        extends it through `on_headers` when the reader met new headers."""
        self.on_headers: Callable[[], None] = lambda: None
        self.texts: dict[bytes, bytes] = {}
        """Frame line -> its folded name(s) under a root that is not ``java...``, `SKIP`
        or `MARK`."""
        self.java_texts: dict[bytes, bytes] = {}
        self._simple = simple_frame_pattern(options)
        self._kernel = options.kernel or options.all
        self._jit = options.jit or options.all

    # -- naming ---------------------------------------------------------------------------

    def _learn(self, block: bytes) -> None:
        """Name the frame lines of `block` never seen (those starting with a blank; others
        are named when met)."""
        texts = self.texts
        if len(texts) > self.LINE_LIMIT:
            texts.clear()
            self.java_texts.clear()
        new = set(block.split(b"\n")).difference(texts)
        if not new:
            return
        lines = [line for line in new if line[:1] and line[0] in _BLANK_STARTS]
        if not lines:
            return
        joined = b"\n".join(lines)
        found = map(b"".join, self._simple.findall(OFFSET.sub(b"", joined)))
        named = b"\n".join(found).replace(b";", b":").translate(None, b"\"'").split(b"\n")
        texts.update(zip(lines, named, strict=True))
        for line in compress(lines, map(not_, named)):  # not simple: read it whole
            texts[line] = self._text(line)
        if b"->" in joined or b".(" in joined:  # the pattern does not judge these
            for line in lines:
                if b"->" in line or b".(" in line:
                    texts[line] = self._text(line)

    def _text(self, line: bytes) -> bytes:
        """The folded name(s) of a line after the first of a piece, `SKIP` or `MARK`."""
        if not line:
            return MARK
        if line[0] not in BLANKS:
            if line[0] == 35:  # "#"
                return SKIP
            if HEADER.match(line) is not None:
                return MARK
        frame = read_frame(line)
        if frame is None:
            if FRAME.match(line) is None:
                self.unrecognized += 1
            return SKIP
        text = frame_text(
            frame, java=False, kernel=self._kernel, jit=self._jit, addrs=self.options.addrs
        )
        return text or MARK

    def _lookup(self, lines: list[bytes], java: bool) -> list[bytes]:
        texts = self.texts
        found = list(map(texts.get, lines))
        if None in found:
            for index, text in enumerate(found):
                if text is None:
                    line = lines[index]
                    found[index] = texts[line] = self._text(line)
        if not java:
            return found  # type: ignore[return-value]
        java_texts = self.java_texts
        named = list(map(java_texts.get, lines))
        if None in named:
            for index, text in enumerate(named):
                if text is None:
                    plain = cast(bytes, found[index])
                    named[index] = java_texts[lines[index]] = (
                        plain if b"/" not in plain else _java_text(plain)
                    )
        return named  # type: ignore[return-value]

    # -- pieces ---------------------------------------------------------------------------

    def _pieces(self, pieces: list[bytes]) -> None:
        """Count the pieces that an empty line ends (every one of `pieces`)."""
        if self._open is not None:  # the piece read line by line ends here
            self._stream(pieces[0])
            self._close()
            pieces = pieces[1:]
        self._learn(b"\n".join(pieces))
        templates = self._templates
        roots = self.root_of
        counts = self.counts
        get = counts.get
        lookup = cast("Callable[[bytes], bytes | None]", self.texts.get)
        for piece in pieces:
            if not piece or piece[0] == 10:  # empty lines in a row: nothing to do
                piece = piece.lstrip(b"\n")
                if not piece:
                    continue
            newline = piece.find(b"\n")
            head = piece if newline < 0 else piece[:newline]
            template, digits = header_key(head)
            entry = templates.get(template) if template is not None else None
            if entry is not None:
                header_id, period = entry
                if period is None:  # the template's digits are the period
                    period = 1 if digits == b"0" else int(digits)  # type: ignore[arg-type]
            else:
                known = self._header_of(head, template, digits)
                if known is None:
                    self._general(piece)
                    continue
                header_id, period = known
            if header_id >= len(roots):  # (a header first met here or in a replayed piece)
                self.on_headers()
            root = roots[header_id]
            if newline < 0:
                if root is not None:
                    counts[root] = get(root, 0) + period
                continue
            lines = piece[newline + 1 :].split(b"\n")
            named: list[bytes | None] | list[bytes]
            if root is None or root[:4] == b"java":
                named = self._lookup(lines, root is not None)
            else:
                named = list(map(lookup, lines))
                if None in named:
                    named = self._lookup(lines, False)
            joined = b";".join(cast("list[bytes]", filter(None, reversed(named))))
            if MARK in joined:
                self._general(piece)
                continue
            if root is None:
                continue
            key = root + b";" + joined if joined else root
            counts[key] = get(key, 0) + period
