"""The fast paths of the asyncio log parser, equal to the grammar (`asyncio_lark`).

The ``fast`` engine of `asyncio.parse` does not parse every line. It

- pre-filters: `candidate_lines` finds the lines of a block of raw bytes that contain a marker
  (`MARKERS`: phrases every line that starts an asyncio record or an aiomonitor dump
  contains), with RE2 through Arrow over the block's bytes, so no line objects exist for
  the other lines (`candidate_mask` does the same on an array of lines); every other line is
  an application line without being looked at;
- parses the lines it feeds with `parse_line_fast`, a hand-written parser for the common
  shapes that calls the grammar's own transformer and hands every other line to the grammar
  (how it tokenises as Lark's lexer does: the comment that opens the "Fast line parser"
  section below).

So the engines agree whenever every start line contains a marker and `parse_line_fast` agrees
with `asyncio_lark.parse_line`; tests check both on the fixtures and on generated lines.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from lark import Lark, Token

from analyzer.arrays import filled_numpy
from analyzer.formats.asyncio_lark import (
    GRAMMAR_READERS,
    TO_LINE,
    LazyReason,
    Rejected,
    ToLine,
    cached_parser,
    read_fields,
    read_line,
    settled,
)
from analyzer.formats.asyncio_record import Line

__all__ = [
    "CACHE_LINES",
    "FAST_READERS",
    "MARKERS",
    "MARKER_REGEX",
    "REJECT",
    "CachedReader",
    "FastParser",
    "FastReaders",
    "candidate_lines",
    "candidate_mask",
    "fast_parser",
    "parse_line_fast",
    "parse_line_lazy",
]


# ---------------------------------------------------------------------------------------------
# Fast line parser
# ---------------------------------------------------------------------------------------------
#
# `parse_line_fast` reads the lines the fast engine feeds most -- `Executing <repr> took N
# seconds` in any envelope, the exception handler's `future:`/`task:`/`handle:` lines,
# traceback lines, one-token messages, other enveloped lines, aiomonitor lines -- with one
# `re.match` per token and calls the grammar's transformer (`TO_LINE`) on what it read, so
# its values are the grammar's by construction. What it must get right is *tokenising*
# exactly as Lark's contextual lexer does: at each point Lark tries the terminals the parser
# state accepts, ordered by (priority, widest pattern, longest literal, name), and takes the
# first that matches. So
#
# - the first token of a line, and the first token after an envelope, are found by the
#   same terminals in the same order, read from the parser itself (`_StateScanner`);
# - inside the reprs and envelopes the terminals a state accepts are literals with distinct
#   first characters or a single regex terminal, except where a literal is a prefix of
#   another (`" cancelled"`/`" when="`/`" created at "` before `" "` after a handle's class,
#   the longer `coro_where` literals first, HANDLE_CLASS.1 before CLASS_NAME, QUALNAME.1
#   before ANGLE, LEVEL.1 before LOGGER after `" - "`): those are tried in Lark's order;
# - the regex terminals are compiled from the grammar's own patterns.
#
# Where its reading shows that the grammar rejects the line -- no terminal matches where
# Lark's lexer would look, or text is left where the parser wants the end, or an envelope's
# tokens do not follow -- it returns `REJECT`; on anything else (a journald prefix, a message it
# does not read, a repr it cannot follow) it returns None and the grammar's `line` is asked.
#
# A line that `line` rejects, or reads as other text after an envelope or as an indented
# continuation, goes through the generic-envelope procedure (`asyncio_lark.read_line`), with
# the parts read by `FastReaders`: `line` as above, `fields` and `envelope_other` by a lexer
# that tries the terminals of those rules' parser states in Lark's order (their LALR states
# accept one set of terminals each, before and after the asyncio logger name), `cut_line` and
# the column of a rejection by the grammar.


class _Direct:
    """`TO_LINE`'s methods without Lark's wrapper, which is rebuilt on every attribute
    access (the fast parser calls them with the arguments the transformer would get)."""

    def __init__(self, transformer: ToLine) -> None:
        for name, value in type(transformer).__dict__.items():
            if hasattr(value, "base_func"):
                setattr(self, name, value.base_func.__get__(transformer))

    def __getattr__(self, name: str) -> Any:  # for type checkers; never reached
        raise AttributeError(name)


_T = _Direct(TO_LINE)


def _sort_key(term: Any) -> tuple[int, int, int, str]:
    """Lark's order of the terminals its lexer tries (lark.lexer.BasicLexer)."""
    return (-term.priority, -term.pattern.max_width, -len(term.pattern.value), term.name)


class _StateScanner:
    """Lark's lexer in the parser state after `prefix`: one regex trying the terminals that
    state accepts in Lark's order; the first that matches is the token.

    WARNING_HEAD (``file:line: XWarning: ``, priority 1) and COMPOSE (``service  | ``,
    priority 2) are tried early and WARNING_HEAD scans the whole line to fail; a line without
    ``Warning: `` (or ``|``) cannot match it, so such lines are tried with a regex that
    leaves it out (same order otherwise, hence the same token).
    """

    def __init__(self, parser: Lark, prefix: str, start: str = "line") -> None:
        interactive = parser.parse_interactive(prefix, start=start)
        interactive.exhaust_lexer()
        lexers = parser.parser.lexer.lexers
        terminals = sorted(lexers[interactive.parser_state.position].terminals, key=_sort_key)
        self.full = self._compile(terminals)
        names = {t.name for t in terminals}
        self.warning = "WARNING_HEAD" in names
        self.compose = "COMPOSE" in names
        self.by_phrases = [  # index: 1 if "Warning: " in the text, + 2 if "|"
            self._compile(
                [
                    t
                    for t in terminals
                    if (t.name != "WARNING_HEAD" or key & 1) and (t.name != "COMPOSE" or key & 2)
                ]
            )
            for key in range(4)
        ]

    @staticmethod
    def _compile(terminals: list[Any]) -> re.Pattern[str]:
        return re.compile("|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in terminals))

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        key = 1 if self.warning and "Warning: " in text else 0
        if self.compose and "|" in text:
            key += 2
        return self.by_phrases[key].match(text, pos)


class FastParser:
    """The hand-written reader behind `parse_line_fast` (see the comment above)."""

    def __init__(self, parser: Lark) -> None:
        terminals = {t.name: t for t in parser.terminals}
        literal = {t.pattern.value: t.name for t in parser.terminals if t.pattern.type == "str"}

        def rx(name: str) -> re.Pattern[str]:
            return re.compile(terminals[name].pattern.to_regexp())

        self.root = _StateScanner(parser, "")
        self.prefixes = {"JOURNAL_SHORT", "JOURNAL_ISO", "COMPOSE"}
        self.after_prefix = _StateScanner(parser, "web_1  | ")
        self.after_envelope = _StateScanner(parser, "WARNING:asyncio:")
        # The LALR states of `fields` and `envelope_other` accept one set of terminals at
        # the first token (F_SERVICE only there), one after it, and for `envelope_other`
        # one after the asyncio logger; tests check every state of the rules against these.
        self.fields_first = _StateScanner(parser, "", "fields")
        self.fields_rest = _StateScanner(parser, "x", "fields")
        self.other_first = _StateScanner(parser, "", "envelope_other")
        self.other_before = _StateScanner(parser, "1234", "envelope_other")
        self.other_after = _StateScanner(parser, "asyncio", "envelope_other")
        self.asyncio_logger = re.compile(
            "|".join(f"(?:{rx(name).pattern})" for name in sorted(_ASYNCIO_LOGGERS))
        )
        self.location = rx("LOCATION")
        self.qualname = rx("QUALNAME")
        self.angle = rx("ANGLE")
        self.args = rx("ARGS")
        self.class_name = rx("CLASS_NAME")
        self.handle_class = rx("HANDLE_CLASS")
        self.state = rx("STATE")
        self.string = rx("STRING")
        self.number = rx("NUMBER")
        self.value = rx("VALUE")
        self.level = rx("LEVEL")
        self.pad = rx("PAD")
        self.logger = rx("LOGGER")
        self.logger_colon = rx("LOGGER_COLON")
        self.thread = rx("THREAD")
        self.frame_file = rx("FRAME_FILE")
        self.int = rx("INT")
        t = _T
        whole = {
            "NEVER_RETRIEVED": t.never_retrieved,
            "SHIELDED": t.shielded,
            "HANDLER_MESSAGE": t.handler_message,
            "DIRECT_MESSAGE": t.direct_message,
            literal["Task was destroyed but it is pending!"]: lambda _tok: (
                t.task_destroyed_pending()
            ),
        }
        self.whole_message = whole
        """Messages that are one token: the token must reach the end of the line."""
        self.whole_cont = {
            "INDENTED": t.indented,
            "EXC_LINE": t.exc_line,
            "TRACEBACK_HEADER": t.traceback_header,
            "CHAIN": t.chain,
            literal["Traceback (most recent call last):"]: lambda _tok: t.traceback_start(),
            "TASK_COUNT": t.task_count,
            "TABLE_RULE": t.table_rule,
            "TABLE_HEADER": t.table_header,
            "TABLE_ROW": t.table_row,
            "STACK_HEADER": t.stack_header,
        }
        """Continuation and aiomonitor lines that are one token."""
        self.executing = literal["Executing "]
        self.keys = {
            literal["future: "]: ("future", t.key_future),
            literal["task: "]: ("future", t.key_task),
            literal["handle: "]: ("handle", t.key_handle),
        }
        self.file = literal['  File "']
        self.prompt = literal["monitor >>> "]
        self.other = "OTHER"

    # -- lines ----------------------------------------------------------------------------
    def line(self, text: str) -> Line | Rejected | None:
        """The `line` reading: a `Line`, `REJECT` when the grammar certainly rejects the
        text, or None when this reader does not know (the grammar is asked)."""
        if not text:
            return _T.line(None, None)
        match = self.root.match(text)
        if match is None:
            return REJECT
        prefix = None
        if match.lastgroup in self.prefixes:  # journald's or docker compose's, every line
            prefix = Token(match.lastgroup or "", match.group(), end_pos=match.end())
            if match.end() == len(text):
                return _T.line(prefix, None)
            match = self.after_prefix.match(text, match.end())
            if match is None:
                return REJECT
        kind = match.lastgroup
        end = match.end()
        content: tuple | Rejected | None
        if kind in ("TIMESTAMP", "BASIC_PREFIX", "LEVELPREFIX", "GUNICORN_PREFIX"):
            content = self.enveloped(text, kind, match)
        elif kind == "CONTEXT_KEY":
            content = _T.key_other(match.group(), text[end:]) if end < len(text) else REJECT
        elif kind == self.file:
            content = self.frame(text, end)
        elif kind in self.keys:
            shape, build = self.keys[kind]
            read = self.future(text, end) if shape == "future" else self.handle(text, end)
            content = build(read[0]) if read is not None and read[1] == len(text) else None
        elif kind == self.prompt:
            content = _T.monitor_prompt(match.group(), text[end:] or None)
        elif kind in self.whole_cont:
            content = self.whole_cont[kind](match.group()) if end == len(text) else REJECT
        else:
            content = self.message(text, kind, match)
        if content is None or content is REJECT:
            return content
        return _T.line(prefix, content)

    def message(self, text: str, kind: str | None, match: re.Match[str]) -> tuple | Rejected | None:
        end = match.end()
        if kind == self.executing:
            return self.executing_message(text, end)
        if kind in self.whole_message:
            if end != len(text):  # these messages end the line
                return REJECT
            return self.whole_message[kind](match.group())
        return None

    def enveloped(
        self, text: str, kind: str | None, match: re.Match[str]
    ) -> tuple | Rejected | None:
        end = match.end()
        token = Token(kind or "", match.group(), end_pos=end)
        envelope: dict[str, Any] | None
        if kind == "BASIC_PREFIX":
            envelope = _T.env_basic(token)
        elif kind == "LEVELPREFIX":
            envelope = _T.env_levelprefix(token)
        elif kind == "GUNICORN_PREFIX":
            envelope = _T.env_gunicorn(token)
        else:
            read = self.timestamp_envelope(text, token)
            if read is None:  # its tokens do not follow (see timestamp_envelope)
                return REJECT
            envelope, end = read
        rest = self.after_envelope.match(text, end)
        if rest is None:
            return REJECT
        if rest.lastgroup == self.other:
            return _T.enveloped_other(envelope, rest.group())
        message = self.message(text, rest.lastgroup, rest)
        if message is None or message is REJECT:
            return message
        return _T.enveloped(envelope, message)

    def timestamp_envelope(self, text: str, ts: Token) -> tuple[dict[str, Any], int] | None:
        """The envelopes that start with TIMESTAMP (`env_ts_*`), and where they end; None
        when the grammar rejects the line: after TIMESTAMP its lexer tries exactly the tokens
        tried here, in this order, so where one does not match, no other can."""
        pos = ts.end_pos
        assert pos is not None
        if text.startswith(" - ", pos):
            level = self.level.match(text, pos + 3)
            if level is not None:  # TIMESTAMP " - " LEVEL PAD "- " LOGGER_COLON
                pad = self.pad.match(text, level.end())
                if pad is None or not text.startswith("- ", pad.end()):
                    return None
                logger = self.logger_colon.match(text, pad.end() + 2)
                if logger is None:
                    return None
                envelope = _T.env_ts_dash_level(ts, level.group(), pad.group(), _token(logger))
                return envelope, logger.end()
            logger = self.logger.match(text, pos + 3)  # TIMESTAMP " - " LOGGER " - " LEVEL " - "
            if logger is None or not text.startswith(" - ", logger.end()):
                return None
            level = self.level.match(text, logger.end() + 3)
            if level is None or not text.startswith(" - ", level.end()):
                return None
            envelope = _T.env_ts_dash_logger(ts, logger.group(), _token(level))
            return envelope, level.end() + 3
        if not text.startswith(" ", pos):
            return None
        level = self.level.match(text, pos + 1)
        pad = self.pad.match(text, level.end()) if level is not None else None
        if level is None or pad is None:
            return None
        pos = pad.end()
        logger = self.logger_colon.match(text, pos)
        if logger is not None:  # TIMESTAMP " " LEVEL PAD LOGGER_COLON
            envelope = _T.env_ts_colon(ts, level.group(), pad.group(), _token(logger))
            return envelope, logger.end()
        if text.startswith("[", pos):  # ... PAD "[" LOGGER "] "
            logger = self.logger.match(text, pos + 1)
            if logger is None or not text.startswith("] ", logger.end()):
                return None
            envelope = _T.env_ts_bracket(ts, level.group(), pad.group(), _token(logger))
            return envelope, logger.end() + 2
        if text.startswith("(", pos):  # ... PAD "(" THREAD ") [" LOGGER "] "
            thread = self.thread.match(text, pos + 1)
            if thread is None or not text.startswith(") [", thread.end()):
                return None
            logger = self.logger.match(text, thread.end() + 3)
            if logger is None or not text.startswith("] ", logger.end()):
                return None
            envelope = _T.env_ts_thread(
                ts, level.group(), pad.group(), thread.group(), _token(logger)
            )
            return envelope, logger.end() + 2
        return None

    def executing_message(self, text: str, pos: int) -> tuple | None:
        """``Executing `` subject `` took `` NUMBER `` seconds`` to the end of the line."""
        if not text.startswith("<", pos):
            return None
        shape = self.handle_class.match(text, pos + 1)
        read = self.handle(text, pos, shape) if shape else self.future(text, pos)
        if read is None:
            return None
        subject, pos = read
        if not text.startswith(" took ", pos):
            return None
        seconds = self.number.match(text, pos + 6)
        if seconds is None or text[seconds.end() :] != " seconds":
            return None
        return _T.executing(subject, seconds.group())

    def frame(self, text: str, pos: int) -> tuple | Rejected:
        """``  File "`` FRAME_FILE ``", line `` INT [``, in `` REST] to the end (after the
        ``  File "`` token each token has one form, so a mismatch is the grammar's too)."""
        file = self.frame_file.match(text, pos)
        if file is None or not text.startswith('", line ', file.end()):
            return REJECT
        line = self.int.match(text, file.end() + 8)
        if line is None:
            return REJECT
        pos = line.end()
        if pos == len(text):
            return _T.frame(file.group(), line.group(), None)
        if text.startswith(", in ", pos) and pos + 5 < len(text):
            return _T.frame(file.group(), line.group(), text[pos + 5 :])
        return REJECT

    # -- generic envelopes ----------------------------------------------------------------
    def fields(self, text: str) -> list[tuple[str, str]] | None:
        """The tokens (terminal name, text) of `fields`; None where Lark's lexer finds none."""
        match_at = self.fields_first.match
        tokens = []
        pos, size = 0, len(text)
        while pos < size:
            match = match_at(text, pos)
            if match is None:
                return None
            tokens.append((match.lastgroup or "", match.group()))
            match_at = self.fields_rest.match
            pos = match.end()
        return tokens

    def envelope_other(self, text: str) -> tuple[list[tuple[str, str]], int, str] | None:
        """The field tokens of `envelope_other`, and where its GOTHER starts and its text;
        None when it rejects. A text in which no asyncio logger terminal matches anywhere is
        rejected without lexing it (the rule needs one)."""
        if self.asyncio_logger.search(text) is None:
            return None
        match_at = self.other_first.match
        after_logger = False
        tokens: list[tuple[str, str]] = []
        pos, size = 0, len(text)
        while pos < size:
            match = match_at(text, pos)
            if match is None:
                return None
            kind = match.lastgroup or ""
            if kind == "GOTHER":
                return tokens, pos, match.group()
            tokens.append((kind, match.group()))
            after_logger = after_logger or kind in _ASYNCIO_LOGGERS
            match_at = (self.other_after if after_logger else self.other_before).match
            pos = match.end()
        return None

    # -- reprs: each reads from the "<" and returns (value, position after the ">") ------
    def future(self, text: str, pos: int) -> tuple[dict[str, Any], int] | None:
        """future_repr, where only it may follow (CLASS_NAME alone after the "<")."""
        if not text.startswith("<", pos):
            return None
        cls = self.class_name.match(text, pos + 1)
        if cls is None or not text.startswith(" ", cls.end()):
            return None
        state = self.state.match(text, cls.end() + 1)
        if state is None:
            return None
        pos = state.end()
        name = coro = wait_for = outcome = callbacks = None
        if text.startswith(" name=", pos):
            string = self.string.match(text, pos + 6)
            if string is None:
                return None
            name, pos = string.group(), string.end()
        if text.startswith(" coro=<", pos):
            qualname = self.qualname.match(text, pos + 7)
            if qualname is None or not text.startswith("()", qualname.end()):
                return None
            pos = qualname.end() + 2
            where = None
            for literal in (" running, defined at ", " done, defined at ", " running at "):
                if text.startswith(literal, pos):
                    location = self.location.match(text, pos + len(literal))
                    if location is None:
                        return None
                    where, pos = location.group(), location.end()
                    break
            else:
                if text.startswith(" running", pos):
                    pos += 8
            if not text.startswith(">", pos):
                return None
            coro = _T.coro(qualname.group(), where)
            pos += 1
        if text.startswith(" wait_for=", pos):
            read = self.future(text, pos + 10)
            if read is None:
                return None
            wait_for, pos = read
        for literal, build in ((" result=", _T.result), (" exception=", _T.exception)):
            if text.startswith(literal, pos):
                value = self.value.match(text, pos + len(literal))
                if value is None:
                    return None
                outcome, pos = build(value.group()), value.end()
                break
        if text.startswith(" cb=[", pos):
            pos += 5
            items = []
            while True:
                read = self.callback(text, pos)
                if read is None:
                    return None
                items.append(read[0])
                pos = read[1]
                if not text.startswith(", ", pos):
                    break
                pos += 2
            if not text.startswith("]", pos):
                return None
            callbacks, pos = _T.callbacks(*items), pos + 1
        end = self.created_and_close(text, pos)
        if end is None:
            return None
        created, pos = end
        value = _T.future_repr(
            cls.group(), state.group(), name, coro, wait_for, outcome, callbacks, created
        )
        return value, pos

    def handle(
        self, text: str, pos: int, shape: re.Match[str] | None = None
    ) -> tuple[dict[str, Any], int] | None:
        """handle_repr (`shape` is the HANDLE_CLASS match after the "<", if already made)."""
        if shape is None:
            if not text.startswith("<", pos):
                return None
            shape = self.handle_class.match(text, pos + 1)
            if shape is None:
                return None
        pos = shape.end()
        cancelled = when = callback = None
        # After the class Lark tries " created at ", " cancelled", " when=", then " ".
        if not text.startswith(" created at ", pos):
            if text.startswith(" cancelled", pos):
                cancelled, pos = " cancelled", pos + 10
            if text.startswith(" when=", pos):
                number = self.number.match(text, pos + 6)
                if number is None:
                    return None
                when, pos = number.group(), number.end()
            if text.startswith(" ", pos) and not text.startswith(" created at ", pos):
                read = self.callback(text, pos + 1)
                if read is None:
                    return None
                callback, pos = read
        end = self.created_and_close(text, pos)
        if end is None:
            return None
        created, pos = end
        value = _T.handle_repr(shape.group(), cancelled, when, callback, created)
        return value, pos

    def created_and_close(self, text: str, pos: int) -> tuple[str | None, int] | None:
        """The end of a future or handle repr: an optional " created at LOCATION", then ">".
        Returns the location (None when absent) and the position after the ">"; None when
        the text does not end that way."""
        created = None
        if text.startswith(" created at ", pos):
            location = self.location.match(text, pos + 12)
            if location is None:
                return None
            created, pos = location.group(), location.end()
        if not text.startswith(">", pos):
            return None
        return created, pos + 1

    def callback(self, text: str, pos: int) -> tuple[dict[str, Any], int] | None:
        """(QUALNAME | ANGLE) [ARGS] [" at " LOCATION]."""
        target = self.qualname.match(text, pos) or self.angle.match(text, pos)
        if target is None:
            return None
        pos = target.end()
        args = self.args.match(text, pos)
        if args is not None:
            pos = args.end()
        location = None
        if text.startswith(" at ", pos):
            where = self.location.match(text, pos + 4)
            if where is None:
                return None
            location, pos = where.group(), where.end()
        value = _T.callback(target.group(), args and args.group(), location)
        return value, pos


_ASYNCIO_LOGGERS = frozenset({"F_ALOGGER", "F_ALOGGER_GROUP", "F_ALOGGER_KV"})

REJECT = Rejected()
"""`FastParser.line`'s reading of a line the grammar rejects (the column is the grammar's to
tell, when a reason is needed)."""


def _token(match: re.Match[str]) -> Token:
    """A token for the transformer methods that read where it ends."""
    return Token("T", match.group(), end_pos=match.end())


@cache
def fast_parser() -> FastParser:
    """The `FastParser` of `asyncio_lark.cached_parser`, built once."""
    return FastParser(cached_parser())


_CUT_STARTS = ("Executing ", "Exception in callback ", "future: ", "task: ", "handle: ")
"""The tokens `cut_line` can start with: text that starts with none of them is rejected."""


class FastReaders:
    """The parts of a line for `asyncio_lark.read_line`, read by `FastParser` where it can
    (equal to `asyncio_lark.GrammarReaders`), else by the grammar."""

    def line(self, text: str) -> Line | Rejected:
        read = fast_parser().line(text)
        return read if read is not None else GRAMMAR_READERS.line(text)

    def column(self, text: str, rejected: Rejected) -> int | str:
        return GRAMMAR_READERS.column(text, rejected)

    def fields(self, text: str) -> dict[str, Any] | None:
        tokens = fast_parser().fields(text)
        return None if tokens is None else read_fields(tokens)

    def envelope_other(self, text: str) -> tuple[dict[str, Any], int, str] | None:
        read = fast_parser().envelope_other(text)
        if read is None:
            return None
        tokens, start, other = read
        return read_fields(tokens), start, other

    def cut(self, text: str) -> Line | None:
        return GRAMMAR_READERS.cut(text) if text.startswith(_CUT_STARTS) else None


FAST_READERS = FastReaders()


def parse_line_fast(text: str) -> Line | str:
    """`parse_line`, read without the grammar for the common shapes (equal to it)."""
    read = read_line(text, FAST_READERS)
    assert not isinstance(read, LazyReason)
    return read


def parse_line_lazy(text: str) -> Line | LazyReason:
    """`parse_line_fast`, with the reason of a line it does not read left to be worked out
    when asked for (`LazyReason`): what the fast engine's assembler reads with."""
    first = fast_parser().line(text)
    if isinstance(first, Line) and settled(first):  # most lines: no procedure
        return first
    read = read_line(text, FAST_READERS, lazy=True, first=first)
    assert not isinstance(read, str)
    return read


_SIMPLE_ENVELOPE = re.compile(
    r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)? "
    r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) +([A-Za-z0-9_.\-]+): "
)
"""``%(asctime)s %(levelname)s %(name)s: `` (TIMESTAMP " " LEVEL PAD LOGGER_COLON) in its
plain form: no zone, ASCII logger name. At the start of a line without ``Warning: `` or
``|`` (the only phrases that let another terminal be tried before TIMESTAMP), Lark's lexer
reads it as these tokens, and how the rest of the line reads does not depend on it."""
CACHE_LINES = 4096
"""Distinct texts `CachedReader` remembers (it forgets all of them when full)."""


class CachedReader:
    """`parse_line_lazy` that remembers what it read: the `Line` of a text seen before (a
    traceback's ``Traceback`` header, frames and code lines, an exception line repeat), and
    the message of a line in the plain asctime envelope seen before with another time
    (``Task exception was never retrieved``). The `Line` values are shared, never changed."""

    def __init__(self) -> None:
        self.lines: dict[str, Line | LazyReason] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.known: dict[str, Line] = {}
        """Readings made elsewhere (`asyncio_bulk.key_lines` of the chunk being fed)."""

    def __call__(self, text: str) -> Line | LazyReason:
        read = self.lines.get(text) or self.known.get(text)
        if read is not None:
            return read
        envelope = _SIMPLE_ENVELOPE.match(text)
        if envelope is not None and "Warning: " not in text and "|" not in text:
            end = envelope.end()
            rest = text[end:]
            read_envelope = {
                "time": text[: envelope.start(1) - 1],
                "level": envelope[1],
                "logger": envelope[2],
                "end": end,
            }
            data = self.messages.get(rest)
            if data is not None:
                return Line("start", data, read_envelope, None)
            read = parse_line_lazy(text)
            if isinstance(read, Line) and read.role == "start" and read.envelope == read_envelope:
                if len(self.messages) >= CACHE_LINES:
                    self.messages.clear()
                self.messages[rest] = read.data
            return read
        read = parse_line_lazy(text)
        if len(self.lines) >= CACHE_LINES:
            self.lines.clear()
        self.lines[text] = read
        return read


# ---------------------------------------------------------------------------------------------
# Candidates (the fast pre-filter)
# ---------------------------------------------------------------------------------------------

MARKERS: tuple[str, ...] = (
    "Executing <",
    "poll ",
    "address info ",
    "xception in ",
    "destroyed but it is pending",
    "exception was never retrieved",
    "has errored out",
    "asynchronous generator",
    "nhandled e",
    "garbage collected",
    "Fatal ",
    "eof_received",
    "_writing() failed",
    "Error on ",
    "out of system resource",
    "Accept failed",
    "SIGCHLD",
    "raised exception.",
    "that handles pid",
    "child process",
    "Child watcher",
    "Caught subprocess",
    "SSL ",
    "create_server",
    "attempting to bind",
    "UNIX socket",
    "event loop",
    "UVStream",
    "was never yielded from",
    "Warning: ",
    "asyncio",
    "aiodebug",
    "monitor >>> ",
    " tasks running",
    " tasks terminated",
    "Stack of ",
)
"""Phrases of which every line that starts an asyncio record contains at least one (the
message texts of the grammar's `message` rule, the logger names of `other` records, and the
aiomonitor lines that start a dump: prompt, task count, stack header)."""

MARKER_REGEX = "|".join(re.escape(marker) for marker in MARKERS)


def candidate_mask(lines: pa.StringArray) -> np.ndarray:
    """Which lines may start an asyncio record (vectorised; a superset of the true ones)."""
    return filled_numpy(pc.match_substring_regex(lines, MARKER_REGEX), False)


def candidate_lines(
    block: bytes | bytearray, newlines: np.ndarray | None = None
) -> tuple[list[int], list[int]]:
    """The lines of a block (whole lines, no final newline) that contain a marker: their
    start offsets and their 0-based indexes, ascending.

    The block is split at its newlines by numpy into one Arrow binary array over its bytes
    (no copy, no line object) and RE2 matches each line, without the GIL. (Searching pieces of
    the block for their first marker, round after round, was slower on sparse and dense logs
    alike: 45 ms and 160 ms per 8 MB, against 14 ms and 5 ms.) `newlines`: where the block's
    newlines are, if known."""
    if newlines is None:
        newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    offsets = np.empty(len(newlines) + 2, dtype=np.int64)
    offsets[0] = 0
    offsets[1:-1] = newlines + 1
    offsets[-1] = len(block)
    lines = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(newlines) + 1, [None, pa.py_buffer(offsets), pa.py_buffer(block)]
    )
    mask = pc.match_substring_regex(lines, MARKER_REGEX).to_numpy(zero_copy_only=False)
    indexes = np.flatnonzero(mask)
    return offsets[indexes].tolist(), indexes.tolist()
