"""The pidstat source: `pidstat -t -u -w [-h] [-p PID] N`: per-thread CPU and context switches per
interval."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from analyzer.sources.conventional import ConventionalSource

if TYPE_CHECKING:
    from analyzer.formats.pidstat import ParsedPidstat  # noqa: F401 (the base class names it as a string)


class PidstatSource(ConventionalSource["ParsedPidstat"]):
    """`pidstat -t -u -w [-h] [-p PID] N`: per-thread CPU and context switches per interval."""

    name: ClassVar[str] = "pidstat"
    label: ClassVar[str] = "pidstat output"


SOURCE = PidstatSource()
