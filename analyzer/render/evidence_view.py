"""What the views of the snapshot and metrics sources share (top, ps, pidstat, py-spy, iostat,
CloudWatch): their times as people read them, whatever the input's clock.

A section says how its ``time`` values read in its ``clock`` object
(`analyzer.sections.series.clock_of`): ``epoch`` (Unix time, shown in UTC), ``local`` (the
machine's wall clock with its date, held as if UTC: shown without a zone) or ``time_of_day``
(seconds since a local midnight: shown as a time of day).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from analyzer.render import formatting

__all__ = ["clock_kind", "clock_label", "when"]

_LABELS = {
    "epoch": "UTC",
    "local": "local time (no zone printed)",
    "time_of_day": "local time of day (no date printed)",
}


def clock_kind(section: Mapping[str, Any]) -> str | None:
    clock = section.get("clock")
    return clock.get("kind") if isinstance(clock, Mapping) else None


def clock_label(kind: str | None) -> str:
    return _LABELS.get(kind or "", "no times")


def when(value: object, kind: str | None) -> str:
    """A section's time as text: ``08:14:40`` (time of day), ``2026-12-05 08:14:40`` (local),
    ``2026-12-05 08:14:40 UTC`` (epoch); ``—`` when missing."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return formatting.MISSING
    if kind == "time_of_day":
        text = formatting.timestamp(value, "clock")[:-3]
        return text.removesuffix(".000")
    if kind in ("epoch", "local"):
        try:
            moment = datetime.fromtimestamp(float(value), tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return f"{value}"
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
        if moment.microsecond >= 1000:
            text += f".{moment.microsecond // 1000:03d}"
        return f"{text} UTC" if kind == "epoch" else text
    return f"#{value:g}" if isinstance(value, float) else f"#{value}"
