"""iodiag: find slow syscalls, blocked event loops and thread pile-ups in captured traces.

Use from Python::

    import analyzer
    result = analyzer.analyze(["strace.log"])
    result.report["syscalls"][0]

`analyze` runs the whole pipeline (see `analyzer.pipeline`); `result.tables` holds the Arrow
tables (docs/schema.md) and `result.report` the JSON report (docs/report-json.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from analyzer.model import AnalysisResult


def analyze(paths: Any, config: Any = None, on_progress: Any = None) -> AnalysisResult:
    """Analyze trace files (paths or ``-``); see `analyzer.pipeline.analyze`."""
    from analyzer.pipeline import analyze as run

    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    return run(paths, config, on_progress)


__all__ = ["__version__", "analyze"]
