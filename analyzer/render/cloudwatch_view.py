"""The CloudWatch part of a report laid out for display (``view.sections["cloudwatch"]``):
per metric its range, worst value and the stretches past its limit. See
docs/sources/cloudwatch.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from analyzer.render.evidence_view import when
from analyzer.render.view import display_name, keyed_rows

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["cloudwatch_section", "section_view"]

_KEYS = (
    "input",
    "metric",
    "stat",
    "query_id",
    "unit",
    "values",
    "period_s",
    "first_at",
    "last_at",
    "min",
    "mean",
    "max",
    "bad_when",
    "limit",
    "limit_means",
    "worst",
    "past_limit",
    "stretches",
    "not_complete",
    "series",
)


def cloudwatch_section(raw: Mapping[str, Any]) -> dict[str, Any]:
    metrics = keyed_rows(raw.get("metrics"), _KEYS)
    for row in metrics:
        name = display_name(row["input"])
        row["name"] = name
        row["label"] = " ".join(
            str(part)
            for part in (
                row["metric"],
                row["stat"] or "",
                f"({row['query_id']})" if row["query_id"] else "",
            )
            if part
        )
        worst = row["worst"] if isinstance(row["worst"], dict) else {}
        row["worst_text"] = when(worst.get("at"), "epoch")
        row["worst_value"] = worst.get("value")
        row["worst_where"] = f"{name}:{worst.get('line')}" if worst.get("line") else name
        stretches = keyed_rows(
            row["stretches"],
            ("first_at", "last_at", "duration_s", "periods", "worst", "first_line"),
        )
        for stretch in stretches:
            stretch["first_text"] = when(stretch["first_at"], "epoch")
            stretch["last_text"] = when(stretch["last_at"], "epoch")
        row["stretches"] = stretches
    notes = raw.get("notes")
    return {
        "metrics": metrics,
        "past_limit": [row for row in metrics if row["past_limit"]],
        "notes": [str(note) for note in notes] if isinstance(notes, list) else [],
    }


def section_view(view: ReportView) -> dict[str, Any] | None:
    raw = view.report.get("cloudwatch")
    return cloudwatch_section(raw) if isinstance(raw, dict) else None
