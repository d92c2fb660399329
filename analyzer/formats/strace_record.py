"""The record that both strace line parsers produce: one per input line.

`grammars/strace.lark` is the specification of strace's text output; the Lark parser
(`strace_lark`) and the fast vectorised scanner (`strace_scan`) both reduce a line to a
`StraceRecord`, and tests assert they produce identical records. The rules below say,
field by field, what a record holds, so the two parsers agree on the edge cases.

Line kinds (``kind``):

``syscall``     a complete call: ``name(args) = ret [errno (msg) | (aux)] [<dur>]``
``unfinished``  ``name(args <unfinished ...>`` (entry half of a split call)
``resumed``     ``<... name resumed>args) = ret ...`` (exit half; ``<... name resumed> )`` pre-5.0)
``detached``    ``name(args <detached ...>`` (tracer detached mid-call)
``signal``      ``--- SIGALRM {si_signo=...} ---`` or ``--- stopped by SIGSTOP ---``; older
                ``--- {si_signo=SIGCHLD, ...} (Child exited) ---`` (4.6/4.7) and
                ``--- SIGCHLD (Child exited) @ 0 (0) ---`` (4.5)
``exit``        ``+++ exited with N +++``, ``+++ killed by SIG [(core dumped)] +++``,
                ``+++ superseded by execve in pid N +++``
``frame``       a ``-k`` stack frame line: `` > lib(sym+0x1) [0xaddr]``
``dump``        an ``-e read=/write=`` hex dump line: `` | 00000  76 6d 0a  vm. |``
``summary``     a line of the ``-c``/``-C`` summary table (header, rule, row, total)
``message``     strace's own messages: ``strace: ...``, pre-4.7 ``Process N attached ...``,
                ``[ Process PID=N runs in 32 bit mode. ]``, pre-4.13 ``-d`` wait reports
                `` [wait(0x057f) = 23] WIFSTOPPED,sig=SIGTRAP``, and the terminal's ``^C`` echo
                (alone or before a detach message)
``output``      the traced program's own output, printed on strace's terminal or file into the
                lines of the write that printed it (``write(1, "11\\n", 311`` then
                ``)         = 3``): the write's output on a line where the call does not end

Field rules:

- ``pid``: from the ``PID `` / ``PID<comm> `` prefix or ``[pid N]`` / ``[pid N<comm>]``;
  None when the line has no pid prefix. ``comm``: the ``-Y`` comm, else None.
- ``ts_ns``: the timestamp in integer nanoseconds. ``ts_kind`` is ``clock`` for ``-t/-tt``
  (nanoseconds since midnight, no date), ``epoch`` for ``-ttt`` (since the Unix epoch), and
  ``relative`` for ``-r`` alone (since the previous line). ``rel_ns`` is the ``(+ REL)`` value
  printed when ``-r`` is combined with ``-t``. Fractions of any precision (s, ms, us, ns) are
  scaled exactly.
- ``scno``: the ``-n`` ``[ NNN]`` syscall number; ``ip``: the ``-i`` ``[hex]`` text.
- ``syscall``: the call name for syscall/unfinished/resumed/detached lines.
- ``args``: the raw argument text exactly as printed: between ``name(`` and the ``)`` that
  closes the call (syscall); between ``name(`` and `` <unfinished ...>`` / `` <detached ...>``
  (one space before ``<`` excluded); between ``resumed>`` and the closing ``)`` (resumed,
  nothing stripped). For signals the ``{...}`` siginfo text (None for ``stopped by``).
- ``ret``: the return value text (``0``, ``-1``, ``?``, ``0x7f...``, ``3</etc/passwd>``,
  ``27641<python3.11>``). ``retval``: its integer value (hex or decimal; None for ``?``).
  ``ret_target``: the text inside the ``<...>`` decoration of the return value, if any
  (the outermost pair: ``3<TCP:[1->2]>`` gives ``TCP:[1->2]``).
- ``errno``: ``ENOENT``, ``ERESTARTSYS`` ... or, for ``-1 (errno 123)``, ``errno 123``.
  ``errmsg``: the text in parentheses after the errno constant (None for the bare form).
- ``aux``: the parenthesised text after a non-error return: ``(Timeout)`` -> ``Timeout``,
  ``(flags FD_CLOEXEC)`` -> ``flags FD_CLOEXEC``.
- ``duration_ns``: the ``-T`` value ``<s.frac>`` in integer nanoseconds.
- ``signal``: the signal name of signal lines, of ``killed by`` exits and of ``stopped by``.
- ``exit_code``: of ``exited with N``; ``core_dumped``: True for ``(core dumped)``, else None.
  ``other_pid``: the pid of ``superseded by execve in pid N``.
- ``text``: the body of frame, dump, summary and message lines, right-stripped; for a
  ``stopped by`` signal line, ``stopped``; for an ``output`` line, the output on it (``pid``
  and ``comm`` are the writer's); for a write whose output was printed into its line, the
  output printed before the call's end on the line of its record (``write(2, "Err", 3Err)
  = 3``: ``Err``).

Every field that does not apply is None.
"""

from __future__ import annotations

from typing import NamedTuple

LINE_KINDS: tuple[str, ...] = (
    "syscall",
    "unfinished",
    "resumed",
    "detached",
    "signal",
    "exit",
    "frame",
    "dump",
    "summary",
    "message",
    "output",
)


class StraceRecord(NamedTuple):
    """One parsed strace line (see the module docstring for the rules)."""

    kind: str
    pid: int | None = None
    comm: str | None = None
    ts_ns: int | None = None
    ts_kind: str | None = None
    rel_ns: int | None = None
    scno: int | None = None
    ip: str | None = None
    syscall: str | None = None
    args: str | None = None
    ret: str | None = None
    retval: int | None = None
    ret_target: str | None = None
    errno: str | None = None
    errmsg: str | None = None
    aux: str | None = None
    duration_ns: int | None = None
    signal: str | None = None
    exit_code: int | None = None
    core_dumped: bool | None = None
    other_pid: int | None = None
    text: str | None = None


class Unparsed(NamedTuple):
    """A line that is not strace output, with the reason it was rejected."""

    reason: str


def seconds_text_to_ns(text: str) -> int:
    """``"12.000345"`` -> 12000345000: exact scaling of any fraction precision."""
    whole, _, frac = text.strip().partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


def clock_text_to_ns(text: str) -> int:
    """``"15:17:38.295879"`` -> nanoseconds since midnight."""
    hms, _, frac = text.partition(".")
    hours, minutes, seconds = hms.split(":")
    whole = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return whole * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
