"""The grammar parsers' Transformers cover their grammars: every tree node that a line can
produce has a method (or is left opaque), so a rule added to a grammar without one fails
here rather than as an AttributeError on the first input line that uses it."""

from __future__ import annotations

import pytest
from lark import Lark
from lark.grammar import NonTerminal

from analyzer.formats import perf_lark, strace_lark
from analyzer.formats.lark_transform import InlineTransformer


def node_names(parser: Lark, start: str, opaque: frozenset[str]) -> set[str]:
    """Names of the tree nodes that parsing from `start` can produce, not looking inside the
    opaque ones: a rule's name or alias, except rules inlined by ``_name`` or ``?name`` (a
    ``?`` rule keeps its node only for alternatives of more than one symbol)."""
    by_origin: dict[str, list] = {}
    for rule in parser.rules:
        by_origin.setdefault(rule.origin.name, []).append(rule)
    names: set[str] = set()
    seen: set[str] = set()
    todo = [start]
    while todo:
        origin = todo.pop()
        if origin in seen:
            continue
        seen.add(origin)
        for rule in by_origin[origin]:
            inlined = origin.startswith("_") or (
                rule.options.expand1 and len(rule.expansion) == 1 and not rule.alias
            )
            name = rule.alias or origin
            if not inlined:
                names.add(name)
                if name in opaque:
                    continue
            todo.extend(s.name for s in rule.expansion if isinstance(s, NonTerminal))
    return names


CASES = [
    ("strace", strace_lark._parser(), "line", strace_lark._LineBuilder("")),
    ("perf line", perf_lark._parser(), "line", perf_lark._BUILDER),
    ("perf bare_frame", perf_lark._parser(), "bare_frame", perf_lark._BUILDER),
]


@pytest.mark.parametrize(
    ("parser", "start", "builder"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_every_node_has_a_method(parser: Lark, start: str, builder: InlineTransformer) -> None:
    names = node_names(parser, start, builder.opaque)
    missing = sorted(
        name
        for name in names
        if name not in builder.opaque and not callable(getattr(builder, name, None))
    )
    assert missing == []


def test_the_check_sees_a_missing_method() -> None:
    names = node_names(strace_lark._parser(), "line", frozenset())
    assert {"struct", "termios", "arg_list", "event_line", "syscall"} <= names


def test_termios_in_a_signal_is_sliced_not_visited() -> None:
    """A ``termios`` struct (the alias of a ``struct`` alternative) where the line builder
    meets a struct directly: the payload of a signal."""
    record = strace_lark.parse_line("--- SIGCHLD {B38400 opost isig icanon echo ...} ---")
    assert not isinstance(record, strace_lark.Unparsed)
    assert (record.kind, record.signal, record.args) == (
        "signal",
        "SIGCHLD",
        "{B38400 opost isig icanon echo ...}",
    )
