"""Flame graph (``--format flamegraph``): a self-contained SVG drawn by iodiag itself.

The input is the run's folded stacks (the `perf_folded` table, exactly what ``--format folded``
prints, so the stackcollapse options ``--pid --tid --kernel --jit --all --addrs --event-filter``
apply here too). The picture follows FlameGraph's ``flamegraph.pl``:

- frames stacked bottom-up from an ``all`` frame; the width of a frame is its count (the summed
  folded counts of every stack through it); siblings are sorted by name, so the x order has no
  meaning; a frame's own (self) count is the part of its width not covered by its children;
- a title, a hover ``<title>`` per frame reading ``name (N samples, P%)`` (``samples`` becomes
  ``ns`` or the event name when the counts are summed sample periods, see `count_name`);
- colours by frame type, deterministic per name (flamegraph.pl's ``--hash`` name hash, so the
  same input gives the same bytes): kernel frames (``_[k]``, or from a kernel DSO) orange, JIT
  (``_[j]``, ``/tmp/perf-PID.map``, jitdump) and Python ``py::`` frames green, inlined
  (``_[i]``) aqua, everything else (user code) in the warm red-to-yellow "hot" palette;
- frames narrower than `MIN_SHARE` of the total are left out with everything above them
  (flamegraph.pl's ``--minwidth``, which defaults to 0.1 px; iodiag uses 0.1 % of the width,
  about 1.2 px, to keep the HTML report small); their count stays in their parent's width;
- labels cut to the frame width with ``..`` as flamegraph.pl does (12 px Verdana, 0.59 em per
  character), and no label below three characters;
- a run of ``[unknown]`` frames (no symbol; typically a broken frame-pointer chain, which can
  be 120 frames deep) is drawn as one ``[unknown] ×N`` frame (`collapse_unknown`), so such a
  stack keeps its width but does not make the picture mostly empty height (``--format folded``
  keeps the frames as stackcollapse-perf.pl prints them).

Every name is XML-escaped, and characters XML cannot carry (controls, lone surrogates from
undecodable input bytes) are shown as ``\\x..``/``\\udc..`` escapes. Without JavaScript the SVG
is a complete picture with hover titles; a small inline script (no library, no network) adds
flamegraph.pl's click-to-zoom, "Reset Zoom", a details line and a regular-expression search
that highlights matches and prints the matched share. The script finds its elements by the
SVG's ``id`` (the `salt`), and every other id and style rule is prefixed with it, so several
SVGs in one HTML page cannot clash (the charts of `analyzer.render.plots` use their own salts).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from html import escape
from operator import itemgetter
from pathlib import PurePath
from typing import IO, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.clean import clean_text
from analyzer.derive.perf_fold import default_event, fold_frame
from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer, RenderError

__all__ = [
    "MIN_SHARE",
    "FlameFrame",
    "FlamegraphRenderer",
    "collapse_unknown",
    "count_name",
    "flame_frames",
    "flamegraph_chart",
    "flamegraph_svg",
    "frame_colour",
    "frame_kind",
    "frame_kinds",
    "namehash",
    "perf_input_names",
    "perf_stack_tables",
]

MIN_SHARE = 0.001
"""Frames narrower than this share of the total are left out (0.1 %)."""
WIDTH = 1200
"""Image width in px (flamegraph.pl's default)."""
FRAME_HEIGHT = 16
FONT_SIZE = 12
FONT_WIDTH = 0.59
"""Average character width relative to the font size (flamegraph.pl's estimate)."""
XPAD = 10
FONT_FAMILY = "Verdana, 'DejaVu Sans', sans-serif"
SEARCH_COLOUR = "rgb(230,0,230)"
_SALT = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ADDR_NAME = re.compile(r"^\[(.*) <[0-9a-fA-F]+>\]$")
_CLOCK_EVENTS = frozenset({"cpu-clock", "task-clock"})


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class FlameFrame:
    """One box of the flame graph."""

    depth: int
    """0 for ``all``, 1 for the root frame of a folded stack (the comm), and so on."""
    name: str
    start: int
    """Left edge, as the summed count of everything to its left."""
    count: int
    """Width: the summed count of every folded stack through this frame."""


def flame_frames(
    stacks: Iterable[tuple[str, int]] | pa.Table,
    min_share: float = MIN_SHARE,
    *,
    collapse: bool = False,
) -> tuple[list[FlameFrame], int]:
    """The frames of a flame graph of folded `stacks` (``(stack, count)`` pairs, or a table
    with ``stack`` and ``count`` columns) and the total.

    Equal stacks are summed first (several inputs may fold to the same stack). Stacks are then
    taken in order of their frame lists, so siblings are sorted by name and a frame's own count
    comes before its children, as in flamegraph.pl. A frame whose count is below
    ``min_share * total`` is left out (with everything above it, which is never wider). The
    frames come sorted by (depth, start); the first one is ``all``. With `collapse`, each
    stack is drawn as `collapse_unknown` shortens it.
    """
    if isinstance(stacks, pa.Table):
        table_order = _table_order(stacks, collapse)
        if table_order is not None:
            return _sweep(*table_order, min_share)
        stacks = zip(stacks["stack"].to_pylist(), stacks["count"].to_pylist(), strict=True)
    if collapse:
        stacks = ((collapse_unknown(stack)[0], count) for stack, count in stacks)
    totals: dict[str, int] = {}
    for stack, count in stacks:
        if count > 0:
            totals[stack] = totals.get(stack, 0) + count
    ordered = sorted(((stack.split(";"), count) for stack, count in totals.items()))
    return _sweep(ordered, sum(totals.values()), min_share)


_BATCH = 1 << 16
SORT_BYTES = 64 << 20
"""The stacks of a table are sorted this many bytes of stack text at a time (`_table_order`):
the sort key is a copy of what it sorts, and at 2 GB of distinct stacks the whole table's
is ~0.6 GB."""


def _table_order(
    table: pa.Table, collapse: bool
) -> tuple[Iterator[tuple[list[str], int]], int] | None:
    """The stacks of `table` with a positive count in the order `flame_frames` takes them
    (by frame list: sorted by Arrow with ``;`` made the lowest character, shortened first
    with `collapse`) a batch at a time, and their total; None when a stack has a NUL (which
    that order cannot rank).

    The table is sorted in runs of about `SORT_BYTES` of stack text, each keeping only its
    row order, and the runs are merged by frame list as they are read (a share of `_BATCH`
    rows of each at a time): only one run's sort key is a copy of its stacks, while it
    sorts."""
    stacks, counts = table["stack"], table["count"]
    if pc.any(pc.match_substring(stacks, "\x00")).as_py():
        return None
    per_row = max(1, stacks.nbytes // max(1, len(stacks)))
    run_rows = max(1, SORT_BYTES // per_row)
    runs: list[tuple[pa.ChunkedArray, pa.ChunkedArray, pa.Array, pa.ChunkedArray | None]] = []
    total = 0
    for start in range(0, max(1, len(stacks)), run_rows):
        part = stacks.slice(start, run_rows)
        part_counts = counts.slice(start, run_rows)
        order, shorten = _run_order(part, collapse)
        order = order.filter(pc.greater(part_counts.take(order), 0))
        if len(order):
            total += int(pc.sum(part_counts.take(order)).as_py() or 0)
            runs.append((part, part_counts, order, shorten))
    if not runs:  # nothing with a positive count
        return iter(()), 0
    if len(runs) == 1:
        return _run_stacks(*runs[0], _BATCH), total
    batch = max(1024, _BATCH // len(runs))
    merged = heapq.merge(*(_run_stacks(*run, batch) for run in runs), key=itemgetter(0))
    return merged, total


def _run_order(stacks: pa.ChunkedArray, collapse: bool) -> tuple[pa.Array, pa.ChunkedArray | None]:
    """The row order of one run of `_table_order` and, with `collapse`, which of its stacks
    `collapse_unknown` shortens."""
    keys = []
    masks = []
    for chunk in stacks.chunks:
        key = pc.replace_substring(chunk, ";", "\x00")
        mask = unknown_runs(chunk) if collapse else None
        if mask is not None and pc.any(mask).as_py():
            drawn = [collapse_unknown(s)[0] for s in chunk.filter(mask).to_pylist()]
            key = pc.replace_with_mask(
                key, mask, pa.array([s.replace(";", "\x00") for s in drawn], key.type)
            )
            masks.append(mask)
        else:
            masks.append(pa.array(np.zeros(len(chunk), dtype=bool)))
        keys.append(key)
    shorten = pa.chunked_array(masks, pa.bool_()) if collapse else None
    return pc.sort_indices(pa.chunked_array(keys, stacks.type)), shorten


def _run_stacks(
    stacks: pa.ChunkedArray,
    counts: pa.ChunkedArray,
    order: pa.Array,
    shorten: pa.ChunkedArray | None,
    batch: int,
) -> Iterator[tuple[list[str], int]]:
    """The frame lists and counts of one sorted run, read `batch` rows at a time."""
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        names = stacks.take(rows).to_pylist()
        short = shorten.take(rows).to_pylist() if shorten is not None else None
        for row, (stack, count) in enumerate(
            zip(names, counts.take(rows).to_pylist(), strict=True)
        ):
            if short is not None and short[row]:
                stack = collapse_unknown(stack)[0]
            yield stack.split(";"), count


def _sweep(
    ordered: Iterable[tuple[list[str], int]], total: int, min_share: float
) -> tuple[list[FlameFrame], int]:
    """`flame_frames` of stacks in frame-list order (equal ones next to each other)."""
    least = total * min_share
    frames: list[FlameFrame] = []
    names: list[str] = []
    starts: list[int] = []
    offset = 0

    def close(keep: int) -> None:
        for depth in range(len(names) - 1, keep - 1, -1):
            width = offset - starts[depth]
            if width >= least:
                frames.append(FlameFrame(depth + 1, names[depth], starts[depth], width))
        del names[keep:], starts[keep:]

    for parts, count in ordered:
        same = 0
        limit = min(len(parts), len(names))
        while same < limit and parts[same] == names[same]:
            same += 1
        close(same)
        names.extend(parts[same:])
        starts.extend([offset] * (len(parts) - same))
        offset += count
    close(0)
    if total:
        frames.append(FlameFrame(0, "all", 0, total))
    frames.sort(key=lambda frame: (frame.depth, frame.start))
    return frames, total


# --------------------------------------------------------------------------- colours


def namehash(name: str) -> float:
    """flamegraph.pl's ``namehash``: a number in [0, 1] from the first characters of `name`,
    early characters weighing most (so similar names get similar colours)."""
    name = re.sub(r".(.*?)`", "", name, count=1)  # "module`func": keep the function
    vector = 0.0
    weight = 1.0
    top = 1.0
    mod = 10
    for char in name:
        vector += (ord(char) % mod) / (mod - 1) * weight
        mod += 1
        top += weight
        weight *= 0.70
        if mod > 12:
            break
    return 1 - vector / top


def frame_kinds(frames: pa.Table) -> dict[str, str]:
    """``kernel`` or ``jit`` for the folded names of the frames in a `perf_frames` table that
    come from a kernel DSO or a JIT map (stackcollapse-perf.pl's ``--kernel``/``--jit``
    rules), so frames are coloured by type even when the folded names carry no annotation."""
    kinds: dict[str, str] = {}
    columns = frames.select(["addr", "symbol", "offset", "dso"])
    # a slice at a time: the four columns of 1.4M frames as Python strings took ~0.4 GB
    for start in range(0, columns.num_rows, _BATCH):
        data = columns.slice(start, _BATCH).to_pydict()
        for addr, symbol, offset, dso in zip(
            data["addr"], data["symbol"], data["offset"], data["dso"], strict=True
        ):
            names = fold_frame(addr, symbol, offset, dso, kernel=True, jit=True)
            if not names:
                continue
            first = names[0]
            if first.endswith("_[k]"):
                kinds.setdefault(first[:-4], "kernel")
            elif first.endswith("_[j]"):
                kinds.setdefault(first[:-4], "jit")
    return kinds


def frame_kind(name: str, kinds: Mapping[str, str] | None = None) -> str:
    """``kernel``, ``jit``, ``inline`` or ``user``: the annotation suffix of a folded name,
    else ``py::`` (Python frames), else the DSO-based `kinds` (see `frame_kinds`)."""
    if name.endswith("_[k]"):
        return "kernel"
    if name.endswith("_[j]") or name.startswith("py::"):
        return "jit"
    if name.endswith("_[i]"):
        return "inline"
    if kinds:
        plain = _ADDR_NAME.sub(r"[\1]", name)
        kind = kinds.get(plain) or kinds.get("L" + plain)
        if kind:
            return kind
    return "user"


def frame_colour(name: str, kind: str) -> str:
    """The fill of a frame: flamegraph.pl's palettes (``hot`` for user code, ``orange``,
    ``green`` and ``aqua`` as its ``java`` palette uses them), keyed by the name hash."""
    plain = name[:-4] if name[-4:] in ("_[k]", "_[j]", "_[i]") else name
    v1 = namehash(plain)
    if kind == "kernel":
        return f"rgb({190 + int(65 * v1)},{90 + int(65 * v1)},0)"
    if kind == "jit":
        return f"rgb({50 + int(60 * v1)},{200 + int(55 * v1)},{50 + int(60 * v1)})"
    if kind == "inline":
        return f"rgb({50 + int(60 * v1)},{165 + int(55 * v1)},{165 + int(55 * v1)})"
    v2 = namehash(plain[::-1])
    return f"rgb({205 + int(50 * v2)},{int(230 * v1)},{int(55 * v2)})"


# --------------------------------------------------------------------------- SVG


def _text(value: str) -> str:
    """`value` safe as XML text or attribute: escaped, and characters XML cannot carry shown
    as escapes."""
    value = _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", clean_text(value))
    return escape(value, quote=True)


def _label(name: str, width: float) -> str:
    """flamegraph.pl's label: as many characters as fit, the last two replaced by ``..``
    when cut; empty below three characters."""
    chars = int(width / (FONT_SIZE * FONT_WIDTH))
    if chars < 3:
        return ""
    if chars < len(name):
        return name[: chars - 2] + ".."
    return name


_STYLE = """\
#{s} .f:hover rect {{ stroke: #000; stroke-width: 0.5; }}
#{s} .f {{ cursor: pointer; }}
#{s} .f text {{ pointer-events: none; }}
#{s} .hide {{ display: none; }}
#{s} .parent {{ opacity: 0.5; }}
#{s} .btn {{ cursor: pointer; }}
#{s} .btn:hover {{ text-decoration: underline; }}
"""

_SCRIPT = """\
(function () {
  var svg = document.getElementById("%(s)s");
  if (!svg || !svg.querySelectorAll) return;
  var X = %(x)d, W = %(w)d, TOTAL = %(total)d, CW = %(cw)s;
  var frames = Array.prototype.slice.call(svg.querySelectorAll("g.f"));
  function $(id) { return document.getElementById("%(s)s-" + id); }
  var details = $("details"), unzoomer = $("unzoom");
  var searcher = $("search"), matched = $("matched");
  function num(g, a) { return parseFloat(g.getAttribute("data-" + a)); }
  function info(g) { return g.firstChild.textContent; }
  function name(g) { var t = info(g); return t.slice(0, t.lastIndexOf(" (")); }
  function place(g, s0, n0) {
    var s = Math.max(num(g, "s"), s0), e = Math.min(num(g, "s") + num(g, "n"), s0 + n0);
    var x = X + (s - s0) * W / n0, w = (e - s) * W / n0, n = name(g), c = Math.floor(w / CW);
    var r = g.querySelector("rect"), t = g.querySelector("text");
    r.setAttribute("x", x.toFixed(1));
    r.setAttribute("width", w.toFixed(1));
    t.setAttribute("x", (x + 3).toFixed(1));
    t.textContent = c >= 3 ? (c >= n.length ? n : n.slice(0, c - 2) + "..") : "";
  }
  function zoom(z) {
    var s0 = num(z, "s"), n0 = num(z, "n"), d0 = num(z, "d");
    unzoomer.classList.remove("hide");
    frames.forEach(function (g) {
      var s = num(g, "s"), n = num(g, "n"), d = num(g, "d");
      var out = s + n <= s0 || s >= s0 + n0 || (d > d0 && (s < s0 || s + n > s0 + n0));
      g.classList.toggle("hide", out);
      g.classList.toggle("parent", !out && d < d0);
      if (!out) place(g, s0, n0);
    });
  }
  function unzoom() {
    unzoomer.classList.add("hide");
    frames.forEach(function (g) {
      g.classList.remove("hide", "parent");
      place(g, 0, TOTAL);
    });
  }
  var fills = null;
  function search() {
    if (fills) {
      frames.forEach(function (g, i) { g.querySelector("rect").setAttribute("fill", fills[i]); });
      fills = null;
      searcher.textContent = "Search";
      matched.textContent = " ";
      return;
    }
    var term = window.prompt("Search frames (regular expression):", "");
    if (!term) return;
    var re;
    try { re = new RegExp(term); } catch (err) { return; }
    fills = [];
    var spans = [];
    frames.forEach(function (g) {
      var r = g.querySelector("rect");
      fills.push(r.getAttribute("fill"));
      if (re.test(name(g))) {
        r.setAttribute("fill", "%(hit)s");
        spans.push([num(g, "s"), num(g, "s") + num(g, "n")]);
      }
    });
    spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
    var covered = 0, end = -1;
    spans.forEach(function (p) {
      if (p[1] > end) { covered += p[1] - Math.max(p[0], end); end = p[1]; }
    });
    searcher.textContent = "Reset Search";
    matched.textContent = "Matched: " + (100 * covered / TOTAL).toFixed(1) + "%%";
  }
  searcher.classList.remove("hide");
  searcher.addEventListener("click", search);
  unzoomer.addEventListener("click", unzoom);
  svg.addEventListener("click", function (e) {
    var g = e.target.closest && e.target.closest("g.f");
    if (g) { if (num(g, "d") === 0) unzoom(); else zoom(g); }
  });
  svg.addEventListener("mouseover", function (e) {
    var g = e.target.closest && e.target.closest("g.f");
    if (g) details.textContent = "Function: " + info(g);
  });
  svg.addEventListener("mouseout", function () { details.textContent = " "; });
})();
"""


def flamegraph_svg(
    stacks: Iterable[tuple[str, int]] | pa.Table,
    *,
    kinds: Mapping[str, str] | None = None,
    title: str = "Flame Graph",
    subtitle: str = "",
    count_label: str = "samples",
    salt: str = "flamegraph",
    standalone: bool = True,
    min_share: float = MIN_SHARE,
    script: bool = True,
    collapse: bool = False,
) -> str:
    """The flame graph of folded `stacks` (``(stack, count)`` pairs) as SVG text.

    `kinds` colours frames by DSO (see `frame_kinds`); `count_label` names the counts in the
    hover titles. `salt` is the SVG's id and the prefix of every other id and style rule; it must
    be unique within an HTML page. `standalone` adds the XML declaration and fixes the size in
    pixels; otherwise the SVG scales to the width of its container. `script` adds the
    zoom/search JavaScript; `collapse` draws runs of ``[unknown]`` as one frame
    (`collapse_unknown`). Raises ValueError when the stacks count nothing.
    """
    if not _SALT.match(salt):
        raise ValueError(f"salt must be a plain identifier, not {salt!r}")
    frames, total = flame_frames(stacks, min_share, collapse=collapse)
    if total <= 0:
        raise ValueError("no stack counts to draw")
    depth_max = max(frame.depth for frame in frames)
    ypad1 = FONT_SIZE * 3 + (FONT_SIZE * 2 if subtitle else 0) + FONT_SIZE * 2
    ypad2 = FONT_SIZE * 2 + 10
    height = (depth_max + 1) * FRAME_HEIGHT + ypad1 + ypad2
    span = WIDTH - 2 * XPAD
    scale = span / total
    s = salt
    out: list[str] = []
    if standalone:
        out.append('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n')
        size = f'width="{WIDTH}" height="{height}"'
    else:
        size = 'width="100%" style="display:block;width:100%;height:auto;max-width:none"'
    out.append(
        f'<svg version="1.1" id="{s}" class="flamegraph" {size} viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{s}-title">\n'
    )
    out.append(
        f'<defs><linearGradient id="{s}-bg" y1="0" y2="1" x1="0" x2="0">'
        '<stop stop-color="#eeeeee" offset="5%"/><stop stop-color="#eeeeb0" offset="95%"/>'
        "</linearGradient></defs>\n"
    )
    out.append(f"<style>\n{_STYLE.format(s=s)}</style>\n")
    out.append(f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="url(#{s}-bg)"/>\n')
    out.append(f'<g font-family="{FONT_FAMILY}" font-size="{FONT_SIZE}" fill="#000">\n')
    out.append(
        f'<text id="{s}-title" x="{WIDTH // 2}" y="{FONT_SIZE * 2}" font-size="{FONT_SIZE + 5}" '
        f'text-anchor="middle">{_text(title)}</text>\n'
    )
    if subtitle:
        out.append(
            f'<text x="{WIDTH // 2}" y="{FONT_SIZE * 4}" text-anchor="middle" fill="#555">'
            f"{_text(subtitle)}</text>\n"
        )
    # the legend: what a frame's width and colour mean
    legend_y = FONT_SIZE * (6 if subtitle else 4)
    items = [
        ("rgb(240,150,0)", "kernel"),
        ("rgb(80,230,80)", "JIT / Python"),
        ("rgb(80,195,195)", "inlined"),
        ("rgb(225,50,10)", "user code (red to yellow)"),
    ]
    what = "CPU time" if count_label == "ns" else count_label
    head = f"width: share of the {what} · colour:"
    legend = [f'<text x="{XPAD}" y="{legend_y}" fill="#555">{_text(head)}</text>']
    lx = XPAD + int(len(head) * FONT_SIZE * 0.56) + 10
    for colour, label in items:
        legend.append(
            f'<rect x="{lx}" y="{legend_y - 10}" width="11" height="11" fill="{colour}"/>'
            f'<text x="{lx + 15}" y="{legend_y}" fill="#555">{label}</text>'
        )
        lx += 15 + int(len(label) * FONT_SIZE * 0.55) + 16
    out.append(f'<g class="legend">{"".join(legend)}</g>\n')
    bottom = height - ypad2 // 2
    out.append(f'<text id="{s}-details" x="{XPAD}" y="{bottom}"> </text>\n')
    out.append(
        f'<text id="{s}-unzoom" class="btn hide" x="{XPAD}" y="{FONT_SIZE * 2}">Reset Zoom</text>\n'
    )
    out.append(
        f'<text id="{s}-search" class="btn hide" x="{WIDTH - XPAD - 100}" y="{FONT_SIZE * 2}">'
        "Search</text>\n"
    )
    out.append(f'<text id="{s}-matched" x="{WIDTH - XPAD - 100}" y="{bottom}"> </text>\n')
    out.append(f'<g id="{s}-frames">\n')
    for frame in frames:
        x = XPAD + frame.start * scale
        width = frame.count * scale
        y = height - ypad2 - (frame.depth + 1) * FRAME_HEIGHT + 1
        share = 100 * frame.count / total
        kind = frame_kind(frame.name, kinds)
        out.append(
            f'<g class="f" data-s="{frame.start}" data-n="{frame.count}" data-d="{frame.depth}">'
            f"<title>{_text(frame.name)} ({frame.count:,} {_text(count_label)}, {share:.2f}%)"
            f'</title><rect x="{x:.1f}" y="{y}" width="{width:.1f}" '
            f'height="{FRAME_HEIGHT - 1}" rx="2" ry="2" fill="{frame_colour(frame.name, kind)}"/>'
            f'<text x="{x + 3:.1f}" y="{y + 10.5}">{_text(_label(frame.name, width))}</text></g>\n'
        )
    out.append("</g>\n</g>\n")
    if script:
        code = _SCRIPT % {
            "s": s,
            "x": XPAD,
            "w": span,
            "total": total,
            "cw": repr(FONT_SIZE * FONT_WIDTH),
            "hit": SEARCH_COLOUR,
        }
        out.append(f"<script><![CDATA[\n{code}]]></script>\n")
    out.append("</svg>\n")
    return "".join(out)


# --------------------------------------------------------------------------- from a result


def perf_stack_tables(result: AnalysisResult, output: str) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The `perf_samples`, `perf_stacks` and `perf_frames` tables of `result`.

    Raises `RenderError` (naming the `output` format) when the run had no perf input or its
    samples have no call stacks."""
    tables = [result.tables.get(name) for name in ("perf_samples", "perf_stacks", "perf_frames")]
    samples, stacks, frames = tables
    if samples is None or stacks is None or frames is None:
        raise RenderError(f"--format {output} needs a perf script input")
    if stacks.num_rows == 0:
        raise RenderError(
            f"--format {output}: the perf input has no call stacks "
            "(record them with perf record -g, then perf script)"
        )
    return samples, stacks, frames


def _folded_event(samples: pa.Table, total: int) -> str | None:
    """The event whose samples (not cut, counted as stackcollapse-perf.pl counts them: the
    period, or 1) add up to the folded total: the event that was folded. When several do, the
    first event of the input (the default); None when that is not one of them."""
    kept = samples.filter(pc.invert(pc.fill_null(samples["cut"], False)))
    period = pc.fill_null(kept["period"], 1)
    weight = pc.if_else(pc.equal(period, 0), 1, period)
    table = pa.table({"event": kept["event"], "w": weight})
    sums = table.group_by("event").aggregate([("w", "sum")])
    found = [
        event
        for event, value in zip(sums["event"].to_pylist(), sums["w_sum"].to_pylist(), strict=True)
        if event is not None and value == total
    ]
    if len(found) == 1:
        return found[0]
    first = default_event(samples)  # folded without --event-filter
    return first if first in found else None


def count_name(samples: pa.Table, event: str | None) -> str:
    """What the folded counts of `event` are: ``samples`` when perf printed no periods (each
    sample counts 1), ``ns`` for cpu-clock/task-clock periods, else the event's name (the
    counts are its summed sample periods: cycles, instructions...). With no single folded
    event (several inputs folding different events): ``samples`` or, with periods, ``counts``."""
    if event is None:
        return "samples" if samples["period"].null_count == len(samples) else "counts"
    periods = samples.filter(pc.equal(samples["event"], event))["period"]
    if periods.null_count == len(periods):
        return "samples"
    base = event.split("/", 1)[0]  # "cpu-clock/freq=199/" -> "cpu-clock"
    return "ns" if base.split(":", 1)[0] in _CLOCK_EVENTS else base


UNKNOWN = "[unknown]"


def collapse_unknown(stack: str) -> tuple[str, bool]:
    """`stack` with each run of two or more ``[unknown]`` frames (perf found no symbol, often
    a broken frame-pointer chain) folded into one ``[unknown] ×N`` frame, and whether it
    changed. A deep stack of nothing but ``[unknown]`` would otherwise set the picture's
    height alone, leaving most of its area empty."""
    frames = stack.split(";")
    if frames.count(UNKNOWN) < 2:
        return stack, False
    out: list[str] = []
    run = 0
    for frame in [*frames, ""]:
        if frame == UNKNOWN:
            run += 1
            continue
        if run:
            out.append(UNKNOWN if run == 1 else f"{UNKNOWN} ×{run}")
            run = 0
        out.append(frame)
    out.pop()  # the sentinel
    shortened = ";".join(out)
    return shortened, shortened != stack


_UNKNOWN_RUN = r"(^|;)\[unknown\];\[unknown\](;|$)"


def unknown_runs(stacks: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Whether each folded stack has a run of two or more ``[unknown]`` frames (the stacks
    `collapse_unknown` changes)."""
    return pc.fill_null(pc.match_substring_regex(stacks, _UNKNOWN_RUN), False)


def perf_input_names(result: AnalysisResult) -> list[str]:
    inputs = result.report.get("inputs")
    names = []
    for row in inputs if isinstance(inputs, list) else []:
        if isinstance(row, dict) and row.get("format") == "perf":
            path = str(row.get("path") or "")
            names.append("stdin" if path == "-" else PurePath(path).name or path)
    return names


def flamegraph_chart(
    result: AnalysisResult,
    *,
    salt: str = "flamegraph",
    standalone: bool = False,
    min_share: float = MIN_SHARE,
    output: str = "flamegraph",
) -> str:
    """The flame graph SVG of `result`'s folded perf stacks.

    Raises `RenderError` when the result has no perf stacks or nothing was folded (an
    ``--event-filter`` that matches no sample)."""
    samples, _stacks, frames = perf_stack_tables(result, output)
    folded = result.tables.get("perf_folded")
    if folded is None or folded.num_rows == 0:
        raise RenderError(f"--format {output}: no perf samples were folded (see --event-filter)")
    runs = unknown_runs(folded["stack"])
    shortened = 0
    for start in range(0, folded.num_rows, _BATCH):  # not a copy or a string of every stack
        stacks = folded["stack"].slice(start, _BATCH).filter(runs.slice(start, _BATCH))
        shortened += sum(collapse_unknown(stack)[1] for stack in stacks.to_pylist())
    total = int(pc.sum(folded["count"]).as_py() or 0)
    event = _folded_event(samples, total)
    label = count_name(samples, event)
    what = " (summed sample periods)" if label != "samples" else ""
    names = perf_input_names(result)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    parts = [shown] if shown else []
    if event is not None:
        parts.append(event)
    parts.append(f"{total:,} {label}{what} in {folded.num_rows:,} stacks")
    parts.append(f"frames under {min_share:.1%} left out" if min_share > 0 else "")
    if shortened:
        parts.append(f"runs of [unknown] frames shown as one in {shortened:,} stacks")
    subtitle = " · ".join(part for part in parts if part)
    try:
        return flamegraph_svg(
            folded,
            collapse=True,
            kinds=frame_kinds(frames),
            subtitle=subtitle,
            count_label=label,
            salt=salt,
            standalone=standalone,
            min_share=min_share,
        )
    except ValueError as error:
        raise RenderError(f"--format {output}: {error}") from None


class FlamegraphRenderer(Renderer):
    """perf stacks as a flame graph: one self-contained SVG (hover titles, click to zoom)."""

    name: ClassVar[str] = "flamegraph"
    extensions: ClassVar[tuple[str, ...]] = (".svg",)

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        out.write(flamegraph_chart(result, standalone=True))
