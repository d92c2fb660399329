"""What every diagnosis pass shares: its inputs, its options and the finding it returns.

A pass is a function from `PassInputs` and `PassConfig` to a list of `Finding`s. It never
prints and never reads files; `analyzer.passes.PASSES` runs them in order. A `Finding` turns
into the JSON object of `iodiag.report/1` `findings[]` with `Finding.to_json`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from analyzer.clean import clean, clean_number
from analyzer.config import PassConfig
from analyzer.derive.strace import StraceTables

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")


@dataclass(frozen=True)
class PassInputs:
    """What the passes read: what each source gives them (`analyzer.sources.base.Source.
    pass_inputs`: the strace traces, the asyncio loop events, the perf tables) and every
    table of the run by name."""

    traces: Sequence[StraceTables] = ()
    loop_events: pa.Table | None = None
    perf: Mapping[str, pa.Table] = field(default_factory=dict)
    tables: Mapping[str, pa.Table] = field(default_factory=dict)
    """Every table of the run (docs/schema.md), for sources that give nothing else."""
    unreadable: Sequence[tuple[str, str]] = ()
    """Inputs of the run that could not be read: (path, reason)."""
    earlier: Sequence[Finding] = ()
    """Findings of the passes that ran before (a later pass may build on them); run side by
    side, only those of the passes it names in `Pass.after`."""


@dataclass(frozen=True)
class Culprit:
    """Who a finding blames: the thread or process that caused the problem (the holder of
    a lock, the loop thread that blocked, the process whose clone was refused)."""

    pid: int | None = None
    tid: int | None = None
    name: str | None = None
    """Thread or process name (``-Y`` comm, the py-spy thread name), when known."""
    role: str | None = None
    """What it is in this finding's words: ``event loop``, ``lock holder``, ``reader``."""

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "tid": self.tid, "name": self.name, "role": self.role}


@dataclass(frozen=True)
class Resource:
    """What a finding is about: the peer, file, directory, pipe, lock or limit."""

    kind: str
    """tcp, udp, unix, file, directory, device, pipe, futex, gil, lock, dns, limit, cpu,
    process ..."""
    key: str
    """The resource as the tables name it (``tcp 127.0.0.1:5432``, a path, ``pipe:[123]``):
    findings about one resource have the same key."""
    text: str
    """The resource in plain words (``TCP peer 127.0.0.1:5432``)."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "text": self.text}


@dataclass(frozen=True)
class Explains:
    """A consequence this finding explains: findings of `kind` (any kind when None) about
    the resource `key` in the same input (any input when `same_input` is False), of the
    thread `tid` when given.
    `adds_cost`: their cost is further time this cause cost (clients waiting on a blocked
    loop), not the same waiting seen again (workers of a pile-up seen call by call)."""

    key: str
    kind: str | None = None
    adds_cost: bool = False
    same_input: bool = True
    tid: int | None = None
    """Only findings about this one thread (their `tid`)."""
    during: tuple[float, float] | None = None
    """Only findings that start within this span (on the input's clock)."""


@dataclass(frozen=True)
class Finding:
    """One diagnosis: what, where, how bad, the evidence and the fix.

    `cost_s` is the time the problem cost (blocked or waiting time) and ranks the verdict;
    `evidence` holds plain JSON values with the keys documented per kind in
    docs/report-json.md.
    """

    code: str
    kind: str
    severity: Severity
    title: str
    message: str
    evidence: Mapping[str, Any]
    fix: str = ""
    input: str | None = None
    pid: int | None = None
    tid: int | None = None
    start: float | None = None
    duration_s: float | None = None
    cost_s: float = 0.0
    lines: tuple[int, ...] = ()
    """Source lines (1-based, in `input`) that show the problem, first few only."""
    culprit: Culprit | None = None
    resource: Resource | None = None
    explains: tuple[Explains, ...] = ()
    """The other findings this one is the cause of (the verdict folds them into it)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "input": self.input,
            "pid": self.pid,
            "tid": self.tid,
            "start": clean_number(self.start, digits=6),
            "duration_s": clean_number(self.duration_s, digits=6),
            "cost_s": clean_number(self.cost_s, digits=6),
            "fix": self.fix,
            "lines": list(self.lines),
            "culprit": self.culprit.to_json() if self.culprit else None,
            "resource": self.resource.to_json() if self.resource else None,
            "evidence": clean(self.evidence, digits=6),
        }


PassFunction = Callable[[PassInputs, PassConfig], list[Finding]]


@dataclass(frozen=True)
class Pass:
    """A registered pass: its rule code, the finding kind it emits and the function."""

    code: str
    kind: str
    run: PassFunction
    doc: str = ""
    after: tuple[str, ...] = ()
    """The kinds of the earlier passes whose findings it reads (`PassInputs.earlier`): run
    side by side with others (`passes.run_passes` with a pool), it waits for those and sees
    only their findings."""
