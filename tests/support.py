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


_MODULES_AFTER_CLI = """\
import sys
from analyzer.cli import main
sys.argv = ['iodiag-analyze', *sys.argv[1:]]
try:
    main(fast_exit=False)
except SystemExit as end:
    assert end.code in (0, None), end.code
print('\\n'.join(sorted(sys.modules)))
"""


def modules_after_cli(*args: str) -> set[str]:
    """The modules loaded by the end of ``iodiag-analyze ARGS`` in a fresh interpreter (the
    command's own `main`, run in process so that `sys.modules` can be read after it)."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER_CLI, *args], capture_output=True, text=True, cwd=REPO
    )
    assert run.returncode == 0, run.stderr
    return set(run.stdout.split())
