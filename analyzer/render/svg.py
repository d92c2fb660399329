"""Hand-written SVG for the reports' charts: escaping, axes with units, legends, colours.

matplotlib took ~0.4 s to import and ~2 s to draw the charts of a small report; the charts are
bars, steps and spans, which a few hundred lines of SVG text draw in milliseconds. Every chart
here is one ``<svg>`` element:

- with a ``viewBox`` (it scales to its box) and a ``role="img"`` plus ``<title>``;
- with the id ``chart-SALT`` and its element ids prefixed with that (the *salt* is unique
  within a page), so several charts can sit in one HTML page;
- with every text XML-escaped, and characters XML cannot carry shown as ``\\x..`` escapes;
- classed (``chart``, ``t`` text, ``ax`` axis lines, ``gr`` grid, ``mu`` muted text), so the
  HTML report's stylesheet recolours text and axes for dark mode; the bars keep their own
  mid-tone fills, readable on both. A *standalone* chart (an image of the Markdown report)
  carries the same rules in its own ``<style>``, dark mode included.

The same input gives the same bytes (no dates, no random ids).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from html import escape

__all__ = [
    "CAUSE_COLOURS",
    "OTHER_COLOUR",
    "PALETTE",
    "STANDALONE_STYLE",
    "Frame",
    "colour_for",
    "esc",
    "nice_ticks",
    "text_width",
]

PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#7F3C8D",
    "#8C6D31",
    "#3B8686",
)
"""Okabe–Ito colours (colour-blind safe), then three extra; "other" is always grey."""
OTHER_COLOUR = "#A0A0A0"

CAUSE_COLOURS: dict[str, str] = {
    # what a thread waited on or did (timeline states and the causes of blocked_loop)
    "running": "#009E73",
    "cpu": "#009E73",
    "file_io": "#E69F00",
    "file": "#E69F00",
    "flush": "#B8860B",
    "socket_io": "#0072B2",
    "net": "#0072B2",
    "dns": "#56B4E9",
    "pipe_io": "#CC79A7",
    "pipe": "#CC79A7",
    "lock": "#D55E00",
    "sleep": "#7F3C8D",
    "idle": "#C8CED6",
    "poll": "#C8CED6",
    "child_wait": "#8C6D31",
    "stdio": "#3B8686",
    "device_io": "#F0E442",
    "syscall": "#6B7B8C",
    "other": OTHER_COLOUR,
}
"""One colour per cause or state, the same in every chart (the timeline, the blocked-loop
episodes, the legends)."""

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ID = re.compile(r'(\bid="|url\(#)')

FONT = 11.0
"""Font size of chart text, px."""
CHAR = 0.6
"""Average character width relative to the font size (DejaVu Sans, generous)."""

STANDALONE_STYLE = (
    "<style>"
    "svg{font-family:'DejaVu Sans',Verdana,system-ui,sans-serif;background:#fff}"
    ".t{fill:#1f2328}.mu{fill:#59636e}.ax{stroke:#8c959f}.gr{stroke:#e4e8ec}"
    "@media (prefers-color-scheme:dark){svg{background:#0d1117}.t{fill:#e6edf3}"
    ".mu{fill:#9198a1}.ax{stroke:#6e7681}.gr{stroke:#30363d}}"
    "</style>"
)
"""The chart classes' colours for an SVG shown on its own (an ``<img>``), dark mode too."""


def colour_for(name: str, index: int) -> str:
    """The colour of a series: its cause colour when it has one, grey for ``other``, else
    the `index`-th palette colour."""
    if name in CAUSE_COLOURS:
        return CAUSE_COLOURS[name]
    return PALETTE[index % len(PALETTE)]


def esc(text: object) -> str:
    """`text` escaped for SVG text or an attribute value (quotes too); characters XML cannot
    carry become ``\\x..`` escapes."""
    value = "" if text is None else str(text)
    value = _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else
                         f"\\u{ord(m.group()):04x}", value)  # fmt: skip
    return escape(value, quote=True)


def text_width(text: str, size: float = FONT) -> float:
    """Estimated width in px of `text` at font `size`."""
    return len(text) * size * CHAR


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top` (1, 2 or 5 times a power of ten apart)."""
    if not (top > 0 and math.isfinite(top)):
        return [0.0, 1.0]
    raw = top / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top - step * 1e-9:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _f(value: float) -> str:
    """A coordinate with at most one decimal and no trailing zeros."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


class Frame:
    """One chart being written: an SVG of `width` × `height` px drawn from text pieces.

    `salt` names the chart (ids are prefixed with it); `title` is its accessible name.
    """

    def __init__(self, salt: str, title: str, width: float, height: float) -> None:
        self.salt = salt
        self.title = title
        self.width = width
        self.height = height
        self.parts: list[str] = []

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        fill: str,
        tip: str | None = None,
        extra: str = "",
    ) -> None:
        """A filled rectangle; `tip` becomes its hover ``<title>``."""
        attrs = f'x="{_f(x)}" y="{_f(y)}" width="{_f(max(w, 0.0))}" height="{_f(h)}"'
        attrs += f' fill="{fill}"{extra}'
        if tip is None:
            self.add(f"<rect {attrs}/>")
        else:
            self.add(f"<rect {attrs}><title>{esc(tip)}</title></rect>")

    def line(self, x1: float, y1: float, x2: float, y2: float, cls: str = "ax") -> None:
        self.add(
            f'<line class="{cls}" x1="{_f(x1)}" y1="{_f(y1)}" x2="{_f(x2)}" y2="{_f(y2)}"'
            ' stroke="#8c959f" stroke-width="1"/>'
        )

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        anchor: str = "start",
        cls: str = "t",
        size: float = FONT,
        weight: str = "",
        rotate: bool = False,
        tip: str | None = None,
    ) -> None:
        attrs = f'class="{cls}" x="{_f(x)}" y="{_f(y)}" font-size="{_f(size)}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if weight:
            attrs += f' font-weight="{weight}"'
        if rotate:
            attrs += f' transform="rotate(-90 {_f(x)} {_f(y)})"'
        fill = ' fill="#59636e"' if cls == "mu" else ' fill="#1f2328"'
        inner = esc(text) + (f"<title>{esc(tip)}</title>" if tip else "")
        self.add(f"<text {attrs}{fill}>{inner}</text>")

    def legend(self, items: Sequence[tuple[str, str]], x: float, y: float, width: float) -> float:
        """Swatches and names of `items` (name, colour) from (x, y), wrapped at `width`;
        returns the y below the legend."""
        cursor, row = x, y
        for name, colour in items:
            span = 16 + text_width(name, FONT - 1) + 14
            if cursor > x and cursor + span > x + width:
                cursor, row = x, row + 16
            self.rect(cursor, row - 9, 10, 10, colour)
            self.text(cursor + 14, row, name, size=FONT - 1)
            cursor += span
        return row + 10

    def svg(self, *, standalone: bool = False, extra_class: str = "") -> str:
        """The chart as an ``<svg>`` element (a complete SVG document when `standalone`)."""
        cls = f"chart {extra_class}".strip()
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" id="chart-{self.salt}" class="{cls}"'
            ' role="img"'
            f' viewBox="0 0 {_f(self.width)} {_f(self.height)}" width="{_f(self.width)}"'
            f' height="{_f(self.height)}" font-family="DejaVu Sans, Verdana, sans-serif">'
        )
        style = STANDALONE_STYLE if standalone else ""
        body = _ID.sub(lambda m: f"{m.group(1)}chart-{self.salt}-", "".join(self.parts))
        return f"{head}<title>{esc(self.title)}</title>{style}{body}</svg>"


def x_axis(
    frame: Frame,
    *,
    left: float,
    right: float,
    y: float,
    top_value: float,
    label: str,
    fmt: Callable[[float], str],
    grid_top: float | None = None,
    ticks: Sequence[float] | None = None,
) -> Callable[[float], float]:
    """A horizontal value axis from 0 to the last tick at `y`, with tick labels by `fmt`, an
    axis `label` under it and, with `grid_top`, vertical grid lines up to there. Returns the
    value -> x mapping."""
    values = list(ticks) if ticks is not None else nice_ticks(top_value)
    hi = values[-1] if values[-1] > 0 else 1.0

    def scale(value: float) -> float:
        return left + (right - left) * max(value, 0.0) / hi

    frame.line(left, y, right, y)
    for value in values:
        x = scale(value)
        if grid_top is not None and value > 0:
            frame.line(x, grid_top, x, y, cls="gr")
        frame.line(x, y, x, y + 4)
        frame.text(x, y + 15, fmt(value), anchor="middle", size=FONT - 1, cls="mu")
    frame.text((left + right) / 2, y + 30, label, anchor="middle")
    return scale
