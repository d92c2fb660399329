"""The iostat source: sysstat's `iostat [-x] [-t] N`: per-device IOPS, throughput, await, queue
size and %util per interval."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from analyzer.sources.conventional import ConventionalSource

if TYPE_CHECKING:
    from analyzer.formats.iostat import ParsedIostat  # noqa: F401 (the base class names it as a string)


class IostatSource(ConventionalSource["ParsedIostat"]):
    """sysstat's `iostat [-x] [-t] N`: per-device IOPS, throughput, await, queue size and %util per
    interval."""

    name: ClassVar[str] = "iostat"
    label: ClassVar[str] = "iostat output"


SOURCE = IostatSource()
