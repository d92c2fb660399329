"""The records both asyncio log parsers produce: one `Line` per parsed line, one
`AsyncioRecord` per asyncio message, however many lines, and one `TaskSnapshot` per task in
an aiomonitor dump.

`grammars/asyncio.lark` specifies the lines; `asyncio_lark.parse_line` (the grammar) and
`asyncio_scan.parse_line_fast` (equal to it) read a line into a `Line`, and
`asyncio_assemble.Assembler` joins the lines into records.
The grammar engine parses every line; the fast engine parses only the lines a cheap
vectorised test marks as candidates (and the lines that follow an open record). Both feed the
same assembler, so they must produce identical `AsyncioRecord` lists; tests check it.

Kinds (``kind``):

``slow_callback``           ``Executing <repr> took N seconds`` (asyncio, uvloop, aiodebug)
``exception``               ``Exception in callback ...`` and the other messages of
                            ``call_exception_handler`` (``Fatal error ...``, ``unhandled
                            exception during asyncio.run() shutdown`` ...)
``task_destroyed_pending``  ``Task was destroyed but it is pending!``
``never_retrieved``         ``{Class} exception was never retrieved``
``never_awaited``           ``file:line: RuntimeWarning: coroutine 'q' was never awaited`` and
                            the CoroWrapper ``<CoroWrapper ...> was never yielded from``
``resource_warning``        the ResourceWarnings asyncio issues (``unclosed transport ...``,
                            ``unclosed event loop ...``, ``loop is closed`` ...)
``poll_timing``             ``poll [T ms] took N ms: ...`` (3.6-3.7)
``getaddrinfo``             ``Getting address info ... took Nms: ...`` (and ``Get address info``)
``other``                   any other asyncio message: direct warnings (``socket.send() raised
                            exception.``, ``Loop <...> that handles pid N is closed``), other
                            warnings asyncio issues, and any line whose envelope names an
                            asyncio logger (``asyncio``, ``asyncio.*``, ``aiodebug*``)

Field rules:

- ``line_start``/``line_end``: the 1-based lines the record spans (a JSON line is one line).
- ``time``: the timestamp text of the envelope (logging's asctime, gunicorn's date, a generic
  envelope's time field, JSON's ``ts``/``time``/``timestamp``/``asctime``; else the journald
  prefix's); None when the lines carry none. ``time_s``: it as seconds since the Unix epoch,
  reading a time without a zone as UTC (epoch seconds as they are; JSON's ``created``); None
  when the printed time has no date or no year (``22:02:09.188``, syslog's ``Nov 26
  15:09:18``, journalctl ``short``) or does not read as a time.
- ``level``, ``logger``: from the envelope; None when absent (``logging.lastResort`` prints the
  bare message). A generic envelope's or a JSON line's level is upper-cased (``warning`` ->
  ``WARNING``). ``pid``: the process id printed by gunicorn, journald, a generic envelope
  (``18917``, ``[18917]``, ``pid=18917``) or the JSON fields. ``thread``: the thread name of
  the envelope (``MainThread``, ``Thread-3 (worker)``, ``asyncio_0``; Home Assistant's
  ``(MainThread)``, ``[MainThread]``, ``thread=...``, JSON's ``thread``/``threadName``); None
  when absent.
- Lines in envelopes the grammar's ``line`` rule does not know are read by the generic-envelope
  procedure of ``grammars/asyncio.lark`` (its header): the fields before a message in any order,
  or the fields around an asyncio logger name before other text.
- ``message``: the record's first message line, without envelope.
- ``duration_s``: for ``slow_callback`` the ``took`` seconds; for ``poll_timing`` and
  ``getaddrinfo`` (and an SSL handshake) the ``took`` milliseconds as seconds; else None.
- The *subject* of a record is the repr it is about: the repr after ``Executing``; else the
  ``handle:``, ``task:`` or ``future:`` line of the record (the first one).
  ``repr_class``: the subject's class (``Task``, ``Future``, ``_GatheringFuture``, ``Handle``,
  ``TimerHandle``, ``_ThreadSafeHandle``). ``task_name``: its ``name='...'`` value (3.8+).
  ``task_state``: pending, cancelling, cancelled or finished (futures), or ``cancelled`` for a
  cancelled handle. ``coro``: the qualname of its ``coro=<...>`` (for ``never_awaited``, the
  quoted qualname). ``callback``: the handle's callback without its arguments and location
  (for ``Exception in callback``, the message's callback; uvloop's ``<function f at 0x..>``
  is kept whole).
- A repr that asyncio cut (reprlib's ``...`` in a callback argument or ``result=`` leaves its
  brackets unbalanced; grammar section 3b) gives what stands before the cut and at its end:
  class, state, name, coroutine and its location, callback and its location, ``created at``.
- ``location``: ``file:line`` of the code: the coroutine's ``running at`` / ``defined at``
  for a task; the callback's `` at f:l`` for a handle or ``Exception in callback`` (plain
  functions only); the warning's ``file:line`` for warnings. ``created_at``: the subject's
  ``created at f:l`` (debug mode only).
- ``exc_type``, ``exc_message``: the last ``Type: message`` line of the record (not the
  tracemalloc hint); failing that, the subject's ``exception=Type(args)`` (``exc_message``
  is then the text between the parentheses). For warnings, the category and warning text.
- ``uvloop``: True when the record has a shape only uvloop prints (a handle callback without
  ``()``, ``<function ... at 0x...>`` callbacks, ``uvloop/`` frames); else None.
- ``text``: the record's lines as printed, joined with newlines (a JSON record: its message
  and exc_info fields).

aiomonitor dumps (`TaskSnapshot`, the ``tasks_snapshot`` table): what a session with
aiomonitor's console printed, one row per task of a ``ps`` / ``ps-terminated`` table and one
per stack of a ``where`` / ``where-terminated`` output. Field rules:

- ``snapshot``: the first line of the dump: the ``monitor >>> CMD`` prompt line when one comes
  right before the output (blank lines between are allowed), else the ``N tasks running`` line
  or the first ``Stack of ...`` header. Rows of one dump share it.
- ``command``: ``ps``, ``ps-terminated``, ``where`` or ``where-terminated``, from the output's
  shape (``tasks terminated``, ``<TerminatedTask ...>``, the root header without a blank
  before ``(most recent call last)``), not from the prompt.
- ``line_no``, ``line_end``: the table row (both the same), or a ``where`` stack from its
  ``Stack of`` header to its last frame line.
- ``task_id``: ``ps``: the Task ID column (``id(task)`` in decimal); ``ps-terminated``: the
  Trace ID column; ``where``: the argument of the ``where ID`` prompt, on the ``task`` stack
  only (the other stacks are of other tasks), None without a prompt.
- ``state``: ``ps``: the State column (``PENDING``, ``CANCELLED``, ``FINISHED``);
  ``where-terminated``: ``CANCELLED`` for ``cancelled``, ``FINISHED`` otherwise; else None.
- ``name``: the Name column / the header's ``name=``. ``coro``: the Coroutine (Coro) column /
  the header's ``coro=``, without a final ``()`` (as ``loop_events.coro``). aiomonitor shows
  the coroutine the task was created with; a ``where`` header of a task made by its task
  factory names the wrapper (``Monitor._coro_wrapper``).
- ``created_at``: the Created Location column as printed (aiomonitor shortens paths to
  ``<cwd>/``, ``<home>/``, ``<stdlib>/``, ``<sitepkg>/``); None for ``-``.
- ``since_s``: ``ps``: the Since column (running for; only with aiomonitor's task factory,
  else None for ``-``); ``ps-terminated``: Since Started. ``terminated_s``: ``ps-terminated``'s
  Since Terminated. Read from aiomonitor's ``[Ny][Nm][Nd][Nh]MM:SS.mmm`` (m = 30 days).
- ``section`` (``where`` only): ``root`` (where the first task of the creation chain was
  created), ``creator`` (the stack of the named task when it created the next one), ``task``
  (the task's own stack: where it is suspended, or for ``where-terminated`` where it ended).
- ``exception``: ``where-terminated``'s ``exc=...`` repr.
- ``note``: the text printed instead of frames (``No stack available ...``).
- ``frames``: the stack, outermost first, as ``{file, line, function, code}`` (``code`` is the
  source line printed under the frame, None when absent); None for table rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

KINDS: tuple[str, ...] = (
    "slow_callback",
    "exception",
    "task_destroyed_pending",
    "never_retrieved",
    "never_awaited",
    "resource_warning",
    "poll_timing",
    "getaddrinfo",
    "other",
)


@dataclass(frozen=True)
class Line:
    """One parsed line.

    ``role`` is ``start`` (an asyncio message), ``other`` (an envelope with any other text),
    ``cont`` (a continuation line), ``monitor`` (aiomonitor console output) or ``blank``.
    ``data`` holds the message fields (for ``start``: ``kind`` and record fields; for
    ``cont`` and ``monitor``: ``type`` and its values).
    """

    role: str
    data: dict[str, Any]
    envelope: dict[str, Any] | None = None
    journal: dict[str, Any] | None = None


class AsyncioRecord(NamedTuple):
    """One asyncio message, possibly spanning lines (rules in the module docstring)."""

    line_start: int
    line_end: int
    kind: str
    time: str | None = None
    time_s: float | None = None
    level: str | None = None
    logger: str | None = None
    pid: int | None = None
    thread: str | None = None
    message: str | None = None
    duration_s: float | None = None
    repr_class: str | None = None
    task_name: str | None = None
    task_state: str | None = None
    coro: str | None = None
    callback: str | None = None
    location: str | None = None
    created_at: str | None = None
    exc_type: str | None = None
    exc_message: str | None = None
    uvloop: bool | None = None
    text: str | None = None


class Unparsed(NamedTuple):
    """A line that looks like asyncio's but that the grammar rejects, with the reason."""

    line_no: int
    text: str
    reason: str


class TaskSnapshot(NamedTuple):
    """One task of an aiomonitor ``ps`` table or one stack of a ``where`` output."""

    snapshot: int
    command: str
    line_no: int
    line_end: int
    task_id: str | None = None
    state: str | None = None
    name: str | None = None
    coro: str | None = None
    created_at: str | None = None
    since_s: float | None = None
    terminated_s: float | None = None
    section: str | None = None
    exception: str | None = None
    note: str | None = None
    frames: list[dict[str, Any]] | None = None
