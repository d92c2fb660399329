"""Locate the data files that ship beside the code: `grammars/` and `reports/`.

In a source checkout they are top-level folders; in an installed wheel they are packaged as
`analyzer/grammars` and `analyzer/reports` (see `pyproject.toml`). Both are found here, so no
other module needs to know which layout it runs from.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from analyzer.errors import InstallationError

_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


@cache
def data_dir(name: str) -> Path:
    """The folder `name` ("grammars" or "reports"), installed or from the checkout;
    `InstallationError` when it is in neither place (the command says so in one line)."""
    packaged = Path(str(files("analyzer") / name))
    if packaged.is_dir():
        return packaged
    checkout = _CHECKOUT_ROOT / name
    if checkout.is_dir():
        return checkout
    raise InstallationError(
        f"this installation is broken: its data folder {name!r} is missing (reinstall iodiag)"
    )


def grammar_path(filename: str) -> Path:
    """Path of a grammar file such as ``strace.lark``."""
    return data_dir("grammars") / filename


def reports_dir() -> Path:
    """Folder of the report templates."""
    return data_dir("reports")
