"""Build the LALR parsers of the grammars in `grammars/`, with a per-user cache.

Building a parser takes up to a few seconds (more when `interegular` is installed, since Lark
then checks the terminals for collisions), so the analysis tables are cached. Lark's own
``cache=True`` unpickles from a predictable name in the shared temp folder; this keeps the file
in the user's cache folder instead, keyed by the grammar text and the Lark version.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import lark
from lark import Lark, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from analyzer.resources import grammar_path


def cache_file(grammar: str) -> str | None:
    """The cache path for `grammar` (``strace.lark``...), or None if no cache folder is usable."""
    text = grammar_path(grammar).read_bytes()
    key = hashlib.sha256(text + lark.__version__.encode()).hexdigest()[:16]
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "iodiag"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    return str(folder / f"{Path(grammar).stem}-lark-{key}.cache")


def build(grammar: str, start: Sequence[str], *, strict: bool = False, cached: bool = True) -> Lark:
    """An LALR parser (contextual lexer) for `grammars/<grammar>` with the given start symbols.

    ``strict=True`` (used by the tests) rejects shift/reduce conflicts and colliding
    terminals; strict builds are never cached.
    """
    return Lark(
        grammar_path(grammar).read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        start=list(start),
        maybe_placeholders=True,
        strict=strict,
        cache=(cache_file(grammar) or False) if cached and not strict else False,
    )


TOO_DEEP = "a line too long for the grammar (its parse tree is too deep)"

U = TypeVar("U")


def parse_record(
    parser: Lark, transformer: Transformer, text: str, what: str, unparsed: Callable[[str], U]
) -> Any:
    """The record `transformer` makes of one line (without its newline) parsed from the
    ``line`` rule, or ``unparsed(reason)``: the reason starts with `what` (``not iostat
    output``) when the grammar rejects the line, and is `TOO_DEEP` when its tree is deeper
    than Python recurses (a very long line)."""
    try:
        tree = parser.parse(text, start="line")
    except UnexpectedInput as exc:
        return unparsed(rejection(text, exc, what))
    try:
        return transformer.transform(tree)
    except RecursionError:
        return unparsed(TOO_DEEP)


def rejection(text: str, exc: UnexpectedInput, what: str) -> str:
    """`what`, then where and why Lark rejected `text` (a token shown up to 24 characters)."""
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream or 0]
        return f"{what}: unexpected {char!r} at column {exc.column}"
    if isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            return f"{what}: the line ends early"
        shown = exc.token.value if len(exc.token.value) <= 24 else exc.token.value[:21] + "..."
        return f"{what}: unexpected {shown!r} at column {exc.token.column}"
    return str(exc).splitlines()[0]
