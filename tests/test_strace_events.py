"""The event tier (`strace_events.parse_event_line`) gives the grammar's record of every exit,
signal, ``strace:`` and ``-k`` frame line it reads, and leaves the others to the grammar: on
every line of every fixture, on generated lines in every prefix variant, and on those lines
damaged."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import FIXTURES, examples

from analyzer.formats import strace_lark
from analyzer.formats.strace_events import parse_event_line
from analyzer.formats.strace_record import StraceRecord, Unparsed
from analyzer.inputs import open_input

# --- every fixture line ----------------------------------------------------------------------

_NOT_LOGS = {".py", ".sh", ".md", ".json", ".c", ".go", ".rs", ".toml", ".parquet", ".png"}
FIXTURE_FILES = sorted(
    path
    for path in FIXTURES.rglob("*")
    if path.is_file() and path.suffix not in _NOT_LOGS and "programs" not in path.parts
)


def _lines(path: Path) -> list[str]:
    source = open_input(path)
    try:
        data = source.stream.read()
    finally:
        source.close()
    return data.decode("utf-8", "replace").splitlines()


def _shape(record: StraceRecord) -> str:
    """Which of the tier's shapes a record is."""
    if record.kind == "exit":
        if record.exit_code is not None:
            return "exited"
        if record.other_pid is not None:
            return "superseded"
        return "killed, core dumped" if record.core_dumped else "killed"
    if record.kind == "signal":
        return "stopped" if record.text == "stopped" else "siginfo"
    return record.kind


@pytest.mark.slow
def test_the_event_tier_equals_the_grammar_on_every_fixture_line() -> None:
    read: collections.Counter[str] = collections.Counter()
    for path in FIXTURE_FILES:
        for line in _lines(path):
            record = parse_event_line(line)
            if record is None:
                continue
            assert record == strace_lark.parse_line(line), (path, line)
            read[_shape(record)] += 1
    # The tier is really used, on each of its shapes.
    assert sum(read.values()) > 1000, read
    assert set(read) == {
        "exited",
        "killed",
        "killed, core dumped",
        "superseded",
        "stopped",
        "siginfo",
        "message",
        "frame",
    }, read


# --- generated lines -------------------------------------------------------------------------

NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True)
SIGNAL = st.one_of(st.sampled_from(["SIGCHLD", "SIGPIPE", "SIGKILL", "SIGSEGV", "SIGRT_1"]), NAME)
DIGITS = st.from_regex(r"[0-9]{1,12}", fullmatch=True)
SPACES = st.integers(1, 3).map(lambda count: " " * count)
COMM = st.one_of(
    st.sampled_from(["python3.11", "worker-1", "", "a b", "x]y", "kworker/0:1"]),
    st.text(st.characters(blacklist_characters="<>\n", blacklist_categories=("Cs",)), max_size=6),
)
CONTEXT = st.sampled_from(
    ["unconfined_t", "system_u:system_r:sshd_t:s0-s0:c0.c1023", "user_home_t!!admin_home_t"]
)


@st.composite
def prefixes(draw: st.DrawFn) -> str:
    """A line prefix: each optional field of the grammar, in its order, in its variants."""
    text = ""
    pid_style = draw(st.sampled_from(["none", "o", "bracket"]))
    if pid_style != "none":
        pid = draw(DIGITS)
        comm = draw(st.one_of(st.none(), COMM))
        decorated = pid if comm is None else f"{pid}<{comm}>"
        if pid_style == "o":  # "%-5u " with -o
            text += decorated.ljust(5) + draw(SPACES)
        else:
            text += f"[pid {decorated:>5}]" + draw(SPACES)
    if draw(st.booleans()):
        text += f"[{draw(CONTEXT)}]" + draw(SPACES)
    stamp = draw(st.sampled_from(["none", "clock", "decimal"]))
    if stamp == "clock":  # -t, -tt (any precision)
        clock = draw(st.from_regex(r"[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?", fullmatch=True))
        text += clock + draw(SPACES)
    elif stamp == "decimal":  # -ttt (wider than 6 digits) or -r ("%6ld.%06ld", any width here)
        whole = draw(st.from_regex(r"[0-9]{1,11}", fullmatch=True))
        frac = draw(st.from_regex(r"[0-9]{1,12}", fullmatch=True))
        text += f"{whole:>{draw(st.integers(1, 8))}}.{frac}" + draw(SPACES)
    if draw(st.booleans()):  # -r with -t/-tt/-ttt
        rel = draw(st.from_regex(r"[0-9]{1,6}\.[0-9]{1,9}", fullmatch=True))
        text += f"(+ {rel:>12})" + draw(SPACES)
    if draw(st.booleans()):  # -n
        text += f"[{draw(st.from_regex(r'[0-9]{1,6}', fullmatch=True)):>4}]" + draw(SPACES)
    if draw(st.booleans()):  # -i
        width = draw(st.sampled_from([8, 16]))
        ip = draw(st.one_of(st.from_regex(rf"[0-9a-f]{{{width}}}", fullmatch=True), st.just("?")))
        text += f"[{ip * width if ip == '?' else ip}]" + draw(SPACES)
    return text


VALUE = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.integers(0, 2**64).map(lambda value: f"0x{value:x}"),
    st.from_regex(r"0x[0-9a-fA-F]{1,16}", fullmatch=True),
    NAME,
    st.tuples(st.integers(0, 10**6), st.integers(0, 10**4)).map(
        lambda ticks: f"{ticks[0]} /* {ticks[1] // 100}.{ticks[1] % 100:02d} s */"
    ),
)
SIGINFO = st.lists(st.tuples(NAME, VALUE), min_size=1, max_size=7).map(
    lambda fields: "{" + ", ".join(f"{name}={value}" for name, value in fields) + "}"
)
EVENT = st.one_of(
    DIGITS.map(lambda code: f"+++ exited with {code} +++"),
    st.tuples(SIGNAL, st.booleans()).map(
        lambda killed: f"+++ killed by {killed[0]}{' (core dumped)' if killed[1] else ''} +++"
    ),
    DIGITS.map(lambda pid: f"+++ superseded by execve in pid {pid} +++"),
    SIGNAL.map(lambda name: f"--- stopped by {name} ---"),
    st.tuples(SIGNAL, SIGINFO).map(lambda signal: f"--- {signal[0]} {signal[1]} ---"),
)
MESSAGE = st.builds(
    lambda echo, rest: ("^C" if echo else "") + "strace: " + rest,
    st.booleans(),
    st.one_of(
        st.from_regex(r"Process [0-9]{1,7} (attached|detached)", fullmatch=True),
        st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",))),
    ),
)
# -k frames: " > OBJECT(SYMBOL+OFFSET) [ADDRESS]", each part in its variants, -kk's location
FRAME_OBJECT = st.one_of(
    st.sampled_from(["/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/bin/python3.11", "[vdso]"]),
    st.text(
        st.characters(blacklist_characters="()", blacklist_categories=("Z", "Cc", "Cs")),
        min_size=1,
        max_size=12,
    ),
)
FRAME_SYMBOL = st.one_of(
    st.sampled_from(["", "__write", "_PyEval_EvalFrameDefault", "_ZN3foo3barEv"]),
    st.text(
        st.characters(blacklist_characters="()+", blacklist_categories=("Z", "Cc", "Cs")),
        max_size=12,
    ),
)
HEX = st.integers(0, 2**64).map(lambda value: f"0x{value:x}")
FRAME = st.builds(
    lambda obj, symbol, offset, address, location: (
        f" > {obj}({symbol}{'+' + offset if offset else ''}) [{address}]"
        + (f" {location}" if location else "")
    ),
    FRAME_OBJECT,
    FRAME_SYMBOL,
    st.one_of(st.none(), HEX),
    HEX,
    st.one_of(st.none(), st.from_regex(r"[A-Za-z_./]{1,10}\.c:[0-9]{1,5}", fullmatch=True)),
)
LINES = st.one_of(
    st.builds(lambda prefix, event: prefix + event, prefixes(), EVENT), MESSAGE, FRAME
)


@settings(max_examples=examples(1000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES)
def test_generated_event_lines_are_read_as_the_grammar_reads_them(line: str) -> None:
    grammar = strace_lark.parse_line(line)
    assert not isinstance(grammar, Unparsed), f"{line!r}: {grammar}"
    assert parse_event_line(line) == grammar


# Characters that make or break the shapes the tier reads, and a digit that is not [0-9].
DAMAGE = st.sampled_from([*" +-[]<>{}()=,.:_/*!?0159afxAZ\t", "\u0663", "\r"])


@settings(max_examples=examples(1000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES, st.sampled_from(["insert", "delete", "replace"]), DAMAGE, st.data())
def test_damaged_event_lines_are_read_as_the_grammar_reads_them_or_left_to_it(
    line: str, edit: str, character: str, data: st.DataObject
) -> None:
    """A line one character off a good one is left to the grammar (None), or, where it is still
    one the grammar reads, read as the grammar reads it; never a record the grammar rejects."""
    at = data.draw(st.integers(0, len(line)), label="at")
    tail = line[at + 1 :] if edit != "insert" else line[at:]
    damaged = line[:at] + (character if edit != "delete" else "") + tail
    record = parse_event_line(damaged)
    assert record is None or record == strace_lark.parse_line(damaged), damaged


@pytest.mark.parametrize(
    "line",
    [
        # Hand-written from the shapes the tier leaves to the grammar.
        "--- SIGCHLD (Child exited) @ 0 (0) ---",  # strace 4.5
        "[pid  1114] 03:51:33 --- {si_signo=SIGCHLD, si_code=CLD_EXITED} (Child exited) ---",  # 4.7
        "Process 25557 attached with 4 threads - interrupt to quit",  # before 4.7
        "^CProcess 26587 detached",
        "--- SIGIO {si_signo=SIGIO, si_value={int=0, ptr=0x7f}} ---",  # a nested struct
        "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10, ...} ---",
        "12 --- SIGCHLD {si_signo=SIGCHLD, si_pid=27174<python3>} ---",  # a decorated pid
        "--- SIGCHLD {} ---",
    ],
)
def test_lines_the_grammar_reads_in_other_shapes_are_left_to_it(line: str) -> None:
    assert not isinstance(strace_lark.parse_line(line), Unparsed)
    assert parse_event_line(line) is None


@pytest.mark.parametrize(
    "line",
    [
        # Hand-written lines that are not strace output.
        "+++ exited with 0 +++ ",
        " +++ exited with 0 +++",
        "+++ exited with \u0663 +++",
        "\u0663 +++ exited with 0 +++",
        "12  +++ exited with +++",
        "+++ killed by 9 +++",
        "--- SIGCHLD {si_pid=1,} ---",
        "--- stopped by SIGSTOP {si_signo=SIGSTOP} ---",
        "[pid 12]+++ exited with 0 +++",
        "[ 1234567] +++ exited with 0 +++",
        "12 [00ab] +++ exited with 0 +++",
        "10:00:00.5 12 +++ exited with 0 +++",
        "Strace: Process 1 attached",
        "strace:Process 1 attached",
        "^C strace: Process 1 detached",
        # -k frames, hand-written
        " > /lib/libc.so.6(__write+0x10) [0xf8350] ",
        " > /lib/libc.so.6(__write+0x10)  [0xf8350]",
        " > /lib/libc.so.6(__write+0X10) [0xf8350]",
        " > /lib/libc.so.6(__write+0x10+0x2) [0xf8350]",
        " > /lib/libc.so.6(__write 0x10) [0xf8350]",
        " > /lib/lib c.so.6(__write+0x10) [0xf8350]",
        " > /lib/libc.so.6 [0xf8350]",
        " > /lib/libc.so.6(__write+0x10) [0xF8350]",
        " > /lib/libc.so.6(__write+0x10) [0xf8350] file.c:",
        " > /lib/libc.so.6(__write+0x10) [0xf8350] file.c:\u0663",
        "  > /lib/libc.so.6(__write+0x10) [0xf8350]",
        "12  > /lib/libc.so.6(__write+0x10) [0xf8350]",
        " > unexpected_backtracing_error [0x7f2f5f1b6ab5]",
    ],
)
def test_lines_the_grammar_rejects_are_left_to_it(line: str) -> None:
    assert isinstance(strace_lark.parse_line(line), Unparsed)
    assert parse_event_line(line) is None
