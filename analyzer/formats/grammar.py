"""Build the LALR parsers of the grammars in `grammars/`, with a per-user cache.

Building a parser takes up to a few seconds (more when `interegular` is installed, since Lark
then checks the terminals for collisions), so the analysis tables are cached. Lark's own
``cache=True`` unpickles from a predictable name in the shared temp folder; this keeps the file
in the user's cache folder instead, keyed by the grammar text and the Lark version.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import lark
from lark import Lark

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
