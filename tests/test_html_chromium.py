"""The HTML reports of the fixtures in headless Chromium: no horizontal overflow, no JavaScript
error, light and dark.

Each report is opened at a laptop width (1280 CSS px, light) and a narrow one (800 px, dark),
with every ``<details>`` opened (the evidence, the unparsed lines, the per-thread tables), then
its scripts are exercised: a table sorted by a click, the thread timeline zoomed by a drag, zoomed
out and reset, a flame graph frame clicked. The page must not be wider than the window (wide
tables scroll inside their own box) and no script may throw or log an error.

Needs Debian's ``chromium`` (``.ci/run`` installs it); skipped without it, except in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import Browser, find_chromium

from analyzer import analyze
from analyzer.render import HtmlRenderer

pytestmark = pytest.mark.slow  # a browser per module, a report per fixture

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "fixtures" / "diagnosis" / "logs"
INCIDENTS = ROOT / "fixtures" / "incidents"
REPORTS = {
    "pool8": [ROOT / "fixtures" / "strace" / "logs" / "pool8.f_tt_T.log"],
    "asyncio_server": [LOGS / "asyncio_server.f_tt_T.log"],
    "lock_convoy": [LOGS / "lock_convoy.f_tt_T.log"],
    "sqlite_writers": [LOGS / "sqlite_writers.f_tt_T.log"],
    "nproc_exhaustion": [LOGS / "nproc_exhaustion.f_tt_T.log"],
    "fsync_perf_block": [LOGS / "fsync_writer.perf_block.txt"],
    "perf_cpu": [LOGS / "asyncio_server.perf_cpu.txt"],
    "combined": [
        LOGS / "asyncio_server.combined.f_ttt_T.log",
        LOGS / "asyncio_server.combined.debug.log",
        LOGS / "asyncio_server.combined.perf_cpu.txt",
    ],
    "incident_dns": [
        ROOT / "fixtures" / "incidents" / "dns_ndots_in_coroutine" / "strace.f_ttt_T.log.gz",
        ROOT / "fixtures" / "incidents" / "dns_ndots_in_coroutine" / "app.asctime.log",
    ],
    # strace with the snapshot and metrics sources: top, iostat and py-spy sections and charts
    "incident_volume": [
        INCIDENTS / "slow_volume_gil_compactor" / "strace.f_tt_T_yy.log.gz",
        INCIDENTS / "slow_volume_gil_compactor" / "top.H_b_d1_p.txt",
        INCIDENTS / "slow_volume_gil_compactor" / "iostat.x_t_y_1.txt",
        INCIDENTS / "slow_volume_gil_compactor" / "pyspy.dump_nonblocking_loop.txt",
    ],
    "incident_pids": [
        INCIDENTS / "thread_per_connection_pids_limit" / "strace.f_ttt_T.log.gz",
        INCIDENTS / "thread_per_connection_pids_limit" / "ps.L_o_loop.txt",
        INCIDENTS / "thread_per_connection_pids_limit" / "top.H_b_d05_p.txt",
    ],
    "pidstat_cloudwatch": [
        ROOT / "fixtures" / "pidstat" / "captures" / "pidstat_t_u_w_p_1_5.txt",
        ROOT / "fixtures" / "cloudwatch" / "get_metric_data_ebs_throttle.json",
    ],
}

EXERCISE = """
(async () => {
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  var th = document.querySelector("table.sortable thead th");
  if (th) { th.click(); th.click(); }
  var svg = document.querySelector("svg.timeline");
  if (svg) {
    var box = svg.getBoundingClientRect();
    function mouse(type, x) {
      var target = type === "mousedown" ? svg : window;
      target.dispatchEvent(new MouseEvent(type, {bubbles: true, button: 0,
        clientX: box.left + box.width * x, clientY: box.top + box.height / 3}));
    }
    mouse("mousedown", 0.45); mouse("mousemove", 0.6); mouse("mouseup", 0.6);
    var rect = svg.querySelector(".tl-inner rect:not(.tl-lane)");
    if (rect) rect.dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
    document.querySelectorAll("figure.timeline button").forEach(function (b) { b.click(); });
  }
  var frame = document.querySelector("svg.flamegraph g.f");
  if (frame) frame.dispatchEvent(new MouseEvent("click", {bubbles: true}));
  await new Promise(function (done) { requestAnimationFrame(function () { done(); }); });
  var wide = [];
  document.querySelectorAll("body *").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.right > window.innerWidth + 1 && !el.closest(".scroll, .tl-scroll, pre, svg")) {
      wide.push(el.tagName.toLowerCase() + (el.className ? "." + el.className : "")
        + " right=" + Math.round(r.right));
    }
  });
  var inner = svg && svg.querySelector(".tl-inner");
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          wide: wide.slice(0, 5), zoomed: inner ? inner.getAttribute("transform") : null};
})()
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium (see .ci/run)")
        pytest.skip("no chromium (apt-get install chromium)")
    with Browser() as opened:
        yield opened


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("html")
    written = {}
    for name, inputs in REPORTS.items():
        path = folder / f"{name}.html"
        path.write_text(HtmlRenderer().render_to_string(analyze([str(p) for p in inputs])))
        written[name] = path
    return written


@pytest.mark.parametrize(("width", "dark"), [(1280, False), (800, True)], ids=["light", "dark"])
@pytest.mark.parametrize("name", list(REPORTS))
def test_report_fits_the_window_and_its_scripts_run(
    browser: Browser, pages: dict[str, Path], name: str, width: int, dark: bool
) -> None:
    browser.open(pages[name].as_uri(), width=width, dark=dark)
    state = browser.evaluate(EXERCISE)
    assert browser.errors() == []
    assert state["scrollWidth"] <= state["innerWidth"], state["wide"]
    assert state["wide"] == []
    if state["zoomed"] is not None:
        assert "scale(1,1)" in state["zoomed"]  # reset after the zoom
    colours = browser.evaluate(
        "[getComputedStyle(document.body).backgroundColor, "
        "matchMedia('(prefers-color-scheme: dark)').matches]"
    )
    assert colours == (["rgb(13, 17, 23)", True] if dark else ["rgb(255, 255, 255)", False])


def test_a_script_error_is_caught(browser: Browser, tmp_path: Path) -> None:
    """The check itself: a page whose script throws fails it."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><p>x</p><script>undefinedFunction();</script>")
    browser.open(page.as_uri())
    assert any("undefinedFunction" in error for error in browser.errors())
