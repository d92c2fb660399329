"""The Markdown report through a real GitHub-flavoured Markdown renderer (cmark-gfm, GitHub's
fork of cmark, via the ``cmarkgfm`` package): what GitHub would show of it.

The verdict's numbered items must be separate list items (a block tag at the end of a template
line eats its newline, which once ran item 2 into item 1's fix: "…which code it is.2.
**CPU-bound…**"), "What these inputs cannot show:" a paragraph of its own after the list, every
pipe table a table, and the thread timeline an image with its text beside it."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options
from test_render import example_report

from analyzer import analyze
from analyzer.model import AnalysisResult
from analyzer.render import MarkdownRenderer

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "fixtures" / "diagnosis" / "logs"
VOLUME = ROOT / "fixtures" / "incidents" / "slow_volume_gil_compactor"


def gfm(markdown: str) -> str:
    """HTML as GitHub renders it (raw HTML such as <details> kept, as GitHub keeps it)."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


class Outline(HTMLParser):
    """The parts of rendered HTML the checks look at: the verdict's list items (text), the
    paragraphs, tables and images."""

    def __init__(self) -> None:
        super().__init__()
        self.in_verdict = False
        self.stack: list[str] = []
        self.items: list[str] = []
        self.paragraphs: list[str] = []
        self.tables = 0
        self.images: list[str] = []
        self._open: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)
        if tag == "table":
            self.tables += 1
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")
            self.stack.pop()
        if tag in ("li", "p"):
            self._open.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        text = ""
        if tag in ("li", "p") and self._open and self._open[-1][0] == tag:
            text = "".join(self._open.pop()[1]).strip()
        if tag == "li" and self.in_verdict and self.stack.count("ol") == 1:
            self.items.append(text)
        if tag == "p":
            self.paragraphs.append(text)
        if tag == "h2" and self.in_verdict and self.items:
            self.in_verdict = False
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        for _tag, parts in self._open:
            parts.append(data)
        if data.strip() == "Verdict" and self.stack and self.stack[-1] == "h2":
            self.in_verdict = True
        elif self.stack and self.stack[-1] == "h2" and data.strip() != "Verdict":
            self.in_verdict = False


def outline(markdown: str) -> Outline:
    parser = Outline()
    parser.feed(gfm(markdown))
    return parser


def verdict_items(result: AnalysisResult) -> tuple[list[str], Outline]:
    md = MarkdownRenderer().render_to_string(result)
    found = outline(md)
    return found.items, found


def test_hand_built_verdict_items_and_limits_are_separate() -> None:
    """A HAND-BUILT report (tests/test_render.py's example, not captured data) with
    conclusions and limits."""
    result = AnalysisResult(report=example_report())
    items, found = verdict_items(result)
    conclusions = result.report["verdict"]["conclusions"]
    assert len(items) == len(conclusions)
    for item, conclusion in zip(items, conclusions, strict=True):
        assert item.startswith(conclusion["headline"].split("<")[0][:20])
        assert "What to do:" in item and item.count("What to do:") == 1
    assert "What these inputs cannot show:" in found.paragraphs
    assert not any("cannot show" in item for item in items)


@pytest.mark.parametrize(
    "inputs",
    [
        [LOGS / "asyncio_server.f_tt_T.log"],
        [ROOT / "fixtures" / "strace" / "logs" / "mt_pipes.f_tt_T.log"],
        [LOGS / "asyncio_server.combined.f_ttt_T.log", LOGS / "asyncio_server.combined.debug.log"],
        [  # with the top, iostat and py-spy sections
            VOLUME / "strace.f_tt_T_yy.log.gz",
            VOLUME / "top.H_b_d1_p.txt",
            VOLUME / "iostat.x_t_y_1.txt",
            VOLUME / "pyspy.dump_nonblocking_loop.txt",
        ],
    ],
    ids=lambda paths: paths[0].name,
)
def test_real_reports_render_as_github_shows_them(inputs: list[Path]) -> None:
    result = analyze([str(path) for path in inputs])
    conclusions = result.report["verdict"]["conclusions"]
    assert len(conclusions) >= 1
    md = MarkdownRenderer().render_to_string(result)
    found = outline(md)
    assert len(found.items) == len(conclusions)
    for item, conclusion in zip(found.items, conclusions, strict=True):
        assert item.count("What to do:") == 1
        assert f"{conclusion['rank'] + 1}. **" not in item  # the next item did not run in
    # every pipe table of the Markdown is a table
    rules = [line for line in md.splitlines() if line.startswith("|") and "--" in line]
    assert found.tables == len(rules) > 0
    # the timeline: an SVG image, and its text in a code block beside it
    assert any(src.startswith("data:image/svg+xml;base64,") for src in found.images)
    assert "Thread timeline" in gfm(md) and "seconds |0" in gfm(md)
