"""speedscope profile (``--format speedscope``): perf stacks for https://www.speedscope.app.

The output is one JSON document in speedscope's file format
(https://www.speedscope.app/file-format-schema.json): the frames in ``shared.frames`` and one
``sampled`` profile per event and thread, that is per distinct (event, comm, pid, tid) of the
`perf_samples` table, in order of the events' first sample, then heaviest thread first.

- **Samples** are the perf samples of that thread in input (time) order, one entry each, so
  speedscope's "Time Order" view is the thread's timeline. Each is a list of indexes into
  ``shared.frames``, root first (speedscope's order; perf prints the leaf first).
- **Weights** are what stackcollapse-perf.pl counts: the sample's period, or 1 when perf
  printed none. The unit is ``nanoseconds`` for ``cpu-clock``/``task-clock`` samples that all
  carry a period, else ``none``. ``startValue`` is 0 and ``endValue`` the summed weights.
- **Frames** are named as in the folded output with default options (the ``+0x..`` offset and
  argument lists dropped, ``[unknown]`` replaced by the DSO's name, Java ``a->b`` inlining
  split into ``a;b_[i]``), with the DSO as ``file``; equal (name, file) pairs share one entry.
  Summing each profile's weights per stack of frame names, with the comm in front, gives back
  the folded stacks of that event, so the flame graph, ``--format folded`` and speedscope agree.
- Samples that the folded output leaves out are left out here too: samples whose callchain the
  input cut off, and every sample of an event none of whose samples has a call stack (a
  tracepoint recorded without ``-g``). A sample without a call stack of an event that has
  stacks becomes an empty stack, so the weights still add up.

Strings pass through `clean_text`, and the JSON is written compact with ASCII escapes, so two
runs give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO, Any, ClassVar

import pyarrow as pa

from analyzer import __version__
from analyzer.clean import clean_text
from analyzer.derive.perf_fold import fold_frame
from analyzer.model import AnalysisResult
from analyzer.render.base import Renderer
from analyzer.render.flamegraph import perf_input_names, perf_stack_tables

__all__ = ["SCHEMA", "SpeedscopeRenderer", "speedscope_document"]

SCHEMA = "https://www.speedscope.app/file-format-schema.json"
_CLOCK_EVENTS = frozenset({"cpu-clock", "task-clock"})


def _profile_name(
    comm: str | None, pid: int | None, tid: int | None, event: str | None, events: int
) -> str:
    """``comm (pid/tid)``, ``comm (tid)`` or ``comm``; `` · event`` with several events."""
    who = clean_text(comm) if comm else "?"
    ids = f"{pid}/{tid}" if pid is not None else ("" if tid is None else str(tid))
    name = f"{who} ({ids})" if ids else who
    if events > 1:
        name += f" · {clean_text(event or '?')}"
    return name


def speedscope_document(
    samples: pa.Table,
    stacks: pa.Table,
    frames: pa.Table,
    *,
    name: str = "iodiag",
    exporter: str = f"iodiag@{__version__}",
) -> dict[str, Any]:
    """The speedscope file (a JSON-ready dict) of the perf samples, stacks and frames tables;
    see the module docstring for what goes in it."""
    frame_data = frames.select(["frame_id", "addr", "symbol", "offset", "dso"]).to_pydict()
    frame_row = {frame_id: row for row, frame_id in enumerate(frame_data["frame_id"])}
    stack_frames = dict(
        zip(stacks["stack_id"].to_pylist(), stacks["frame_ids"].to_pylist(), strict=True)
    )
    shared: list[dict[str, str]] = []
    shared_index: dict[tuple[str, str | None], int] = {}
    frame_cache: dict[tuple[int, bool], list[int]] = {}
    stack_cache: dict[tuple[int, bool], list[int]] = {}

    def frame_indexes(frame_id: int, java: bool) -> list[int]:
        key = (frame_id, java)
        found = frame_cache.get(key)
        if found is not None:
            return found
        row = frame_row[frame_id]
        dso = frame_data["dso"][row]
        names = fold_frame(
            frame_data["addr"][row],
            frame_data["symbol"][row],
            frame_data["offset"][row],
            dso,
            java=java,
        )
        found = []
        for frame_name in names:
            entry = (frame_name, dso)
            index = shared_index.get(entry)
            if index is None:
                index = shared_index[entry] = len(shared)
                item = {"name": clean_text(frame_name)}
                if dso:
                    item["file"] = clean_text(dso)
                shared.append(item)
            found.append(index)
        frame_cache[key] = found
        return found

    def stack_indexes(stack_id: int, java: bool) -> list[int]:
        key = (stack_id, java)
        found = stack_cache.get(key)
        if found is None:
            found = []
            for frame_id in reversed(stack_frames[stack_id]):  # root first
                found.extend(frame_indexes(frame_id, java))
            stack_cache[key] = found
        return found

    data = samples.select(["comm", "pid", "tid", "event", "period", "stack_id", "cut"]).to_pydict()
    rows = list(
        zip(
            data["comm"],
            data["pid"],
            data["tid"],
            data["event"],
            data["period"],
            data["stack_id"],
            data["cut"],
            strict=True,
        )
    )
    events: list[str | None] = []
    for _comm, _pid, _tid, event, _period, stack_id, cut in rows:
        if stack_id is not None and not cut and event not in events:
            events.append(event)
    stacked = set(events)
    profiles: dict[tuple[Any, ...], dict[str, Any]] = {}
    for comm, pid, tid, event, period, stack_id, cut in rows:
        if cut or event not in stacked:
            continue
        key = (event, comm, pid, tid)
        profile = profiles.get(key)
        if profile is None:
            profile = profiles[key] = {"samples": [], "weights": [], "periods": True}
        java = comm == "java"
        profile["samples"].append([] if stack_id is None else stack_indexes(stack_id, java))
        profile["weights"].append(period or 1)
        if period is None:
            profile["periods"] = False

    order = {event: index for index, event in enumerate(events)}
    built: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for (event, comm, pid, tid), profile in profiles.items():
        total = sum(profile["weights"])
        base = (event or "").split("/", 1)[0].split(":", 1)[0]
        clock = base in _CLOCK_EVENTS and profile["periods"]
        title = _profile_name(comm, pid, tid, event, len(events))
        document = {
            "type": "sampled",
            "name": title,
            "unit": "nanoseconds" if clock else "none",
            "startValue": 0,
            "endValue": total,
            "samples": profile["samples"],
            "weights": profile["weights"],
        }
        built.append(((order[event], -total, title, pid or -1, tid or -1), document))
    built.sort(key=lambda item: item[0])
    return {
        "$schema": SCHEMA,
        "exporter": exporter,
        "name": clean_text(name),
        "activeProfileIndex": 0,
        "shared": {"frames": shared},
        "profiles": [document for _key, document in built],
    }


def _document_name(names: Sequence[str]) -> str:
    if not names:
        return "iodiag: perf"
    shown = ", ".join(names[:3])
    return f"iodiag: {shown}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")


class SpeedscopeRenderer(Renderer):
    """perf stacks as a speedscope file: one sampled profile per event and thread."""

    name: ClassVar[str] = "speedscope"
    extensions: ClassVar[tuple[str, ...]] = ()

    def render(self, result: AnalysisResult, out: IO[str]) -> None:
        samples, stacks, frames = perf_stack_tables(result, self.name)
        document = speedscope_document(
            samples, stacks, frames, name=_document_name(perf_input_names(result))
        )
        out.write(json.dumps(document, separators=(",", ":"), allow_nan=False))
        out.write("\n")
