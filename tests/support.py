"""Plain helpers the tests import: the repository's folders and the example counts of the
hypothesis properties (scaled by the profile `conftest.py` loads)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"

DEV_SHARE = 10
"""The ``dev`` hypothesis profile runs 1/DEV_SHARE of a property's examples."""


def profile() -> str:
    return os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")


def examples(full: int) -> int:
    """A property's example count: `full` in CI, a tenth of it (at least 10) in development."""
    return full if profile() == "ci" else max(10, full // DEV_SHARE)
