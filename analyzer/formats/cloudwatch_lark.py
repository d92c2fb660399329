"""Parser for the CSV form of CloudWatch metrics, driven by `grammars/cloudwatch_csv.lark`.

`parse_line(text)` reduces one CSV line to a `CsvRecord` (rules in
`analyzer.formats.cloudwatch_record`) or `Unparsed(reason)`. Metric CSVs are small (one row
per period of a graph), so the grammar reads every line: there is no fast path.
"""

from __future__ import annotations

from functools import cache

from lark import Lark, Token, Transformer

from analyzer.formats import grammar
from analyzer.formats.cloudwatch_record import BLANK, CsvRecord, Unparsed, iso_ts

__all__ = ["build_parser", "parse_line"]

GRAMMAR = "cloudwatch_csv.lark"
START_SYMBOLS: tuple[str, ...] = ("line",)


def build_parser(*, strict: bool = False) -> Lark:
    """A new LALR parser for `grammars/cloudwatch_csv.lark`."""
    return grammar.build(GRAMMAR, START_SYMBOLS, strict=strict)


@cache
def _parser() -> Lark:
    return build_parser()


def _label(token: Token) -> str:
    if token.type == "QUOTED_LABEL":
        return token.value[1:-1].replace('""', '"')
    return token.value


class _ToRecord(Transformer[Token, CsvRecord]):
    def line(self, children: list[CsvRecord]) -> CsvRecord:
        return children[0]

    def header_line(self, children: list[Token]) -> CsvRecord:
        labels = tuple(_label(child) for child in children if child.type != "COMMA")
        return CsvRecord("header", labels=labels)

    def row_line(self, children: list[Token | None]) -> CsvRecord:
        time = children[0]
        assert time is not None
        values: list[float | None] = []
        # cells follow each COMMA: a NUMBER, or None (maybe_placeholders) when empty
        for index, child in enumerate(children[1:], 1):
            if child is not None and child.type == "COMMA":
                cell = children[index + 1] if index + 1 < len(children) else None
                values.append(
                    float(cell.value) if cell is not None and cell.type == "NUMBER" else None
                )
        return CsvRecord("row", time_text=time.value, ts=iso_ts(time.value), values=tuple(values))

    def blank_line(self, children: list[Token | None]) -> CsvRecord:
        return BLANK


_TRANSFORMER = _ToRecord()


def parse_line(text: str) -> CsvRecord | Unparsed:
    """Parse one CSV line (without its newline) into a record."""
    what = "not a CloudWatch CSV line"
    return grammar.parse_record(_parser(), _TRANSFORMER, text, what, Unparsed)
