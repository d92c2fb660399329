"""Parser for `py-spy dump` text, driven by the grammar `grammars/pyspy.lark`.

`parse_line(text)` reduces one line to a `PySpyRecord` (field rules in
`analyzer.formats.pyspy_record`) or to `Unparsed(reason)`. A lark Transformer builds the
record from the named terminals of each line rule. py-spy dumps are small (tens to a few
thousand lines), so this is the only parser: no fast path is needed.
"""

from __future__ import annotations

from functools import cache

from lark import Lark, Token, Transformer

from analyzer.formats import grammar
from analyzer.formats.pyspy_record import (
    BLANK,
    SEPARATOR,
    PySpyRecord,
    Unparsed,
    date_ts,
    frame_fields,
)

__all__ = ["build_parser", "parse_line"]

GRAMMAR = "pyspy.lark"
START_SYMBOLS: tuple[str, ...] = ("line",)


def build_parser(*, strict: bool = False) -> Lark:
    """A new LALR parser for `grammars/pyspy.lark`."""
    return grammar.build(GRAMMAR, START_SYMBOLS, strict=strict)


@cache
def _parser() -> Lark:
    return build_parser()


def _tokens(children: list[Token | None]) -> dict[str, str]:
    """The line's terminals by type (each type occurs at most once in a line rule)."""
    return {child.type: child.value for child in children if child is not None}


class _ToRecord(Transformer[Token, PySpyRecord]):
    """Each line rule -> its `PySpyRecord`."""

    def line(self, children: list[PySpyRecord]) -> PySpyRecord:
        return children[0]

    def process_line(self, children: list[Token | None]) -> PySpyRecord:
        return self._process("process", _tokens(children))

    def parent_line(self, children: list[Token | None]) -> PySpyRecord:
        return self._process("parent", _tokens(children))

    @staticmethod
    def _process(kind: str, tokens: dict[str, str]) -> PySpyRecord:
        command = tokens.get("COMMAND", "")[1:]
        return PySpyRecord(kind, pid=int(tokens["PID"]), command=command or None)

    def python_line(self, children: list[Token | None]) -> PySpyRecord:
        tokens = _tokens(children)
        executable = tokens.get("EXECUTABLE")
        return PySpyRecord(
            "python",
            python_version=tokens["VERSION"],
            executable=executable[2:-1] if executable is not None else None,
        )

    def thread_line(self, children: list[Token | None]) -> PySpyRecord:
        tokens = _tokens(children)
        thread_id = tokens["THREAD_ID"]
        state = tokens["STATE"][2:-1]
        name = tokens.get("THREAD_NAME")
        hex_id = thread_id.startswith("0x")
        return PySpyRecord(
            "thread",
            thread_id=thread_id,
            native_tid=None if hex_id else int(thread_id),
            pthread_id=int(thread_id, 16) if hex_id else None,
            state="idle" if state == "idle" else "active",
            holds_gil=state == "active+gil",
            name=name[3:-1] if name is not None else None,
        )

    def frame_line(self, children: list[Token | None]) -> PySpyRecord:
        tokens = _tokens(children)
        location = tokens.get("LOCATION")
        fields = frame_fields(tokens["FUNCTION"], location[2:-1] if location else None)
        return PySpyRecord("frame", **fields)  # type: ignore[arg-type]

    def section_line(self, children: list[Token | None]) -> PySpyRecord:
        section = _tokens(children)["SECTION"]
        return PySpyRecord("section", section=section.rstrip(":").lower())

    def local_line(self, children: list[Token | None]) -> PySpyRecord:
        tokens = _tokens(children)
        return PySpyRecord("local", local_name=tokens["LOCAL_NAME"], repr=tokens["LOCAL_REPR"][2:])

    def date_line(self, children: list[Token]) -> PySpyRecord:
        token = children[0]
        return PySpyRecord("date", time_text=token.value, ts=date_ts(token.type, token.value))

    def message_line(self, children: list[Token]) -> PySpyRecord:
        return PySpyRecord("message", text=children[0].value)

    def separator_line(self, children: list[Token]) -> PySpyRecord:
        return SEPARATOR

    def blank_line(self, children: list[Token | None]) -> PySpyRecord:
        return BLANK


_TRANSFORMER = _ToRecord()


def parse_line(text: str) -> PySpyRecord | Unparsed:
    """Parse one line of `py-spy dump` output (without its newline) into a record."""
    return grammar.parse_record(_parser(), _TRANSFORMER, text, "not py-spy dump output", Unparsed)
