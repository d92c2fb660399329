"""The snapshot and metrics sources' line charts (`analyzer.render.timeseries_plots`): hand-written
SVG with labelled axes, a legend naming every line, the limit and the second axis, escaped text.
The series are hand-built (labelled as such); every real capture is drawn by
tests/test_render_every_input.py and opened in Chromium by tests/test_html_chromium.py."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from analyzer.render.timeseries_plots import line_chart

SVG = "{http://www.w3.org/2000/svg}"


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def _paths(svg: str) -> list[ET.Element]:
    return list(ET.fromstring(svg).iter(f"{SVG}path"))


def test_lines_axes_and_legend() -> None:
    svg = line_chart(
        [("16167 python", [[100.0, 10.0], [101.0, 80.0], [102.0, 40.0]]), ("idle", [[100.5, 0]])],
        salt="top-cpu",
        ylabel="% of one CPU",
        origin_label="10:04:26",
    )
    assert svg is not None
    texts = _texts(svg)
    assert "seconds after 10:04:26" in texts
    assert "% of one CPU" in texts
    assert "16167 python" in texts  # the legend
    assert "idle" not in texts  # one point is no line
    assert "80" in texts  # a y tick covers the peak
    assert len(_paths(svg)) == 1
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" id="chart-top-cpu"')


def test_steps_hold_each_value_until_the_next_point() -> None:
    points = [[0.0, 2.0], [1.0, 5.0], [2.0, 5.0]]
    stepped = line_chart(
        [("NLWP", points)], salt="a", ylabel="threads", origin_label="t0", steps=True
    )
    straight = line_chart([("NLWP", points)], salt="a", ylabel="threads", origin_label="t0")
    assert stepped is not None and straight is not None
    corners = [len(re.findall(r"[ML]", path.get("d", ""))) for path in _paths(stepped)]
    lines = [len(re.findall(r"[ML]", path.get("d", ""))) for path in _paths(straight)]
    assert corners == [5] and lines == [3]  # a horizontal then a vertical move per change


def test_limit_and_second_axis() -> None:
    svg = line_chart(
        [("await (ms)", [[0.0, 200.0], [1.0, 290.0]])],
        right=[("aqu-sz", [[0.0, 2.0], [1.0, 3.2]])],
        right_label="aqu-sz (requests)",
        salt="iostat-0",
        ylabel="await (ms)",
        origin_label="10:04:28",
        limit=250.0,
        limit_label="limit 250",
    )
    assert svg is not None
    texts = _texts(svg)
    assert {"aqu-sz (right axis)", "limit 250", "aqu-sz (requests)"} <= set(texts)
    assert 'stroke-dasharray="6 4"' in svg  # the limit line
    assert len(_paths(svg)) == 2


def test_nothing_to_draw_is_none() -> None:
    assert line_chart([], salt="x", ylabel="y", origin_label="o") is None
    assert (
        line_chart([("a", [[0.0, None], [1.0, 2.0]])], salt="x", ylabel="y", origin_label="o")
        is None
    )


def test_names_from_the_capture_are_escaped() -> None:
    hostile = '</text><script>alert(1)</script>"&'
    svg = line_chart(
        [(hostile, [[0.0, 1.0], [1.0, 2.0]])], salt="x", ylabel="y", origin_label=hostile
    )
    assert svg is not None
    assert "<script" not in svg
    assert hostile in _texts(svg)
