"""Two strace lines glued into one, found after parsing.

When two writers share a terminal or a file without `-o` (strace and the traced program, two
strace processes), a line can lose its newline: ``... = 3 <0.000010>1001 10:00:00.000001
read(3, ...) = 3 <0.000010>``. The grammar reads that as one call whose arguments swallow the
first call's end and the second call's start, so one call disappears without a word. Such a
record is turned back into an unparsed line with `REASON`, whichever engine parsed it.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy

REASON = "two lines glued together (a call's end is followed by another line's start)"

_END = (
    r"(?:\) += (?:-?\d+|0x[0-9a-fA-F]+|\?)(?:<[^<>]*>)?"
    r"(?: E[A-Z0-9_]+ \([^()]*\)| \([^()]*\))?(?: <\d+\.\d+>)?"
    r"| <unfinished \.\.\.>)"
)
_START = (
    r"(?:\[pid +\d+\] |\d+ +)?(?:\d\d:\d\d:\d\d(?:\.\d+)? |\d+\.\d+ )?"
    r"(?:[a-z_][a-z0-9_]*\(|<\.\.\. [a-z_][a-z0-9_]* resumed>|\+\+\+ |--- )"
)
GLUED = _END + _START
"""A call's end followed at once by the start of another line, inside one record's args."""


_GLUED = re.compile(GLUED)


def is_glued(line: str) -> bool:
    """Whether a line the grammar rejected is two lines glued together."""
    return _GLUED.search(line) is not None


def glued_rows(table: pa.Table) -> np.ndarray:
    """Which records of a `strace_lines` table are two lines glued together."""
    found = pc.match_substring_regex(table["args"], GLUED)
    return filled_numpy(found, False)


def glued_texts(encoded: pa.DictionaryArray) -> np.ndarray:
    """`glued_rows` for the rows of dictionary-encoded `args`: each distinct text that may be
    glued (`may_be_glued`) searched once."""
    texts = encoded.dictionary
    if len(texts) == 0:
        return np.zeros(len(encoded), dtype=bool)
    candidates = np.flatnonzero(may_be_glued(texts))
    glued = np.zeros(len(texts), dtype=bool)
    if len(candidates):
        found = pc.match_substring_regex(texts.take(pa.array(candidates)), GLUED)
        glued[candidates[filled_numpy(found, False)]] = True
    index = filled_numpy(encoded.indices, 0)
    return glued[index] & encoded.indices.is_valid().to_numpy(zero_copy_only=False)


def may_be_glued(texts: pa.StringArray) -> np.ndarray:
    """Which texts hold ``) `` or ``<u``, as every match of `GLUED` does (its call's end is
    ``) = ...`` or `` <unfinished ...>``): one numpy pass over the bytes of all the texts,
    not the regex over each."""
    count = len(texts)
    offsets = np.frombuffer(texts.buffers()[1], dtype=np.int32)[
        texts.offset : texts.offset + count + 1
    ]
    buffer = texts.buffers()[2]
    if count == 0 or buffer is None:
        return np.zeros(count, dtype=bool)
    data = np.frombuffer(buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    pair = ((data[:-1] == ord(")")) & (data[1:] == ord(" "))) | (
        (data[:-1] == ord("<")) & (data[1:] == ord("u"))
    )
    at = np.flatnonzero(pair) + offsets[0]
    # The text holding each pair's first byte; the pair counts when its second one is in it.
    row = np.searchsorted(offsets[1:], at, side="right")
    inside = at + 1 < offsets[1:][row]
    found = np.zeros(count, dtype=bool)
    found[row[inside]] = True
    return found
