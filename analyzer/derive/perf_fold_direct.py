"""Folding straight to stackcollapse-perf.pl's stack text, for `StreamingFolder`.

`analyzer.formats.perf_collapse.CollapseReader` reads without knowing the fold options, so it
keeps every sample as ids (a header id and a tuple of frame ids) that
`analyzer.derive.perf_fold` names later. When the options are known up front (``--format
folded``), `DirectReader` names each frame line once, when first met, and adds every common
piece (a header, then frame lines) to the folded counts as text: one lookup for the header
(the reader's templates), one for the leaf (the first frame line) and one for the callers
(the other frame lines together, whose names are joined once, when first met). A piece whose
lines are not all named so is read line by line (a lookup per line and a join, in C); pieces
of any other shape still go to the reader's token replay (`general`), which `perf_fold`
folds.

Frame lines never seen are named a block at a time: most are "simple" (an indented address,
a symbol with no character the script rewrites, an offset, a DSO without parentheses), and
for those the script's folded name is the symbol without its offset, which one regular
expression substitution over all of them gives (`simple_frame_pattern`). The others are read
one at a time with `read_frame` and `perf_fold.frame_text`, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from itertools import compress
from operator import itemgetter, methodcaller, not_
from typing import cast

from analyzer.config import CollapseOptions
from analyzer.derive.perf_fold import _java_text, frame_text
from analyzer.formats.perf_collapse import (
    BLANKS,
    FRAME,
    HEADER,
    CollapseReader,
    read_frame,
)

__all__ = ["DirectReader", "simple_frame_pattern"]

MARK = b"\n"
"""The text of a line that makes its piece one for the token replay: a line read as a
header, or a frame whose folded name is empty (no real name holds a newline)."""
SKIP = b""
"""The text of a line that adds nothing (a comment, an unrecognised line, a skipped frame)."""
_BLANK_STARTS = frozenset(BLANKS) - {10}


def simple_frame_pattern(options: CollapseOptions, keyed: bool = False) -> re.Pattern[bytes]:
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
    annotations).

    `keyed`: for the lines' keys (`ADDRESSES`), whose indent and address are a NUL."""
    dso = rb"[^()\n]*"
    rest = rb""
    if options.kernel or options.all:
        dso = rb"(?!\[)" + dso + rb"(?<!vmlinux)"
        rest += rb"(?![^\n]* \(\[)(?![^\n]*vmlinux\))"
    if options.jit or options.all:
        dso = rb"(?![^\n]*/tmp/perf-)" + dso
        rest += rb"(?![^\n]*/tmp/perf-)"
    start = rb"\x00[ \t\f\v\r]+" if keyed else rb"[ \t\f\v\r]+\w+[ \t\f\v\r]+"
    return re.compile(
        rb"^(?:" + start + rb"(?:([^\s(\[+][^\n(]*) \(" + dso + rb"\)"
        rb"|([^\s(\[+][^\n(]*)\((?!anonymous namespace\))" + rest + rb"(?=[^\n]* \([^\n]*\))[^\n]*)"
        rb"|[^\n]*)$",
        re.MULTILINE,
    )


JAVA_CLASS_L = re.compile(rb"^L(?=[^\n]*/)", re.MULTILINE)
"""The ``L`` that the script drops from a name with a ``/`` under a ``java...`` root (in
names of simple lines: one name per line)."""
ADDRESSES = re.compile(rb"\n[ \t\f\v\r]+\w+")
"""The indent and address of every line but the first: a line's key is the line with them
replaced by a NUL. Most frame lines name the same with
any address, so when most lines are new (every address differs), they are named by key."""
OFFSET = re.compile(rb"\+0x[\da-f]+(?= \([^()\n]*\)$)", re.MULTILINE)
"""The offset the script removes from the symbol of a line whose DSO has no parentheses."""

Row = list[bytes | None]
"""A piece's header, leaf (None: none) and callers' lines (None: none); an empty header: no
piece (empty lines in a row)."""
_CUT_THREE = methodcaller("split", b"\n", 2)


def _odd_row(piece: bytes) -> Row:
    """The `Row` of a piece that is not a header and two or more frame lines."""
    if not piece or piece[0] == 10:
        piece = piece.lstrip(b"\n")
    head, newline, body = piece.partition(b"\n")
    while head[:1] == b"#":
        # the script skips comment lines wherever they are (`perf script --header` puts
        # them before the first sample, with no empty line between): the piece is its other
        # lines, not one for the token replay (which would cut the whole block's text to
        # find its real lines)
        head, newline, body = body.partition(b"\n")
    if not newline:
        return [head, None, None]
    leaf, newline, callers = body.partition(b"\n")
    return [head, leaf, callers if newline else None]


class DirectReader(CollapseReader):
    """A `CollapseReader` that adds common pieces to `counts` as folded text.

    `roots(header_id)` must give the root of a header (None for an event left out); the
    owner (`StreamingFolder`) keeps it up to date."""

    LINE_BLOCKS = 0
    """Blocks always read by line first; the next is read by key when `_keep_by_key`
    finds its lines do not repeat. 0: the first block is probed too, as an 8 MB block of
    distinct lines read by line took ~0.3 CPU-s against ~0.1 by key, in each process of a
    split fold."""
    KEY_SHARE = 0.5
    """Past this share of pieces with new callers in a block named by line, the next are
    named by key."""
    PROBE = 8
    """Every this many blocks named by key, `_keep_by_key` checks whether lines repeat."""
    LINE_SHARE = 0.5
    """At most this share of new lines in a probed block: read it by line."""
    PROBE_BYTES = 1 << 20
    """Bytes of a block that `_keep_by_key` probes: a sample of ~12K lines decides as well
    as the whole 8 MB block, whose lines and sets took ~11 ms."""
    CHAIN_BYTES = 32 << 20
    """Bytes of callers remembered (`_chains`); past this the memory restarts."""
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
        """The same under a ``java...`` root, once one was met (`java_seen`)."""
        self.java_seen = False
        self.key_texts: dict[bytes, bytes] = {}
        """A frame line's key (`ADDRESSES`) -> the name of every line with that key; no
        entry when the address matters (``--addrs`` and ``[unknown]``) or is not the whole
        first word for the script."""
        self.java_key_texts: dict[bytes, bytes] = {}
        self._simple = simple_frame_pattern(options)
        self._simple_keyed = simple_frame_pattern(options, keyed=True)
        self._blocks = 0
        self._by_line_without_time: dict[bytes, tuple[int, int]] = {}
        """A header line without its time (``DIGITS.DIGITS`` before the first ``: ``) ->
        (header id, period), for lines whose template (`header_key`) is remembered: every
        line with the same text around a time has the same template and period digits."""
        self._by_key = False
        """Whether blocks are named by key (most callers of the last block named by line
        were new); every `PROBE`-th block is probed again (`_keep_by_key`)."""
        self._chains: dict[bytes, bytes] = {}
        """The lines of a piece's callers (all its frame lines but the first) -> their
        names, root end first, joined (`_chain`)."""
        self._java_chains: dict[bytes, bytes] = {}
        self._key_chains: dict[bytes, bytes] = {}
        """The same by the lines' keys."""
        self._java_key_chains: dict[bytes, bytes] = {}
        self._chain_bytes = 0
        self._prefixes: list[bytes | None] = []
        """Header id -> its root and ``;`` (None for an event left out), from `root_of`."""
        self._java_ids: set[int] = set()
        """The header ids whose root starts with ``java``."""
        self._kernel = options.kernel or options.all
        self._jit = options.jit or options.all

    # -- naming ---------------------------------------------------------------------------

    def _name(
        self,
        todo: list[bytes],
        pattern: re.Pattern[bytes],
        texts: dict[bytes, bytes],
        java_texts: dict[bytes, bytes],
    ) -> list[bytes]:
        """Name the simple lines (or keys) of `todo` in `texts` (and `java_texts`) at once
        (`pattern`: `simple_frame_pattern`); the others, which the caller reads whole."""
        joined = b"\n".join(todo)
        found = map(b"".join, pattern.findall(OFFSET.sub(b"", joined)))
        named_text = b"\n".join(found).replace(b";", b":").translate(None, b"\"'")
        named = named_text.split(b"\n")
        texts.update(zip(todo, named, strict=True))
        if self.java_seen:
            java = JAVA_CLASS_L.sub(b"", named_text).split(b"\n")
            java_texts.update(zip(todo, java, strict=True))
        slow = list(compress(todo, map(not_, named)))  # not simple: read them whole
        if b"->" in joined or b".(" in joined:  # the pattern does not judge these
            slow += [line for line in todo if b"->" in line or b".(" in line]
        return slow

    def _keep_by_key(self, text: bytes, end: int) -> bool:
        """Whether to name the block ``text[:end]`` by key: most lines of the second half of
        its first `PROBE_BYTES` are not in their first half (`LINE_SHARE`; a set
        difference, where naming the block by line to find out named every new line: 2-3
        times a block named by key). Else it is named by line, which decides again
        (`KEY_SHARE`)."""
        lines = text[: min(end, self.PROBE_BYTES)].split(b"\n")
        half = len(lines) // 2
        new = set(lines[half:]).difference(lines[:half])
        self._by_key = len(new) / max(1, len(lines) - half) > self.LINE_SHARE
        return self._by_key

    def _key_text(self, key: bytes, line: bytes) -> bytes | None:
        """The name of every line with this key (`line` is one), None when the address
        decides (``--addrs`` and ``[unknown]``, or an address that is not the whole first
        word for the script's regular expression)."""
        match = FRAME.match(line)
        if match is None and b" (" not in key:
            # the script's frame needs " (" after the address (a word, which holds no blank
            # nor parenthesis): no line with this key is a frame, nor a header (a blank
            # starts it)
            self.unrecognized += 1
            return SKIP
        if match is None or match.end(1) != len(line) - len(key) + 1:
            return None
        frame = read_frame(line)
        if frame is None:
            return SKIP  # a symbol starting with "(", or empty: whatever the address
        if frame.pc and self.options.addrs:
            return None
        text = frame_text(
            frame, java=False, kernel=self._kernel, jit=self._jit, addrs=self.options.addrs
        )
        return text or MARK

    def _read(self, line: bytes) -> bytes:
        """Name `line` the slow way (`_text`) and remember it; its name."""
        text = self.texts[line] = self._text(line)
        if self.java_seen:
            self.java_texts[line] = text if b"/" not in text else _java_text(text)
        return text

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
        """The names of `lines` (under a ``java...`` root if `java`), naming those never
        seen."""
        if java and not self.java_seen:
            self.java_seen = True
            java_texts = self.java_texts
            for line, plain in self.texts.items():
                java_texts[line] = plain if b"/" not in plain else _java_text(plain)
            java_key_texts = self.java_key_texts
            for key, plain in self.key_texts.items():
                java_key_texts[key] = plain if b"/" not in plain else _java_text(plain)
        texts = self.java_texts if java else self.texts
        found = list(map(texts.get, lines))
        if None in found:
            for index, known in enumerate(found):
                if known is None:
                    plain = self._read(lines[index])
                    found[index] = plain if not java else self.java_texts[lines[index]]
        return found  # type: ignore[return-value]

    # -- pieces ---------------------------------------------------------------------------

    def feed(self, block: bytes) -> None:
        self._mode(raw=False)
        carry = self._carry
        self._split(block if carry is None else carry + b"\n" + block)

    def feed_raw(self, data: bytes) -> None:
        self._mode(raw=True)
        carry = self._carry
        self._split(data if carry is None else carry + data)

    def _split(self, text: bytes) -> None:
        """`CollapseReader._take` without splitting `text` into pieces: what its last empty
        line ends goes to `_block` (an empty line more or less at a cut changes nothing:
        empty lines in a row are one)."""
        last = text.rfind(b"\n\n")
        if last >= 0:
            self._block(text, last)
            text = text[last + 2 :]
        self._take([text])

    def _pieces(self, pieces: list[bytes]) -> None:
        text = b"\n\n".join(pieces)
        self._block(text, len(text))

    def _block(self, text: bytes, end: int) -> None:
        """Count the pieces of ``text[:end]``, which an empty line ends (at `end`).

        A piece is split only at its first two newlines: its header, its leaf (the first
        frame line) and the lines of its callers, looked up together (`_chains`: the
        callers' names, root end first, joined). So a common piece costs the header, two
        lookups and the count, however many frame lines it has; the names of the leaves
        and callers never seen are made before, a block at a time (`_learn_pieces`). A
        piece that does not read so (a line not named by its key, a header inside, ...)
        is read line by line (`_count`)."""
        if self._open is not None:  # the piece read line by line ends here
            text = text[:end]
            first = text.find(b"\n\n")
            self._stream(text if first < 0 else text[:first])
            self._close()
            if first < 0:
                return
            text = text[first + 2 :]
            end = len(text)
        self._blocks += 1
        if b"\x00" in text:  # keys start with NUL
            by_key = False
        elif self._by_key:
            by_key = self._blocks % self.PROBE != 0 or self._keep_by_key(text, end)
        else:  # the first block after those read by line: lines repeat in it, or by key
            by_key = self._blocks == self.LINE_BLOCKS + 1 and self._keep_by_key(text, end)
        # by key, the pieces of the lines' keys (not the first line: that of a piece, read
        # as a header or, when it starts with a blank, given to the token replay: as its
        # key would be); the replacement keeps every newline, so the pieces of the text
        # and of its keys are the same
        keyed = ADDRESSES.sub(b"\n\x00", text) if by_key else text
        pieces = keyed.split(b"\n\n")
        if end < len(text):
            pieces.pop()  # after `end`: the next block's
        real: list[list[bytes]] = [] if by_key else [pieces]

        def real_piece(index: int) -> bytes:
            piece = pieces[index]
            if b"\x00" in piece:  # a key in it: the piece of the text
                if not real:
                    real.append(text.split(b"\n\n"))
                piece = real[0][index]
            return piece.lstrip(b"\n")

        if by_key:
            texts, java_texts = self.key_texts, self.java_key_texts
            chains, java_chains = self._key_chains, self._java_key_chains
        else:
            texts, java_texts = self.texts, self.java_texts
            chains, java_chains = self._chains, self._java_chains
        rows = self._learn_pieces(pieces, by_key)
        untimed_get = self._by_line_without_time.get
        prefixes = self._prefixes
        java_ids = self._java_ids
        counts = self.counts
        get = counts.get
        for index, (head, leaf, callers) in enumerate(rows):
            if not head:  # empty lines in a row
                continue
            # the header by its line without the time, when it has one (the common case,
            # inline), else `_header_at`
            known: tuple[int, int] | None = None
            colon = head.find(b": ")
            if colon > 0 and head[0]:  # (0: a key, a line starting with a blank)
                blank = head.rfind(b" ", 0, colon)
                whole, dot, fraction = head[blank + 1 : colon].partition(b".")
                if dot and whole.isdigit() and fraction.isdigit():
                    known = untimed_get(head[: blank + 1] + head[colon:])
            if known is None:
                known = self._header_at(head)
                if known is None:
                    self._general(real_piece(index))
                    continue
            header_id, period = known
            if header_id >= len(prefixes):  # (a header first met here or in a replayed piece)
                self._extend_prefixes(header_id)
            prefix = prefixes[header_id]
            if leaf is None:  # the header alone
                if prefix is not None:
                    root = prefix[:-1]
                    counts[root] = get(root, 0) + period
                continue
            java = header_id in java_ids
            try:  # the common case: the leaf and the callers named
                if java:
                    name = java_texts[leaf]
                    chain = java_chains[callers] if callers is not None else b""
                else:
                    name = texts[leaf]
                    chain = chains[callers] if callers is not None else b""
            except KeyError:  # (a Java root's callers are joined when first met)
                names = java_texts if java else texts
                known_name = names.get(leaf)
                known_chain = (
                    b""
                    if callers is None
                    else self._chain(callers, names, java_chains if java else chains)
                )
                if known_name is None or known_chain is None:
                    piece = pieces[index].lstrip(b"\n")
                    self._count([*piece.split(b"\n"), b""], partial(real_piece, index), by_key)
                    continue
                name, chain = known_name, known_chain
            joined = (chain + b";" + name if chain else name) if name else chain
            if MARK in joined:
                self._general(real_piece(index))
            elif prefix is not None:
                key = prefix + joined if joined else prefix[:-1]
                counts[key] = get(key, 0) + period

    def _learn_pieces(self, pieces: list[bytes], by_key: bool) -> list[Row]:
        """(header, leaf, callers) of each piece (an empty header: no piece; None: no
        leaf, no callers), once the leaves and the lines of the callers never seen are
        named (by key: the keys) and the callers never seen joined (`_chains`). Chooses
        how the next block is named (`_by_key`): by key when most callers are new."""
        # most pieces are a header and two or more frame lines: cut in C; the others
        # (fewer lines, empty lines in a row, comments first) again below
        rows: list[Row] = list(map(_CUT_THREE, pieces))
        odd = [
            index
            for index, row in enumerate(rows)
            if len(row) != 3 or not row[0] or row[0][0] == 35  # "#"
        ]
        for index in odd:
            rows[index] = _odd_row(pieces[index])
        if by_key:
            texts, java_texts = self.key_texts, self.java_key_texts
            chains, java_chains = self._key_chains, self._java_key_chains
            pattern = self._simple_keyed
        else:
            texts, java_texts = self.texts, self.java_texts
            chains, java_chains = self._chains, self._java_chains
            pattern = self._simple
        if len(texts) > self.LINE_LIMIT:
            texts.clear()
            java_texts.clear()
            chains.clear()
            java_chains.clear()
        new_chains = set(map(itemgetter(2), rows)).difference(chains)
        new_chains.discard(None)
        if not by_key:
            share = len(new_chains) / max(1, len(rows))
            self._by_key = self._blocks > self.LINE_BLOCKS and share > self.KEY_SHARE
        lines = set(map(itemgetter(1), rows))
        if new_chains:
            lines.update(b"\n".join(new_chains).split(b"\n"))
        lines.discard(None)
        todo = [
            line
            for line in lines.difference(texts)
            if line[:1] and (line[0] == 0 if by_key else line[0] in _BLANK_STARTS)
        ]
        if todo:
            slow = self._name(todo, pattern, texts, java_texts)
            for line in slow:
                if by_key:
                    text = self._key_text(line, b"\t0" + line[1:])
                    if text is None:
                        texts.pop(line, None)
                        java_texts.pop(line, None)
                        continue
                    texts[line] = text
                    if self.java_seen:
                        java_texts[line] = text if b"/" not in text else _java_text(text)
                else:
                    self._read(line)
        if new_chains:
            if self._chain_bytes > self.CHAIN_BYTES:
                for known in (self._chains, self._java_chains, self._key_chains):
                    known.clear()
                self._java_key_chains.clear()
                self._chain_bytes = 0
            for callers in new_chains:
                self._chain(callers, texts, chains)  # (not named: read line by line)
                if self.java_seen:
                    self._chain(callers, java_texts, java_chains)
        return rows

    def _chain(
        self, callers: bytes, names: dict[bytes, bytes], chains: dict[bytes, bytes]
    ) -> bytes | None:
        """The joined names of `callers` (the lines, root end first) by `names`,
        remembered in `chains`; None when one is not named."""
        named = list(map(names.get, callers.split(b"\n")))
        if None in named:
            return None
        named.reverse()
        chain = chains[callers] = b";".join(filter(None, named))
        self._chain_bytes += len(callers)
        return chain

    def _count(self, names: list[bytes], lines_of: Callable[[], bytes], by_key: bool) -> None:
        """Count one piece whose lines (by key: keys) are `names` (and an empty line),
        line by line; `lines_of()` gives the piece's text."""
        real: list[list[bytes]] = []

        def real_lines() -> list[bytes]:
            if not real:
                real.append([*lines_of().split(b"\n"), b""])
            return real[0]

        if by_key:
            name_of = self.key_texts.__getitem__
            java_name_of = self.java_key_texts.__getitem__
        else:
            name_of = self.texts.__getitem__
            java_name_of = self.java_texts.__getitem__
        untimed_get = self._by_line_without_time.get
        prefixes = self._prefixes
        java_ids = self._java_ids
        counts = self.counts
        get = counts.get
        start = 0
        for stop in compress(range(len(names)), map(not_, names)):
            if stop == start:  # empty lines in a row
                start += 1
                continue
            head = names[start]
            known: tuple[int, int] | None = None
            colon = head.find(b": ")
            if colon > 0 and head[0]:  # (0: a key, a line starting with a blank)
                blank = head.rfind(b" ", 0, colon)
                whole, dot, fraction = head[blank + 1 : colon].partition(b".")
                if dot and whole.isdigit() and fraction.isdigit():
                    known = untimed_get(head[: blank + 1] + head[colon:])
            if known is None:
                known = self._header_at(head)
                if known is None:
                    self._general(b"\n".join(real_lines()[start:stop]))
                    start = stop + 1
                    continue
            header_id, period = known
            if header_id >= len(prefixes):  # (a header first met here or in a replayed piece)
                self._extend_prefixes(header_id)
            prefix = prefixes[header_id]
            if stop == start + 1:
                if prefix is not None:
                    root = prefix[:-1]
                    counts[root] = get(root, 0) + period
                start = stop + 1
                continue
            java = header_id in java_ids
            try:  # every line named (a KeyError when not)
                named_of = map(java_name_of if java else name_of, names[stop - 1 : start : -1])
                joined = b";".join(filter(None, named_of))
            except KeyError:
                named = self._lookup(real_lines()[start + 1 : stop], java)
                named.reverse()
                joined = b";".join(filter(None, named))
            if MARK in joined:
                self._general(b"\n".join(real_lines()[start:stop]))
            elif prefix is not None:
                key = prefix + joined if joined else prefix[:-1]
                counts[key] = get(key, 0) + period
            start = stop + 1

    def _extend_prefixes(self, header_id: int) -> None:
        """Make `_prefixes` (and `_java_ids`) reach `header_id`."""
        roots = self.root_of
        if header_id >= len(roots):
            self.on_headers()
        prefixes = self._prefixes
        for root in roots[len(prefixes) :]:
            if root is not None and root[:4] == b"java":
                self._java_ids.add(len(prefixes))
            prefixes.append(None if root is None else root + b";")

    def _header_at(self, head: bytes) -> tuple[int, int] | None:
        """(header id, period) of the first line of a piece, when the script reads it as
        a header; None when not, or when it starts with NUL (a key: a line starting with
        a blank; the token replay reads a real one).

        By the line's template (`header_key`, inline), which remembers the line without
        its time (`_by_line_without_time`) for the next; else by the whole line."""
        if head[0] == 0:
            return None
        colon = head.find(b": ")
        if colon > 0:
            blank = head.rfind(b" ", 0, colon)
            whole, dot, fraction = head[blank + 1 : colon].partition(b".")
            if dot and whole.isdigit() and fraction.isdigit():
                rest = head[colon + 1 :]
                stripped = rest.lstrip(b" ")
                space = stripped.find(b" ")
                digits: bytes | None = stripped[:space]
                template = (head[: blank + 1], len(rest) - len(stripped), stripped[space:])
                if not (space > 0 and cast(bytes, digits).isdigit()):
                    template, digits = (head[: blank + 1], -1, rest), None
                entry = self._templates.get(template)
                if entry is None:
                    return self._header_of(head, template, digits)
                header_id, fixed = entry
                if fixed is not None:
                    period = fixed
                else:  # the template's digits are the period
                    period = 1 if digits == b"0" else int(cast(bytes, digits))
                untimed_ids = self._by_line_without_time
                if len(untimed_ids) < self.TEMPLATE_LIMIT:
                    untimed_ids[head[: blank + 1] + head[colon:]] = (header_id, period)
                return header_id, period
        # a header without a time (no template): its whole line, as `_header_of`
        # remembers it, without the call
        whole_lines = self._lines
        return whole_lines[head] if head in whole_lines else self._header_of(head)
