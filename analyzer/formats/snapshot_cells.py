"""Rows of the column tables that `top`, `ps` and `pidstat` print: words grouped into cells.

The three tools print one header line naming the columns, then one row per task, the cells
padded with blanks. A row is read in two steps that both parsers of each format share:

1. the row's words (runs of characters other than space and tab) with their positions: from
   the grammar's ``row`` rule (the grammar-based parsers) or from `WORD` (the fast paths);
2. `group_cells`: the words grouped into one cell per column, by each column's `Shape`:

   - ``ONE``: one word (every numeric column, and text columns without blanks);
   - ``REST``: at most one column per layout: the words the other columns leave, inner
     blanks kept (a command line, a thread name with spaces). The columns before it take
     their words from the left, those after it from the right; it may be empty (top's
     COMMAND of a task without a name);
   - ``START``: ``ps``'s start time, one word (``08:13``, ``Dec05``, ``2025``) or two when a
     month name is followed by a day number (``Dec 05``, ``Dec  5``);
   - ``STARTED``: ``ps``'s ``STARTED`` header, shared by ``start`` and ``lstart``: five words
     when they are a weekday name, three more and a four-digit year
     (``Sat Dec  5 08:13:25 2026``), else as ``START``.

Each cell is then checked and converted by the format's cell rules (the grammar's ``cell_*``
start symbols, or the fast path's regular expressions, with the same conversion functions).
A row whose words do not fill the columns exactly is not a row of that layout; the reason
says how many words and columns there were.

`row_pattern` builds, for the fast paths, one expression per layout that groups and checks
a whole row at once; a row it matches is grouped exactly as `group_cells` would.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum

__all__ = [
    "MONTHS",
    "WEEKDAYS",
    "WORD",
    "Shape",
    "decimal",
    "group_cells",
    "row_pattern",
    "word_spans",
]

WORD = re.compile(r"[^ \t]+")
"""A word of a row (the grammar's ``WORD`` terminal, with blanks ``[ \\t]+`` ignored)."""

MONTHS: frozenset[str] = frozenset(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
)
WEEKDAYS: frozenset[str] = frozenset(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
_DAY = re.compile(r"[0-9]{1,2}")


class Shape(Enum):
    """How many words a column's cell takes (see the module docstring)."""

    ONE = "one"
    REST = "rest"
    START = "start"
    STARTED = "started"


def word_spans(text: str) -> list[tuple[int, int]]:
    """The (start, end) of every word of a line, left to right."""
    return [match.span() for match in WORD.finditer(text)]


_YEAR = re.compile(r"[0-9]{4}")


def _width_left(shape: Shape, words: Sequence[str], index: int, end: int) -> int:
    """Words taken by a START or STARTED cell whose first word is ``words[index]``."""
    first = words[index]
    if (
        shape is Shape.STARTED
        and first in WEEKDAYS
        and index + 4 < end
        and _YEAR.fullmatch(words[index + 4])
    ):
        return 5
    if first in MONTHS and index + 1 < end and _DAY.fullmatch(words[index + 1]):
        return 2
    return 1


def _width_right(shape: Shape, words: Sequence[str], index: int, start: int) -> int:
    """Words taken by a START or STARTED cell whose last word is ``words[index]``."""
    last = words[index]
    if (
        shape is Shape.STARTED
        and _YEAR.fullmatch(last)
        and index - 4 >= start
        and words[index - 4] in WEEKDAYS
    ):
        return 5
    if _DAY.fullmatch(last) and index - 1 >= start and words[index - 1] in MONTHS:
        return 2
    return 1


def group_cells(
    text: str, spans: Sequence[tuple[int, int]], shapes: Sequence[Shape]
) -> list[str] | str:
    """The cells of a row (one per column, blanks between words of a cell kept as printed),
    or the reason the words do not fill the columns."""
    words = [text[start:end] for start, end in spans]
    count = len(words)
    mismatch = f"{count} words for {len(shapes)} columns"
    rest = next((column for column, shape in enumerate(shapes) if shape is Shape.REST), None)
    left_columns = shapes if rest is None else shapes[:rest]
    cells: list[str] = []
    index = 0
    for shape in left_columns:
        if index >= count:
            return mismatch
        width = 1 if shape is Shape.ONE else _width_left(shape, words, index, count)
        cells.append(text[spans[index][0] : spans[index + width - 1][1]])
        index += width
    if rest is None:
        return cells if index == count else mismatch
    right_cells: list[str] = []
    end = count
    for shape in reversed(shapes[rest + 1 :]):
        if end <= index:
            return mismatch
        width = 1 if shape is Shape.ONE else _width_right(shape, words, end - 1, index)
        right_cells.append(text[spans[end - width][0] : spans[end - 1][1]])
        end -= width
    cells.append(text[spans[index][0] : spans[end - 1][1]] if index < end else "")
    cells.extend(reversed(right_cells))
    return cells


def row_pattern(cells: Sequence[str], shapes: Sequence[Shape]) -> re.Pattern[str] | None:
    """One expression for a whole row, for the fast paths: group ``i`` is cell ``i`` (None for
    an empty REST cell). ``cells`` are the cell patterns (without capturing groups).

    A row it matches is grouped as `group_cells` groups it, when at most one REST column
    is there, the last, and the patterns of START and STARTED columns take several words only
    in the shapes `group_cells` gives them (a month and a day; lstart) and accept no single
    word they could take instead (a bare month or weekday); None for other layouts (the fast
    paths then group the words themselves). A row it does not match may still be a row.
    """
    last = len(shapes) - 1
    if Shape.REST in shapes[:last]:
        return None
    parts = []
    for index, (cell, shape) in enumerate(zip(cells, shapes, strict=True)):
        if shape is Shape.REST:
            rest = r"([^ \t](?:.*[^ \t])?)"
            parts.append(rf"(?:[ \t]+{rest})?" if index else f"{rest}?")
        else:
            parts.append(("[ \t]+" if index else "") + f"({cell})")
    pattern = re.compile(r"[ \t]*" + "".join(parts) + r"[ \t]*")
    if pattern.groups != len(cells):
        raise ValueError("cell patterns must not have capturing groups")
    return pattern


def decimal(text: str) -> float:
    """A number printed with a decimal point or, in locales that use one, a decimal comma."""
    return float(text.replace(",", "."))
