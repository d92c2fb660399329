"""Folded stacks, byte for byte what FlameGraph's ``stackcollapse-perf.pl`` prints.

`analyzer.formats.perf_collapse` reads `perf script` text as the current script (FlameGraph
41fee1f) reads it; this module folds what it read with the script's options
(``--pid --tid --kernel --jit --all --addrs --event-filter``), as the script names frames:

- only samples of one event type are folded: ``event_filter``, else the first event the
  script meets (`folded_note` says, as the script does on stderr, when others were left out);
- the root is the comm (``comm-PID`` with ``pid``, ``comm-PID/TID`` with ``tid``; ``?`` for
  a pid that perf did not print), spaces turned into ``_``; the count is the summed periods;
- per frame function (``a->b`` Java inlining gives ``a;b_[i]``): ``[unknown]`` becomes
  ``[basename of the DSO]`` (``[dso <addr>]`` with ``addrs``); ``;`` becomes ``:``;
  everything from the first ``(`` is dropped unless the name looks like a Go method
  (``.(*T).``) or the ``(`` opens ``(anonymous namespace)``; quotes are removed; when the
  root starts with ``java`` a leading ``L`` of names containing ``/`` is removed (with
  ``--pid``/``--tid`` too, which is why 8 of FlameGraph's own expected files, made by an
  older script, differ: `fixtures/perf/stackcollapse/`); ``kernel`` adds ``_[k]`` to frames
  whose DSO starts with ``[`` or ends with ``vmlinux`` (not ``[unknown]``), ``jit`` adds
  ``_[j]`` to frames in ``/tmp/perf-PID.map``;
- keys are sorted bytewise (Perl's ``cmp``).

`fold_reader` folds a whole `CollapseReader`; `StreamingFolder` reads and folds with the
options known up front, in bounded memory: it folds what it has read every so often, forgets
the frames when there are too many, and spills the folded counts to sorted files past a
budget, merged at the end (`iodiag-analyze PERF --format folded`).

`fold_frame` is iodiag's own naming of a `perf_frames` row (the grammar's reading), which the
flame graph and speedscope renderers use to name and colour frames.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import TYPE_CHECKING, cast

from analyzer.config import CollapseOptions
from analyzer.derive.fold_runs import merge_batches, move_run, write_counts
from analyzer.formats.perf_collapse import CollapseReader, Frame

if TYPE_CHECKING:
    import pyarrow as pa

    from analyzer.formats.perf import FoldSource, ParsedPerf

__all__ = [
    "CollapseOptions",
    "StreamingFolder",
    "collapse",
    "collapse_lines",
    "default_event",
    "event_note",
    "fold_again",
    "fold_frame",
    "fold_reader",
    "folded_note",
    "folded_text",
]

_GO_METHOD = re.compile(r"\.\(.*\)\.")
_AFTER_PAREN = re.compile(r"\((?!anonymous namespace\)).*")
_PERF_MAP = re.compile(r"/tmp/perf-\d+\.map")
_JITDUMP = re.compile(r"(?:^|/)jitted-\d+-\d+\.so$")
_KERNEL_FILE = re.compile(r"(?:^|/)vmlinux-[^/]*$|\.ko(?:\.[a-z]+)?$")

_B_GO_METHOD = re.compile(rb"\.\(.*\)\.")
_B_AFTER_PAREN = re.compile(rb"\((?!anonymous namespace\)).*")
_B_KERNEL = re.compile(rb"^\[|vmlinux$")
_B_PERF_MAP = re.compile(rb"/tmp/perf-\d+\.map")


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


def frame_text(frame: Frame, *, java: bool, kernel: bool, jit: bool, addrs: bool) -> bytes:
    """The folded names of one frame the script read, joined by ``;`` (its ``@inline``)."""
    pc, functions, module = frame
    names: list[bytes] = []
    for function in functions:
        func = function
        if func == b"[unknown]":
            name = module.rsplit(b"/", 1)[-1] if module != b"[unknown]" else b"unknown"
            func = b"[" + name + b" <" + pc + b">]" if addrs else b"[" + name + b"]"
        func = func.replace(b";", b":")
        if _B_GO_METHOD.search(func) is None:
            func = _B_AFTER_PAREN.sub(b"", func, count=1)
        func = func.translate(None, b"\"'")
        if java and func.startswith(b"L") and b"/" in func:
            func = func[1:]
        if names:
            if b"_[i]" not in func:
                func += b"_[i]"
        elif kernel and _B_KERNEL.search(module) is not None and b"unknown" not in module:
            func += b"_[k]"
        elif jit and _B_PERF_MAP.search(module) is not None and b"_[j]" not in func:
            func += b"_[j]"
        names.append(func)
    return b";".join(names)


def _java_text(text: bytes) -> bytes:
    """A frame's folded names under a ``java`` root: the script drops the leading ``L`` of
    each name with a ``/`` (before it adds an annotation, which has neither)."""
    return b";".join(
        name[1:] if name[:1] == b"L" and b"/" in name else name for name in text.split(b";")
    )


def _wanted(reader: CollapseReader, options: CollapseOptions) -> bytes | None:
    """The event folded: the option's, else the first the script meets (None: no header
    names an event, and none is left out)."""
    if options.event_filter:
        return options.event_filter.encode("utf-8", "surrogateescape")
    return reader.first_event


def folded_note(reader: CollapseReader, options: CollapseOptions) -> str | None:
    """What to tell the user when, folding the first event by default, the input has
    another one (stackcollapse-perf.pl prints ``Filtering for events of type: OTHER`` on
    stderr then)."""
    if options.event_filter:
        return None
    return event_note(reader.first_event, reader.other_event)


def event_note(first_event: bytes | None, other_event: bytes | None) -> str | None:
    """`folded_note` for the first event met and the first other one after it."""
    if first_event is None or other_event is None:
        return None
    first = first_event.decode("utf-8", "backslashreplace")
    other = other_event.decode("utf-8", "backslashreplace")
    return (
        f"folded only events of type {first}, the first one met, and left out other types "
        f"such as {other}, as stackcollapse-perf.pl does (choose one with --event-filter)"
    )


class _Namer:
    """The roots and frame names of a reader's headers and frames, made once each."""

    def __init__(self, reader: CollapseReader, options: CollapseOptions) -> None:
        self.reader = reader
        self.options = options
        self.kernel = options.kernel or options.all
        self.jit = options.jit or options.all
        self.roots: list[bytes | None] = []
        """Header id -> the root (``$pname``), None for a header of an event left out."""
        self.texts: dict[bool, list[bytes]] = {False: [], True: []}
        """Java or not -> frame id -> the frame's folded names."""

    def update(self, wanted: bytes | None) -> None:
        options = self.options
        roots = self.roots
        for header in self.reader.headers[len(roots) :]:
            if header.event is not None and header.event != wanted:
                roots.append(None)
                continue
            root = header.comm
            if options.tid:
                root = root + b"-" + header.pid + b"/" + header.tid
            elif options.pid:
                root = root + b"-" + header.pid
            roots.append(root.replace(b" ", b"_"))

    def frame_texts(self, java: bool) -> list[bytes]:
        plain = self.texts[False]
        frames = self.reader.frames
        if len(plain) < len(frames):
            kernel, jit, addrs = self.kernel, self.jit, self.options.addrs
            plain.extend(
                frame_text(frame, java=False, kernel=kernel, jit=jit, addrs=addrs)
                for frame in frames[len(plain) :]
            )
        if not java:
            return plain
        texts = self.texts[True]
        if len(texts) < len(plain):
            texts.extend(
                text if b"/" not in text else _java_text(text) for text in plain[len(texts) :]
            )
        return texts

    def forget_frames(self) -> None:
        self.texts = {False: [], True: []}


def _fold_into(counts: dict[bytes, int], reader: CollapseReader, namer: _Namer) -> None:
    """Add the folded stacks of what `reader` holds to `counts`."""
    namer.update(_wanted(reader, namer.options))
    roots = namer.roots
    plain: list[bytes] | None = None
    java: list[bytes] | None = None
    get = counts.get
    for (header_id, chain), total in reader.pairs.items():
        root = roots[header_id]
        if root is None:
            continue
        if chain:
            if root.startswith(b"java"):
                texts = java if java is not None else (java := namer.frame_texts(True))
            else:
                texts = plain if plain is not None else (plain := namer.frame_texts(False))
            key = root + b";" + b";".join(map(texts.__getitem__, reversed(chain)))
        else:
            key = root
        counts[key] = get(key, 0) + total
    for tokens, times in reader.general.items():
        folded = _replay(tokens, roots, namer)
        if folded is not None:
            key, period = folded
            counts[key] = get(key, 0) + period * times


def _replay(
    tokens: Sequence[object], roots: list[bytes | None], namer: _Namer
) -> tuple[bytes, int] | None:
    """The script's state machine over the tokens of a piece of any shape, ended by an empty
    line: (stack, period) counted there, or None."""
    pname: bytes | None = None
    period = 0
    stack: list[bytes] = []
    for token in tokens:
        if isinstance(token, tuple):
            root = roots[token[0]]
            if root is None:
                continue  # an event left out: `next`, the state stays
            pname, period = root, token[1]
        elif pname is not None:
            stack.append(namer.frame_texts(pname.startswith(b"java"))[cast(int, token)])
    if pname is None:
        return None
    stack.append(pname)
    stack.reverse()
    return b";".join(stack), period


def fold_reader(
    reader: CollapseReader, options: CollapseOptions | None = None
) -> list[tuple[bytes, int]]:
    """The folded stacks of everything `reader` read, sorted as the script prints them."""
    counts: dict[bytes, int] = {}
    _fold_into(counts, reader, _Namer(reader, options or CollapseOptions()))
    return sorted(counts.items())


def folded_text(items: Iterable[tuple[bytes, int]]) -> bytes:
    """The script's output for folded (stack, count) items."""
    return b"".join(folded_line(stack, count) for stack, count in items)


PERL_UV_LIMIT = 1 << 64
"""Perl's integers are 64 bits wide: a count past them is a floating-point number."""


def folded_line(stack: bytes, count: int) -> bytes:
    """One line of the script's output: the stack and its count, which Perl prints as a
    floating-point number (``%.15g``) past 2^64."""
    if count < PERL_UV_LIMIT:
        return b"%s %d\n" % (stack, count)
    return b"%s %s\n" % (stack, (b"%.15g" % float(count)))


class StreamingFolder:
    """Reads `perf script` bytes and folds them with `options` in bounded memory.

    `feed_raw` the input cut anywhere (or `feed` blocks of whole lines), then `items()`:
    the folded (stack, count) pairs in the script's order. The reader
    (`analyzer.derive.perf_fold_direct.DirectReader`) adds the common pieces to the counts
    as text; the pieces of other shapes it keeps as tokens are folded into the counts every
    `FOLD_PAIRS` of them, and its frames forgotten past `FRAME_LINES` distinct frame lines;
    the counts are written to a sorted run file past an estimated `SPILL_BYTES` and the runs
    merged at the end. So memory is bounded by these limits whatever the input (a single
    sample with millions of frames, which the script also holds whole, aside).
    """

    FOLD_PAIRS = 200_000
    FRAME_LINES = 1_000_000
    SPILL_BYTES = 256 << 20

    def __init__(
        self,
        options: CollapseOptions | None = None,
        spill_dir: str | None = None,
    ):
        from analyzer.derive.perf_fold_direct import DirectReader

        self.options = options or CollapseOptions()
        self.reader = DirectReader(self.options)
        self.namer = _Namer(self.reader, self.options)
        self.reader.root_of = self.namer.roots
        self.reader.on_headers = self._new_headers
        self.counts: dict[bytes, int] = self.reader.counts
        self._count_bytes = 0.0
        self._counted = 0
        self._spill_dir = spill_dir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.runs: list[str] = []

    def _new_headers(self) -> None:
        self.namer.update(_wanted(self.reader, self.options))

    def feed_raw(self, data: bytes) -> None:
        self.reader.feed_raw(data)
        self._check()

    def feed(self, block: bytes) -> None:
        self.reader.feed(block)
        self._check()

    def _check(self) -> None:
        reader = self.reader
        if len(reader.pairs) + len(reader.general) >= self.FOLD_PAIRS:
            self._fold()
        if reader.line_count() >= self.FRAME_LINES and reader.open_piece() is None:
            self._fold()
            reader.forget_frames()
            self.namer.forget_frames()
        self._estimate()
        if self._count_bytes > self.SPILL_BYTES:
            self._spill()

    def _estimate(self) -> None:
        """Add the keys counted since the last estimate to `_count_bytes`: as long as the
        last ones (a sample of them) plus the dictionary's share."""
        added = len(self.counts) - self._counted
        if added > 0:
            sample = list(islice(reversed(self.counts), 256))
            self._count_bytes += added * (sum(map(len, sample)) / len(sample) + 120)
            self._counted = len(self.counts)

    def _fold(self) -> None:
        reader = self.reader
        self._new_headers()
        _fold_into(self.counts, reader, self.namer)
        reader.pairs.clear()
        reader.general.clear()
        self._estimate()

    def _spill(self) -> None:
        self._fold()
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="iodiag-fold-", dir=self._spill_dir)
        base = os.path.join(self._tmp.name, f"run-{len(self.runs):05d}")
        self.runs.append(write_counts(base, self.counts))
        self.counts.clear()
        self._count_bytes = 0.0
        self._counted = 0

    def finish_sorted(self) -> tuple[list[str], list[tuple[bytes, int]]]:
        """Read the rest of the input's state: (the runs written, the other folded stacks
        sorted), for `fold_runs.merge_batches`."""
        self.reader.finish()
        self._fold()
        last = sorted(self.counts.items())
        self.counts.clear()
        return self.runs, last

    def batches(self) -> Iterator[list[tuple[bytes, int]]]:
        """The folded stacks, sorted, in batches (none empty); reads the rest of the input's
        state first."""
        try:
            yield from merge_batches(*self.finish_sorted())
        finally:
            self.close()

    def items(self) -> Iterator[tuple[bytes, int]]:
        """The folded stacks, sorted; reads the rest of the input's state first."""
        for batch in self.batches():
            yield from batch

    def finish_runs(self, directory: str) -> list[str]:
        """Read the rest of the input's state and write everything folded as sorted runs in
        `directory` (which the caller removes); their paths, for `merge_batches`."""
        self.reader.finish()
        self._spill()
        runs = [
            move_run(run, os.path.join(directory, f"{os.getpid()}-{index:05d}"))
            for index, run in enumerate(self.runs)
        ]
        self.runs.clear()
        self.close()
        return runs

    def events(self) -> list[bytes]:
        """The events of the headers read, each once, in the order first met."""
        return list(dict.fromkeys(h.event for h in self.reader.headers if h.event is not None))

    def note(self) -> str | None:
        return folded_note(self.reader, self.options)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def collapse(parsed: ParsedPerf, options: CollapseOptions | None = None) -> str:
    """Folded stacks of a parsed `perf script` input (see the module docstring); a file
    parsed to be folded again (`ParsedPerf.refold`) is read again."""
    if parsed.refold is not None:
        folder = fold_again(parsed.refold, options or CollapseOptions())
        return folded_text(folder.items()).decode("utf-8", "backslashreplace")
    return folded_text(fold_reader(parsed.collapsed, options)).decode("utf-8", "backslashreplace")


def fold_again(source: FoldSource, options: CollapseOptions) -> StreamingFolder:
    """A `StreamingFolder` that has read the file `source` again, the bytes its parse read
    (`analyzer.inputs.iter_line_chunks`, `chunk_bytes`); the caller reads its stacks or
    closes it. Raises `InputError` when the file changed since it was parsed."""
    from analyzer.errors import InputError
    from analyzer.formats.perf import chunk_bytes
    from analyzer.formats.perf_assemble import gc_paused
    from analyzer.inputs import iter_line_chunks, open_input

    if not source.unchanged():
        raise InputError(f"{source.path}: the file changed while it was read")
    folder = StreamingFolder(options)
    folder.SPILL_BYTES = FOLD_AGAIN_SPILL_BYTES
    try:
        opened = open_input(source.path)
        try:
            with gc_paused():
                for chunk in iter_line_chunks(opened.stream, cut=[]):
                    if chunk.line_count:
                        folder.feed(chunk_bytes(chunk))
        finally:
            opened.close()
    except BaseException:
        folder.close()
        raise
    return folder


FOLD_AGAIN_SPILL_BYTES = 128 << 20
"""`StreamingFolder.SPILL_BYTES` when a file is folded again after its parse (whose tables
are held meanwhile)."""


def collapse_lines(lines: Iterable[str], options: CollapseOptions | None = None) -> str:
    """Folded stacks straight from `perf script` text lines (without their newlines)."""
    reader = CollapseReader()
    reader.feed("\n".join(lines).encode("utf-8", "surrogateescape"))
    reader.finish()
    return folded_text(fold_reader(reader, options)).decode("utf-8", "backslashreplace")
