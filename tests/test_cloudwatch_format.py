"""CloudWatch exports: the JSON shape check, `grammars/cloudwatch_csv.lark` and `cloud_metrics`.

The constructed exports are compared with the series `make_fixtures.py` wrote them from
(`fixtures/cloudwatch/truth.json`); the AWS CLI documentation example with the datapoints
it lists.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.formats import cloudwatch, cloudwatch_lark
from analyzer.formats.cloudwatch_record import CsvRecord, Unparsed
from analyzer.inputs import iter_line_chunks

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cloudwatch"
FILES = sorted(
    [*FIXTURES.glob("*.json"), *FIXTURES.glob("*.csv"), *(FIXTURES / "public").glob("*.json")]
)
FILES = [path for path in FILES if path.name != "truth.json"]
TRUTH = json.loads((FIXTURES / "truth.json").read_text())
START = datetime.fromisoformat(TRUTH["start"])


def _parse(path: Path) -> cloudwatch.ParsedCloudWatch:
    with path.open("rb") as stream:
        return cloudwatch.parse(iter_line_chunks(stream), path.name)


def _parse_text(text: str) -> cloudwatch.ParsedCloudWatch:
    return cloudwatch.parse(iter_line_chunks(io.BytesIO(text.encode())), "x")


def _ts(minute: int) -> float:
    return (START + timedelta(minutes=minute)).timestamp()


def test_grammar_compiles_strictly() -> None:
    assert cloudwatch_lark.build_parser(strict=True).options.start == ["line"]


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_line_is_parsed(path: Path) -> None:
    parsed = _parse(path)
    assert parsed.unparsed.num_rows == 0, parsed.unparsed.to_pylist()
    assert parsed.line_count == len(path.read_text().rstrip("\n").split("\n"))
    assert parsed.tables["cloud_metrics"].schema == cloudwatch.CLOUD_METRICS.schema
    assert cloudwatch.sniff(path.read_bytes()) == 1.0


def test_get_metric_data_matches_the_series() -> None:
    rows = _parse(FIXTURES / "get_metric_data_ebs_throttle.json").tables["cloud_metrics"]
    rows_by_metric: dict[str, dict[float, float]] = {}
    for row in rows.to_pylist():
        assert row["source"] == "get-metric-data" and row["stat"] is None
        rows_by_metric.setdefault(row["metric"], {})[row["ts"]] = row["value"]
    for metric, values in TRUTH["series"].items():
        minutes = (
            TRUTH["partial_write_bytes_minutes"]
            if metric == "VolumeWriteBytes"
            else range(TRUTH["minutes"])
        )
        assert rows_by_metric[metric] == {_ts(m): values[m] for m in minutes}, metric
    statuses = {row["metric"]: row["status_code"] for row in rows.to_pylist()}
    assert statuses["VolumeWriteBytes"] == "PartialData"
    assert statuses["BurstBalance"] == "Complete"


def test_get_metric_statistics_rows_per_statistic() -> None:
    parsed = _parse(FIXTURES / "get_metric_statistics_loop.json")
    rows = parsed.tables["cloud_metrics"].to_pylist()
    assert {row["document"] for row in rows} == {0, 1}
    cpu = {(row["ts"], row["stat"]): row for row in rows if row["metric"] == "CPUUtilization"}
    for minute, value in enumerate(TRUTH["series"]["CPUUtilization"]):
        assert cpu[(_ts(minute), "Average")]["value"] == value
        assert cpu[(_ts(minute), "Average")]["unit"] == "Percent"
    assert {stat for _, stat in cpu} == {"Average", "Maximum", "SampleCount"}
    p99 = [row for row in rows if row["metric"] == "VolumeQueueLength"]
    assert {row["stat"] for row in p99} == {"p99"} and len(p99) == TRUTH["minutes"]


def test_csv_matches_the_series_and_skips_empty_cells() -> None:
    rows = _parse(FIXTURES / "graph_cpu_ebs.csv").tables["cloud_metrics"].to_pylist()
    for metric in ("CPUUtilization", "VolumeQueueLength", "BurstBalance"):
        got = {row["ts"]: row["value"] for row in rows if row["metric"] == metric}
        missing = TRUTH["csv_missing"].get(metric, [])
        expected = {_ts(m): v for m, v in enumerate(TRUTH["series"][metric]) if m not in missing}
        assert got == expected, metric


def test_the_aws_cli_documentation_example() -> None:
    path = FIXTURES / "public" / "aws_cli_example_get_metric_statistics.json"
    rows = _parse(path).tables["cloud_metrics"].to_pylist()
    assert len(rows) == 23
    assert {(row["metric"], row["stat"], row["unit"]) for row in rows} == {
        ("CPUUtilization", "Maximum", "Percent")
    }
    peak = max(rows, key=lambda row: row["value"])
    assert peak["value"] == 76.84
    assert peak["ts"] == datetime.fromisoformat("2014-04-09T03:18:00+00:00").timestamp()


def test_shape_errors_are_unparsed_with_the_reason() -> None:
    # hand-written documents
    bad = _parse_text(
        '{"MetricDataResults": [{"Id": "m1", "Timestamps": ["2026-12-05T08:00:00Z"], '
        '"Values": []}]}\n'
    )
    assert bad.unparsed.num_rows == 1
    assert "1 Timestamps but 0 Values" in bad.unparsed["reason"][0].as_py()
    broken = _parse_text('{"Datapoints": [\n{"Timestamp": "x"\n')
    assert broken.unparsed.num_rows == 2
    assert broken.unparsed["reason"][0].as_py().startswith("JSON document 0 (lines 1-2): not JSON")
    other = _parse_text('{"Metrics": []}\n')
    assert "neither MetricDataResults" in other.unparsed["reason"][0].as_py()
    good_then_bad = _parse_text(
        '{"Label": "X", "Datapoints": []}\n'
        '{"Label": "Y", "Datapoints": [{"Timestamp": "2026-12-05T08:00:00Z"}]}\n'
    )
    assert good_then_bad.unparsed["line_no"].to_pylist() == [2]


def test_csv_rows_that_do_not_fit_the_header() -> None:
    parsed = _parse_text("Time,A,B\n2026-12-05T08:00:00Z,1\nx\n2026-12-05T08:01:00Z,1,2\n")
    assert parsed.unparsed["reason"].to_pylist()[0] == "1 cells after the time, header has 2"
    assert parsed.tables["cloud_metrics"].num_rows == 2


@settings(max_examples=300, deadline=None)
@given(
    labels=st.lists(
        st.text(
            alphabet=st.characters(blacklist_characters='\n\r",', blacklist_categories=("Cs",)),
            min_size=1,
            max_size=12,
        ).filter(lambda s: not s[0].isspace() and not s[0].isdigit()),
        min_size=2,
        max_size=5,
    ),
    quoted=st.booleans(),
)
def test_generated_headers(labels: list[str], quoted: bool) -> None:
    cells = [f'"{label}"' if quoted else label for label in labels]
    record = cloudwatch_lark.parse_line(",".join(cells))
    assert isinstance(record, CsvRecord) and record.kind == "header"
    assert record.labels == tuple(labels)


@settings(max_examples=300, deadline=None)
@given(
    seconds=st.integers(0, 4_000_000_000),
    values=st.lists(
        st.one_of(st.none(), st.floats(-1e12, 1e12, allow_nan=False)), min_size=1, max_size=6
    ),
    form=st.sampled_from(["iso_z", "iso_offset", "space", "epoch_ms"]),
)
def test_generated_rows(seconds: int, values: list[float | None], form: str) -> None:
    moment = datetime.fromtimestamp(seconds).astimezone()
    utc = datetime.utcfromtimestamp(seconds)
    text = {
        "iso_z": utc.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "iso_offset": moment.isoformat(),
        "space": utc.strftime("%Y-%m-%d %H:%M:%S"),
        "epoch_ms": str(seconds * 1000).rjust(13, "0"),
    }[form]
    if form == "epoch_ms" and seconds < 10**9:
        return  # 13 digits only
    line = text + "".join("," + ("" if value is None else repr(value)) for value in values)
    record = cloudwatch_lark.parse_line(line)
    assert isinstance(record, CsvRecord) and record.kind == "row", line
    assert record.ts == seconds
    assert record.values == tuple(values)


def test_not_csv() -> None:
    assert isinstance(cloudwatch_lark.parse_line("x"), Unparsed)
