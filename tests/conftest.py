"""What every test run shares: hypothesis profiles, the `slow` marker, a deterministic
environment, and fixtures for the repository's folders.

- Hypothesis: the ``ci`` profile (chosen when ``CI`` is set, as `.ci/run` does) runs every
  property with its full example count; ``dev`` (the default) runs a tenth of them, so that
  a local ``pytest -m "not slow"`` stays quick. Tests give their count with
  `support.examples(n)`, which the profile scales. ``HYPOTHESIS_PROFILE`` overrides.
- ``@pytest.mark.slow``: tests that start subprocesses, build the wheel, trace live
  programs, or sweep every fixture through every engine or renderer (chosen from
  ``pytest --durations=0``: the marked tests were two thirds of the suite's time).
  ``pytest -m "not slow"`` leaves them out; CI runs everything.
- Renderers see an 80-column, colourless terminal in UTC, whatever the developer's shell.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from support import FIXTURES, REPO

settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile(
    "dev", max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: subprocesses, the wheel, live traces, or sweeps of every fixture"
    )


@pytest.fixture(autouse=True)
def _terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COLUMNS", os.environ.get("COLUMNS", "80"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TZ", "UTC")
    yield


@pytest.fixture
def repo() -> Path:
    """The repository's root folder."""
    return REPO


@pytest.fixture
def fixtures_dir() -> Path:
    """The repository's `fixtures/` folder."""
    return FIXTURES
