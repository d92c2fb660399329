"""The iostat part of a report laid out for display (``view.sections["iostat"]``): per device,
the mean and peak of each metric with its time and line, and the saturated stretches. See
docs/sources/iostat.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from analyzer.render.evidence_view import clock_kind, clock_label, when
from analyzer.render.view import display_name, keyed_rows

if TYPE_CHECKING:
    from analyzer.render.view import ReportView

__all__ = ["METRICS", "iostat_section", "section_view"]

METRICS: tuple[tuple[str, str], ...] = (
    ("r_s", "r/s"),
    ("w_s", "w/s"),
    ("rkb_s", "rkB/s"),
    ("wkb_s", "wkB/s"),
    ("r_await_ms", "r_await ms"),
    ("w_await_ms", "w_await ms"),
    ("await", "await ms"),
    ("aqu_sz", "aqu-sz"),
    ("util_pct", "%util"),
    ("tps", "tps"),
)
_STRETCH_KEYS = (
    "first_at",
    "last_at",
    "reports",
    "max_await_ms",
    "max_aqu_sz",
    "max_util_pct",
    "w_s",
    "wkb_s",
    "first_line",
    "last_line",
)


def iostat_section(raw: Mapping[str, Any]) -> dict[str, Any]:
    kind = clock_kind(raw)
    devices = []
    for device in keyed_rows(raw.get("devices"), ("input", "device", "host", "reports")):
        name = display_name(device["input"])
        metrics = []
        for key, label in METRICS:
            value = device.get(key)
            if isinstance(value, dict):
                metrics.append(
                    {
                        "label": label,
                        "mean": value.get("mean"),
                        "max": value.get("max"),
                        "at": when(value.get("max_at"), kind),
                        "where": f"{name}:{value.get('max_line')}",
                    }
                )
        stretches = keyed_rows(device.get("saturated"), _STRETCH_KEYS)
        for row in stretches:
            row["first_text"] = when(row["first_at"], kind)
            row["last_text"] = when(row["last_at"], kind)
            row["where"] = f"{name}:{row['first_line']}-{row['last_line']}"
        devices.append(
            {
                **device,
                "name": name,
                "metrics": metrics,
                "saturated": stretches,
                "series": device.get("series") if isinstance(device.get("series"), dict) else {},
            }
        )
    cpu_raw = raw.get("cpu")
    cpu: Mapping[str, Any] = cpu_raw if isinstance(cpu_raw, Mapping) else {}
    notes = raw.get("notes")
    return {
        "clock": kind,
        "clock_label": clock_label(kind),
        "devices": devices,
        "cpu": [
            {"label": key.removesuffix("_pct"), **value}
            for key, value in cpu.items()
            if isinstance(value, dict)
        ],
        "notes": [str(note) for note in notes] if isinstance(notes, list) else [],
    }


def section_view(view: ReportView) -> dict[str, Any] | None:
    raw = view.report.get("iostat")
    return iostat_section(raw) if isinstance(raw, dict) else None
