"""AWS CloudWatch metric exports: detection, and a document -> the `cloud_metrics` table.

Three shapes are read (see fixtures/cloudwatch/PROVENANCE.md for where each shape is from):

- `aws cloudwatch get-metric-data` JSON: ``{"MetricDataResults": [{"Id", "Label",
  "Timestamps": [...], "Values": [...], "StatusCode", "Messages"}], "NextToken"?,
  "Messages"?}``: one row per (result, timestamp); ``stat`` is null (the query's stat is
  not in the output), ``metric`` is the ``Label``;
- `aws cloudwatch get-metric-statistics` JSON: ``{"Label", "Datapoints": [{"Timestamp",
  "Average"|"Maximum"|"Minimum"|"Sum"|"SampleCount", "ExtendedStatistics"?, "Unit"}]}``:
  one row per (datapoint, statistic), ``metric`` is the ``Label``;
- a CSV of a graph's data: a header (time column, then one label per metric) and one row
  per timestamp: one row per non-empty cell.

WHY NO GRAMMAR FOR THE JSON: JSON is not line-oriented and Python's `json` module is a
complete, strict JSON parser; a Lark JSON grammar would only restate it. What the format
adds on top of JSON is its shape, and that is checked here in Python (`_results` and
`_datapoints`: the keys, their types, Timestamps and Values of equal length, known status
codes). Several documents one after another (a shell loop appending CLI outputs) are read
in turn. The CSV is line-oriented and has its grammar, `grammars/cloudwatch_csv.lark`.

Line accounting: a JSON document's lines are all parsed when the document is valid JSON of
a known shape; otherwise every line of it is unparsed with the reason (the JSON error and
its line, or the shape problem). CSV lines are parsed one by one; a row whose cell count
differs from the header's is unparsed.

Timestamps are UTC in every shape (the CLI prints ``Z`` or ``+00:00``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from analyzer.formats.cloudwatch_lark import parse_line
from analyzer.formats.cloudwatch_record import CsvRecord, Unparsed, iso_ts
from analyzer.inputs import LineChunk
from analyzer.schema import Column, TableSpec, unparsed_table

__all__ = ["ENGINES", "NAME", "SPECS", "ParsedCloudWatch", "input_report", "parse", "sniff"]

NAME = "cloudwatch"
ENGINES: tuple[str, ...] = ("fast", "lark")
"""Both engines read the same way: the exports are small (one value per period)."""

STATISTICS: tuple[str, ...] = ("Average", "Maximum", "Minimum", "Sum", "SampleCount")
STATUS_CODES = frozenset({"Complete", "InternalError", "PartialData", "Forbidden"})

CLOUD_METRICS = TableSpec(
    "cloud_metrics",
    "One row per metric value of a CloudWatch export (get-metric-data, "
    "get-metric-statistics or a graph's CSV).",
    (
        Column("input", pa.string(), "Path of the input the row came from (`-` for stdin)."),
        Column(
            "source",
            pa.string(),
            "get-metric-data, get-metric-statistics or csv: the shape the row was read from.",
        ),
        Column("document", pa.int64(), "0-based index of the JSON document in the input."),
        Column(
            "line_no",
            pa.int64(),
            "Line of the CSV row, or of the value's Timestamp in a JSON document (null when "
            "it cannot be found there).",
        ),
        Column("ts", pa.float64(), "Start of the datapoint's period, epoch seconds (UTC).", "s"),
        Column(
            "namespace",
            pa.string(),
            "Metric namespace (AWS/EC2, AWS/EBS) when the export names it; none of the "
            "three shapes does, so it is null unless a later stage adds it.",
        ),
        Column(
            "metric",
            pa.string(),
            "Metric name or label: get-metric-statistics' Label (the metric name), "
            "get-metric-data's Label (the metric name unless the query set a label), the "
            "CSV column's header.",
        ),
        Column("query_id", pa.string(), "get-metric-data: the query's Id (m1, ebs_read ...)."),
        Column(
            "dimension",
            pa.string(),
            "Volume, instance or other dimension value when the export names it (null: none "
            "of the shapes carries dimensions).",
        ),
        Column(
            "stat",
            pa.string(),
            "get-metric-statistics: Average, Maximum, Minimum, Sum, SampleCount or an "
            "extended statistic (p99); null for get-metric-data and CSV (not in the output).",
        ),
        Column("value", pa.float64(), "The value."),
        Column("unit", pa.string(), "get-metric-statistics' Unit (Percent, Bytes, Count ...)."),
        Column(
            "status_code",
            pa.string(),
            "get-metric-data: Complete, PartialData, InternalError or Forbidden.",
        ),
    ),
)

SPECS: tuple[TableSpec, ...] = (CLOUD_METRICS,)


class ShapeError(ValueError):
    """A JSON document that is not a get-metric-data/get-metric-statistics output."""


def _results(document: dict[str, Any]) -> list[dict[str, Any]]:
    """get-metric-data rows of one document (shape checked)."""
    results = document["MetricDataResults"]
    if not isinstance(results, list):
        raise ShapeError("MetricDataResults is not a list")
    rows: list[dict[str, Any]] = []
    for index, result in enumerate(results):
        if not isinstance(result, dict):
            raise ShapeError(f"MetricDataResults[{index}] is not an object")
        stamps = result.get("Timestamps", [])
        values = result.get("Values", [])
        if not isinstance(stamps, list) or not isinstance(values, list):
            raise ShapeError(f"MetricDataResults[{index}]: Timestamps/Values are not lists")
        if len(stamps) != len(values):
            raise ShapeError(
                f"MetricDataResults[{index}]: {len(stamps)} Timestamps but {len(values)} Values"
            )
        status = result.get("StatusCode")
        if status is not None and status not in STATUS_CODES:
            raise ShapeError(f"MetricDataResults[{index}]: unknown StatusCode {status!r}")
        for stamp, value in zip(stamps, values, strict=True):
            rows.append(
                {
                    "source": "get-metric-data",
                    "ts": _stamp(stamp, f"MetricDataResults[{index}]"),
                    "stamp": stamp,
                    "metric": result.get("Label"),
                    "query_id": result.get("Id"),
                    "value": _number(value, f"MetricDataResults[{index}]"),
                    "status_code": status,
                }
            )
    return rows


def _datapoints(document: dict[str, Any]) -> list[dict[str, Any]]:
    """get-metric-statistics rows of one document (shape checked)."""
    points = document["Datapoints"]
    if not isinstance(points, list):
        raise ShapeError("Datapoints is not a list")
    rows: list[dict[str, Any]] = []
    for index, point in enumerate(points):
        where = f"Datapoints[{index}]"
        if not isinstance(point, dict) or "Timestamp" not in point:
            raise ShapeError(f"{where} is not an object with a Timestamp")
        ts = _stamp(point["Timestamp"], where)
        stats = [(name, point[name]) for name in STATISTICS if name in point]
        stats += sorted((point.get("ExtendedStatistics") or {}).items())
        if not stats:
            raise ShapeError(f"{where} has no statistic")
        for stat, value in stats:
            rows.append(
                {
                    "source": "get-metric-statistics",
                    "ts": ts,
                    "stamp": point["Timestamp"],
                    "point": index,
                    "metric": document.get("Label"),
                    "stat": stat,
                    "value": _number(value, where),
                    "unit": point.get("Unit"),
                }
            )
    return rows


def _stamp(value: object, where: str) -> float:
    ts = iso_ts(value) if isinstance(value, str) else None
    if ts is None:
        raise ShapeError(f"{where}: timestamp {value!r} is not ISO 8601")
    return ts


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ShapeError(f"{where}: value {value!r} is not a number")
    return float(value)


def document_rows(document: object) -> list[dict[str, Any]]:
    """The rows of one decoded JSON document, or ShapeError."""
    if not isinstance(document, dict):
        raise ShapeError("the JSON document is not an object")
    if "MetricDataResults" in document:
        return _results(document)
    if "Datapoints" in document:
        return _datapoints(document)
    raise ShapeError(
        "neither MetricDataResults (get-metric-data) nor Datapoints (get-metric-statistics)"
    )


def _json_documents(text: str) -> list[tuple[int, int, object | Exception]]:
    """(first line, last line, document or error) for each JSON document in the text."""
    decoder = json.JSONDecoder()
    found: list[tuple[int, int, object | Exception]] = []
    position = 0
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position >= len(text):
            return found
        first = text.count("\n", 0, position) + 1
        try:
            document, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            found.append((first, text.count("\n") + 1, error))
            return found
        found.append((first, text.count("\n", 0, end) + 1, document))
        position = end


def sniff(head: bytes) -> float:
    """How much the first bytes look like a CloudWatch export (0..1).

    JSON: an object whose first key is ``MetricDataResults``, or that has ``Datapoints``
    and ``Label`` near the start. CSV: a header line then rows the grammar reads, with a
    time in the first column.
    """
    text = head.decode("utf-8", errors="replace").lstrip()
    if text.startswith("{"):
        start = text[:400]
        if '"MetricDataResults"' in start:
            return 1.0
        if '"Datapoints"' in start and ('"Label"' in text or '"Timestamp"' in start):
            return 1.0
        return 0.0
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if len(head) >= 4096 and len(lines) > 1:
        lines.pop()
    lines = [line for line in lines if line.strip()][:20]
    if len(lines) < 2:
        return 0.0
    records = [parse_line(line) for line in lines]
    if not isinstance(records[0], CsvRecord) or records[0].kind != "header":
        return 0.0
    rows = [r for r in records[1:] if isinstance(r, CsvRecord) and r.kind == "row"]
    if not rows or any(len(r.values or ()) != len(records[0].labels or ()) - 1 for r in rows):
        return 0.0
    return len(rows) / (len(lines) - 1)


@dataclass(frozen=True)
class ParsedCloudWatch:
    """What parsing one CloudWatch export produced."""

    tables: dict[str, pa.Table]
    unparsed: pa.Table
    line_count: int
    non_utf8_lines: int
    shape: str
    """json, csv or unknown."""


def _table(rows: list[dict[str, Any]], input_name: str) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in CLOUD_METRICS.names}
    for row in rows:
        row["input"] = input_name
        for name in CLOUD_METRICS.names:
            columns[name].append(row.get(name))
    return pa.table(columns, schema=CLOUD_METRICS.schema)


def _stamp_lines(text: str, start: int, first: int, rows: list[dict[str, Any]]) -> None:
    """Set each row's ``line_no`` to the line of its Timestamp in the document that begins at
    character `start` (line `first`): the rows come in the document's order, so each stamp is
    looked for after the previous one (the values of one get-metric-statistics datapoint
    share its line)."""
    cursor, line = start, first
    last_key: tuple[object, object] | None = None
    last_line: int | None = None
    for row in rows:
        stamp = row.pop("stamp", None)
        key = (row.pop("point", None), stamp)
        if key == last_key and key[0] is not None:
            row["line_no"] = last_line
            continue
        position = text.find(json.dumps(stamp), cursor) if isinstance(stamp, str) else -1
        if position < 0:
            row["line_no"] = None
            continue
        line += text.count("\n", cursor, position)
        cursor = position
        row["line_no"] = last_line = line
        last_key = key


def _parse_json(lines: list[str]) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
    rows: list[dict[str, Any]] = []
    rejected: list[tuple[int, str, str]] = []
    text = "\n".join(lines)
    for index, (first, last, document) in enumerate(_json_documents(text)):
        try:
            if isinstance(document, Exception):
                raise ShapeError(f"not JSON: {document}")
            found = document_rows(document)
        except ShapeError as error:
            reason = f"JSON document {index} (lines {first}-{last}): {error}"
            rejected.extend((n, lines[n - 1], reason) for n in range(first, last + 1))
            continue
        for row in found:
            row["document"] = index
        _stamp_lines(text, _line_start(text, first), first, found)
        rows.extend(found)
    return rows, rejected


def _line_start(text: str, line: int) -> int:
    """The character offset where 1-based `line` of `text` begins."""
    position = 0
    for _ in range(line - 1):
        position = text.index("\n", position) + 1
    return position


def _parse_csv(lines: list[str]) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
    rows: list[dict[str, Any]] = []
    rejected: list[tuple[int, str, str]] = []
    labels: tuple[str, ...] | None = None
    for line_no, text in enumerate(lines, 1):
        record = parse_line(text)
        if isinstance(record, Unparsed):
            rejected.append((line_no, text, record.reason))
        elif record.kind == "header":
            labels = record.labels
        elif record.kind == "row":
            values = record.values or ()
            if labels is None:
                rejected.append((line_no, text, "row before the CSV header"))
            elif len(values) != len(labels) - 1:
                reason = f"{len(values)} cells after the time, header has {len(labels) - 1}"
                rejected.append((line_no, text, reason))
            elif record.ts is None:
                rejected.append((line_no, text, f"impossible time {record.time_text!r}"))
            else:
                for label, value in zip(labels[1:], values, strict=True):
                    if value is not None:
                        rows.append(
                            {
                                "source": "csv",
                                "line_no": line_no,
                                "ts": record.ts,
                                "metric": label,
                                "value": value,
                            }
                        )
    return rows, rejected


def parse(
    chunks: Iterable[LineChunk], input_name: str, *, engine: str = "fast", threads: int = 1
) -> ParsedCloudWatch:
    """Parse one export: JSON documents or a CSV, by its first non-blank character."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    lines: list[str] = []
    non_utf8 = 0
    for chunk in chunks:
        lines.extend(chunk.lines.to_pylist())
        non_utf8 += chunk.non_utf8_lines
    first = next((line.lstrip() for line in lines if line.strip()), "")
    if first.startswith(("{", "[")):
        shape = "json"
        rows, rejected = _parse_json(lines)
    else:
        shape = "csv" if first else "unknown"
        rows, rejected = _parse_csv(lines)
    return ParsedCloudWatch(
        {CLOUD_METRICS.name: _table(rows, input_name)},
        unparsed_table(input_name, rejected),
        len(lines),
        non_utf8,
        shape,
    )


def input_report(parsed: ParsedCloudWatch) -> dict[str, Any]:
    """The CloudWatch keys of an `inputs[]` entry: shape, metrics, values, time span."""
    table = parsed.tables[CLOUD_METRICS.name]
    stamps = table["ts"].to_pylist()
    statuses = [status for status in table["status_code"].to_pylist() if status]
    return {
        "parsed_lines": parsed.line_count - parsed.unparsed.num_rows,
        "shape": parsed.shape,
        "metrics": sorted({metric for metric in table["metric"].to_pylist() if metric}),
        "values": table.num_rows,
        "values_not_complete": sum(1 for status in statuses if status != "Complete"),
        "first_ts": min(stamps) if stamps else None,
        "last_ts": max(stamps) if stamps else None,
    }
