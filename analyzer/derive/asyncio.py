"""From parsed asyncio logs to the run's asyncio tables.

The asyncio source's derivation stage is a concatenation: the parser already made one row per
loop event (`loop_events`) and per aiomonitor task row (`tasks_snapshot`). Putting the log's
times on a strace trace's clock needs both sources: `clock_alignment` does that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from analyzer.model import Derived, ParsedInput

if TYPE_CHECKING:  # the parser's modules are heavy (Lark); only the type is needed here
    from analyzer.formats.asyncio import ParsedLog


def derive(inputs: Sequence[ParsedInput[ParsedLog]]) -> Derived:
    """The loop events and task snapshots of every asyncio log of the run."""
    return Derived(
        {
            "loop_events": pa.concat_tables([source.parsed.loop_events for source in inputs]),
            "tasks_snapshot": pa.concat_tables([source.parsed.tasks_snapshot for source in inputs]),
        }
    )


MISUSE_KINDS = (
    "exception",
    "task_destroyed_pending",
    "never_retrieved",
    "never_awaited",
    "resource_warning",
)


DEFAULT_SLOW_CALLBACK_S = 0.1


SAMPLE_CHARS = 2000
