"""Human-readable formatting of report values, shared by the text, Markdown and HTML renderers.

Each function takes a raw report value (seconds as floats, counts as ints, possibly ``None``) and
returns display text. They are registered once as Jinja filters in `templates.template_environment`
and called directly by the text renderer, so every output spells a duration the same way
(``41 µs``, ``512 ms``, ``3.2 s``, ``2 min 05 s``).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

from markupsafe import Markup, escape

MISSING = "—"
"""Shown for a value that is absent (``None``) or not a finite number."""

_UNITS: tuple[tuple[str, float], ...] = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))


def _finite(value: object) -> float | None:
    """`value` as a finite float, or None when it is missing, NaN, infinite or not numeric."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def duration(seconds: object) -> str:
    """Format a duration in seconds with two or three significant digits and a unit.

    ``0.000041`` gives ``41 µs``, ``0.512`` gives ``512 ms``, ``3.21`` gives ``3.2 s``; a minute
    or more gives ``2 min 05 s`` and an hour or more ``1 h 02 min``. ``None`` gives ``—``.
    """
    value = _finite(seconds)
    if value is None:
        return MISSING
    if value == 0:
        return "0 s"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if magnitude >= 59.5:
        whole = round(magnitude)
        if whole >= 3600:
            hours, rest = divmod(whole, 3600)
            return f"{sign}{hours} h {rest // 60:02d} min"
        minutes, secs = divmod(whole, 60)
        return f"{sign}{minutes} min {secs:02d} s"
    for unit, scale in _UNITS:
        # 0.9995 rather than 1 so that 999.7 µs is shown as "1.0 ms", not "1000 µs".
        if magnitude >= 0.9995 * scale or unit == "ns":
            scaled = magnitude / scale
            text = f"{scaled:.0f}" if scaled >= 9.95 else f"{scaled:.1f}"
            return f"{sign}{text} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def count(value: object) -> str:
    """Format an integer count with thousands separators: ``12,345``; ``None`` gives ``—``."""
    number = _finite(value)
    if number is None:
        return MISSING
    return f"{round(number):,}"


def percent(fraction: object) -> str:
    """Format a fraction (0.123) as a percentage (``12%``, ``1.2%``, ``<0.1%``)."""
    value = _finite(fraction)
    if value is None:
        return MISSING
    pct = value * 100
    if pct == 0:
        return "0%"
    if abs(pct) < 0.05:
        return "<0.1%"
    return f"{pct:.0f}%" if abs(pct) >= 9.95 else f"{pct:.1f}%"


def timestamp(seconds: object, clock: str | None = None) -> str:
    """Format a ``start``-like value (seconds on the trace's clock) for display.

    ``clock`` is the input's clock, as in ``inputs[].clock``:

    - ``"clock"`` (``-t``/``-tt``): seconds since midnight of the first day, shown as
      ``14:03:07.250311``; after a midnight rollover ``+1d 00:00:01.000000``.
    - ``"epoch"`` (``-ttt``): Unix seconds, shown in UTC: ``2024-05-01 14:03:07.250311 UTC``.
    - ``"relative"`` (``-r``): seconds since the first line, shown as ``+12.250311 s``.
    - anything else: the raw number of seconds with six decimals.
    """
    value = _finite(seconds)
    if value is None:
        return MISSING
    if clock == "clock":
        micros = round(value * 1_000_000)
        days, micros = divmod(micros, 86_400_000_000)
        secs, micros = divmod(micros, 1_000_000)
        hours, rest = divmod(secs, 3600)
        minutes, secs = divmod(rest, 60)
        text = f"{hours:02d}:{minutes:02d}:{secs:02d}.{micros:06d}"
        return f"+{days}d {text}" if days else text
    if clock == "epoch":
        try:
            moment = datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return f"{value:.6f}"
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    if clock == "relative":
        return f"+{value:.6f} s"
    return f"{value:.6f}"


_CLOCKS = {
    "clock": "time of day (-t/-tt)",
    "epoch": "Unix time (-ttt)",
    "relative": "relative (-r)",
}


def clock_label(clock: object) -> str:
    """Describe an ``inputs[].clock`` value: ``"clock"`` gives ``time of day (-t/-tt)``."""
    if clock is None:
        return "no timestamps"
    return _CLOCKS.get(str(clock), str(clock))


def short(text: object, limit: int = 160) -> str:
    """`text` as a string cut to at most `limit` characters, ending in ``…`` when cut."""
    value = "" if text is None else str(text)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def elide(text: object, limit: int) -> str:
    """`text` cut to at most `limit` characters by taking out its middle (``…``), so a path
    keeps its root and its file name: ``/var/lib/…/data_01.wal``. A path is cut at a ``/``
    where it can be."""
    value = "" if text is None else str(text)
    if len(value) <= limit:
        return value
    if limit <= 1:
        return "…"[:limit]
    keep = limit - 1
    tail = keep - keep // 3
    head = keep - tail
    end = value[len(value) - tail :]
    if "/" in end[1:]:
        # start the kept end at a path separator when one is near
        cut = end.find("/", 1)
        if cut <= tail // 2:
            end = end[cut:]
            head = keep - len(end)
    return value[:head] + "…" + end


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")
_BACKTICKS = re.compile(r"`+")


def md_text(text: object) -> str:
    """Escape `text` for inline GitHub-flavoured Markdown, including inside a table cell.

    Markdown punctuation and ``<``/``>``/``&`` are backslash-escaped, so nothing in a trace can
    open HTML, links or emphasis; line breaks become spaces, so a table row stays on one line.
    """
    value = "" if text is None else str(text)
    value = " ".join(value.splitlines())
    return _MD_SPECIAL.sub(r"\\\1", value)


def md_code(text: object) -> str:
    """`text` as a GFM code span that is safe inside a table cell (``|`` is escaped).

    The fence is one backtick longer than the longest run of backticks in the text. Meant for
    table cells: outside a table GFM would show the backslash before an escaped ``|``.
    """
    value = "" if text is None else str(text)
    value = " ".join(value.splitlines())
    if not value:
        return ""
    if "\\" in value and "|" in value:
        # A backslash before an escaped pipe would un-escape it; backslash escapes are not
        # interpreted inside a code span, so use an HTML <code> element with escaped text.
        return f"<code>{md_text(value)}</code>"
    value = value.replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(value)), default=0)
    fence = "`" * (longest + 1)
    if value.startswith("`") or value.endswith("`"):
        value = f" {value} "
    return f"{fence}{value}{fence}"


def md_prose(text: object) -> str:
    """Advice text with `code` spans: each backtick pair becomes a safe code span (`md_code`),
    everything else is escaped as `md_text`. With an odd number of backticks all is text."""
    value = "" if text is None else str(text)
    parts = value.split("`")
    if len(parts) % 2 == 0:
        return md_text(value)
    return "".join(
        md_code(part) if index % 2 else md_text(part) for index, part in enumerate(parts)
    )


def html_prose(text: object) -> Markup:
    """Advice text for HTML: escaped, with each backtick pair shown as ``<code>``."""
    value = "" if text is None else str(text)
    parts = value.split("`")
    if len(parts) % 2 == 0:
        return escape(value)
    return Markup("").join(
        Markup("<code>{}</code>").format(part) if index % 2 else escape(part)
        for index, part in enumerate(parts)
    )


def md_fence(text: object, info: str = "text") -> str:
    """`text` as a fenced GFM code block (no trailing newline), shown verbatim.

    The fence is at least three backticks and longer than any run of backticks in the text, so
    nothing inside can close it early.
    """
    value = "" if text is None else str(text)
    longest = max((len(run) for run in _BACKTICKS.findall(value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{value}\n{fence}"


def html_text(text: object) -> str:
    """`text` HTML-escaped, for raw HTML in the Markdown report (``<summary>`` and the like)."""
    value = "" if text is None else str(text)
    return str(escape(" ".join(value.splitlines())))
