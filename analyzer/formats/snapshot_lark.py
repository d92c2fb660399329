"""Helpers the grammar-based parsers of `top`, `ps` and `pidstat` tables share.

Their grammars have the same ``header`` (``KNOWN_NAME`` or ``OTHER_NAME`` words) and ``row``
(``WORD`` tokens) rules; these read those trees, and word Lark's errors as reasons.
"""

from __future__ import annotations

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

__all__ = ["header_names", "reason", "row_spans"]


def reason(text: str, exc: UnexpectedInput) -> str:
    """A short reason for a line the grammar rejected."""
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {text[exc.pos_in_stream or 0]!r} at column {exc.column}"
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            return "the line ends early"
        shown = token.value.split()[0] if token.value.strip() else token.value
        shown = shown if len(shown) <= 24 else shown[:21] + "..."
        return f"unexpected {shown!r} at column {token.column}"
    return str(exc).splitlines()[0]


def header_names(tree: Tree) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every name, the OTHER_NAME ones) of a ``header`` tree, in order."""
    tokens = list(tree.scan_values(lambda value: isinstance(value, Token)))
    names = tuple(str(token) for token in tokens)
    unknown = tuple(str(token) for token in tokens if token.type == "OTHER_NAME")
    return names, unknown


def row_spans(tree: Tree) -> list[tuple[int, int]]:
    """The (start, end) of each word of a ``row`` tree."""
    return [
        (token.start_pos or 0, token.end_pos or 0)
        for token in tree.children
        if isinstance(token, Token)
    ]
