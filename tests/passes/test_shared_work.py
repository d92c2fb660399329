"""Work several passes share is done once per run, and sharing changes no finding.

`targets.slice_paths` keeps each slice's `with_paths` for the passes that read it; the
findings with it equal those of a run that computes it again in every pass, on every strace
capture of fixtures/ (slices cut small, so that several slices and their borders are crossed).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from analyzer.passes import PassConfig, PassInputs, call_slices, run_passes, targets
from tests.passes.pass_fixtures import DIAGNOSIS_LOGS, STRACE_LOGS, inputs_of

CAPTURES = sorted(
    [path for path in STRACE_LOGS.glob("*.log") if "stderr" not in path.name]
    + list(DIAGNOSIS_LOGS.glob("*_T.log"))
)


def _fresh(inputs: PassInputs) -> PassInputs:
    """The same inputs with copies of the traces: nothing shared with an earlier run."""
    return dataclasses.replace(inputs, traces=tuple(dataclasses.replace(t) for t in inputs.traces))


def test_there_are_strace_captures() -> None:
    assert len(CAPTURES) >= 10


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda path: path.name)
def test_sharing_the_paths_changes_no_finding(
    capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(call_slices, "SLICE_ROWS", 97)
    inputs = inputs_of(capture)
    shared = run_passes(_fresh(inputs), PassConfig())
    monkeypatch.setattr(targets, "MEMO_ROWS", -1)
    alone = run_passes(_fresh(inputs), PassConfig())
    assert [f.to_json() for f in shared] == [f.to_json() for f in alone]


def test_the_paths_of_a_slice_are_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_slices, "SLICE_ROWS", 97)
    inputs = _fresh(inputs_of(DIAGNOSIS_LOGS / "sqlite_writers.f_tt_T.log"))
    computed: list[int] = []
    encode = targets._encoded_paths

    def counted(part):  # type: ignore[no-untyped-def]
        computed.append(part.num_rows)
        return encode(part)

    monkeypatch.setattr(targets, "_encoded_paths", counted)
    run_passes(inputs, PassConfig())
    (trace,) = inputs.traces
    rows = trace.syscalls.num_rows
    assert rows > 97 * 3
    assert sum(computed) == rows  # each slice once, though five passes read them
    assert not trace.memo  # not kept beyond the passes
