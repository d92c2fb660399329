"""`grammars/perf.lark` and the records it gives, on every fixture line.

Every line of every file in fixtures/perf is either parsed or reported unparsed with a
reason; no line of real `perf script` output is unparsed (the only unparsed lines in
`perf script` files are perf's own stderr warnings that `make_variants.sh` interleaved).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.formats import perf_lark
from analyzer.formats.perf import parse, sniff
from analyzer.formats.perf_record import PerfRecord, Unparsed
from analyzer.inputs import iter_line_chunks

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "perf"
RESEARCH = sorted((FIXTURES / "research").glob("*.txt"))
CORPUS = sorted((FIXTURES / "flamegraph-test").glob("*.txt"))
ALL_FILES = RESEARCH + CORPUS

# Other perf tools' text output, kept in the research samples: not `perf script` output.
NOT_PERF_SCRIPT = {
    "perf_report_stdio.txt",
    "perf_sched_timehist.txt",
    "perf_trace_plain_head.txt",
    "perf_trace_summary.txt",
}
# perf's stderr, captured by make_variants.sh (2>&1) between the `perf script` outputs
PERF_STDERR_PREFIXES = (
    "'trace' not valid for ",
    "Samples for 'cpu-clock' event do not have CPU attribute set.",
    "Can't provide 'tod' time, missing clock data.",
)


def _lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def test_grammar_compiles_strictly() -> None:
    parser = perf_lark.build_parser(strict=True)
    assert set(parser.options.start) == {"line", "bare_frame"}


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_line_parsed_or_reported(path: Path) -> None:
    unparsed: list[tuple[int, str, str]] = []
    for line_no, text in enumerate(_lines(path), 1):
        record = perf_lark.parse_line(text)
        if isinstance(record, Unparsed):
            assert record.reason, (line_no, text)
            unparsed.append((line_no, text, record.reason))
        else:
            assert isinstance(record, PerfRecord)
    if path.name in NOT_PERF_SCRIPT:
        return
    for line_no, text, reason in unparsed:
        assert text.startswith(PERF_STDERR_PREFIXES), (path.name, line_no, text, reason)
    if path.name != "variants.txt":
        assert unparsed == []


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_tables_account_for_every_line(path: Path) -> None:
    with path.open("rb") as stream:
        parsed = parse(iter_line_chunks(stream), str(path))
    lines = _lines(path)
    assert parsed.line_count == len(lines)
    kinds = [perf_lark.parse_line(text) for text in lines]
    samples = sum(1 for r in kinds if isinstance(r, PerfRecord) and r.kind == "sample")
    sideband = sum(1 for r in kinds if isinstance(r, PerfRecord) and r.kind == "sideband")
    bad = sum(1 for r in kinds if isinstance(r, Unparsed))
    assert parsed.samples.num_rows == samples
    assert parsed.sideband.num_rows == sideband
    # rejected lines: the unparsable ones, plus frames/srclines outside any sample
    assert parsed.unparsed.num_rows >= bad
    assert all(parsed.unparsed.column("reason").to_pylist())
    if path.name not in NOT_PERF_SCRIPT and path.name != "variants.txt":
        assert parsed.unparsed.num_rows == 0


def _record(text: str) -> PerfRecord:
    record = perf_lark.parse_line(text)
    assert isinstance(record, PerfRecord), record
    return record


@pytest.mark.parametrize(
    ("text", "comm", "pid", "tid", "cpu", "time_ns", "period", "event"),
    [
        (
            "io worker 1 11709   492.273049:    5025125 cpu-clock:",
            "io worker 1",
            None,
            11709,
            None,
            492_273_049_000,
            5025125,
            "cpu-clock",
        ),
        (
            "evil: 1.5: x 11711   492.325035:    5025125 cpu-clock:",
            "evil: 1.5: x",
            None,
            11711,
            None,
            492_325_035_000,
            5025125,
            "cpu-clock",
        ),
        (
            "12345 11710   492.290402:    5025125 cpu-clock:",
            "12345",
            None,
            11710,
            None,
            492_290_402_000,
            5025125,
            "cpu-clock",
        ),
        (
            "[brkt] 7 11712   492.355096:    5025125 cpu-clock:",
            "[brkt] 7",
            None,
            11712,
            None,
            492_355_096_000,
            5025125,
            "cpu-clock",
        ),
        (
            "python3.12  8798/8798    303.512366:    2004008 cpu-clock: ",
            "python3.12",
            8798,
            8798,
            None,
            303_512_366_000,
            2004008,
            "cpu-clock",
        ),
        (
            "python3.12  8798   303.512366233:    2004008 cpu-clock: ",
            "python3.12",
            None,
            8798,
            None,
            303_512_366_233,
            2004008,
            "cpu-clock",
        ),
        (
            ":-1    -1 [000]   746.080825: sched:sched_switch: prev_comm=x prev_pid=1",
            ":-1",
            None,
            -1,
            0,
            746_080_825_000,
            None,
            "sched:sched_switch",
        ),
        (
            " kworker/1:1H-kb    44 [001]   335.307195:    block:block_rq_issue: 254,0 FF 0 () 0",
            "kworker/1:1H-kb",
            None,
            44,
            1,
            335_307_195_000,
            None,
            "block:block_rq_issue",
        ),
        ("java 19983 cycles:", "java", None, 19983, None, None, None, "cycles"),
        (
            "emulator  4152 75695.008865:          1 cycles:u: ",
            "emulator",
            None,
            4152,
            None,
            75_695_008_865_000,
            1,
            "cycles:u",
        ),
        (
            "python3.11 15978   760.980166:    5025125    cpu-clock/freq=199/: ",
            "python3.11",
            None,
            15978,
            None,
            760_980_166_000,
            5025125,
            "cpu-clock/freq=199/",
        ),
        (
            "mir-console 23166 [000]  1333.768765: cpu-clock: ",
            "mir-console",
            None,
            23166,
            0,
            1_333_768_765_000,
            None,
            "cpu-clock",
        ),
        (
            "Gecko\t25122 [007] 115539.936601:\t\t1000000 task-clock:u:",
            "Gecko",
            None,
            25122,
            7,
            115_539_936_601_000,
            1000000,
            "task-clock:u",
        ),
    ],
)
def test_header_fields(
    text: str,
    comm: str,
    pid: int | None,
    tid: int,
    cpu: int | None,
    time_ns: int | None,
    period: int | None,
    event: str,
) -> None:
    record = _record(text)
    assert record.kind == "sample"
    assert (record.comm, record.pid, record.tid, record.cpu) == (comm, pid, tid, cpu)
    assert (record.time_ns, record.period, record.event) == (time_ns, period, event)


def test_tod_and_commless_layouts() -> None:
    tod = _record(
        "      python3.11 12140 [001] 2026-11-26 15:02:10.508630590   519.026100699: "
        "raw_syscalls:sys_enter: NR 12 (0, 7ffd6943ddbc, 0, 37f, 0, 0)"
    )
    assert tod.tod == "2026-11-26 15:02:10.508630590"
    assert tod.time_ns == 519_026_100_699
    assert tod.payload == "NR 12 (0, 7ffd6943ddbc, 0, 37f, 0, 0)"
    assert tod.addr is None  # a trace payload is never read as a frame
    bare = _record("[000]   446.577295445:   block:block_rq_insert: 254,0 WS 262144 () 1 + 8")
    assert (bare.comm, bare.tid, bare.cpu, bare.event) == (None, None, 0, "block:block_rq_insert")


def test_single_line_sample_payload_is_a_frame() -> None:
    record = _record(
        "      python3.12 11724   493.481268:    5025125 cpu-clock:      7fe140eb4fc1 "
        "_imp_find_frozen+0x1 (/opt/pyenv/versions/3.12.1/lib/libpython3.12.so.1.0)"
    )
    assert (record.comm, record.tid, record.addr) == ("python3.12", 11724, "7fe140eb4fc1")
    assert (record.symbol, record.offset) == ("_imp_find_frozen", "0x1")
    assert record.dso == "/opt/pyenv/versions/3.12.1/lib/libpython3.12.so.1.0"


@pytest.mark.parametrize(
    ("text", "addr", "symbol", "offset", "dso"),
    [
        (
            "\tffffffff821e8bb6 copy_mc_enhanced_fast_string+0x6 ([kernel.kallsyms])",
            "ffffffff821e8bb6",
            "copy_mc_enhanced_fast_string",
            "0x6",
            "[kernel.kallsyms]",
        ),
        ("\t               0 [unknown] ([unknown])", "0", "[unknown]", None, "[unknown]"),
        (
            "\t           c584f [unknown] (/memfd:sealed-91173221a7ea (deleted))",
            "c584f",
            "[unknown]",
            None,
            "/memfd:sealed-91173221a7ea (deleted)",
        ),
        (
            "\t          1ae101 _PyLong_CompactValue+0x11 (inlined)",
            "1ae101",
            "_PyLong_CompactValue",
            "0x11",
            "inlined",
        ),
        (
            "\t    7f6ae0458200 py::dumps:/opt/py/json/__init__.py+0xa (/tmp/perf-8798.map)",
            "7f6ae0458200",
            "py::dumps:/opt/py/json/__init__.py",
            "0xa",
            "/tmp/perf-8798.map",
        ),
        (
            "\t              85 py::fib:/tmp/perfwork/cpu_work.py+0x5 (/tmp/jitted-9290-433.so)",
            "85",
            "py::fib:/tmp/perfwork/cpu_work.py",
            "0x5",
            "/tmp/jitted-9290-433.so",
        ),
        (
            "\t    7f1e2162ad6f StealTask::do_it(GCTaskManager*, unsigned int) (/lib/libjvm.so)",
            "7f1e2162ad6f",
            "StealTask::do_it(GCTaskManager*, unsigned int)",
            None,
            "/lib/libjvm.so",
        ),
        (
            "\t           98ac9 __GI___libc_malloc+0x199",
            "98ac9",
            "__GI___libc_malloc",
            "0x199",
            None,
        ),
        (
            "\t    7f1e2215d058  (/lib/x86_64-linux-gnu/libc-2.15.so)",
            "7f1e2215d058",
            "",
            None,
            "/lib/x86_64-linux-gnu/libc-2.15.so",
        ),
        (
            "\t    ffffffff8101 (/lib/modules/4.1.0/build/vmlinux)",
            "ffffffff8101",
            None,
            None,
            "/lib/modules/4.1.0/build/vmlinux",
        ),
        (
            "       c6d7895aac9 LazyCompile:~body_0 evalmachine.<anonymous>:1 (/tmp/perf-1.map)",
            "c6d7895aac9",
            "LazyCompile:~body_0 evalmachine.<anonymous>:1",
            None,
            "/tmp/perf-1.map",
        ),
        (
            "ffffffff8103d0ca native_write_msr_safe ([kernel.kallsyms])",
            "ffffffff8103d0ca",
            "native_write_msr_safe",
            None,
            "[kernel.kallsyms]",
        ),
    ],
)
def test_frame_fields(
    text: str, addr: str, symbol: str | None, offset: str | None, dso: str | None
) -> None:
    record = _record(text)
    assert record.kind == "frame"
    assert (record.addr, record.symbol, record.offset, record.dso) == (addr, symbol, offset, dso)


def test_padded_hex_comm_is_a_header_not_a_frame() -> None:
    record = _record("             cc1 31200 [001]   12.000001:     100000 cpu-clock:  ffff f (x)")
    assert (record.kind, record.comm, record.tid) == ("sample", "cc1", 31200)


def test_srcline_sideband_comment_blank() -> None:
    assert _record("  malloc.c:4140") == PerfRecord("srcline", text="malloc.c:4140")
    assert _record("  malloc.c:3315 (inlined)").dso == "inlined"
    assert _record("  [JIT] tid 8962[7fb420ed41da]").text == "[JIT] tid 8962[7fb420ed41da]"
    switch = _record("      python3.11 12498   556.519301: PERF_RECORD_SWITCH OUT        ")
    assert (switch.kind, switch.event, switch.payload) == ("sideband", "PERF_RECORD_SWITCH", "OUT")
    comm = _record("perf-exec     0     0.000000: PERF_RECORD_COMM: perf-exec:8798/8798")
    assert (comm.event, comm.payload) == ("PERF_RECORD_COMM", "perf-exec:8798/8798")
    assert _record("# ========").kind == "comment"
    assert _record("").kind == "blank"


def test_rejected_lines_have_reasons() -> None:
    for text in ("'trace' not valid for software events. Ignoring.", "hello world", "  x y"):
        result = perf_lark.parse_line(text)
        assert isinstance(result, Unparsed) and result.reason


def test_block_samples_and_switch_events_tables() -> None:
    with (FIXTURES / "research" / "block_rq_insert_issue_complete.txt").open("rb") as stream:
        block = parse(iter_line_chunks(stream), "block")
    assert block.samples.num_rows == 270
    assert block.stacks.num_rows == 0
    events = set(block.samples.column("event").to_pylist())
    assert events == {"block:block_rq_insert", "block:block_rq_issue", "block:block_rq_complete"}
    with (FIXTURES / "research" / "switch_events_pertask.txt").open("rb") as stream:
        switch = parse(iter_line_chunks(stream), "switch")
    assert switch.sideband.num_rows == 583
    assert set(switch.sideband.column("record").to_pylist()) == {"PERF_RECORD_SWITCH"}


def test_header_block_and_cut_last_sample() -> None:
    with (FIXTURES / "research" / "cpu_py312_xperf_fp.header.txt").open("rb") as stream:
        parsed = parse(iter_line_chunks(stream), "header")
    assert parsed.header[0].startswith("# ========")
    assert any("cmdline" in line for line in parsed.header)
    with (FIXTURES / "flamegraph-test" / "perf-dd-stacks-01.txt").open("rb") as stream:
        dd = parse(iter_line_chunks(stream), "dd")
    assert dd.samples.column("cut").to_pylist() == [False] * 10 + [True]


def test_sniff() -> None:
    head = (FIXTURES / "research" / "cpu_py312_xperf_fp.txt").read_bytes()[:4096]
    assert sniff(head) > 0.9
    assert sniff(b'12:00:00.000001 openat(AT_FDCWD, "/x", O_RDONLY) = 3\n') == 0.0
    assert sniff((FIXTURES / "research" / "perf_report_stdio.txt").read_bytes()) == 0.0
