"""One cleaner for values on their way out: to strict JSON, or to a person's screen.

Values reach a report from numpy, pandas, Arrow and trace text. `clean` makes a copy that
`json.dumps(..., allow_nan=False)` accepts and, with ``text=True``, that is also safe to show:

- NaN becomes ``None``, and so does ±infinity unless ``keep_infinity=True``;
- floats are rounded to `digits` decimals when `digits` is given (``round``, so ``-0.0`` stays
  ``-0.0``); numpy and other scalars with an ``.item()`` become plain Python values first;
- tuples become lists, mapping keys become strings, ``pandas.NA`` becomes ``None``;
- with ``text=True``, every string (keys too) goes through `clean_text`: lone surrogates from
  undecodable input bytes and control characters other than tab and newline become visible
  ``\\udc..``/``\\x..`` escapes.

Anything else is returned unchanged, so a value that is not JSON still fails loudly in
`json.dumps`. `clean_number` is the same rule for one number that must come out as a float.
This module is the base layer: it imports nothing from `analyzer`, and nothing but the
standard library.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from typing import Any, SupportsFloat

__all__ = ["clean", "clean_number", "clean_text"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(text: str) -> str:
    """`text` made safe to print: lone surrogates (from undecodable input bytes) and control
    characters other than tab and newline are replaced by visible ``\\x..``/``\\udc..`` escapes."""
    if text.isprintable():
        return text
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def clean(
    value: Any,
    *,
    digits: int | None = None,
    text: bool = False,
    keep_infinity: bool = False,
) -> Any:
    """A copy of `value` that strict JSON accepts (see the module docstring for the rules).

    `digits`: round every float to this many decimals (None: leave floats as they are).
    `text`: also pass every string and mapping key through `clean_text`, for display.
    `keep_infinity`: keep ±infinity (NaN still becomes None), for values that are not written
    as JSON yet.
    """
    pandas = sys.modules.get("pandas")  # only a run that loaded pandas can hold pandas.NA
    missing = getattr(pandas, "NA", None) if pandas is not None else None

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return clean_text(value) if text else value
        if isinstance(value, float):
            if math.isnan(value) or (math.isinf(value) and not keep_infinity):
                return None
            return value if digits is None else round(float(value), digits)
        if value is None or isinstance(value, int):  # bool is an int
            return value
        if isinstance(value, Mapping):
            if text:
                return {clean_text(str(key)): walk(item) for key, item in value.items()}
            return {str(key): walk(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(item) for item in value]
        if missing is not None and value is missing:
            return None
        item = getattr(value, "item", None)
        if callable(item):
            plain = item()
            # numpy.longdouble.item() is itself: keep it rather than loop.
            return value if type(plain) is type(value) else walk(plain)
        return value

    return walk(value)


def clean_number(value: SupportsFloat | None, *, digits: int | None = None) -> float | None:
    """`value` as a float rounded to `digits` decimals, or None when it is None, NaN or
    ±infinity (for a field that is always a float in the JSON, such as ``cost_s``)."""
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    return number if digits is None else round(number, digits)
