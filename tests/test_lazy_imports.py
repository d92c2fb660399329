"""`analyzer.lazy`: a module imported on first attribute lookup, and modules imported on a
thread beside the caller's work (the pipeline's parse). The modules imported here are
hand-written ones in a temporary folder."""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analyzer.lazy import ImportsBeside, LazyModule, lazy_module

RECORDER = """
import threading
IMPORTED_ON = threading.current_thread().name
VALUE = {value}
def rebind(value):
    global VALUE
    VALUE = value
"""


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name.startswith("iodiag_lazy_")]:
        del sys.modules[name]


def _module(folder: Path, name: str, value: int = 1, body: str = RECORDER) -> str:
    (folder / f"{name}.py").write_text(body.format(value=value))
    importlib.invalidate_caches()
    return name


def test_a_lazy_module_is_imported_on_its_first_attribute_lookup(folder: Path) -> None:
    name = _module(folder, "iodiag_lazy_a", value=7)
    module = lazy_module(name)
    assert isinstance(module, LazyModule)
    assert name not in sys.modules
    assert module.VALUE == 7
    assert name in sys.modules
    sys.modules[name].rebind(8)  # a global rebound in the module is seen through it
    assert module.VALUE == 8


def test_an_imported_module_is_given_as_it_is(folder: Path) -> None:
    name = _module(folder, "iodiag_lazy_b")
    real = importlib.import_module(name)
    assert lazy_module(name) is real


def test_a_missing_attribute_or_module_raises_on_lookup(folder: Path) -> None:
    name = _module(folder, "iodiag_lazy_c")
    with pytest.raises(AttributeError):
        _ = lazy_module(name).nothing
    with pytest.raises(ModuleNotFoundError):
        _ = lazy_module("iodiag_lazy_missing").VALUE


def test_imports_beside_import_on_their_own_thread(folder: Path) -> None:
    names = [_module(folder, f"iodiag_lazy_d{index}") for index in range(3)]
    beside = ImportsBeside(names[:2])
    beside.ask(names[2:])
    beside.join()
    assert [sys.modules[name].IMPORTED_ON for name in names] == ["iodiag-imports"] * 3
    assert threading.current_thread().name != "iodiag-imports"


def test_an_import_that_fails_beside_fails_again_where_it_is_used(folder: Path) -> None:
    broken = _module(folder, "iodiag_lazy_broken", body="raise ValueError('no {value}')")
    after = _module(folder, "iodiag_lazy_after")
    beside = ImportsBeside([broken, after])
    beside.join()  # no error here, and the imports after it still ran
    assert after in sys.modules and broken not in sys.modules
    with pytest.raises(ValueError, match="no 1"):
        importlib.import_module(broken)


def test_imports_beside_not_threaded_import_nothing(folder: Path) -> None:
    name = _module(folder, "iodiag_lazy_e")
    with ImportsBeside([name], threaded=False):
        pass
    ImportsBeside([name], threaded=False).join()
    assert name not in sys.modules
    assert threading.current_thread().name == importlib.import_module(name).IMPORTED_ON


def test_leaving_imports_beside_ends_its_thread(folder: Path) -> None:
    name = _module(folder, "iodiag_lazy_f")
    beside = ImportsBeside([name])
    with beside:
        pass
    beside._thread.join(timeout=30)  # the thread ends without `join`: no hang at exit
    assert not beside._thread.is_alive()
    assert name in sys.modules


def test_leaving_imports_beside_on_an_error_drops_those_not_started(folder: Path) -> None:
    slow = _module(folder, "iodiag_lazy_slow", body="import time\ntime.sleep(0.5)\n")
    dropped = _module(folder, "iodiag_lazy_dropped")
    beside = ImportsBeside([slow, dropped])
    with pytest.raises(KeyboardInterrupt), beside:
        deadline = time.monotonic() + 30
        while slow not in sys.modules and time.monotonic() < deadline:  # its import started
            time.sleep(0.01)
        raise KeyboardInterrupt  # Ctrl-C while the slow import runs
    beside._thread.join(timeout=30)
    assert slow in sys.modules and dropped not in sys.modules
