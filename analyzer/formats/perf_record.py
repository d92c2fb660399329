"""The record that both `perf script` line parsers produce: one per input line.

`grammars/perf.lark` is the specification of `perf script`'s text output; the Lark
parser (`perf_lark`) and the fast line scanner (`perf_scan`) both reduce a line to a
`PerfRecord`, and tests assert they produce identical records. The rules below say, field by
field, what a record holds, so the two parsers agree on the edge cases.

Line kinds (``kind``):

``sample``    a sample header: ``comm tid [cpu] [tod] time: [period] event: [payload]``
``sideband``  a side-band record with the same prefix: ``... PERF_RECORD_COMM exec: x:1/1``
``frame``     a callchain entry: ``\\t    7f1e214c24d9 sym+0x1d (dso)`` (also space-indented
              and unindented frames of old perf versions)
``srcline``   the ``-F +srcline`` line after a frame: ``  malloc.c:4140 [(inlined)]``
``blank``     an empty (or blank-only) line: the end of a multi-line sample
``comment``   a ``#`` line (``--header`` blocks)

Field rules:

- ``comm``: the command name with the padding and the blanks before the tid removed; inner
  spacing is kept (``io worker 1``). None when the layout has no comm (``-F time,cpu,...``).
- ``pid``/``tid``: from ``tid`` or ``pid/tid`` (``-F +pid``); ``pid`` is None without ``-F
  +pid``. Either may be -1.
- ``cpu``: the number in ``[001]``. ``tod``: the ``-F +tod`` text ``2026-11-26 15:02:10.5086``.
- ``time_ns``: the sample time in integer nanoseconds, scaled exactly from any precision
  (``303.512366`` and ``303.512366000`` both give 303512366000). None when not printed.
- ``period``: the integer printed between the time and the event; None when absent.
- ``event``: the event token without its one trailing ``:`` (``cycles:u:`` gives
  ``cycles:u``, ``cpu-clock/freq=199/:`` gives ``cpu-clock/freq=199/``). For side-band lines
  the ``PERF_RECORD_*`` name, without a trailing ``:``.
- ``payload``: the text after the event token with surrounding blanks stripped (a tracepoint's
  fields, the side-band text, or the frame of a single-line sample); None when empty.
- Frame fields, for ``frame`` lines and for ``sample`` lines whose payload has the frame shape
  ``hex sym (dso)`` (a DSO is required there, so trace payloads are never read as frames):
  ``addr`` the hex address text as printed (no ``0x``, no padding); ``symbol`` the text
  between the address and the DSO with a trailing ``+0x<hex>`` removed: ``""`` when perf
  printed an empty name (``addr  (dso)``, two spaces), None when it printed none (``addr
  (dso)``, ``-F ip,dso``); ``offset`` that ``0x<hex>`` text (None without one); ``dso`` the
  text inside the last balanced parentheses that end the line (``[kernel.kallsyms]``, ``inlined``,
  ``/memfd:sealed-1 (deleted)``), None when the frame has none (``-F +srcline`` inlined
  frames).
- ``srcline``: ``text`` is the source location (``malloc.c:4140``, ``[JIT] tid 8962[7fb4]``);
  ``dso`` is ``inlined`` when perf printed `` (inlined)`` after it (``-F +srcline`` moves the
  inlined marker there), else None.
- ``comment``: ``text`` is the whole line, right-stripped.

Every field that does not apply is None.
"""

from __future__ import annotations

from typing import NamedTuple

LINE_KINDS: tuple[str, ...] = ("sample", "sideband", "frame", "srcline", "blank", "comment")


class PerfRecord(NamedTuple):
    """One parsed `perf script` line (see the module docstring for the rules)."""

    kind: str
    comm: str | None = None
    pid: int | None = None
    tid: int | None = None
    cpu: int | None = None
    tod: str | None = None
    time_ns: int | None = None
    period: int | None = None
    event: str | None = None
    payload: str | None = None
    addr: str | None = None
    symbol: str | None = None
    offset: str | None = None
    dso: str | None = None
    text: str | None = None


class Unparsed(NamedTuple):
    """A line that is not `perf script` output, with the reason it was rejected."""

    reason: str


BLANK = PerfRecord("blank")

_HEX_DIGITS = frozenset("0123456789abcdef")


def seconds_text_to_ns(text: str) -> int:
    """``"303.512366"`` -> 303512366000: exact scaling of any fraction precision."""
    whole, _, frac = text.partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


def split_offset(symbol: str) -> tuple[str | None, str | None]:
    """``"foo+0x1a"`` -> ``("foo", "0x1a")``; a symbol without an offset is kept whole.

    An empty name stays empty: ``""`` gives ``("", None)`` and ``"+0x1a"`` gives ``("", "0x1a")``.
    """
    plus = symbol.rfind("+0x")
    if plus >= 0:
        digits = symbol[plus + 3 :]
        if digits and _HEX_DIGITS.issuperset(digits):
            return symbol[:plus], symbol[plus + 1 :]
    return symbol, None
