"""Reference parser for sysstat `iostat` text, driven by the grammar `grammars/iostat.lark`.

The slow-but-obviously-correct parser: every line goes through an LALR parser built from the
grammar. The fast scanner (`iostat_scan`) must produce the same `IostatRecord` for every line
it reads; tests compare the two. `parse_line(text)` reduces one line to an `IostatRecord`
(field rules in `analyzer.formats.iostat_record`) or to `Unparsed(reason)`.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from lark import Lark, Token, Transformer

from analyzer.formats import grammar
from analyzer.formats.iostat_record import (
    BLANK,
    IostatRecord,
    Unparsed,
    iso_stamp_fields,
    number,
    parse_day,
    stamp_fields,
)

__all__ = ["build_parser", "parse_line"]

GRAMMAR = "iostat.lark"
START_SYMBOLS: tuple[str, ...] = ("line",)


def build_parser(*, strict: bool = False) -> Lark:
    """A new LALR parser for `grammars/iostat.lark`."""
    return grammar.build(GRAMMAR, START_SYMBOLS, strict=strict)


@cache
def _parser() -> Lark:
    return build_parser()


class _DateText(NamedTuple):
    """What the `date` sub-rule gives: the date as printed."""

    text: str


def _date_text(children: list[object]) -> str | None:
    return next((child.text for child in children if isinstance(child, _DateText)), None)


def _named(children: list[object]) -> dict[str, str]:
    """The line's single-occurrence terminals by type (SEP excluded)."""
    return {
        child.type: child.value
        for child in children
        if isinstance(child, Token) and child.type != "SEP"
    }


class _ToRecord(Transformer[Token, IostatRecord]):
    """Each line rule -> its `IostatRecord`; sub-rules -> plain values."""

    def line(self, children: list[IostatRecord]) -> IostatRecord:
        return children[0]

    def date(self, children: list[Token]) -> _DateText:
        return _DateText(children[0].value)

    def numbers(self, children: list[object]) -> tuple[float, ...]:
        values: list[float] = []
        for child in children:
            if isinstance(child, tuple) and not isinstance(child, _DateText):
                values.extend(child)
            elif isinstance(child, Token) and child.type == "NUMBER":
                values.append(number(child.value))
        return tuple(values)

    def _names(self, children: list[object], terminal: str) -> tuple[str, ...]:
        names: list[str] = []
        for child in children:
            if isinstance(child, tuple):
                names.extend(child)
            elif isinstance(child, Token) and child.type == terminal:
                names.append(child.value)
        return tuple(names)

    def cpu_columns(self, children: list[object]) -> tuple[str, ...]:
        return self._names(children, "CPU_COLUMN")

    def device_columns(self, children: list[object]) -> tuple[str, ...]:
        return self._names(children, "COLUMN")

    def banner_line(self, children: list[object]) -> IostatRecord:
        tokens = _named(children)
        date_text = _date_text(children)
        day = parse_day(date_text) if date_text is not None else None
        cpus = tokens.get("CPUS")
        return IostatRecord(
            "banner",
            system=tokens["SYSTEM"].strip(),
            kernel=tokens["KERNEL"],
            host=tokens["HOST"][1:-1],
            date_text=date_text,
            day=day.isoformat() if day is not None else None,
            arch=tokens.get("ARCH"),
            cpus=int(cpus[1:].split(" ")[0]) if cpus is not None else None,
        )

    def time_line(self, children: list[object]) -> IostatRecord:
        tokens = _named(children)
        if "ISO_STAMP" in tokens:
            text = tokens["ISO_STAMP"]
            return IostatRecord("time", time_text=text, **iso_stamp_fields(text))  # type: ignore[arg-type]
        date_text = _date_text(children)
        assert date_text is not None
        ampm = tokens.get("AMPM")
        text = f"{date_text} {tokens['CLOCK']}" + (f" {ampm}" if ampm else "")
        fields = stamp_fields(date_text, tokens["CLOCK"], ampm)
        return IostatRecord("time", time_text=text, **fields)  # type: ignore[arg-type]

    def cpu_header_line(self, children: list[object]) -> IostatRecord:
        columns = next(child for child in children if isinstance(child, tuple))
        return IostatRecord("cpu_header", columns=columns)

    def device_header_line(self, children: list[object]) -> IostatRecord:
        columns = next(child for child in children if isinstance(child, tuple))
        return IostatRecord("device_header", columns=columns)

    def values_line(self, children: list[object]) -> IostatRecord:
        values = next(child for child in children if isinstance(child, tuple))
        return IostatRecord("values", values=values)

    def device_line(self, children: list[object]) -> IostatRecord:
        values = next(child for child in children if isinstance(child, tuple))
        return IostatRecord("device", device=_named(children)["DEVICE"], values=values)

    def blank_line(self, children: list[object]) -> IostatRecord:
        return BLANK


_TRANSFORMER = _ToRecord()


def parse_line(text: str) -> IostatRecord | Unparsed:
    """Parse one line of `iostat` output (without its newline) into a record."""
    return grammar.parse_record(_parser(), _TRANSFORMER, text, "not iostat output", Unparsed)
