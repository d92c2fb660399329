"""Tests of the output side (`analyzer.render`): registry, text, Markdown, HTML, JSON, Parquet.

The report below is a HAND-BUILT EXAMPLE written for these tests, not captured data: the
numbers are made up to be easy to check, and one field carries hostile text to test escaping.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analyzer.model import AnalysisResult
from analyzer.render import (
    RENDERERS,
    HtmlRenderer,
    JsonRenderer,
    MarkdownRenderer,
    ParquetRenderer,
    Renderer,
    RenderError,
    TextRenderer,
    formatting,
    renderer_for,
    renderer_for_path,
    templates,
)
from analyzer.render.sections import SECTION_ORDER, section_modules, section_names
from analyzer.render.templates import section_partials
from analyzer.render.view import ReportView
from analyzer.resources import reports_dir
from analyzer.sources import SOURCES

HOSTILE = "</script><b>bold</b>"


def _stats(calls: int, errors: int, total: float, mx: float) -> dict[str, Any]:
    avg = total / calls
    return {
        "calls": calls,
        "errors": errors,
        "total_s": total,
        "min_s": avg / 4,
        "avg_s": avg,
        "p50_s": avg / 2,
        "p95_s": mx * 0.8,
        "p99_s": mx * 0.95,
        "max_s": mx,
    }


def _thread(tid: int, comm: str, syscall: str, stats: dict[str, Any]) -> dict[str, Any]:
    return {"tid": tid, "pid": 100, "comm": comm, "syscall": syscall, **stats}


def example_report() -> dict[str, Any]:
    """A hand-built `iodiag.report/1` document (not captured data)."""
    return {
        "schema": "iodiag.report/1",
        "tool": {"name": "iodiag", "version": "0.1.0"},
        "inputs": [
            {
                "path": "/tmp/example/app.strace.gz",
                "format": "strace",
                "compression": "gzip",
                "lines": 1234,
                "parsed_lines": 1230,
                "unparsed_lines": 4,
                "non_utf8_lines": 1,
                "unparsed_samples": [
                    {"line": 17, "text": "garbage | with ` pipe", "reason": "no syscall"},
                    {"line": 99, "text": HOSTILE, "reason": "truncated line"},
                ],
                "clock": "clock",
                "first_ts": 50_000.25,
                "last_ts": 50_012.75,
                "wall_s": 12.5,
                "has_durations": True,
                "line_kinds": {"syscall": 1200, "unfinished": 15, "resumed": 15, "exit": 4},
            }
        ],
        "syscalls": [
            {"syscall": "fsync", **_stats(40, 0, 3.2, 0.512)},
            {"syscall": "read", **_stats(900, 12, 0.75, 0.05)},
            {"syscall": "openat", **_stats(120, 30, 0.0041, 0.000041)},
        ],
        "syscalls_by_thread": [
            _thread(101, "worker", "fsync", _stats(40, 0, 3.2, 0.512)),
            _thread(101, "worker", "read", _stats(500, 2, 0.5, 0.05)),
            _thread(102, "io", "read", _stats(400, 10, 0.25, 0.04)),
            _thread(102, "io", "openat", _stats(120, 30, 0.0041, 4.1e-5)),
        ],
        "errors": [
            {"syscall": "openat", "errno": "ENOENT", "count": 30},
            {"syscall": "read", "errno": "EAGAIN", "count": 12},
        ],
        "targets": [
            {
                "target": "/var/lib/db/data_01.wal",
                "target_kind": "file",
                "calls": 40,
                "total_s": 3.2,
                "max_s": 0.512,
                "syscalls": ["fsync"],
            },
            {
                "target": "TCP:[10.0.0.1:5432->10.0.0.2:40000]",
                "target_kind": "socket",
                "calls": 900,
                "total_s": 0.75,
                "max_s": 0.05,
                "syscalls": ["read"],
            },
        ],
        "in_flight": [
            {
                "tid": 102,
                "syscall": "futex",
                "start": 50_010.5,
                "waited_s": 2.25,
                "target": None,
                "line": 1201,
            }
        ],
        "no_return": {"count": 3, "by_syscall": {"exit_group": 2, "exit": 1}},
        "tasks": {
            "processes": 1,
            "threads": 3,
            "peak_threads": 3,
            "exited": 2,
            "killed": [{"tid": 103, "signal": "SIGKILL"}],
        },
        "strace_summary": {
            "rows": [{"syscall": "fsync", "calls": 40, "errors": 0, "seconds": 3.2}],
            "matches": False,
            "mismatches": [{"syscall": "read", "field": "calls", "ours": 900, "theirs": 901}],
        },
        "verdict": {
            "conclusions": [
                {
                    "rank": 1,
                    "finding": 0,
                    "code": "IOD101",
                    "kind": "slow_syscall",
                    "severity": "warning",
                    "headline": f"slow fsync on WAL {HOSTILE}",
                    "message": "40 fsync calls took 3.2 s",
                    "cost_s": 3.2,
                    "fix": "batch writes per fsync",
                }
            ],
            "limits": ["strace without -f cannot show other threads"],
        },
        "findings": [
            {
                "code": "IOD101",
                "kind": "slow_syscall",
                "severity": "warning",
                "title": f"slow fsync on WAL {HOSTILE}",
                "message": "fsync took 512 ms",
                "pid": 100,
                "tid": 101,
                "start": 50_003.0,
                "duration_s": 0.512,
                "evidence": {"line": 345, "target": HOSTILE, "ratio": float("nan")},
            }
        ],
    }


def example_table() -> pa.Table:
    """A small hand-built `calls`-like table with schema and field metadata."""
    schema = pa.schema(
        [
            pa.field("input", pa.string()),
            pa.field("tid", pa.int32(), metadata={"doc": "thread id"}),
            pa.field("syscall", pa.dictionary(pa.int32(), pa.string())),
            pa.field("dur_s", pa.float64(), metadata={"doc": "duration", "unit": "s"}),
        ],
        metadata={"iodiag.schema": "calls/1", "iodiag.version": "0.1.0"},
    )
    return pa.table(
        {
            "input": ["app.strace.gz"] * 3,
            "tid": pa.array([101, 101, 102], pa.int32()),
            "syscall": pa.array(["fsync", "read", "read"]).dictionary_encode(),
            "dur_s": [0.512, 0.05, 0.04],
        },
        schema=schema,
    )


@pytest.fixture
def result() -> AnalysisResult:
    return AnalysisResult(report=example_report(), tables={"calls": example_table()})


@pytest.fixture
def empty_result() -> AnalysisResult:
    return AnalysisResult(
        report={"schema": "iodiag.report/1", "tool": {"name": "iodiag", "version": "0"}}
    )


# --------------------------------------------------------------------------- registry


def test_registry_by_name() -> None:
    assert set(RENDERERS) == {
        "text", "md", "html", "json", "parquet", "folded", "flamegraph", "speedscope",
        "perfetto",
        "junit", "sarif", "github",
    }  # fmt: skip
    for name, cls in RENDERERS.items():
        assert cls.name == name
        assert isinstance(renderer_for(name), cls)
    with pytest.raises(RenderError, match="known: text, md"):
        renderer_for("pdf")
    with pytest.raises(RenderError, match="known: text, md"):
        renderer_for("../x.md")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("markdown", "md"), ("MD", "md"), ("htm", "html"), ("txt", "text"), ("svg", "flamegraph")],
)
def test_a_format_may_be_named_by_its_file_extension(name: str, expected: str) -> None:
    """`--format markdown` is what people type; the registry's names stay the short ones."""
    assert type(renderer_for(name)) is RENDERERS[expected]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("out/report.md", MarkdownRenderer),
        ("report.HTML", HtmlRenderer),
        ("trace.iodiag.htm", HtmlRenderer),
        (Path("r.json"), JsonRenderer),
        ("tables.parquet", ParquetRenderer),
        ("summary.txt", TextRenderer),
        ("report", None),
        ("report.pdf", None),
    ],
)
def test_registry_by_extension(path: str | Path, expected: type[Renderer] | None) -> None:
    found = renderer_for_path(path)
    if expected is None:
        assert found is None
    else:
        assert type(found) is expected


def test_extensions_are_unique_and_normalised() -> None:
    seen: list[str] = [ext for cls in RENDERERS.values() for ext in cls.extensions]
    assert len(seen) == len(set(seen))
    assert all(ext.startswith(".") and ext == ext.lower() for ext in seen)


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.512, "512 ms"),
        (3.2, "3.2 s"),
        (0.000041, "41 µs"),
        (0.0009997, "1.0 ms"),
        (2.5e-8, "25 ns"),
        (0, "0 s"),
        (125.4, "2 min 05 s"),
        (3720, "1 h 02 min"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert formatting.duration(seconds) == text


def test_timestamp_clocks() -> None:
    assert formatting.timestamp(50_003.25, "clock") == "13:53:23.250000"
    assert formatting.timestamp(86_401.5, "clock") == "+1d 00:00:01.500000"
    assert formatting.timestamp(0.0, "epoch") == "1970-01-01 00:00:00.000000 UTC"
    assert formatting.timestamp(1.5, "relative") == "+1.500000 s"


def test_markdown_escapes() -> None:
    assert formatting.md_text("a|b <i>*x*</i>") == r"a\|b \<i\>\*x\*\</i\>"
    assert formatting.md_code("a|b") == r"`a\|b`"
    assert formatting.md_code("has `tick`") == "`` has `tick` ``"


# --------------------------------------------------------------------------- text


def test_text_renderer(result: AnalysisResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    text = TextRenderer(width=100).render_to_string(result)
    assert "\x1b[" not in text
    for name in ("fsync", "read", "openat", "futex"):
        assert name in text
    assert "1,234 lines" in text and "4 unparsed" in text
    assert "3.2 s" in text and "512 ms" in text
    assert "IOD101" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text == TextRenderer(width=100).render_to_string(result)


def test_text_renderer_empty(empty_result: AnalysisResult) -> None:
    text = TextRenderer(width=80, color=False).render_to_string(empty_result)
    assert "No completed syscalls." in text


# --------------------------------------------------------------------------- markdown


def test_markdown(result: AnalysisResult) -> None:
    md = MarkdownRenderer().render_to_string(result)
    assert md.startswith("# iodiag report: app.strace.gz\n")
    assert "## Verdict" in md and "IOD101" in md
    verdict = md[md.index("## Verdict") : md.index("## Findings")]
    assert "1. **slow fsync on WAL" in verdict and "cost 3.2 s" in verdict
    assert "*What to do:* batch writes per fsync" in verdict
    assert "- strace without -f cannot show other threads" in verdict
    section = md[md.index("## Syscalls") : md.index("## Time by target")]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line[:3] == "| `"}
    assert "`fsync`" in rows
    fsync = rows["`fsync`"]
    assert "| 40 |" in fsync and "| 3.2 s |" in fsync and "| 512 ms |" in fsync
    assert "| 80 ms |" in fsync  # avg
    assert "41 µs" in rows["`openat`"]
    # time by target, errors, in-flight, tasks, per-thread details, parse report, strace -C
    assert "/var/lib/db/data_01.wal" in md
    assert "ENOENT" in md and "futex" in md and "SIGKILL" in md
    assert "<details>" in md and "tid 101 (pid 100) worker" in md
    assert "`app.strace.gz:17`" in md and r"garbage \| with" in md
    assert "## strace -c/-C summary" in md and "| 901 |" in md
    # hostile text is escaped as text, or shown literally inside a code span
    assert r"### WARNING IOD101 slow fsync on WAL \</script\>\<b\>bold\</b\>" in md
    assert md.replace(f"`{HOSTILE}`", "").count(HOSTILE) == 0


def test_markdown_no_findings(empty_result: AnalysisResult) -> None:
    md = MarkdownRenderer().render_to_string(empty_result)
    assert "No problem found" in md
    assert "No completed syscalls." in md


# --------------------------------------------------------------------------- html


def test_html_is_self_contained(result: AnalysisResult) -> None:
    html = HtmlRenderer().render_to_string(result)
    assert html.startswith("<!doctype html>")
    assert html.count("<svg") == 3
    assert "<link" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    for section in ("verdict", "findings", "syscalls", "targets", "errors", "in-flight", "threads"):
        assert f'<section id="{section}">' in html
    verdict = html[html.index('<section id="verdict">') : html.index('<section id="findings">')]
    assert 'href="#finding-0"' in verdict and 'id="finding-0"' in html
    assert "batch writes per fsync" in verdict and "cannot show other threads" in verdict
    # element ids are unique even with three inline SVGs in the page
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_html_escapes_hostile_text(result: AnalysisResult) -> None:
    html = HtmlRenderer().render_to_string(result)
    assert HOSTILE not in html
    assert "<b>bold" not in html
    assert "&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in html
    assert html.count("</script>") == 1  # only the closing tag of our own sorter


def test_html_without_plots(empty_result: AnalysisResult) -> None:
    html = HtmlRenderer(plots=False).render_to_string(empty_result)
    assert "<svg" not in html
    assert "No problem found" in html


# --------------------------------------------------------------------------- json


def test_json_round_trip(result: AnalysisResult) -> None:
    text = JsonRenderer().render_to_string(result)
    assert text.endswith("}\n")
    data = json.loads(text)
    assert data["schema"] == "iodiag.report/1"
    assert data["syscalls"][0]["syscall"] == "fsync"
    assert data["findings"][0]["evidence"]["ratio"] is None  # NaN written as null
    assert data["findings"][0]["title"].endswith(HOSTILE)
    assert text == json.dumps(data, sort_keys=True, indent=2) + "\n"
    assert list(data) == sorted(data)


def test_json_rejects_non_json_values() -> None:
    bad = AnalysisResult(report={"schema": "iodiag.report/1", "when": object()})
    with pytest.raises(TypeError):
        JsonRenderer().render_to_string(bad)


# --------------------------------------------------------------------------- parquet


def test_parquet_writes_tables(result: AnalysisResult, tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = ParquetRenderer().write(result, out)
    assert paths == [out / "manifest.json", out / "calls"]
    # the report's one input is not the table's: that gets the next number
    assert [p.relative_to(out).as_posix() for p in sorted(out.rglob("*.parquet"))] == [
        "calls/input_no=1/part-00000.parquet"
    ]
    back = pq.read_table(out / "calls/input_no=1/part-00000.parquet")
    original = result.tables["calls"]
    assert back.schema.metadata == original.schema.metadata
    assert back.schema.field("dur_s").metadata == {b"doc": b"duration", b"unit": b"s"}
    assert back.equals(original)
    manifest = json.loads(paths[0].read_text(encoding="utf-8"))
    assert manifest["format"] == "iodiag.parquet/1"
    assert manifest["inputs"] == [
        {"input_no": 0, "input": "/tmp/example/app.strace.gz"},
        {"input_no": 1, "input": "app.strace.gz"},
    ]
    assert manifest["tables"]["calls"]["schema"] == "calls/1"
    assert manifest["tables"]["calls"]["rows"] == original.num_rows
    assert manifest["tables"]["calls"]["columns"][3] == {
        "name": "dur_s",
        "type": "double",
        "unit": "s",
        "doc": "duration",
    }


def test_parquet_needs_a_directory(result: AnalysisResult, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="directory"):
        ParquetRenderer().render(result, io.StringIO())
    bad = AnalysisResult(report={}, tables={"../escape": example_table()})
    with pytest.raises(RenderError, match="folder name"):
        ParquetRenderer().write(bad, tmp_path)


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", ["text", "md", "html", "json"])
def test_rendering_is_deterministic(
    name: str, result: AnalysisResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    first = renderer_for(name).render_to_string(result)
    second = renderer_for(name).render_to_string(result)
    assert first == second
    assert first


def test_report_view_normalises_missing_keys() -> None:
    view = ReportView(AnalysisResult(report={"syscalls": [{"syscall": "read"}]}))
    strace = view.sections["strace"]
    assert strace.syscalls[0]["total_s"] is None
    assert view.title == "iodiag report"
    assert strace.tasks["killed"] == []


def test_hostile_names_in_charts_and_tables() -> None:
    report = example_report()
    report["syscalls"][0]["syscall"] = HOSTILE
    report["targets"][0]["target"] = f"/tmp/$x$/{HOSTILE}"
    report["syscalls_by_thread"][0]["comm"] = HOSTILE
    html = HtmlRenderer().render_to_string(AnalysisResult(report=report))
    assert HOSTILE not in html
    assert html.count("</script>") == 1
    assert "$x$" in html  # drawn as text, not as mathtext


def test_undecodable_and_control_text_is_printable(tmp_path: Path) -> None:
    report = example_report()
    report["in_flight"][0]["target"] = "/data/\udcff\x1b[2J.log"
    result = AnalysisResult(report=report)
    for name in ("text", "md", "html", "json"):
        path = tmp_path / f"out.{name}"
        with path.open("w", encoding="utf-8") as out:
            renderer_for(name).render(result, out)
        text = path.read_text(encoding="utf-8")
        assert "\x1b" not in text
        assert "\\udcff" in text


# --------------------------------------------------------------------------- asyncio and perf

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SLOW_CALLBACKS = FIXTURES / "asyncio" / "research" / "out" / "py311_slow_callbacks.txt"
DD_STACKS = FIXTURES / "perf" / "flamegraph-test" / "perf-dd-stacks-01.txt"
STRACE_ONLY = (
    "No completed syscalls",
    "No syscall in this trace returned",
    "Time by target",
    "In flight at the end",
    "Tasks:",
    "## Tasks",
    'id="syscalls"',
)


@pytest.fixture(scope="module")
def asyncio_result() -> AnalysisResult:
    from analyzer import analyze

    return analyze([SLOW_CALLBACKS])


@pytest.fixture(scope="module")
def perf_result() -> AnalysisResult:
    from analyzer import analyze

    return analyze([DD_STACKS])


def _all_formats(result: AnalysisResult) -> dict[str, str]:
    return {
        "text": TextRenderer(width=120, color=False).render_to_string(result),
        "md": MarkdownRenderer().render_to_string(result),
        "html": HtmlRenderer().render_to_string(result),
    }


def test_asyncio_only_report(asyncio_result: AnalysisResult) -> None:
    section = asyncio_result.report["asyncio"]
    groups = section["slow_callbacks"]["by_location"]
    locations = [row["location"] for row in groups if row["location"]]
    assert locations == ["/srv/capture/scenarios.py:85", "/srv/capture/scenarios.py:88"]
    unlocated = [row["callback"] for row in groups if not row["location"]]
    assert unlocated == ["slow_callbacks.<locals>.Metrics.flush"]
    outputs = _all_formats(asyncio_result)
    for name, out in outputs.items():
        for location in locations:
            assert location in out, name
        assert "Metrics.flush (no file:line)" in out, name
        kind = r"slow\_callback 4" if name == "md" else "slow_callback 4"
        assert kind in out, name
        assert "loop.slow" in out, name  # the note (md escapes the underscores)
        assert "4 asyncio records" in out and "2 application lines" in out, name
        for text in STRACE_ONLY:
            assert text not in out, (name, text)
    md = outputs["md"]
    assert "## asyncio" in md and "### Slow callbacks by location" in md
    row = next(line for line in md.splitlines() if "`/srv/capture/scenarios.py:85`" in line)
    assert "| 2 | 300 ms | 150 ms | 150 ms |" in row
    assert "timestamps:" not in md.split("## Verdict")[0]
    html = outputs["html"]
    assert '<section id="asyncio">' in html and '<a href="#asyncio">' in html
    assert html.count("<svg") == 1  # the slow-callback chart only


def test_perf_only_report(perf_result: AnalysisResult) -> None:
    top = perf_result.report["perf"]["top_stacks"][0]
    assert top["stack"].endswith("fsnotify;__srcu_read_unlock")
    outputs = _all_formats(perf_result)
    for name, out in outputs.items():
        assert "11 samples" in out, name
        assert "cpu-clock 11" in out, name
        assert "20%" in out and "20,202,020" in out, name
        assert "__srcu_read_unlock" in out and "rw_verify_area" in out, name
        for text in STRACE_ONLY:
            assert text not in out, (name, text)
    md = outputs["md"]
    assert f"| 20,202,020 | 20% | 8 | `{top['stack']}` |" in md
    stacks = md[md.index("### Top folded stacks") :]
    stacks = stacks[: stacks.index("\n#")]
    assert "<details>" not in stacks  # no stack here is deep enough to be shortened
    html = outputs["html"]
    assert '<section id="perf">' in html and f'title="{top["stack"]}"' in html
    assert html.count("<svg") == 1 and 'id="flamegraph"' in html  # the flame graph only


def test_asyncio_and_perf_rendering_is_deterministic(
    asyncio_result: AnalysisResult, perf_result: AnalysisResult
) -> None:
    for result in (asyncio_result, perf_result):
        assert _all_formats(result) == _all_formats(result)


def test_short_stack_keeps_root_and_leaf() -> None:
    from analyzer.render.perf_view import short_stack

    frames = [f"f{index}" for index in range(30)]
    assert short_stack(frames) == "f0;f1;…23…;f25;f26;f27;f28;f29"
    assert short_stack(frames[:8]) == ";".join(frames[:8])
    assert short_stack(["x" * 100]) == "x" * 59 + "…"


def hostile_sections_report() -> dict[str, Any]:
    """A hand-built asyncio + perf report (not captured data) with hostile text everywhere."""
    deep = ";".join([HOSTILE, *(f"frame{index}" for index in range(20)), f"leaf{HOSTILE}"])
    group = {
        "count": 3,
        "total_s": 0.9,
        "max_s": 0.5,
        "p95_s": 0.45,
        "first_time_s": 1_700_000_000.25,
        "last_time_s": 1_700_000_060.5,
    }
    return {
        "schema": "iodiag.report/1",
        "tool": {"name": "iodiag", "version": "0"},
        "inputs": [
            {"path": f"/logs/{HOSTILE}.log", "format": "asyncio", "lines": 10},
            {"path": "/logs/perf.txt", "format": "perf", "lines": 5, "samples": 2},
        ],
        "asyncio": {
            "records": 4,
            "by_kind": {"slow_callback": 3, "exception": 1},
            "slow_callbacks": {
                "count": 3,
                "total_s": 0.9,
                "by_location": [{"location": f"/app/{HOSTILE}.py:1", **group}],
                "by_coroutine": [{"coro": f"handler|{HOSTILE}", **group}],
            },
            "misuse": [
                {
                    "kind": "exception",
                    "location": f"/app/{HOSTILE}.py:9",
                    "count": 1,
                    "exception": "ValueError",
                    "sample": {
                        "input": "/logs/app.log",
                        "line": 7,
                        "text": f"Exception in callback {HOSTILE}\n```\n</details>\nValueError",
                    },
                }
            ],
            "uvloop": True,
            "notes": [f"note {HOSTILE}"],
        },
        "perf": {
            "samples": 2,
            "events": {"cycles": 2},
            "folded_total": 2,
            "top_stacks": [{"stack": deep, "count": 2, "share": 1.0}],
        },
    }


def test_hostile_text_in_asyncio_and_perf_sections() -> None:
    result = AnalysisResult(report=hostile_sections_report())
    html = HtmlRenderer().render_to_string(result)
    assert HOSTILE not in html and "<b>bold" not in html
    assert html.count("</script>") == 1
    assert "frame19" in html and "…15…" in html  # full stack in details, shortened in summary
    md = MarkdownRenderer().render_to_string(result)
    # outside code spans and fenced blocks, nothing hostile is left unescaped
    assert "<summary>exception at /app/&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;.py:9" in md
    assert "\n````text\n" in md  # the fence is longer than the sample's own ```
    assert "leaf</script><b>bold</b> 2\n" in md  # full stack in the collapsed block
    stripped = re.sub(r"^(`{3,})text\n.*?\n\1$", "", md, flags=re.S | re.M)
    stripped = re.sub(r"(`+)[^`]*?\1", "", stripped)
    assert HOSTILE not in stripped
    text = TextRenderer(width=100, color=False).render_to_string(result)
    assert "uvloop" in text and "No completed syscalls" not in text


def test_finding_timelines_and_episodes_are_drawn() -> None:
    # Hand-built findings (not from a capture): one with a timeline, one with episodes.
    report = example_report()
    report["findings"] = [
        {
            "code": "IOD004",
            "kind": "thread_pileup",
            "severity": "warning",
            "title": "8 threads blocked on tcp 10.0.0.5:5432",
            "start": 50_001.0,
            "evidence": {"timeline": [[50_001.0, 0], [50_001.5, 8], [50_002.0, 0]]},
        },
        {
            "code": "IOD002",
            "kind": "blocked_loop",
            "severity": "error",
            "title": "loop blocked",
            "start": 50_003.0,
            "evidence": {
                "loop_tid": 100,
                "episodes": [
                    {"start": 50_003.0, "duration_s": 0.3, "cpu_s": 0.0, "top_calls": []},
                    {"start": 50_004.0, "duration_s": 0.2, "cpu_s": 0.2, "top_calls": []},
                ],
            },
        },
    ]
    html = HtmlRenderer().render_to_string(AnalysisResult(report=report))
    charts = re.findall(r'<figure class="finding-chart">(.*?)</figure>', html, re.DOTALL)
    assert len(charts) == 2 and all("<svg" in chart for chart in charts)
    assert "seconds after 13:53:21" in html  # 50_001 s after midnight
    md = MarkdownRenderer().render_to_string(AnalysisResult(report=report))
    assert "timeline" not in md  # plotted in HTML only, not dumped as numbers


def test_a_fix_shared_by_several_conclusions_is_spelled_out_once() -> None:
    report = example_report()
    first = report["verdict"]["conclusions"][0]
    second = {**first, "rank": 2, "headline": "slow fsync on the other WAL"}
    third = {**first, "rank": 3, "headline": "slow recvfrom", "fix": "add a timeout"}
    report["verdict"]["conclusions"] = [first, second, third]
    shared = AnalysisResult(report=report, tables={"syscalls": example_table()})
    text = TextRenderer(width=100, color=False).render_to_string(shared)
    assert text.count("Fix: batch writes per fsync") == 1
    assert "Fix: as for 1." in text and "Fix: add a timeout" in text
    md = MarkdownRenderer().render_to_string(shared)
    verdict = md[md.index("## Verdict") : md.index("## Findings")]
    assert verdict.count("batch writes per fsync") == 1
    assert "*What to do:* as for 1." in verdict and "*What to do:* add a timeout" in verdict
    html = HtmlRenderer().render_to_string(shared)
    assert "What to do:</strong> as for 1." in html


def _fresh_template_environments() -> None:
    templates.template_environment.cache_clear()


def test_compiled_templates_are_kept_between_runs(
    result: AnalysisResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that loads the compiled templates renders what a run that compiled them did."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    _fresh_template_environments()
    try:
        compiled = {name: renderer_for(name).render_to_string(result) for name in ("html", "md")}
        kept = sorted(path.name for path in tmp_path.glob("_jinja2-cache-*/__iodiag_*.cache"))
        # One per template file (frames, macros, section partials), named by the options
        # that compiled it; the batch index (reports/batch/) is no part of a run's report.
        frames = [path for path in reports_dir().rglob("*.j2") if "batch" not in path.parts]
        assert len(kept) == len(frames)
        _fresh_template_environments()
        loaded = {name: renderer_for(name).render_to_string(result) for name in ("html", "md")}
        assert loaded == compiled
    finally:
        _fresh_template_environments()


def test_templates_render_without_a_usable_cache_directory(
    result: AnalysisResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No temporary directory for the cache (here: a file where it should be) means no
    cache, not an error."""
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_directory))
    assert templates.template_bytecode_cache({"autoescape": True}) is None
    _fresh_template_environments()
    try:
        assert "<html" in renderer_for("html").render_to_string(result)
    finally:
        _fresh_template_environments()


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path: Path) -> None:
    cache = templates.template_bytecode_cache({"autoescape": False})
    assert cache is not None
    cache.directory = str(tmp_path / "missing")  # every write fails with FileNotFoundError
    environment = jinja2.Environment(bytecode_cache=cache)
    assert environment.from_string("{{ 1 + 1 }}").render() == "2"
    template = jinja2.Environment(
        loader=jinja2.DictLoader({"t": "{{ x }}"}), bytecode_cache=cache
    ).get_template("t")
    assert template.render(x=3) == "3"


# --------------------------------------------------------------------------- section order


def _every_source_result(asyncio_result: AnalysisResult, perf_result: AnalysisResult) -> Any:
    """The hand-built example with the asyncio and perf sections of real runs added."""
    report = example_report()
    report["asyncio"] = asyncio_result.report["asyncio"]
    report["perf"] = perf_result.report["perf"]
    return AnalysisResult(report=report, tables=perf_result.tables)


def _in_order(text: str, marks: list[str]) -> bool:
    places = [text.index(mark) for mark in marks]
    return places == sorted(places)


def test_every_source_has_its_parts_and_one_order() -> None:
    names = section_names()
    assert names[:3] == SECTION_ORDER == ("strace", "asyncio", "perf")
    assert set(names) == set(SECTION_ORDER) | set(SOURCES)
    for kind in ("view", "text"):
        assert [name for name, _ in section_modules(kind)] == list(names)
    # py-spy dumps have no chart
    assert [name for name, _ in section_modules("plots")] == [n for n in names if n != "pyspy"]
    for extension in ("html", "md"):
        assert section_partials(extension) == tuple(
            f"sections/{name}.{extension}.j2" for name in names
        )


def test_every_format_lists_the_sections_in_one_order(
    asyncio_result: AnalysisResult, perf_result: AnalysisResult
) -> None:
    outputs = _all_formats(_every_source_result(asyncio_result, perf_result))
    html = outputs["html"]
    nav = html[html.index("<nav") : html.index("</nav>")]
    assert re.findall(r'href="#([^"]+)"', nav) == [
        "verdict",
        *("syscalls", "targets", "errors", "in-flight", "threads", "tasks"),
        "asyncio",
        "perf",
        "parse",
        "strace-summary",
    ]
    main = html[html.index("<main>") :]
    assert re.findall(r'<section id="([^"]+)"', main) == [
        *("overview", "verdict", "findings"),
        *("syscalls", "targets", "errors", "in-flight", "threads", "tasks"),
        "asyncio",
        "perf",
        "parse",
        "strace-summary",
    ]
    cards = html[html.index('<dl class="cards">') : html.index("</dl>")]
    assert _in_order(cards, ["Syscalls returned", "asyncio records", "perf samples", "Findings"])
    md = outputs["md"]
    assert _in_order(
        md,
        [
            "syscalls returned",
            "## Verdict",
            "## Findings",
            "## Syscalls",
            "## Tasks",
            "## asyncio",
            "## perf",
            "## Parse report",
            "## strace -c/-C summary",
        ],
    )
    assert _in_order(outputs["text"], ["Verdict", "Top ", "Tasks:", "asyncio:", "perf:"])


def test_a_new_source_brings_its_own_parts(
    result: AnalysisResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source that render does not name gets its section from its own files alone: a view
    and a text module, and partials, found by name, after the known sources."""
    import importlib.machinery
    import shutil
    import sys
    import types

    from analyzer import sources
    from analyzer.lazy import LazyImports
    from analyzer.render import sections

    reports = tmp_path / "reports"
    shutil.copytree(reports_dir(), reports)
    (reports / "sections" / "fake.html.j2").write_text(
        '{% macro nav() %}<a href="#fake">fake</a>\n{% endmacro %}\n'
        '{% macro main() %}<section id="fake">{{ view.sections.fake }}</section>\n\n'
        "{% endmacro %}\n",
        encoding="utf-8",
    )
    (reports / "sections" / "fake.md.j2").write_text(
        "{% macro main() %}## fake\n\n{{ view.sections.fake }}\n\n{% endmacro %}\n",
        encoding="utf-8",
    )
    for kind, function in (
        ("view", lambda view: view.report.get("fake")),
        ("text", lambda console, view: console.print(f"fake: {view.sections['fake']}")),
    ):
        name = f"analyzer.render.fake_{kind}"
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
        setattr(module, "section_view" if kind == "view" else "print_section", function)
        monkeypatch.setitem(sys.modules, name, module)
    # Only the names are read here; the entries are never looked up.
    registry = {name: f"analyzer.sources.{name}:SOURCE" for name in SOURCES}
    registry["fake"] = "analyzer.sources.strace:SOURCE"
    monkeypatch.setattr(sources, "SOURCES", LazyImports("SOURCES", registry))
    monkeypatch.setattr(templates, "reports_dir", lambda: reports)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # compiled templates go here
    caches = (
        sections.section_names,
        sections.section_modules,
        templates.section_partials,
        templates.template_environment,
    )
    for cached in caches:
        cached.cache_clear()
    try:
        others = tuple(name for name in registry if name not in ("strace", "asyncio", "perf"))
        assert section_names() == ("strace", "asyncio", "perf", *others)
        assert others[-1] == "fake"
        report = {**result.report, "fake": "FAKE-DATA"}
        outputs = _all_formats(AnalysisResult(report=report, tables=result.tables))
    finally:
        for cached in caches:
            cached.cache_clear()
    html = outputs["html"]
    assert _in_order(html, ['href="#tasks"', 'href="#fake"', 'href="#parse"'])
    assert _in_order(html, ['<section id="tasks">', '<section id="fake">FAKE-DATA</section>'])
    assert _in_order(html, ['<section id="fake">', '<section id="parse">'])
    assert _in_order(outputs["md"], ["## Tasks", "## fake\n\nFAKE-DATA\n", "## Parse report"])
    assert _in_order(outputs["text"], ["Tasks:", "fake: FAKE-DATA", "Findings"])


# --------------------------------------------------------------------------- every report shape

NO_DURATIONS = FIXTURES / "strace" / "research" / "logs" / "variants" / "ts_tt_r.log"
COMBINED = FIXTURES / "diagnosis" / "logs" / "asyncio_server.combined"


def test_strace_without_durations_renders_everywhere() -> None:
    """An strace log taken without -T has no syscall times, so no chart to draw: the HTML
    report used to raise UndefinedError on ``charts.syscalls`` (issue 14, item 1)."""
    from analyzer import analyze

    result = analyze(NO_DURATIONS)
    assert result.report["inputs"][0]["has_durations"] is False
    outputs = _all_formats(result)
    assert 'id="syscalls"' in outputs["html"] and "<svg" not in outputs["html"]
    assert "## Syscalls" in outputs["md"]


def test_slow_callbacks_that_took_no_time_render(tmp_path: Path) -> None:
    """Slow callbacks that all took ``0.000`` seconds (a DERIVED input: the real capture's
    durations replaced by 0.000) have an empty chart: the HTML report rendered anyway."""
    from analyzer import analyze

    text = SLOW_CALLBACKS.read_text(encoding="utf-8")
    zero = re.sub(r"took \d+\.\d+ seconds", "took 0.000 seconds", text)
    assert zero != text
    path = tmp_path / "zero.txt"
    path.write_text(zero, encoding="utf-8")
    result = analyze(path)
    assert result.report["asyncio"]["slow_callbacks"]["by_location"]
    html = _all_formats(result)["html"]
    assert '<section id="asyncio">' in html and "<svg" not in html


def test_html_without_plots_renders_every_section(result: AnalysisResult) -> None:
    """`HtmlRenderer(plots=False)` on a report with syscalls, targets and threads."""
    html = HtmlRenderer(plots=False).render_to_string(result)
    assert "<svg" not in html
    for section in ("syscalls", "targets", "threads"):
        assert f'<section id="{section}">' in html


def _key_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key of `value`, nested, with the first item of each list standing for all."""
    paths: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            paths.append((*prefix, key))
            paths.extend(_key_paths(item, (*prefix, key)))
    elif isinstance(value, list) and value:
        paths.append((*prefix, 0))
        paths.extend(_key_paths(value[0], (*prefix, 0)))
    return paths


HOWS = ("missing", "null", "empty")
SHAPE_GROUP = 10
"""Key paths changed together in one reshaped report (each render takes about 0.4 s)."""


def _reshape(report: dict[str, Any], path: tuple[Any, ...], how: str) -> bool:
    """Leave the key at `path` out, make it null, or empty (of its type); False when an
    earlier change of the same report took its parent away."""
    parent: Any = report
    for key in path[:-1]:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return False
    key = path[-1]
    if not isinstance(parent, (dict, list)) or (isinstance(parent, list) and key >= len(parent)):
        return False
    if isinstance(parent, dict) and key not in parent:
        return False
    if how == "missing":
        del parent[key]
    elif how == "null":
        parent[key] = None
    else:
        parent[key] = type(parent[key])() if isinstance(parent[key], (dict, list, str)) else 0
    return True


@pytest.fixture(scope="module")
def combined_result() -> AnalysisResult:
    """A real run with strace, asyncio and perf inputs: every section of the report."""
    from analyzer import analyze

    inputs = [f"{COMBINED}.f_ttt_T.log", f"{COMBINED}.debug.log", f"{COMBINED}.perf_cpu.txt"]
    return analyze(inputs)


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(len(HOWS)))
def test_every_renderer_on_every_report_shape(
    combined_result: AnalysisResult, round_: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each key of a full report, at any depth, left out, null or empty (over the three
    rounds, every key gets each of the three, in random groups of `SHAPE_GROUP` keys): the
    text, Markdown, HTML (with and without charts) and JSON renderers still render."""
    import random

    report = json.loads(JsonRenderer().render_to_string(combined_result))
    planned = [
        (path, HOWS[(index + round_) % len(HOWS)]) for index, path in enumerate(_key_paths(report))
    ]
    random.Random(round_).shuffle(planned)
    for start in range(0, len(planned), SHAPE_GROUP):
        reshaped = json.loads(json.dumps(report))
        changes = [
            (path, how)
            for path, how in planned[start : start + SHAPE_GROUP]
            if _reshape(reshaped, path, how)
        ]
        result = AnalysisResult(reshaped, combined_result.tables)
        renderers: list[Renderer] = [
            TextRenderer(width=100, color=False),
            MarkdownRenderer(),
            HtmlRenderer(),
            HtmlRenderer(plots=False),
            JsonRenderer(),
        ]
        for renderer in renderers:
            try:
                renderer.render_to_string(result)
            except Exception as error:
                raise AssertionError(f"{renderer.name} with {changes}: {error!r}") from error
