"""Work several passes share is done once per run, the passes run side by side, and
neither changes a finding.

`targets.slice_paths` keeps each slice's `with_paths` for the passes that read it, and
`strace_locks` each slice's futex rows and keys for its later scans; the findings with them
equal those of a run that computes them again in every pass, on every strace
capture of fixtures/ (slices cut small, so that several slices and their borders are crossed).
With a pool, `run_passes` gives the findings of the serial run, in registry order, on every
strace capture and on the inputs of every golden case (traces with logs, perf and snapshots).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from pass_fixtures import DIAGNOSIS_LOGS, ROOT, STRACE_LOGS, inputs_of

import analyzer.passes as passes_package
from analyzer import pipeline
from analyzer.config import Config
from analyzer.derive import strace_locks, strace_stream
from analyzer.passes import PASSES, Pass, PassConfig, PassInputs, call_slices, run_passes, targets

CAPTURES = sorted(
    [path for path in STRACE_LOGS.glob("*.log") if "stderr" not in path.name]
    + list(DIAGNOSIS_LOGS.glob("*_T.log"))
)


GOLDEN_INPUTS = [
    json.loads(path.read_text())["inputs"]
    for path in sorted((ROOT / "fixtures" / "golden").glob("*.json"))
]


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
    monkeypatch.setattr(strace_locks, "FUTEX_ROWS_PER_SLICE", 89)
    inputs = inputs_of(capture)
    shared = run_passes(_fresh(inputs), PassConfig())
    monkeypatch.setattr(targets, "MEMO_ROWS", -1)
    monkeypatch.setattr(strace_locks, "MEMO_CALLS", -1)
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
    assert sum(computed) == rows  # each slice once, though six passes read them
    assert not trace.memo  # not kept beyond the passes


def test_a_pass_waits_only_for_earlier_passes() -> None:
    """What a pass reads (`Pass.after`) runs before it in the registry: the pool's order
    cannot deadlock, and a serial run gives it the same findings."""
    seen: set[str] = set()
    for analysis_pass in PASSES:
        assert set(analysis_pass.after) <= seen, analysis_pass.kind
        seen.add(analysis_pass.kind)


def _texts(node: ast.expr, module: ModuleType) -> list[str]:
    """The texts an expression of a pass module stands for: a text, a tuple, set or list of
    texts, or a module-level name holding one of those."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.Set, ast.List)):
        return [text for item in node.elts for text in _texts(item, module)]
    if isinstance(node, ast.Name):
        value = getattr(module, node.id, None)
        if isinstance(value, str):
            return [value]
        if isinstance(value, (tuple, list, set, frozenset)):
            return [item for item in value if isinstance(item, str)]
    return []


def _kinds_read(analysis_pass: Pass) -> set[str]:
    """The kinds of other passes whose findings a pass reads: those its module compares a
    ``.kind`` with (``f.kind == "blocked_loop"``, ``f.kind in LOCK_KINDS`` ...)."""
    module = sys.modules[analysis_pass.run.__module__]
    kinds = {other.kind for other in PASSES} - {analysis_pass.kind}
    read: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        if any(isinstance(side, ast.Attribute) and side.attr == "kind" for side in sides):
            read |= {text for side in sides for text in _texts(side, module) if text in kinds}
    return read


def test_a_pass_waits_for_every_pass_whose_findings_it_reads() -> None:
    """`Pass.after` names exactly the kinds of the findings a pass picks out of `earlier`:
    side by side, a pass that reads a kind it does not name would see none of its findings,
    or some, depending on timing (a fixture may not show it: none failed without
    slow_storage's or thread_growth's `after`); one it names but does not read keeps it
    waiting for nothing."""
    reading = {p.kind: _kinds_read(p) for p in PASSES}
    assert reading["slow_storage"] == {"slow_syscall", "thread_pileup", "blocked_loop"}
    assert reading["pipe_backpressure"] >= {"lock_contention", "lock_holder"}  # by a name
    for analysis_pass in PASSES:
        assert reading[analysis_pass.kind] == set(analysis_pass.after), analysis_pass.kind


def _side_by_side_equals_serial(inputs: PassInputs) -> None:
    serial = run_passes(_fresh(inputs), PassConfig())
    with ThreadPoolExecutor(max_workers=2) as pool:
        pooled = run_passes(_fresh(inputs), PassConfig(), pool=pool)
    assert [f.to_json() for f in pooled] == [f.to_json() for f in serial]


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda path: path.name)
def test_side_by_side_the_findings_of_a_capture_are_the_serial_ones(capture: Path) -> None:
    _side_by_side_equals_serial(inputs_of(capture))


@pytest.mark.parametrize(
    "names", GOLDEN_INPUTS, ids=lambda names: "+".join(Path(n).name for n in names)
)
def test_side_by_side_the_findings_of_a_golden_case_are_the_serial_ones(names: list[str]) -> None:
    _side_by_side_equals_serial(inputs_of(*(ROOT / name for name in names)))


def test_the_futex_calls_of_a_slice_are_keyed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The argument texts of the futex calls are read by the keying scan alone; the
    summary's and the lock passes' scans take its rows and keys."""
    monkeypatch.setattr(strace_locks, "FUTEX_ROWS_PER_SLICE", 89)
    inputs = _fresh(inputs_of(DIAGNOSIS_LOGS / "lock_convoy.f_tt_T.log"))
    scans: list[int] = []
    codes = strace_locks._pair_codes

    def counted(*args):  # type: ignore[no-untyped-def]
        scans.append(len(args[0]))
        return codes(*args)

    monkeypatch.setattr(strace_locks, "_pair_codes", counted)
    findings = run_passes(inputs, PassConfig())
    assert any(f.kind == "lock_contention" for f in findings)
    (trace,) = inputs.traces
    futex_calls = sum(1 for name in trace.syscalls["syscall"].to_pylist() if name == "futex")
    assert sum(scans) == futex_calls  # one scan's worth, though four scans read them


def _passes_run(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each `run_passes` of `pipeline.analyze`, whether it was given a pool (it is
    imported from `analyzer.passes` once the parse is done, so it is replaced there)."""
    pooled: list[bool] = []
    run = passes_package.run_passes

    def recording(*args, pool=None, **kwargs):  # type: ignore[no-untyped-def]
        pooled.append(pool is not None)
        return run(*args, pool=pool, **kwargs)

    monkeypatch.setattr(passes_package, "run_passes", recording)
    return pooled


def test_a_mapped_trace_runs_side_by_side_whatever_its_length(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A spilled (mapped) trace's passes run beside its sections on two threads, with the
    report of one thread, where they run one after the other; a trace of 100M calls too
    (beyond 12M they ran one after the other until the merge of a spilled trace stopped
    growing with its length)."""
    options = strace_stream.StreamOptions
    monkeypatch.setattr(
        strace_stream, "StreamOptions", lambda: options(window_lines=500, lookahead_lines=16)
    )
    trace = STRACE_LOGS / "pool8.f_tt_T.log"
    pooled = _passes_run(monkeypatch)
    beside = pipeline.analyze(trace).report
    after = pipeline.analyze(trace, Config(threads=1)).report
    assert pooled == [True, False]
    assert beside == after
    assert beside["findings"]

    pooled.clear()
    real_inputs = pipeline.pass_inputs

    def of_100m_calls(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen = real_inputs(*args, **kwargs)
        assert seen.traces
        long = SimpleNamespace(syscalls=SimpleNamespace(num_rows=100_000_000))
        return dataclasses.replace(seen, traces=(long,) * len(seen.traces))

    def recording(seen, passes, after_each, pool=None):  # type: ignore[no-untyped-def]
        pooled.append(pool is not None)
        return []

    monkeypatch.setattr(pipeline, "pass_inputs", of_100m_calls)
    monkeypatch.setattr(passes_package, "run_passes", recording)
    pipeline.analyze(trace)
    assert pooled == [True]
