"""From parsed `perf script` inputs to the run's perf tables.

`derive` is the perf source's derivation stage: every input's samples, stacks and frames with
ids made unique across inputs, its stacks folded with the run's options (`folded_table`,
the `perf_folded` table: one row per distinct folded stack, in `stackcollapse-perf.pl`'s
order), and the tracepoint tables (block I/O, off-CPU time, syscall latency) paired from the
samples (`perf_tracepoints`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from analyzer import store
from analyzer.config import CollapseOptions
from analyzer.derive import perf_tracepoints
from analyzer.derive.perf_fold import fold_again, fold_reader, folded_note
from analyzer.formats.perf import ParsedPerf
from analyzer.model import Derived, ParsedInput
from analyzer.schema import PERF_FOLDED

FOLDED_NOTES = b"iodiag.folded_notes"
"""Schema metadata key of the `perf_folded` table: what stackcollapse-perf.pl would say on
stderr about the folding (one line per input, ``input: note``), which the CLI prints."""


INT64_MAX = (1 << 63) - 1


def folded_table(input_name: str, parsed: ParsedPerf, options: CollapseOptions) -> pa.Table:
    """The folded stacks of one input, in stackcollapse-perf.pl's order.

    A stack whose summed periods do not fit 64 bits is left out (the script would print a
    float): the header that printed such a period is already an unparsed line."""
    return folded_and_note(input_name, parsed, options)[0]


def folded_and_note(
    input_name: str, parsed: ParsedPerf, options: CollapseOptions
) -> tuple[pa.Table, str | None]:
    """`folded_table` and what stackcollapse-perf.pl would say on stderr about the folding
    (`folded_note`).

    An input parsed from a regular file (`ParsedPerf.refold`) is read again and folded as
    it is read (`StreamingFolder`, in bounded memory), the same bytes the parse read
    (`analyzer.inputs.iter_line_chunks`, `chunk_bytes`); other inputs are folded from what
    the parse kept (`ParsedPerf.collapsed`)."""
    source = parsed.refold
    if source is None:
        parts = _folded_parts(input_name, [fold_reader(parsed.collapsed, options)])
        return _kept(parts), folded_note(parsed.collapsed, options)
    folder = fold_again(source, options)
    try:
        table = _kept(_folded_parts(input_name, folder.batches()))
    finally:
        folder.close()
    return table, folder.note()


def _kept(parts: Iterable[pa.Table]) -> pa.Table:
    """The folded parts as one table (`_mapped`, written a part at a time as folded)."""
    return _mapped("perf_folded", parts, PERF_FOLDED.schema)


SPILL_ROWS = 1 << 16
"""A table of more rows than this is spilled to the work directory (`_mapped`)."""


def _mapped(name: str, parts: Iterable[pa.Table], schema: pa.Schema | None = None) -> pa.Table:
    """The parts (of `schema`, else of the first part's) as one table: in a run
    (`store.CURRENT`), when it has more than `SPILL_ROWS` rows, an Arrow file of the work
    directory, mapped (`store.map_table`), written a part at a time; else in memory.

    Mapped, a table is file pages that the page watch gives back, not memory held to the
    end of the run: for 2 GB of distinct stacks, 1.4M folded stacks of ~440 bytes, and the
    samples, stacks and frames tables (~0.45 GB)."""
    directory = store.CURRENT.get()
    items = iter(parts)
    held: list[pa.Table] = []
    rows = 0
    if directory is not None:
        for part in items:
            held.append(part)
            rows += part.num_rows
            if rows > SPILL_ROWS:
                break
    if directory is None or rows <= SPILL_ROWS:
        held.extend(items)
        if not held and schema is not None:
            return schema.empty_table()
        return pa.concat_tables(held)
    path = directory.folder(name.replace("_", "-")) / f"{name}.arrow"
    with (
        pa.OSFile(str(path), "wb") as sink,
        pa.ipc.new_file(sink, schema or held[0].schema) as writer,
    ):
        for part in held:
            writer.write_table(part)
        del held
        for part in items:
            writer.write_table(part)
    return store.map_table(path)


def _folded_parts(
    input_name: str, batches: Iterable[Sequence[tuple[bytes, int]]]
) -> Iterator[pa.Table]:
    """A `PERF_FOLDED` table per batch of sorted (stack, count) items; Arrow checks the
    stacks are UTF-8 (`analyzer.inputs` wrote other bytes as ``\\xNN``), so no Python
    string is made per stack."""
    for batch in batches:
        items = [item for item in batch if item[1] <= INT64_MAX]
        if not items:
            continue
        stacks = pa.array([stack for stack, _ in items], pa.binary())
        try:
            text = stacks.cast(pa.string())
        except pa.ArrowInvalid:
            text = pa.array(
                [stack.decode("utf-8", "backslashreplace") for stack, _ in items], pa.string()
            )
        yield (
            pa.table(
                {
                    "input": pa.repeat(pa.scalar(input_name, pa.string()), len(items)),
                    "stack": text,
                    "count": pa.array([count for _, count in items], pa.int64()),
                },
                schema=PERF_FOLDED.schema,
            )
        )


FOLDED_INPUTS = b"iodiag.inputs"
"""Schema metadata key of the `perf_folded` table: the perf inputs of the run, one a line
(the table's `input` column names only those that folded something)."""


def folded_notes(table: pa.Table) -> list[str]:
    """The notes `perf_tables` left on a `perf_folded` table."""
    metadata = table.schema.metadata or {}
    text = metadata.get(FOLDED_NOTES, b"").decode("utf-8", "backslashreplace")
    return text.splitlines()


def perf_tables(
    profiles: Sequence[ParsedInput[ParsedPerf]], options: CollapseOptions
) -> tuple[dict[str, pa.Table], dict[str, dict[str, int]]]:
    """The perf tables of all perf inputs and the counts of their tracepoint pairing.

    Stack and frame ids are offset so they stay unique across inputs; every input's stacks
    are folded with the run's options; block I/O, off-CPU and syscall-latency tables are
    derived from the (offset) samples.
    """
    samples: list[pa.Table] = []
    stacks: list[pa.Table] = []
    frames: list[pa.Table] = []
    folded: list[pa.Table] = []
    block: list[pa.Table] = []
    switches: list[pa.Table] = []
    syscalls: list[pa.Table] = []
    counts: dict[str, dict[str, int]] = {"block_io": {}, "off_cpu": {}, "syscall_latency": {}}
    notes: list[str] = []
    stack_base = frame_base = 0
    for source in profiles:
        parsed = source.parsed
        table, note = folded_and_note(source.name, parsed, options)
        folded.append(table)
        if note is not None:
            notes.append(f"{source.name}: {note}")
        shifted_samples = _shift(parsed.samples, "stack_id", stack_base)
        samples.append(shifted_samples)
        for name, derive, parts in (
            ("block_io", perf_tracepoints.block_io, block),
            ("off_cpu", perf_tracepoints.off_cpu, switches),
            ("syscall_latency", perf_tracepoints.syscall_latency, syscalls),
        ):
            table, table_counts = derive(shifted_samples)
            parts.append(table)
            for key, value in table_counts.items():
                counts[name][key] = counts[name].get(key, 0) + value
        stack_table = _shift(parsed.stacks, "stack_id", stack_base)
        if frame_base:  # (the first input's, as they are: no copy of every frame id)
            frame_ids = parsed.stacks["frame_ids"].combine_chunks()
            shifted = pa.ListArray.from_arrays(
                frame_ids.offsets, pc.add(frame_ids.flatten(), frame_base)
            ).cast(frame_ids.type)
            stack_table = stack_table.set_column(
                stack_table.schema.get_field_index("frame_ids"),
                stack_table.schema.field("frame_ids"),
                shifted,
            )
        stacks.append(stack_table)
        frames.append(_shift(parsed.frames, "frame_id", frame_base))
        stack_base += parsed.stacks.num_rows
        frame_base += parsed.frames.num_rows
    return {
        "perf_samples": _mapped("perf_samples", samples),
        "perf_stacks": _mapped("perf_stacks", stacks),
        "perf_frames": _mapped("perf_frames", frames),
        "perf_folded": pa.concat_tables(folded).replace_schema_metadata(
            {
                FOLDED_INPUTS: "\n".join(source.name for source in profiles).encode("utf-8"),
                **({FOLDED_NOTES: "\n".join(notes).encode("utf-8")} if notes else {}),
            }
        ),
        "perf_block_io": pa.concat_tables(block),
        "perf_off_cpu": pa.concat_tables(switches),
        "perf_syscall_latency": pa.concat_tables(syscalls),
    }, counts


def _shift(table: pa.Table, column: str, offset: int) -> pa.Table:
    if offset == 0:
        return table
    index = table.schema.get_field_index(column)
    shifted = pc.add(table[column], offset).cast(table.schema.field(column).type)
    return table.set_column(index, table.schema.field(column), shifted)


def derive(inputs: Sequence[ParsedInput[ParsedPerf]], options: CollapseOptions) -> Derived:
    """The perf tables of the run; ``extras["tracepoint_counts"]`` holds how the tracepoints
    paired (the report's notes)."""
    tables, counts = perf_tables(inputs, options)
    return Derived(tables, {"tracepoint_counts": counts})
