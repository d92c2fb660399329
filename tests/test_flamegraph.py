"""The flame graph (``--format flamegraph``) draws exactly the folded stacks.

Inputs are the real captures in fixtures/perf: FlameGraph's own test corpus and the research
recordings. The expected stacks and counts come from the `perf_folded` table, which
tests/test_perf_collapse.py checks byte for byte against stackcollapse-perf.pl's results; the
SVG is parsed back (it must be well-formed XML) and its frames rebuilt into stacks. The only
hand-written input is the hostile-name case, marked where it is used.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from bisect import bisect_right
from functools import cache
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from analyzer.cli.analyze import app
from analyzer.derive.perf_fold import CollapseOptions
from analyzer.model import AnalysisResult
from analyzer.pipeline import Config, analyze
from analyzer.render import RENDERERS, FlamegraphRenderer, HtmlRenderer, renderer_for_path
from analyzer.render import flamegraph as flamegraph_module
from analyzer.render import html as html_module
from analyzer.render.base import RenderError
from analyzer.render.flamegraph import (
    FONT_SIZE,
    FONT_WIDTH,
    MIN_SHARE,
    WIDTH,
    XPAD,
    collapse_unknown,
    flame_frames,
    flamegraph_chart,
    flamegraph_svg,
    frame_colour,
)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
CORPUS = FIXTURES / "perf" / "flamegraph-test"
RESEARCH = FIXTURES / "perf" / "research"
STACK_FILES = [
    *sorted(CORPUS.glob("perf-*.txt")),
    *(
        RESEARCH / name
        for name in (
            "cpu_awkward_comm_callchain.txt",
            "cpu_py312_xperf_dwarf.txt",
            "cpu_py312_xperf_fp.txt",
            "cpu_py313_perfjit_dwarf.txt",
            "mixed_cpuclock_sched_rawsyscalls.txt",
            "block_rq_issue_complete_callchain.txt",
            "sched_switch_wakeup_systemwide_filtered_callchain.txt",
        )
    ),
]
SVG = "{http://www.w3.org/2000/svg}"
TITLE = re.compile(r"^(.*) \(([\d,]+) (\S+), (\d+\.\d\d)%\)$", re.DOTALL)
SPAN = WIDTH - 2 * XPAD


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")


@cache
def result_of(path: Path, option: str | None = None, event: str | None = None) -> AnalysisResult:
    options = CollapseOptions(**({option: True} if option else {}), event_filter=event)
    return analyze([str(path)], Config(collapse=options))


def folded_pairs(result: AnalysisResult) -> list[tuple[str, int]]:
    folded = result.tables["perf_folded"]
    return list(zip(folded["stack"].to_pylist(), folded["count"].to_pylist(), strict=True))


def prefix_counts(pairs: list[tuple[str, int]]) -> dict[tuple[str, ...], int]:
    """Every path of the flame graph and its width, computed straight from the folded lines:
    ``("all",)`` plus each prefix of each stack, with the summed counts of its stacks."""
    counts: dict[tuple[str, ...], int] = {}
    for stack, count in pairs:
        path: tuple[str, ...] = ("all",)
        counts[path] = counts.get(path, 0) + count
        for name in stack.split(";"):
            path = (*path, name)
            counts[path] = counts.get(path, 0) + count
    return counts


def paths_of(frames: list[tuple[int, str, int, int]]) -> dict[tuple[str, ...], int]:
    """Rebuild each frame's path from (depth, name, start, count) boxes: the parent of a frame
    is the box one level down whose span holds the frame's span. Fails on a frame that sticks
    out of its parent, overlaps a sibling, floats without a parent or repeats a path."""
    by_depth: dict[int, list[tuple[int, int, tuple[str, ...]]]] = {}
    paths: dict[tuple[str, ...], int] = {}
    for depth, name, start, count in sorted(frames, key=lambda f: (f[0], f[2])):
        if depth == 0:
            path: tuple[str, ...] = (name,)
        else:
            below = by_depth[depth - 1]
            index = bisect_right(below, (start, float("inf"))) - 1
            assert index >= 0, f"{name!r} has no parent"
            p_start, p_count, p_path = below[index]
            assert p_start <= start and start + count <= p_start + p_count, name
            path = (*p_path, name)
        row = by_depth.setdefault(depth, [])
        assert not row or row[-1][0] + row[-1][1] <= start, f"{name!r} overlaps a sibling"
        row.append((start, count, path))
        assert path not in paths, f"{path} drawn twice"
        paths[path] = count
    return paths


def svg_frames(svg: str) -> list[dict[str, object]]:
    root = ET.fromstring(svg.encode("utf-8"))  # well-formed XML or this fails
    rows = []
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "f":
            continue
        title, rect, text = list(group)
        match = TITLE.match(title.text or "")
        assert match, title.text
        rows.append(
            {
                "depth": int(group.get("data-d") or -1),
                "start": int(group.get("data-s") or -1),
                "count": int(group.get("data-n") or -1),
                "name": match.group(1),
                "title_count": int(match.group(2).replace(",", "")),
                "label": match.group(3),
                "share": float(match.group(4)),
                "x": float(rect.get("x") or "nan"),
                "width": float(rect.get("width") or "nan"),
                "fill": rect.get("fill"),
                "text": text.text or "",
            }
        )
    return rows


def cli(*args: str | Path) -> tuple[int, str, str]:
    run = CliRunner().invoke(app, [str(arg) for arg in args])
    return run.exit_code, run.stdout, run.stderr


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_every_folded_stack_is_a_path_with_its_count(path: Path) -> None:
    pairs = folded_pairs(result_of(path))
    frames, total = flame_frames(pairs, min_share=0)
    assert total == sum(count for _stack, count in pairs) > 0
    drawn = paths_of([(f.depth, f.name, f.start, f.count) for f in frames])
    assert drawn == prefix_counts(pairs)


def test_equal_stacks_from_two_inputs_are_summed() -> None:
    one = folded_pairs(result_of(CORPUS / "perf-dd-stacks-01.txt"))
    frames, total = flame_frames([*one, *one], min_share=0)
    assert total == 2 * sum(count for _stack, count in one)
    doubled = {path: 2 * count for path, count in prefix_counts(one).items()}
    assert paths_of([(f.depth, f.name, f.start, f.count) for f in frames]) == doubled


def test_narrow_frames_are_left_out_with_everything_above_them() -> None:
    pairs = folded_pairs(result_of(CORPUS / "perf-vertx-stacks-01.txt"))
    every, total = flame_frames(pairs, min_share=0)
    kept, _ = flame_frames(pairs, min_share=0.01)
    expected = {p: c for p, c in prefix_counts(pairs).items() if c >= 0.01 * total}
    assert paths_of([(f.depth, f.name, f.start, f.count) for f in kept]) == expected
    assert len(kept) < len(every)


# --------------------------------------------------------------------------- SVG


@pytest.mark.parametrize(
    ("path", "option"),
    [(path, None) for path in STACK_FILES]
    + [
        (CORPUS / "perf-vertx-stacks-01.txt", "all"),
        (CORPUS / "perf-iperf-stacks-pidtid-01.txt", "tid"),
        (CORPUS / "perf-mirageos-stacks-01.txt", "addrs"),
        (RESEARCH / "cpu_py313_perfjit_dwarf.txt", "kernel"),
    ],
    ids=lambda v: getattr(v, "stem", str(v)),
)
@pytest.mark.slow
def test_svg_frames_are_the_folded_stacks(path: Path, option: str | None) -> None:
    args = [path, "--format", "flamegraph", *([f"--{option}"] if option else [])]
    code, svg, err = cli(*args)
    assert code == 0, err
    assert svg.startswith('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<svg ')
    # runs of [unknown] frames are drawn as one frame (collapse_unknown)
    pairs = [(collapse_unknown(s)[0], c) for s, c in folded_pairs(result_of(path, option))]
    total = sum(count for _stack, count in pairs)
    expected = {p: c for p, c in prefix_counts(pairs).items() if c >= MIN_SHARE * total}
    rows = svg_frames(svg)
    drawn = paths_of([(r["depth"], r["name"], r["start"], r["count"]) for r in rows])
    assert drawn == expected
    for row in rows:
        count = row["count"]
        assert row["title_count"] == count
        assert row["share"] == float(f"{100 * count / total:.2f}")
        assert abs(row["width"] - count * SPAN / total) <= 0.051
        assert abs(row["x"] - (XPAD + row["start"] * SPAN / total)) <= 0.051
        name, text = str(row["name"]), str(row["text"])
        fits = int(row["width"] / (FONT_SIZE * FONT_WIDTH))
        if fits < 3:
            assert text == ""
        elif fits < len(name):
            assert text == name[: fits - 2] + ".."
        else:
            assert text == name


def test_collapse_options_reach_the_flame_graph() -> None:
    path = RESEARCH / "cpu_py313_perfjit_dwarf.txt"
    plain = {row["name"] for row in svg_frames(cli(path, "--format", "flamegraph")[1])}
    marked = {row["name"] for row in svg_frames(cli(path, "--format", "flamegraph", "--all")[1])}
    assert "do_syscall_64" in plain and "do_syscall_64_[k]" not in plain
    assert "do_syscall_64_[k]" in marked
    # stackcollapse-perf.pl marks /tmp/perf-PID.map frames only, not jitdump DSOs
    assert "py::fib:/tmp/perfwork/cpu_work.py" in marked
    vertx = CORPUS / "perf-vertx-stacks-01.txt"
    jitted = {row["name"] for row in svg_frames(cli(vertx, "--format", "flamegraph", "--jit")[1])}
    assert "io/netty/channel/nio/NioEventLoop:.run_[j]" in jitted


def test_count_label_says_what_the_widths_are() -> None:
    def labels(path: Path, *args: str) -> set[object]:
        return {row["label"] for row in svg_frames(cli(path, "--format", "flamegraph", *args)[1])}

    # cpu-clock with periods: nanoseconds; no periods printed: samples; cycles:u periods.
    assert labels(RESEARCH / "cpu_py313_perfjit_dwarf.txt") == {"ns"}
    assert labels(CORPUS / "perf-vertx-stacks-01.txt") == {"samples"}
    assert labels(CORPUS / "perf-rust-Yamakaky-dcpu.txt") == {"cycles:u"}
    # stackcollapse-perf.pl reads no event on a tracepoint header (its payload follows the
    # event), so it folds those samples whatever the event folded: several events, "counts"
    mixed = RESEARCH / "mixed_cpuclock_sched_rawsyscalls.txt"
    assert labels(mixed) == {"counts"}
    assert labels(mixed, "--event-filter", "cpu-clock/freq=199/") == {"counts"}
    svg = cli(mixed, "--format", "flamegraph", "--event-filter", "sched:sched_switch")[1]
    assert " · 2,915 counts (summed sample periods) in 154 stacks" in svg


def test_colours_by_frame_type_whatever_the_annotation() -> None:
    path = RESEARCH / "cpu_py313_perfjit_dwarf.txt"
    plain = {r["name"]: r["fill"] for r in svg_frames(cli(path, "--format", "flamegraph")[1])}
    marked = {
        r["name"]: r["fill"] for r in svg_frames(cli(path, "--format", "flamegraph", "--all")[1])
    }
    kernel = frame_colour("do_syscall_64", "kernel")
    assert re.fullmatch(r"rgb\((19\d|2\d\d),(9\d|1[0-5]\d),0\)", kernel)
    assert plain["do_syscall_64"] == marked["do_syscall_64_[k]"] == kernel
    python = "py::fib:/tmp/perfwork/cpu_work.py"
    assert plain[python] == marked[python] == frame_colour(python, "jit")
    user = "_PyEval_EvalFrameDefault"
    assert plain[user] == marked[user] == frame_colour(user, "user")
    assert len({kernel, plain[python], plain[user]}) == 3
    # JIT frames from /tmp/perf-PID.map are green without --jit too.
    vertx = {
        r["name"]: r["fill"]
        for r in svg_frames(cli(CORPUS / "perf-vertx-stacks-01.txt", "--format", "flamegraph")[1])
    }
    jit = "io/netty/channel/nio/NioEventLoop:.run"
    assert vertx[jit] == frame_colour(jit, "jit")
    assert vertx["JavaCalls::call_helper"] == frame_colour("JavaCalls::call_helper", "user")


def test_names_from_the_capture_are_escaped() -> None:
    # perf-js-stacks-01 has V8 frames named `RegExp:[&<>\\]` and `evalmachine.<anonymous>:1`.
    code, svg, err = cli(CORPUS / "perf-js-stacks-01.txt", "--format", "flamegraph")
    assert code == 0, err
    names = {str(row["name"]) for row in svg_frames(svg)}
    assert r"RegExp:[&<>\\]" in names
    assert any("evalmachine.<anonymous>:1" in name for name in names)
    assert r"RegExp:[&amp;&lt;&gt;\\]" in svg
    assert "<anonymous>" not in svg and "<>" not in svg


def test_hostile_names_cannot_break_out() -> None:
    # HAND-WRITTEN stacks (not captured): markup, quotes, control characters, a lone
    # surrogate from an undecodable byte and a non-character XML cannot carry.
    hostile = [
        ("app;</script><script>alert(1)</script>;a&b\"c'd", 5),
        ("app;ctl\x01\x1b[31m;bad\udc80byte;\ufffe", 5),
        ("app;]]><g onload=x>", 5),
    ]
    svg = flamegraph_svg(hostile, title="<b>t</b>", subtitle="&amp; ]]>", salt="fg1")
    svg.encode("utf-8")  # no lone surrogate left
    assert svg.count("<script") == 1 and svg.count("</script>") == 1
    assert svg.count("]]>") == 1 and "<g onload" not in svg
    names = {str(row["name"]) for row in svg_frames(svg)}
    assert "</script><script>alert(1)</script>" in names
    assert "a&b\"c'd" in names
    assert "ctl\\x01\\x1b[31m" in names
    assert "bad\\udc80byte" in names
    assert "\\ufffe" in names
    assert ET.fromstring(svg.encode("utf-8")).find(f".//{SVG}text").text == "<b>t</b>"


@pytest.mark.slow
def test_output_is_deterministic_across_processes() -> None:
    path = RESEARCH / "cpu_py312_xperf_dwarf.txt"
    outputs = []
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        run = subprocess.run(
            [sys.executable, "-m", "analyzer", str(path), "--format", "flamegraph", "--all"],
            capture_output=True,
            check=True,
            env=env,
            cwd=REPO,
        )
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].decode("utf-8") == cli(path, "--format", "flamegraph", "--all")[1]


# --------------------------------------------------------------------------- errors


def test_needs_perf_stacks() -> None:
    strace_log = FIXTURES / "strace" / "logs" / "small_sh.f_tt_T.log"
    code, _, err = cli(strace_log, "--format", "flamegraph")
    assert code == 2 and "needs a perf script input" in err
    code, _, err = cli(RESEARCH / "block_rq_insert_issue_complete.txt", "--format", "flamegraph")
    assert code == 2 and "no call stacks" in err
    jitted = RESEARCH / "cpu_py313_perfjit_dwarf.txt"
    code, _, err = cli(jitted, "--format", "flamegraph", "--event-filter", "no-such-event")
    assert code == 2 and "no perf samples were folded" in err
    # right-aligned headers of samples without callchain: the script folds nothing
    nocallchain = RESEARCH / "cpu_awkward_comm_nocallchain.txt"
    code, _, err = cli(nocallchain, "--format", "flamegraph")
    assert code == 2 and "no perf samples were folded" in err


def test_registered_by_name_and_extension(tmp_path: Path) -> None:
    assert RENDERERS["flamegraph"] is FlamegraphRenderer
    assert isinstance(renderer_for_path(tmp_path / "x.SVG"), FlamegraphRenderer)
    out = tmp_path / "stacks.svg"
    code, _, err = cli(CORPUS / "perf-numa-stacks-01.txt", "-o", out)
    assert code == 0, err
    assert svg_frames(out.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- HTML


def _html_charts(result: AnalysisResult, monkeypatch: pytest.MonkeyPatch, **kw: bool) -> dict:
    seen: dict = {}

    def capture(name, out, *, autoescape, context):  # type: ignore[no-untyped-def]
        seen.update(context["charts"])

    monkeypatch.setattr(html_module, "render_template", capture)
    HtmlRenderer(**kw).render_to_string(result)
    return seen


def test_html_report_gets_the_same_flame_graph_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    result = result_of(RESEARCH / "cpu_py313_perfjit_dwarf.txt")
    charts = _html_charts(result, monkeypatch)
    inline = str(charts["flamegraph"])
    assert inline.startswith('<svg version="1.1" id="flamegraph" class="flamegraph" width="100%"')
    assert "<?xml" not in inline
    standalone = flamegraph_chart(result, standalone=True)
    assert [r["name"] for r in svg_frames(inline)] == [r["name"] for r in svg_frames(standalone)]
    ids = [i for svg in charts.values() for i in re.findall(r'\bid="([^"]+)"', str(svg))]
    assert len(ids) == len(set(ids)), "element ids clash between the report's SVGs"
    assert all(
        i == "flamegraph" or i.startswith("flamegraph-")
        for i in re.findall(r'\bid="([^"]+)"', inline)
    )
    assert "flamegraph" not in _html_charts(result, monkeypatch, plots=False)


def test_html_report_without_perf_stacks_has_no_flame_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    strace = result_of(FIXTURES / "strace" / "logs" / "small_sh.f_tt_T.log")
    assert "flamegraph" not in _html_charts(strace, monkeypatch)
    no_stacks = result_of(RESEARCH / "block_rq_insert_issue_complete.txt")
    assert "flamegraph" not in _html_charts(no_stacks, monkeypatch)


def test_script_and_styles_stay_inside_the_svg() -> None:
    svg = flamegraph_chart(result_of(CORPUS / "perf-dd-stacks-01.txt"), salt="x1")
    code = svg.split("<![CDATA[", 1)[1].split("]]>", 1)[0]
    assert "</" not in code and "]]>" not in code
    assert 'document.getElementById("x1")' in code
    style = svg.split("<style>", 1)[1].split("</style>", 1)[0]
    rules = [line for line in style.splitlines() if line.strip()]
    assert rules and all(line.startswith("#x1 ") for line in rules)
    with pytest.raises(ValueError, match="salt"):
        flamegraph_svg([("a;b", 1)], salt='x" onload="y')


def test_a_deep_unknown_only_stack_does_not_set_the_height() -> None:
    """asyncio_server.perf_cpu.txt (a real capture) has a 128-frame stack of nothing but
    [unknown] (a broken frame-pointer chain through the interpreter), 1.7% of the samples:
    drawn as one [unknown] ×126 frame, it keeps its width, and the picture is no taller than
    the deepest real stack (28 frames; shallower once frames under 0.1% are left out), not
    128."""
    path = REPO / "fixtures" / "diagnosis" / "logs" / "asyncio_server.perf_cpu.txt"
    code, svg, err = cli(path, "--format", "flamegraph")
    assert code == 0, err
    rows = svg_frames(svg)
    assert max(int(row["depth"]) for row in rows) <= 28
    unknown = [row for row in rows if row["name"] == "[unknown] ×126"]
    assert len(unknown) == 1 and unknown[0]["count"] == 17017017
    assert "runs of [unknown] frames shown as one in" in svg
    # the folded output keeps the frames as stackcollapse-perf.pl prints them
    code, folded, err = cli(path, "--format", "folded")
    assert max(len(line.split(" ")[0].split(";")) for line in folded.splitlines()) == 128


NOT_PERF_SCRIPT = {  # other perf commands' output, and a log of the capture's attempts
    "perf_report_stdio.txt",
    "perf_sched_timehist.txt",
    "perf_trace_plain_head.txt",
    "perf_trace_summary.txt",
    "fsync_writer.perf_block.attempts.txt",
}
PERF_FILES = [
    path
    for path in sorted(FIXTURES.glob("perf/*/*.txt"))
    + sorted(FIXTURES.glob("diagnosis/logs/*perf*.txt"))
    if path.name not in NOT_PERF_SCRIPT
]


@pytest.mark.parametrize("path", PERF_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_sorted_in_runs_the_frames_are_those_of_one_sort(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table's stacks are sorted a run of `SORT_BYTES` at a time and the runs merged: with
    budgets from one stack a run to the whole table, the frames (and the SVG) equal those of
    the stacks sorted as Python lists of frames, the order flamegraph.pl draws them in; the
    table twice over puts equal stacks in different runs."""
    result = result_of(path)
    folded = result.tables["perf_folded"]
    if folded.num_rows == 0:  # a dump without call stacks: no frames, whatever the budget
        for budget in (1, 700, 8192):
            monkeypatch.setattr(flamegraph_module, "SORT_BYTES", budget)
            assert flame_frames(folded, min_share=0, collapse=True) == ([], 0)
            with pytest.raises(RenderError, match=r"^--format flamegraph: "):
                flamegraph_chart(result, standalone=True)
        return
    pairs = folded_pairs(result)
    expected = flame_frames(pairs, min_share=0, collapse=True)
    twice = flame_frames([*pairs, *pairs], min_share=0, collapse=True)
    whole = flamegraph_chart(result, standalone=True)
    for budget in (1, 700, 8192):
        monkeypatch.setattr(flamegraph_module, "SORT_BYTES", budget)
        assert flame_frames(folded, min_share=0, collapse=True) == expected
        doubled = pa.concat_tables([folded, folded])
        assert flame_frames(doubled, min_share=0, collapse=True) == twice
        assert flamegraph_chart(result, standalone=True) == whole


def test_runs_merge_by_frame_list_not_by_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hand-written stacks where the text order and the frame-list order differ (``.``, ``:``
    and a space sort before ``;``): one stack a run, the merge must still draw ``foo`` once,
    its own stack first."""
    stacks = ["foo.x;a", "foo;b", "foo", "foo:y;c", "foo a;d", "foo;b;c", "fo;z"]
    table = pa.table({"stack": stacks, "count": [1, 2, 3, 4, 5, 6, 0]})
    expected = flame_frames(list(zip(stacks, [1, 2, 3, 4, 5, 6, 0], strict=True)), min_share=0)
    monkeypatch.setattr(flamegraph_module, "SORT_BYTES", 1)
    frames, total = flame_frames(table, min_share=0)
    assert (frames, total) == expected
    assert [f.name for f in frames if f.depth == 1] == ["foo", "foo a", "foo.x", "foo:y"]
