"""`analyzer.clean`: the one cleaner for JSON and display gives what each older cleaner gave.

The values below are HAND-WRITTEN to hit the edges (NaN, ±infinity, -0.0, numpy scalars,
nested containers, undecodable and control text); they are not captured data. Each older rule
is compared value by value and type by type, so switching a caller to `clean` changes nothing.
(The renderers' own ``json_safe`` and ``display_safe``, which `clean` replaced, were compared
the same way before they were removed: ``clean(value)`` and ``clean(value, text=True)``.)
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analyzer import clean as clean_module
from analyzer.clean import clean, clean_number, clean_text


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The strace section's row cleaner before analyzer.clean replaced it (reference)."""
    out = []
    for record in frame.to_dict(orient="records"):
        cleaned = {}
        for key, value in record.items():
            if isinstance(value, (np.integer,)):
                value = int(value)
            elif isinstance(value, (np.floating, float)):
                value = None if np.isnan(value) else round(float(value), 9)
            elif value is pd.NA or value is None:
                value = None
            cleaned[key] = value
        out.append(cleaned)
    return out


# The passes' cleaners before analyzer.clean replaced them, kept verbatim as the reference
# the replacement must equal.
def _json_number(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(float(value), 6)


def json_clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): json_clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_clean(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        return _json_number(value)
    return value


TRICKY: list[Any] = [
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    0.0,
    1e-7,
    0.1234567891234,
    2.5e300,
    1,
    -3,
    True,
    False,
    None,
    np.int64(7),
    np.int32(-2),
    np.uint8(255),
    np.float64("nan"),
    np.float64("inf"),
    np.float64(0.1234567891234),
    np.float64(-0.0),
    np.float32(0.1),
    np.bool_(True),
    np.str_("x"),
    np.datetime64("2020-01-01"),
    "plain",
    "bad \udcff byte",
    "escape \x1b[2J",
    "tab\tnewline\n",
    "\x7f",
    "é ✓",
    b"bytes",
    (1, 2.0000000001, (np.int64(3), float("nan"))),
    [[], {}, ()],
    {
        "a": {"b": (np.float64(1.23456789), "\udcff")},
        3: "k",
        np.int64(4): 1,
        "\x1b": 0,
        True: None,
    },
    {1, 2},
]


def typed(value: Any) -> Any:
    """`value` with the type of every part spelled out, so ``1 == 1.0 == True`` do not pass
    for each other and NaN equals NaN."""
    if isinstance(value, dict):
        return ("dict", [(typed(key), typed(item)) for key, item in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [typed(item) for item in value])
    if isinstance(value, float) and math.isnan(value):
        return (type(value).__name__, "nan")
    return (type(value).__name__, repr(value))


@pytest.mark.parametrize("value", TRICKY, ids=repr)
def test_rounded_rule_is_the_passes_json_clean(value: Any) -> None:
    assert typed(clean(value, digits=6)) == typed(json_clean(value))


@pytest.mark.parametrize("value", [v for v in TRICKY if isinstance(v, (int, float, np.number))])
def test_clean_number_is_the_passes_json_number(value: Any) -> None:
    assert typed(clean_number(value, digits=6)) == typed(_json_number(value))
    assert typed(clean_number(None)) == typed(_json_number(None))


def test_clean_number_also_drops_a_numpy_float32_nan() -> None:
    # The one difference: _json_number tests for `float`, which numpy.float32 is not, so its
    # NaN got through (and only became null in the JSON renderer).
    assert math.isnan(_json_number(np.float32("nan")))  # type: ignore[arg-type]
    assert clean_number(np.float32("nan"), digits=6) is None


def test_pandas_missing_value_becomes_none() -> None:
    # Another difference: the older cleaners kept pandas.NA, which json.dumps rejects.
    assert clean({"x": pd.NA, "y": [pd.NA]}) == {"x": None, "y": [None]}


def test_records_rule_is_the_strace_section_records() -> None:
    values: list[Any] = [
        float("nan"),
        float("inf"),
        float("-inf"),
        -0.0,
        0.1234567891234,
        1,
        np.int64(7),
        np.uint8(3),
        np.float32(0.1),
        np.float64("nan"),
        np.float64(-0.0),
        np.float32("inf"),
        None,
        pd.NA,
        "bad \udcff",
        "escape \x1b",
        True,
        np.bool_(False),
        ["read", "write"],
    ]
    frame = pd.DataFrame(
        {
            "value": pd.Series(values, dtype=object),
            "seconds": [0.1234567891234] * len(values),
            "calls": range(len(values)),
            "comm": ["a"] * (len(values) - 1) + [None],
        }
    )
    rows = frame.to_dict(orient="records")
    cleaned = [clean(row, digits=9, keep_infinity=True) for row in rows]
    assert typed(cleaned) == typed(records(frame))


def test_clean_text_escapes_what_a_terminal_would_act_on() -> None:
    assert clean_text("fine\ttext\n") == "fine\ttext\n"
    assert clean_text("/data/\udcff\x1b[2J.log") == "/data/\\udcff\\x1b[2J.log"
    assert clean_text("\x00\x7f") == "\\x00\\x7f"
    assert clean({"\udcff": ["\x1b"]}, text=True) == {"\\udcff": ["\\x1b"]}


def test_output_is_strict_json() -> None:
    plain = [value for value in TRICKY if not isinstance(value, (np.datetime64, bytes, set))]
    text = json.dumps(clean(plain), allow_nan=False, sort_keys=True)
    assert "NaN" not in text and "Infinity" not in text


def test_clean_is_a_base_module() -> None:
    """It imports nothing from analyzer, so any stage can use it."""
    tree = ast.parse(Path(clean_module.__file__).read_text(encoding="utf-8"))
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] == "analyzer"]
