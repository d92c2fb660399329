"""The top source: `top -b` batch output (`top -H -b -d N -n M [-p PID]`): threads, their CPU and
states, iteration by iteration."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from analyzer.sources.conventional import ConventionalSource

if TYPE_CHECKING:
    from analyzer.formats.top import ParsedTop  # noqa: F401 (the base class names it as a string)


class TopSource(ConventionalSource["ParsedTop"]):
    """`top -b` batch output (`top -H -b -d N -n M [-p PID]`): threads, their CPU and states,
    iteration by iteration."""

    name: ClassVar[str] = "top"
    label: ClassVar[str] = "top -b output"


SOURCE = TopSource()
