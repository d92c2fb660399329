"""Rows of the column tables that `top`, `ps` and `pidstat` print: words grouped into cells.

The three tools print one header line naming the columns, then one row per task, the cells
padded with blanks. A row is read in two steps that both parsers of each format share:

1. the row's words (runs of characters other than space and tab) with their positions: from
   the grammar's ``row`` rule (the grammar-based parsers) or from `WORD` (the fast paths);
2. `group_cells`: the words grouped into one cell per column, by each column's `Shape`:

   - ``ONE``: one word (every numeric column, and text columns that are not last);
   - ``REST``: everything from the next word to the end of the line, inner blanks kept
     (a command line, a thread name with spaces); only a layout's last column has it, and it
     may be empty when the row ends early (top's COMMAND of a task without a name);
   - ``START``: ``ps``'s start time, one word (``08:13``, ``Dec05``, ``2025``) or two when a
     month name is followed by a day number (``Dec 05``, ``Dec  5``);
   - ``STARTED``: ``ps``'s ``STARTED`` header, shared by ``start`` and ``lstart``: five words
     when the first is a weekday name (``Sat Dec  5 08:13:25 2026``), else as ``START``.

Each cell is then checked and converted by the format's cell rules (the grammar's ``cell_*``
start symbols, or the fast path's regular expressions, with the same conversion functions).
A row whose words do not fill the columns exactly is not a row of that layout; the reason
says how many words and columns there were.
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


def _width(shape: Shape, words: Sequence[str], index: int) -> int:
    """Words taken by a START or STARTED cell whose first word is ``words[index]``."""
    first = words[index]
    if shape is Shape.STARTED and first in WEEKDAYS and index + 4 < len(words):
        return 5
    if first in MONTHS and index + 1 < len(words) and _DAY.fullmatch(words[index + 1]):
        return 2
    return 1


def group_cells(
    text: str, spans: Sequence[tuple[int, int]], shapes: Sequence[Shape]
) -> list[str] | str:
    """The cells of a row (one per column, blanks between words of a cell kept as printed),
    or the reason the words do not fill the columns."""
    words = [text[start:end] for start, end in spans]
    cells: list[str] = []
    index = 0
    last = len(shapes) - 1
    for column, shape in enumerate(shapes):
        if shape is Shape.REST and column == last:
            cells.append(text[spans[index][0] : spans[-1][1]] if index < len(words) else "")
            index = len(words)
            break
        if index >= len(words):
            return f"{len(words)} words for {len(shapes)} columns"
        width = 1 if shape in (Shape.ONE, Shape.REST) else _width(shape, words, index)
        cells.append(text[spans[index][0] : spans[index + width - 1][1]])
        index += width
    if index != len(words):
        return f"{len(words)} words for {len(shapes)} columns"
    return cells


def decimal(text: str) -> float:
    """A number printed with a decimal point or, in locales that use one, a decimal comma."""
    return float(text.replace(",", "."))
