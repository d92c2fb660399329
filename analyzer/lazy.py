"""Imports on first use, or beside other work: a registry whose entries are imported on first
lookup (the formats and the renderers), a module imported on its first attribute lookup
(`lazy_module`), and modules imported on a thread of their own (`ImportsBeside`)."""

from __future__ import annotations

import importlib
import queue
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from types import ModuleType
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


class LazyModule(ModuleType):
    """Stands for the module `name` until an attribute is looked up: then imports it and
    looks the attribute up there (every time: a module's globals may be rebound)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lazy_real"] = None

    def __getattr__(self, attribute: str) -> Any:
        real = self.__dict__["_lazy_real"]
        if real is None:
            real = self.__dict__["_lazy_real"] = importlib.import_module(self.__name__)
        return getattr(real, attribute)


def lazy_module(name: str) -> Any:
    """The module `name` if it is imported, else a `LazyModule` that imports it on first use.

    For a heavy module that an importer needs only at run time (pandas in the strace
    derivation, the strace grammar for the lines the scanner leaves): its import then runs
    when it is used, or beside the parse (`analyzer.pipeline`), not when the importer is
    imported. Write it as::

        if TYPE_CHECKING:
            import pandas as pd
        else:
            pd = lazy_module("pandas")
    """
    module = sys.modules.get(name)
    if module is None or getattr(getattr(module, "__spec__", None), "_initializing", False):
        return LazyModule(name)  # not imported, or still being imported by another thread
    return module


class ImportsBeside:
    """Imports modules on a thread of its own, in the order they are asked for, while the
    caller works (the pipeline parses): what only the later stages need is then imported
    by the time they start. As a context manager: leaving it asks for nothing more, and
    leaving it on an exception (an error, Ctrl-C) drops the imports not yet started.

    An import that fails here is left to fail again, with its own error, where the module is
    imported for use. `join` waits for every import asked for: call it before the imported
    modules' users run, so that from there on no two threads import one module at once. The
    thread is no daemon: a run that ends early (an error, Ctrl-C) exits once the import under
    way is done, not in the middle of a module's initialisation. Not `threaded`, it imports
    nothing: the modules are imported where they are used.
    """

    def __init__(self, modules: Iterable[str] = (), threaded: bool = True) -> None:
        self._asked: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._dropped = False
        self._thread = threading.Thread(target=self._run, name="iodiag-imports")
        if threaded:
            self._thread.start()
            self.ask(modules)

    def ask(self, modules: Iterable[str]) -> None:
        """Import these modules too, after those asked for before."""
        if self._thread.ident is not None:
            for name in modules:
                self._asked.put(name)

    def close(self) -> None:
        """Ask for nothing more: the thread ends after the imports asked for."""
        self._asked.put(None)

    def join(self) -> None:
        """Wait until every module asked for is imported (or failed to import)."""
        self.close()
        if self._thread.ident is not None:
            self._thread.join()

    def __enter__(self) -> None:
        pass

    def __exit__(self, error_type: type[BaseException] | None, *_exc: object) -> None:
        self._dropped = error_type is not None
        self.close()

    def _run(self) -> None:
        while (name := self._asked.get()) is not None and not self._dropped:
            with suppress(Exception):
                importlib.import_module(name)
