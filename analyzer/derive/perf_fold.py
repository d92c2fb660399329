"""Folded stacks, as FlameGraph's ``stackcollapse-perf.pl`` prints them.

`collapse(parsed, options)` turns the parsed `perf script` tables into the folded text
``root;...;leaf count`` (one line per distinct stack, sorted, counts summed), byte for byte
what ``stackcollapse-perf.pl [--pid|--tid|--kernel|--jit|--all|--addrs|--event-filter=EV]``
prints for the same input (FlameGraph 41fee1f), with the same defaults:

- only samples of one event type are folded: ``event_filter``, or else the first event seen;
- the count of a sample is its period (1 when none is printed, or 0);
- the root frame is the comm with spaces turned into ``_``; ``pid`` gives ``comm-PID`` and
  ``tid`` gives ``comm-PID/TID`` (``?`` for a pid that perf did not print);
- frames: the ``+0x..`` offset is dropped; frames whose symbol starts with ``(`` are skipped;
  ``a->b->c`` (Java inlining) becomes ``a;b_[i];c_[i]``; ``[unknown]`` becomes ``[basename of
  the DSO]`` (or ``[unknown]``), and ``[name <addr>]`` with ``addrs``; ``;`` becomes ``:``;
  everything from the first ``(`` is dropped unless the name looks like a Go method
  (``.(*T).``) or the ``(`` opens ``(anonymous namespace)``; quotes are removed; for comms
  starting with ``java``, a leading ``L`` of names containing ``/`` is removed;
- ``kernel`` adds ``_[k]`` to frames whose DSO starts with ``[`` or ends with ``vmlinux`` (and is
  not ``[unknown]``); ``jit`` adds ``_[j]`` to frames in ``/tmp/perf-PID.map``; ``all`` = both.
- a sample whose callchain is not ended by a blank line at the end of the input is not counted
  (the input stops inside it).

Deliberate differences from the perl script, where it is wrong (none of them changes the
output on FlameGraph's test corpus, which `tests/test_perf_collapse.py` checks):

1. **Comm and tid** come from iodiag's right-anchored header parse. The perl script reads the
   header with ``^(\\S.+?)\\s+(\\d+)``, so a thread named ``io worker 1`` (tid 11709) becomes
   ``io_worker`` with tid 1, ``--tid`` prints ``io_worker-?/1``, and a ``pid/tid`` of ``0/0``
   prints ``-?/0``. iodiag prints ``io_worker_1``, ``io_worker_1-?/11709``, ``swapper-0/0``.
2. **Padded headers.** Headers printed right-aligned (samples without callchain, tracepoint
   and side-band records) start with blanks; the perl script takes them for frame lines and
   folds nothing (or garbage) for such input. iodiag folds single-line samples as a one-frame
   stack under their comm, and never treats a header, side-band or ``-F +srcline`` line as a
   frame.
3. **Event filter on every sample.** The perl script finds the event only on headers that end
   with it, so tracepoint samples (payload after the event) are never filtered out and never
   set the default event. iodiag filters every sample by its event.
4. **DSOs with parentheses** (``(/memfd:sealed-1 (deleted))``): the DSO is the last balanced
   group, not the text after the last `` (``, and an ``[unknown]`` frame in it is named
   ``[memfd:sealed-1 (deleted)]`` (the perl script gives ``[unknown] ``, cut at the ``(``).
5. **``-F +srcline`` input**: source lines are attached to their frame rather than read as
   frames, and inlined frames that carry no ``(dso)`` on their own line are kept (the perl
   script drops them as unrecognised). There is no ``--srcline`` option: source locations are
   not added to the names. ``--inline``/``--context`` (addr2line) are not supported.
6. **JIT and kernel DSOs the perl rules miss**: ``jit`` also marks jitdump DSOs
   (``jitted-PID-N.so``, written by ``perf inject --jit`` for CPython 3.13 ``-X perf_jit``,
   Java and V8), and ``kernel`` also marks versioned ``vmlinux-*`` files and ``.ko`` modules
   (the same rules as inferno).
7. **Samples not separated by a blank line** (a header directly after a callchain) are two
   samples; the perl script would merge the first one's frames into the second.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from analyzer.config import CollapseOptions
from analyzer.formats.perf_assemble import Assembler, parse_line

if TYPE_CHECKING:
    import pyarrow as pa

    from analyzer.formats.perf import ParsedPerf

__all__ = [
    "CollapseOptions",
    "collapse",
    "collapse_assembled",
    "collapse_lines",
    "collapse_tables",
    "default_event",
    "fold",
    "fold_frame",
]


SampleKey = tuple[str | None, int | None, int | None, int | None]
"""(comm, pid, tid, stack id): the samples that fold to the same line (with the options)."""

_GO_METHOD = re.compile(r"\.\(.*\)\.")
_AFTER_PAREN = re.compile(r"\((?!anonymous namespace\)).*")
_PERF_MAP = re.compile(r"/tmp/perf-\d+\.map")
_JITDUMP = re.compile(r"(?:^|/)jitted-\d+-\d+\.so$")
_KERNEL_FILE = re.compile(r"(?:^|/)vmlinux-[^/]*$|\.ko(?:\.[a-z]+)?$")


def fold_frame(
    addr: str | None,
    symbol: str | None,
    offset: str | None,
    dso: str | None,
    *,
    java: bool = False,
    kernel: bool = False,
    jit: bool = False,
    addrs: bool = False,
) -> list[str]:
    """The folded names of one frame (several for ``a->b`` inlining, none when skipped), as
    stackcollapse-perf.pl names it.

    The flags are that script's options: `java` drops the ``L`` of Java class names, `kernel`
    and `jit` annotate frames of kernel DSOs (``_[k]``) and JIT maps (``_[j]``), `addrs`
    keeps the address of an unknown symbol (``[dso <addr>]``). An inlined frame after the
    first is always annotated ``_[i]``.
    """
    if symbol is None or symbol.startswith("("):
        return []
    if not symbol and offset is None:
        # "addr  (dso)": perl's `\s*(.+) \(` gives the name " " to an empty symbol
        symbol = " "
    module = dso or ""
    parts = symbol.split("->")
    while parts and parts[-1] == "":  # perl's split drops trailing empty fields
        parts.pop()
    names: list[str] = []
    for part in parts:
        func = part
        if func == "[unknown]":
            name = module.rsplit("/", 1)[-1] if module != "[unknown]" else "unknown"
            func = f"[{name} <{addr}>]" if addrs else f"[{name}]"
            if "(" in name:  # a DSO name is not a symbol: keep "(deleted)" (difference 4)
                func = func.replace(";", ":").replace('"', "").replace("'", "")
                tidy = False
            else:
                tidy = True
        else:
            tidy = True
        if tidy:
            func = func.replace(";", ":")
            if not _GO_METHOD.search(func):
                func = _AFTER_PAREN.sub("", func, count=1)
            func = func.replace('"', "").replace("'", "")
        if java and "/" in func and func.startswith("L"):
            func = func[1:]
        if names:
            if "_[i]" not in func:
                func += "_[i]"
        elif kernel and _is_kernel(module):
            func += "_[k]"
        elif jit and (_PERF_MAP.search(module) or _JITDUMP.search(module)):
            func += "" if "_[j]" in func else "_[j]"
        names.append(func)
    return names


def _is_kernel(module: str) -> bool:
    if "unknown" in module:
        return False
    return (
        module.startswith("[")
        or module.endswith("vmlinux")
        or _KERNEL_FILE.search(module) is not None
    )


def default_event(samples: pa.Table) -> str | None:
    """The event the perl script folds by default: the first one in the input."""
    return _first_event(samples.column("event").to_pylist())


def _first_event(events: Iterable[str | None]) -> str | None:
    for event in events:
        if event is not None:
            return event
    return None


def collapse_tables(
    samples: pa.Table, stacks: pa.Table, frames: pa.Table, options: CollapseOptions
) -> str:
    """Folded stacks from the `perf_samples`, `perf_stacks` and `perf_frames` tables."""
    frame_data = frames.select(["addr", "symbol", "offset", "dso"]).to_pydict()
    frame_rows = dict(
        zip(
            frames.column("frame_id").to_pylist(),
            zip(
                frame_data["addr"],
                frame_data["symbol"],
                frame_data["offset"],
                frame_data["dso"],
                strict=True,
            ),
            strict=True,
        )
    )
    stack_frames = dict(
        zip(
            stacks.column("stack_id").to_pylist(),
            stacks.column("frame_ids").to_pylist(),
            strict=True,
        )
    )
    data = samples.select(["comm", "pid", "tid", "event", "period", "stack_id", "cut"]).to_pydict()
    events = data["event"]
    wanted = options.event_filter if options.event_filter else _first_event(events)
    totals: dict[SampleKey, int] = {}
    for comm, pid, tid, event, period, stack_id, cut in zip(
        data["comm"],
        data["pid"],
        data["tid"],
        events,
        data["period"],
        data["stack_id"],
        data["cut"],
        strict=True,
    ):
        if cut or event != wanted:
            continue
        key = (comm, pid, tid, stack_id)
        totals[key] = totals.get(key, 0) + (period or 1)
    return fold(totals, stack_frames, frame_rows, options)


def collapse_assembled(assembler: Assembler, options: CollapseOptions | None = None) -> str:
    """Folded stacks straight from the rows of a `perf_assemble.Assembler` (no Arrow tables)."""
    options = options or CollapseOptions()
    records = assembler.sample_records
    wanted = options.event_filter or _first_event(record[8] for record in records)
    stacks = assembler.sample_stacks
    if assembler.last_cut:  # only the last sample can be cut
        records, stacks = records[:-1], stacks[:-1]
    # samples with the same header fields (the records of header templates are shared) and
    # stack, counted in C; the time is no part of a folded line
    same = Counter(zip(records, stacks, strict=True))
    totals: dict[SampleKey, int] = {}
    for (record, stack_id), count in same.items():
        if record[8] != wanted:  # record.event
            continue
        key = (record[1], record[2], record[3], stack_id)  # comm, pid, tid
        totals[key] = totals.get(key, 0) + count * (record[7] or 1)  # record.period
    return fold(totals, assembler.stack_rows(), assembler.frame_rows(), options)


def fold(
    totals: Mapping[SampleKey, int],
    stack_frames: Mapping[int, Sequence[int]] | Sequence[Sequence[int]],
    frame_rows: Mapping[int, Sequence[Any]] | Sequence[Sequence[Any]],
    options: CollapseOptions,
) -> str:
    """The folded text of the samples to fold, summed by (comm, pid, tid, stack id) in
    `totals` (count: the periods, 1 for a sample without one); ``stack_frames[stack_id]`` is a
    callchain's frame ids (leaf first) and ``frame_rows[frame_id]`` starts with its ``addr
    symbol offset dso``."""
    kernel = options.kernel or options.all
    jit = options.jit or options.all
    frame_texts: dict[bool, dict[int, str | None]] = {}
    folded_stacks: dict[tuple[int, bool], str] = {}

    def texts(java: bool) -> dict[int, str | None]:
        """Each frame's folded names joined by ``;`` (None for a frame that is skipped)."""
        table = frame_texts.get(java)
        if table is None:
            table = frame_texts[java] = {}
            rows = frame_rows.items() if isinstance(frame_rows, Mapping) else enumerate(frame_rows)
            for frame_id, row in rows:
                names = fold_frame(
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    java=java,
                    kernel=kernel,
                    jit=jit,
                    addrs=options.addrs,
                )
                table[frame_id] = ";".join(names) if names else None
        return table

    def fold_stack(stack_id: int, java: bool) -> str:
        names = texts(java)
        # root first
        chain = map(names.__getitem__, reversed(stack_frames[stack_id]))
        return ";".join([text for text in chain if text is not None])

    counts: dict[str, int] = {}
    roots: dict[tuple[str | None, int | None, int | None], str] = {}
    for (comm, pid, tid, stack_id), total in totals.items():
        root_key = (comm, pid, tid)
        root = roots.get(root_key)
        if root is None:
            root = roots[root_key] = _root(comm, pid, tid, options)
        if stack_id is None:
            key = root
        else:
            java = root == "java"
            stack_key = (stack_id, java)
            folded = folded_stacks.get(stack_key)
            if folded is None:
                folded = folded_stacks[stack_key] = fold_stack(stack_id, java)
            key = f"{root};{folded}" if folded else root
        counts[key] = counts.get(key, 0) + total
    return "".join(f"{key} {counts[key]}\n" for key in sorted(counts))


def _root(comm: str | None, pid: int | None, tid: int | None, options: CollapseOptions) -> str:
    name = comm or ""
    shown_pid = "?" if pid is None else str(pid)
    if options.tid:
        name = f"{name}-{shown_pid}/{'?' if tid is None else tid}"
    elif options.pid:
        name = f"{name}-{shown_pid}"
    return name.replace(" ", "_")


def collapse(parsed: ParsedPerf, options: CollapseOptions | None = None) -> str:
    """Folded stacks of a parsed `perf script` input (see the module docstring)."""
    return collapse_tables(
        parsed.samples, parsed.stacks, parsed.frames, options or CollapseOptions()
    )


def collapse_lines(lines: Iterable[str], options: CollapseOptions | None = None) -> str:
    """Folded stacks straight from `perf script` text lines (without their newlines)."""
    assembler = Assembler()
    add = assembler.add
    for line_no, text in enumerate(lines, 1):
        add(line_no, text, parse_line(text))
    assembler.end()
    return collapse_assembled(assembler, options)
