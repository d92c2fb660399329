"""The pyspy source: `py-spy dump --pid PID` output (one dump or many, `--native`, `--locals`):
every Python thread's stack and state."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from analyzer.sources.conventional import ConventionalSource

if TYPE_CHECKING:
    from analyzer.formats.pyspy import ParsedPySpy  # noqa: F401 (the base class names it as a string)


class PySpySource(ConventionalSource["ParsedPySpy"]):
    """`py-spy dump --pid PID` output (one dump or many, `--native`, `--locals`): every Python
    thread's stack and state."""

    name: ClassVar[str] = "pyspy"
    label: ClassVar[str] = "py-spy dump output"


SOURCE = PySpySource()
