"""The fast scanner and the grammar produce the same records: on every fixture line, and on
lines generated from random events rendered in every prefix and timestamp variant."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import examples

from analyzer.formats import strace, strace_lark
from analyzer.formats.strace_record import StraceRecord, Unparsed
from analyzer.formats.strace_scan import scan
from analyzer.inputs import iter_line_chunks, open_input

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "strace"
TRACE_FILES = sorted(
    path
    for path in FIXTURES.rglob("*")
    if path.is_file()
    and path.suffix not in {".py", ".sh", ".md", ".json", ".txt"}
    and "programs" not in path.parts
)


def _parse(path: Path, engine: str) -> strace.ParsedLines:
    source = open_input(path)
    try:
        return strace.parse(iter_line_chunks(source.stream), str(path), engine=engine)
    finally:
        source.close()


def test_there_are_fixtures_to_compare() -> None:
    assert len(TRACE_FILES) >= 40


@pytest.mark.slow
@pytest.mark.parametrize("path", TRACE_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fast_path_equals_grammar_on_fixture(path: Path) -> None:
    fast = _parse(path, "fast")
    grammar = _parse(path, "lark")
    assert fast.line_count == grammar.line_count
    assert strace.table_to_records(fast.lines) == strace.table_to_records(grammar.lines)
    assert fast.unparsed.to_pylist() == grammar.unparsed.to_pylist()
    assert fast.lines.num_rows + fast.unparsed.num_rows == fast.line_count


def scan_one(line: str) -> StraceRecord | None:
    """The fast scanner's record for one line, or None when it leaves the line to the grammar."""
    table, leftover = scan(pa.array([line], pa.string()), pa.array([1], pa.int64()))
    if leftover[0]:
        return None
    return strace.table_to_records(table)[0][1]


# --- generated lines -------------------------------------------------------------------------

NAMES = st.sampled_from(
    [
        "read",
        "write",
        "openat",
        "futex",
        "epoll_wait",
        "clock_nanosleep",
        "recvfrom",
        "connect",
        "mmap",
        "close",
        "newfstatat",
        "clone3",
        "fsync",
        "sendto",
        "accept4",
        "poll",
    ]
)
ESCAPES = st.sampled_from(["\\n", "\\t", "\\\\", '\\"', "\\0", "\\177", "\\x7f", "\\33"])
PLAIN = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126, blacklist_characters='"\\'),
    max_size=12,
)
STRING = st.builds(
    lambda parts, truncated: '"' + "".join(parts) + '"' + ("..." if truncated else ""),
    st.lists(st.one_of(PLAIN, ESCAPES), max_size=4),
    st.booleans(),
)
NUMBER = st.one_of(st.integers(-5, 10**6).map(str), st.integers(0, 2**47).map(hex), st.just("NULL"))
FLAGS = st.lists(
    st.sampled_from(["O_RDONLY", "O_CLOEXEC", "MAP_PRIVATE", "PROT_READ"]), min_size=1, max_size=3
).map("|".join)
FD = st.builds(
    lambda fd, target: f"{fd}<{target}>" if target else str(fd),
    st.integers(0, 1024),
    st.one_of(
        st.none(),
        st.sampled_from(
            [
                "/etc/passwd",
                "TCP:[127.0.0.1:5432->127.0.0.1:40000]",
                "pipe:[82314]",
                "/dev/null<char 1:3>",
                "anon_inode:[eventpoll]",
            ]
        ),
    ),
)
SCALAR = st.one_of(NUMBER, STRING, FLAGS, FD)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(
            st.tuples(st.sampled_from(["st_mode", "tv_sec", "fd", "events", "sa_family"]), inner),
            min_size=1,
            max_size=3,
        ).map(lambda fields: "{" + ", ".join(f"{k}={v}" for k, v in fields) + "}"),
    ),
    max_leaves=6,
)
ARGS = st.lists(VALUE, max_size=4).map(", ".join)
CONTEXT = st.sampled_from(
    ["unconfined_t", "system_u:system_r:sshd_t:s0-s0:c0.c1023", "user_home_t!!admin_home_t"]
)
ERRNO = st.sampled_from(
    [
        ("ENOENT", "No such file or directory"),
        ("EAGAIN", "Resource temporarily unavailable"),
        ("ERESTARTSYS", "To be restarted if SA_RESTART is set"),
    ]
)


@st.composite
def prefixed(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    """A line prefix (pid, timestamp) in one of strace's variants, and the fields it encodes."""
    fields: dict[str, object] = {}
    text = ""
    pid_style = draw(st.sampled_from(["none", "o", "bracket"]))
    if pid_style != "none":
        pid = draw(st.integers(1, 4_194_304))
        comm = draw(st.one_of(st.none(), st.sampled_from(["python3.11", "worker-1", "nginx"])))
        fields.update(pid=pid, comm=comm)
        decorated = f"{pid}<{comm}>" if comm else str(pid)
        text = f"{decorated:<5} " if pid_style == "o" else f"[pid {decorated:>5}] "
    context = draw(st.one_of(st.none(), CONTEXT))  # --secontext: read past, not recorded
    if context is not None:
        text += f"[{context}] "
    ts_style = draw(
        st.sampled_from(["none", "t", "tt", "tt_ms", "tt_ns", "ttt", "ttt_ns", "r", "tt_r"])
    )
    seconds = draw(st.integers(0, 86_399))
    clock = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    micros = draw(st.integers(0, 999_999))
    nanos = draw(st.integers(0, 999_999_999))
    epoch = draw(st.integers(1_000_000_000, 2_000_000_000))
    if ts_style == "t":
        text += f"{clock} "
        fields.update(ts_ns=seconds * 10**9, ts_kind="clock")
    elif ts_style in ("tt", "tt_r"):
        text += f"{clock}.{micros:06d} "
        fields.update(ts_ns=seconds * 10**9 + micros * 1000, ts_kind="clock")
        if ts_style == "tt_r":
            rel = draw(st.integers(0, 10**7))
            text += f"(+ {rel // 10**6:>5}.{rel % 10**6:06d}) "
            fields["rel_ns"] = rel * 1000
    elif ts_style == "tt_ms":
        text += f"{clock}.{micros // 1000:03d} "
        fields.update(ts_ns=seconds * 10**9 + micros // 1000 * 10**6, ts_kind="clock")
    elif ts_style == "tt_ns":
        text += f"{clock}.{nanos:09d} "
        fields.update(ts_ns=seconds * 10**9 + nanos, ts_kind="clock")
    elif ts_style == "ttt":
        text += f"{epoch}.{micros:06d} "
        fields.update(ts_ns=epoch * 10**9 + micros * 1000, ts_kind="epoch")
    elif ts_style == "ttt_ns":
        text += f"{epoch}.{nanos:09d} "
        fields.update(ts_ns=epoch * 10**9 + nanos, ts_kind="epoch")
    elif ts_style == "r" and pid_style != "bracket":
        rel = draw(st.integers(0, 10**8))
        text += f"{rel // 10**6:>6}.{rel % 10**6:06d} "
        fields.update(ts_ns=rel * 1000, ts_kind="relative")
    return text, fields


@st.composite
def call_lines(draw: st.DrawFn) -> tuple[str, StraceRecord]:
    """A rendered call line (complete, unfinished or resumed) and the record it must give."""
    prefix, fields = draw(prefixed())
    name = draw(NAMES)
    args = draw(ARGS)
    kind = draw(st.sampled_from(["syscall", "unfinished", "resumed"]))
    if kind == "unfinished":
        return prefix + f"{name}({args} <unfinished ...>", StraceRecord(
            kind="unfinished", syscall=name, args=args, **fields
        )  # type: ignore[arg-type]
    retval = draw(st.one_of(st.integers(-1, 10**6), st.just(None)))
    ret = "?" if retval is None else str(retval)
    tail = f" = {ret}"
    context = draw(st.one_of(st.none(), CONTEXT)) if retval is not None else None
    if context is not None:  # --secontext after a returned fd: not part of `ret`
        tail += f" [{context}]"
    errno = errmsg = None
    if retval == -1 or (retval is None and draw(st.booleans())):
        errno, errmsg = draw(ERRNO)
        tail += f" {errno} ({errmsg})"
    duration = draw(st.one_of(st.none(), st.integers(0, 10**9)))
    if duration is not None:
        tail += f" <{duration // 10**6}.{duration % 10**6:06d}>"
        duration *= 1000
    body = f"<... {name} resumed>{args})" if kind == "resumed" else f"{name}({args})"
    record = StraceRecord(
        kind=kind,
        syscall=name,
        args=args,
        ret=ret,
        retval=retval,
        errno=errno,
        errmsg=errmsg,
        duration_ns=duration,
        **fields,  # type: ignore[arg-type]
    )
    return prefix + body + tail, record


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call_lines())
def test_generated_call_lines_parse_identically(case: tuple[str, StraceRecord]) -> None:
    line, expected = case
    grammar = strace_lark.parse_line(line)
    assert not isinstance(grammar, Unparsed), f"{line!r}: {grammar}"
    assert grammar == expected
    fast = scan_one(line)
    assert fast is None or fast == expected


@settings(max_examples=examples(200), deadline=None)
@given(
    prefixed(),
    st.sampled_from(
        [
            "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=12, "
            "si_uid=0, si_status=3, si_utime=0, si_stime=0} ---",
            "+++ exited with 7 +++",
            "+++ killed by SIGKILL +++",
        ]
    ),
)
def test_generated_signal_and_exit_lines(prefix: tuple[str, dict[str, object]], body: str) -> None:
    text, fields = prefix
    record = strace_lark.parse_line(text + body)
    assert not isinstance(record, Unparsed)
    assert record.kind in ("signal", "exit")
    assert record.pid == fields.get("pid")
    assert record.ts_ns == fields.get("ts_ns")
    assert scan_one(text + body) in (None, record)


@settings(max_examples=examples(200), deadline=None)
@given(call_lines(), st.integers(1, 30))
def test_cut_lines_are_never_misread(case: tuple[str, StraceRecord], cut: int) -> None:
    """A line cut short (a killed tracer) is rejected or read the same by both parsers."""
    line = case[0][: max(len(case[0]) - cut, 1)]
    grammar = strace_lark.parse_line(line)
    fast = scan_one(line)
    if fast is not None:
        assert fast == grammar


def test_byte_tier_reads_nearly_every_line_of_a_real_trace() -> None:
    """The fast path must really be used: a real -f -tt -T capture is almost all simple lines."""
    from analyzer.formats.strace_bytes import simple_mask

    source = open_input(FIXTURES / "logs" / "pool8.f_tt_T.log")
    try:
        masks = [simple_mask(chunk.lines) for chunk in iter_line_chunks(source.stream)]
    finally:
        source.close()
    covered = sum(int(mask.sum()) for mask in masks) / sum(len(mask) for mask in masks)
    assert covered > 0.99


@pytest.mark.parametrize(
    "line",
    [
        # Hand-written variants of real lines (umask prints its octal result; strings that
        # contain " = " must not be split there).
        "1234  10:00:00.000001 umask(022)           = 022 <0.000004>",
        '1234  10:00:00.000001 write(1, "a) = 1", 6) = 6 <0.000004>',
        '1234  10:00:00.000001 <... read resumed>"x = y", 5) = 5 <0.000004>',
        "1234  10:00:00.000001 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, -1, 0) = 0x7f3f1f6df000",
    ],
)
def test_tricky_lines_parse_identically(line: str) -> None:
    grammar = strace_lark.parse_line(line)
    assert not isinstance(grammar, Unparsed)
    assert scan_one(line) == grammar
