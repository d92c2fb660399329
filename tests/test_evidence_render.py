"""Every renderer on the captures of the snapshot and metrics sources (top, ps, pidstat,
py-spy, iostat, CloudWatch): each report has the source's section, with the numbers the
section computed, and no renderer fails on any capture."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from analyzer import analyze
from analyzer.model import AnalysisResult
from analyzer.render import RENDERERS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SOURCES = ("top", "ps_threads", "pidstat", "pyspy", "iostat", "cloudwatch")
NOT_READ = {
    "sysstat-11_issue-344_zh_CN.txt",
    "sys-proctable-pr-40_eLf-grep.txt",
    "opensuse-supportutils-pr-262_lstart-etime.txt",
    "env_logger_errors_0.2.0.txt",
    "hex_thread_id_line.txt",
}
HEADINGS = {
    "top": ("## top", 'id="top"'),
    "ps_threads": ("## ps thread snapshots", 'id="ps_threads"'),
    "pidstat": ("## pidstat", 'id="pidstat"'),
    "pyspy": ("## py-spy dumps", 'id="pyspy"'),
    "iostat": ("## iostat", 'id="iostat"'),
    "cloudwatch": ("## CloudWatch metrics", 'id="cloudwatch"'),
}


def captures(source: str) -> list[Path]:
    return [
        path
        for path in sorted((FIXTURES / source).rglob("*"))
        if path.is_file()
        and path.suffix in (".txt", ".out", ".json", ".csv")
        and "measured" not in path.name
        and path.name not in ("truth.json", "VERSIONS.txt", "COMMANDS.txt", *NOT_READ)
    ]


def rendered(result: AnalysisResult, name: str) -> str:
    out = io.StringIO()
    cls = RENDERERS[name]
    renderer = cls(plots=False) if name == "html" else cls()  # type: ignore[call-arg]
    renderer.render(result, out)
    return out.getvalue()


@pytest.mark.parametrize(
    "path",
    [path for source in SOURCES for path in captures(source)],
    ids=lambda path: str(path.relative_to(FIXTURES)),
)
@pytest.mark.slow
def test_every_renderer_on_every_capture(path: Path) -> None:
    source = path.relative_to(FIXTURES).parts[0]
    result = analyze(path)
    assert result.report["inputs"][0]["format"] == source
    assert isinstance(result.report[source], dict)
    json.loads(rendered(result, "json"))
    markdown_heading, html_id = HEADINGS[source]
    assert markdown_heading in rendered(result, "md")
    assert html_id in rendered(result, "html")
    assert rendered(result, "text")


def test_charts_are_drawn() -> None:
    """The thread-count, await/queue and metric charts: one capture each."""
    from analyzer.render.html import HtmlRenderer
    from analyzer.render.view import ReportView

    for relative, keys in (
        ("top/captures/top_H_b_d1_n6_p.txt", ("top-threads", "top-cpu")),
        ("ps_threads/captures/ps_eLf_date_s_N.txt", ("ps_threads-threads",)),
        ("pidstat/captures/pidstat_t_u_w_p_1_5.txt", ("pidstat-threads", "pidstat-cpu")),
        ("iostat/logs/x_t_C.txt", ("iostat-0",)),
        ("cloudwatch/get_metric_data_ebs_throttle.json", ("cloudwatch-0", "cloudwatch-1")),
    ):
        result = analyze(FIXTURES / relative)
        charts = HtmlRenderer().charts(ReportView(result), result)
        for key in keys:
            assert "<svg" in charts[key], (relative, key)


def test_a_conclusion_without_measured_waits_shows_no_cost() -> None:
    """CloudWatch alone shows a drained volume but no call that waited for it: its conclusion
    has no cost to show, where it said "cost 0 s"; with strace the cost is shown."""
    alone = analyze([FIXTURES / "cloudwatch" / "get_metric_data_ebs_throttle.json"])
    assert alone.report["verdict"]["conclusions"][0]["code"] == "IOD022"
    for name in ("text", "md", "html"):
        assert "cost 0" not in rendered(alone, name), name
    assert "[IOD022]" in rendered(alone, "text")
    incident = FIXTURES / "incidents" / "slow_volume_gil_compactor"
    with_strace = analyze(sorted(incident.glob("strace.*")))
    assert ", cost " in rendered(with_strace, "text")
