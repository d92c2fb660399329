"""IOD019 timeline: how the thread snapshots, py-spy dumps, iostat reports and cloud metrics of
the run line up with the strace trace (or the run's other evidence).

`analyzer.derive.timeline` puts every input of those sources on one reference clock: the
first strace trace with wall-clock times (``-tt``: local time of day, ``-ttt``: Unix time),
else the asyncio log, a CLOCK_REALTIME perf profile or the first input with Unix times. For
each input it states the offset and how it was found: the same clock; the same local clock
with the date taken from the reference (top prints no date); the machine's UTC offset read
from an input that printed its zone (a ``date`` line before a py-spy dump, an ISO iostat
stamp, a ps stamp with ``%z``), or inferred as the only quarter-hour offset that makes the
spans overlap (flagged ``ambiguous`` when several do: the smallest is then assumed).

One info finding lists every input with its offset (``alignments``). An input that could not
be put on the reference clock (no times, or times that stay far from the reference's at
every offset: another run) also gets a `data_limits` finding, which the verdict lists under
what these inputs cannot show; the other passes then leave its rows out of their joins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from analyzer.passes.base import Finding, Pass, PassConfig, PassInputs
from analyzer.passes.evidence import has_evidence

if TYPE_CHECKING:
    from analyzer.derive.timeline import Alignment

CODE = "IOD019"
KIND = "timeline"
LIMITS_KIND = "data_limits"


def _line(alignment: Alignment) -> str:
    name = alignment.input.rsplit("/", 1)[-1]
    if not alignment.aligned:
        return f"{name} ({alignment.source}): not aligned: {alignment.reason}"
    offset = alignment.offset_s or 0.0
    text = (
        f"{name} ({alignment.source}, {alignment.kind} clock): {offset:+.3f} s, {alignment.method}"
    )
    if alignment.overlap_s is not None:
        text += f", overlaps the reference {alignment.overlap_s:.1f} s"
    if alignment.reason:
        text += f" ({alignment.reason})"
    return text


def run(inputs: PassInputs, config: PassConfig) -> list[Finding]:
    if not has_evidence(inputs):
        return []
    from analyzer.derive.timeline import align_all

    alignments = align_all(inputs.traces, inputs.tables)
    if not alignments:
        return []
    reference = next((a.reference for a in alignments if a.reference is not None), None)
    aligned = [a for a in alignments if a.aligned]
    where = (
        f"{reference.input} ({reference.source}, {reference.kind} clock)"
        if reference
        else "no reference clock"
    )
    message = (
        f"{len(aligned)} of {len(alignments)} snapshot and metrics inputs are on the clock of "
        f"{where}: " + "; ".join(_line(a) for a in alignments) + "."
    )
    findings = [
        Finding(
            code=CODE,
            kind=KIND,
            severity="info",
            title=f"{len(aligned)} of {len(alignments)} snapshot/metrics inputs on one timeline",
            message=message,
            evidence={
                "reference_input": reference.input if reference else None,
                "reference_source": reference.source if reference else None,
                "reference_clock": reference.kind if reference else None,
                "reference_first": reference.first if reference else None,
                "reference_last": reference.last if reference else None,
                "alignments": [a.to_json() for a in alignments],
            },
            input=reference.input if reference else None,
        )
    ]
    for alignment in alignments:
        if alignment.aligned:
            continue
        findings.append(
            Finding(
                code=CODE,
                kind=LIMITS_KIND,
                severity="info",
                title=f"{alignment.input.rsplit('/', 1)[-1]} is not on the run's timeline",
                message=(
                    f"{alignment.input} ({alignment.source}) could not be put on the clock of "
                    f"{where}: {alignment.reason}. Its rows are shown in its own section but "
                    "not joined with the other inputs."
                ),
                evidence={"limit": "not on the timeline", **alignment.to_json()},
                fix=(
                    "Capture with times the others can be matched to: date +%s.%N (or date "
                    "-Ins) before each snapshot or dump, iostat -t with S_TIME_FORMAT=ISO, "
                    "strace -ttt; and capture them during the same run."
                ),
                input=alignment.input,
            )
        )
    return findings


PASS = Pass(CODE, KIND, run, __doc__ or "")
