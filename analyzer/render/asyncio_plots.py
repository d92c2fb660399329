"""Charts of the asyncio section of the HTML report, in the house style of
`analyzer.render.plots`.

``slow_callbacks``: total time of the top slow-callback locations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from analyzer.render.plots import PALETTE, bar_chart

if TYPE_CHECKING:
    from analyzer.model import AnalysisResult
    from analyzer.render.view import ReportView

__all__ = ["section_charts", "slow_callbacks_chart"]


def slow_callbacks_chart(section: Mapping[str, Any] | None, *, top: int = 15) -> str | None:
    """Total time of the `top` slow-callback locations of an asyncio section (None when
    there are none)."""
    slow = section["by_location"][:top] if section else []
    return bar_chart(
        [str(row["location"]) for row in slow],
        [float(row["total_s"] or 0.0) for row in slow],
        salt="slow_callbacks",
        colour=PALETTE[3],
        xlabel="total time the callbacks held the event loop",
        series="slow callback time",
        title="Slow callback time by location",
    )


def section_charts(
    view: ReportView, result: AnalysisResult, limits: Mapping[str, int]
) -> dict[str, str | None]:
    """The asyncio chart of the report, sized by the renderer's ``chart_rows`` limit."""
    return {
        "slow_callbacks": slow_callbacks_chart(view.sections["asyncio"], top=limits["chart_rows"])
    }
