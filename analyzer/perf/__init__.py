"""Analyses of `perf script` input: folded stacks (`collapse`)."""

from __future__ import annotations

from analyzer.perf.collapse import CollapseOptions, collapse, collapse_lines

__all__ = ["CollapseOptions", "collapse", "collapse_lines"]
