"""The ps_threads source: `ps -eLf` / `ps -L -o ...` / `ps -T` snapshots taken in a loop with
`date` stamps: threads per process (NLWP) over time."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from analyzer.sources.conventional import ConventionalSource

if TYPE_CHECKING:
    from analyzer.formats.ps_threads import ParsedPsThreads  # noqa: F401 (the base class names it as a string)


class PsThreadsSource(ConventionalSource["ParsedPsThreads"]):
    """`ps -eLf` / `ps -L -o ...` / `ps -T` snapshots taken in a loop with `date` stamps: threads
    per process (NLWP) over time."""

    name: ClassVar[str] = "ps_threads"
    label: ClassVar[str] = "a ps thread-snapshot log"


SOURCE = PsThreadsSource()
