"""A registry whose entries are imported on first lookup (the formats and the renderers)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any


class LazyImports(Mapping[str, Any]):
    """Name -> the module ``"package.module"`` or the attribute ``"package.module:Name"`` that
    `targets` gives for it, imported when it is first looked up; in the order of `targets`.
    `label` names the registry in its repr."""

    def __init__(self, label: str, targets: Mapping[str, str]) -> None:
        self._label = label
        self._targets = dict(targets)

    def __getitem__(self, name: str) -> Any:
        module, _, attribute = self._targets[name].partition(":")
        loaded = importlib.import_module(module)
        return getattr(loaded, attribute) if attribute else loaded

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def __repr__(self) -> str:
        return f"{self._label}({', '.join(self._targets)})"
