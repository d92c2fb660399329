"""Reference parser for strace text output, driven by the grammar `grammars/strace.lark`.

This is the slow-but-obviously-correct parser: every line goes through an LALR parser built
from the grammar, which is the formal specification of the format. The fast vectorised scanner
(`strace_scan`) must produce the same `StraceRecord` for every line; tests compare the two.

Two entry points share one Lark instance (two start symbols of the same grammar):

- `parse_line(text)` reduces one line to a `StraceRecord` (field rules in
  `analyzer.formats.strace_record`), or to `Unparsed(reason)` when the line is not strace
  output (e.g. a call cut by a stderr message or by a killed tracer).
- `decode_args(args)` decodes the raw ``args`` text of a record into Python values, on demand.

Both reduce their trees with a `lark.Transformer` that has one typed method per grammar rule:
`_LineBuilder` (``line`` -> record) and `_ValueBuilder` (``arguments`` -> values).

Decoded value types (`Value`):

=====================  =====================================================================
``"abc"...``           `Str` (``value`` is the bytes after C-unescaping; ``truncated`` for
                       the trailing ``...``; ``abstract`` for ``@"..."`` socket names)
``3``, ``0x1f``,       `int` (a leading ``0`` means octal, as strace prints file modes)
``0644``
``O_RDONLY``, ``NULL`` `Ident`; ``&sin6_addr`` is ``Ident("&sin6_addr")``, ``sizeof(struct
                       x)`` gives ``Call("sizeof", (Ident("struct x"),))``
``A|B|0644``           `Flags` (each member's text)
``{a=1, b=2, ...}``    `Struct` (named fields; unnamed items such as the old ``{0, 959044}``
                       or a bare ``inet_pton(...)`` go to ``positional``; a trailing ``...``
                       sets ``abbreviated``)
``[1, 2]``             `list` (``...`` inside an array is the element `Ellipsis`)
``[HUP INT]``,         `SignalSet` (``[HUP]`` and ``[]`` are syntactically plain arrays and
``~[RTMIN RT_1]``      decode as lists)
``htons(80)``          `Call`
``a => b``             `InOut`; an exit half that starts with ``=> b`` gives
                       ``InOut(None, b)``
``3</etc/passwd>``     `Fd` (also ``AT_FDCWD</cwd>`` and ``-Y`` pids ``27641<python3.11>``:
                       the syntax is the same, the meaning depends on the argument)
``x /* c */``          `Commented` (the comment is kept, wrapping the value)
``8192*1024``,         `BinOp` (not evaluated)
``a && b``, ``a == b``
``...``                `Ellipsis`
``fd=3`` (-N)          `NamedArg`
``<... resuming        `Note`
interrupted read ...>``
=====================  =====================================================================

`sockaddr(value)` reads a decoded socket address struct as ``(family, address, port)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from types import EllipsisType
from typing import TypeAlias

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from analyzer.formats import grammar
from analyzer.formats.lark_transform import InlineTransformer
from analyzer.formats.strace_record import (
    StraceRecord,
    Unparsed,
    clock_text_to_ns,
    seconds_text_to_ns,
)

__all__ = [
    "BinOp",
    "Call",
    "Commented",
    "Fd",
    "Flags",
    "Ident",
    "InOut",
    "NamedArg",
    "Note",
    "SignalSet",
    "Str",
    "Struct",
    "Value",
    "build_parser",
    "decode_args",
    "parse_line",
    "sockaddr",
]

# ---------------------------------------------------------------------------------------------
# Parser construction
# ---------------------------------------------------------------------------------------------

START_SYMBOLS: tuple[str, ...] = ("line", "arguments")

# A bare "S.frac" stamp is -ttt (epoch) when its integer part is wider than the "%6ld" that
# -r uses; otherwise it is a -r delta.
_RELATIVE_INT_WIDTH = 6


def build_parser(*, strict: bool = False) -> Lark:
    """A new LALR parser for `grammars/strace.lark` with both start symbols."""
    return grammar.build("strace.lark", START_SYMBOLS, strict=strict)


@cache
def _parser() -> Lark:
    return build_parser()


# ---------------------------------------------------------------------------------------------
# Lines -> records
# ---------------------------------------------------------------------------------------------

_BRACKET_PID = re.compile(r"\[pid +(\d+)(?:<(.*)>)?\]")
_PID_COMM = re.compile(r"(\d+)<(.*)>")
_SI_SIGNO = re.compile(r"\{si_signo=([A-Z0-9_]+)[,}]")


def parse_line(text: str) -> StraceRecord | Unparsed:
    """Parse one line of strace output (without its newline) into a record."""
    try:
        tree = _parser().parse(text, start="line")
    except UnexpectedInput as exc:
        return Unparsed(reason=_reason(text, exc))
    return _LineBuilder(text).transform(tree)


def _reason(text: str, exc: UnexpectedInput) -> str:
    if not text.strip():
        return "empty line"
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {exc.char!r} at column {exc.column}"
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            if exc.expected & {"RPAR", "_SEP", "UNFINISHED", "RETURNS"}:
                return "line ends before the call is complete"
            return "line ends unexpectedly"
        shown = token.value if len(token.value) <= 24 else token.value[:21] + "..."
        return f"unexpected {shown!r} at column {token.column}"
    return str(exc).splitlines()[0]


# The pieces of a record that the rules of a ``line`` tree reduce to (`_LineBuilder`). They
# are plain tuples, and records are built positionally: a line costs a few microseconds more
# to reduce with a NamedTuple per piece and keyword arguments, about 5% of its parse.

_Pid: TypeAlias = tuple[int, str | None]
"""``pid_prefix``: (pid, comm) of ``27060 ``, ``27636<python3.11> ``, ``[pid 27379] ``."""
_Stamp: TypeAlias = tuple[int, str]
"""``timestamp``: (nanoseconds, ``clock`` | ``epoch`` | ``relative``)."""
_Return: TypeAlias = tuple[str, int | None, str | None]
"""``return_value``: (text, integer value, ``<...>`` decoration) of ``3</etc/passwd>``, ``?``."""
_Error: TypeAlias = tuple[str, str | None]
"""``error``: (errno, message) of `` ENOENT (No such file or directory)``, `` (errno 123)``."""
_Result: TypeAlias = tuple[
    str, int | None, str | None, str | None, str | None, str | None, int | None
]
"""``result``: the record's fields ``ret``, ``retval``, ``ret_target``, ``errno``, ``errmsg``,
``aux``, ``duration_ns``, in the record's order."""

_NO_PID: tuple[None, None] = (None, None)
_NO_STAMP: tuple[None, None] = (None, None)
_NO_ERROR: tuple[None, None] = (None, None)
_NO_PREFIX = (None,) * 7
"""The prefix fields of a record (``pid`` to ``ip``), None in the record of an event part:
``event_line`` adds them."""

# The field order that the positional constructions below rely on.
assert " ".join(StraceRecord._fields[1:17]) == (
    "pid comm ts_ns ts_kind rel_ns scno ip syscall args "
    "ret retval ret_target errno errmsg aux duration_ns"
)


class _LineBuilder(InlineTransformer[StraceRecord]):
    """Tree of the ``line`` start symbol -> `StraceRecord`.

    The event rules reduce to a record without the prefix fields, which ``event_line`` adds.
    One builder per line: ``args`` and ``text`` are slices of the line.
    """

    # The text of these is the record's ``args``, sliced from the line by the positions of
    # the tokens around it (`decode_args` decodes it on demand); ``termios`` is the alias of
    # a ``struct`` alternative.
    opaque = frozenset({"arg_list", "open_args", "resumed_args", "struct", "termios"})

    def __init__(self, text: str) -> None:  # (InlineTransformer has nothing to set up)
        self._text = text

    # -- lines ------------------------------------------------------------------------------

    def event_line(
        self,
        pid_prefix: _Pid | None,
        _context: Token | None,
        timestamp: _Stamp | None,
        rel_ns: int | None,
        scno: int | None,
        ip: str | None,
        event: StraceRecord,
    ) -> StraceRecord:
        pid, comm = pid_prefix if pid_prefix is not None else _NO_PID
        ts_ns, ts_kind = timestamp if timestamp is not None else _NO_STAMP
        # the event's fields, `syscall` to `text`, follow the prefix fields
        return StraceRecord(event.kind, pid, comm, ts_ns, ts_kind, rel_ns, scno, ip, *event[8:])

    def frame_line(self, *_tokens: Token | None) -> StraceRecord:
        return StraceRecord("frame", text=self._text.rstrip())

    def dump_line(self, _dump: Token) -> StraceRecord:
        return StraceRecord("dump", text=self._text.rstrip())

    def summary_line(self, *_tokens: Token) -> StraceRecord:
        return StraceRecord("summary", text=self._text.rstrip())

    def message_line(self, *_tokens: Token | None) -> StraceRecord:
        return StraceRecord("message", text=self._text.rstrip())

    # -- prefix fields (each token includes the spaces after it) ----------------------------

    def pid_prefix(self, token: Token) -> _Pid:
        value = token.value.strip()
        if token.type == "INT_FIELD":
            return int(value), None
        pattern = _BRACKET_PID if token.type == "BRACKET_PID_FIELD" else _PID_COMM
        match = pattern.fullmatch(value)
        assert match is not None, value
        return int(match.group(1)), match.group(2)

    def process_context(self, token: Token) -> Token:
        return token

    def timestamp(self, token: Token) -> _Stamp:
        value = token.value.strip()
        if token.type == "CLOCK_FIELD":
            return clock_text_to_ns(value), "clock"
        epoch = len(value.partition(".")[0]) > _RELATIVE_INT_WIDTH
        return seconds_text_to_ns(value), "epoch" if epoch else "relative"

    def relative_stamp(self, token: Token) -> int:
        rel = token.value
        return seconds_text_to_ns(rel[rel.index("+") + 1 : rel.index(")")])

    def syscall_number(self, token: Token) -> int:
        return int(token.value.strip()[1:-1])

    def instruction_pointer(self, token: Token) -> str:
        return token.value.strip()[1:-1]

    # -- events -----------------------------------------------------------------------------

    def syscall(
        self, name: str, lpar: Token, _args: Tree[Token] | None, rpar: Token, result: _Result
    ) -> StraceRecord:
        args = self._text[lpar.end_pos : rpar.start_pos]
        return StraceRecord("syscall", *_NO_PREFIX, name, args, *result)

    def unfinished(
        self,
        name: str,
        lpar: Token,
        _args: Tree[Token] | None,
        echo: Token | None,
        marker: Token,
    ) -> StraceRecord:
        # the marker token starts with the one space that the args exclude
        args = self._text[lpar.end_pos : (echo or marker).start_pos]
        return StraceRecord("unfinished", syscall=name, args=args)

    def detached(
        self,
        name: str,
        lpar: Token,
        _args: Tree[Token] | None,
        echo: Token | None,
        marker: Token,
    ) -> StraceRecord:
        args = self._text[lpar.end_pos : (echo or marker).start_pos]
        return StraceRecord("detached", syscall=name, args=args)

    def resumed(
        self,
        _start: Token,
        name: str,
        resumed_end: Token,
        _args: Tree[Token] | Token,  # the UNFINISHED token when the task died while resuming
        rpar: Token,
        result: _Result,
    ) -> StraceRecord:
        args = self._text[resumed_end.end_pos : rpar.start_pos]
        return StraceRecord("resumed", *_NO_PREFIX, name, args, *result)

    def signal(
        self, start: Token, name: Token | Tree[Token], *rest: Token | Tree[Token]
    ) -> StraceRecord:
        if isinstance(name, Tree):  # strace 4.7: --- {si_signo=SIGCHLD, ...} (Child exited) ---
            end = rest[-1]
            assert isinstance(end, Token)
            args = self._text[start.end_pos : end.start_pos]
            signo = _SI_SIGNO.match(args)
            return StraceRecord("signal", args=args, signal=signo[1] if signo else None)
        if start.type == "STOPPED_START":  # --- stopped by SIGSTOP ---
            return StraceRecord("signal", signal=name.value, text="stopped")
        space, end = rest[0], rest[-1]  # --- SIGCHLD {si_signo=...} ---
        assert isinstance(space, Token) and isinstance(end, Token)
        if space.type == "OLD_SIGINFO":  # --- SIGCHLD (Child exited) @ 0 (0) ---
            return StraceRecord("signal", args=space.value[1:], signal=name.value)
        args = self._text[space.end_pos : end.start_pos]
        return StraceRecord("signal", args=args, signal=name.value)

    def exit(self, head: Token, value: Token, *rest: Token | None) -> StraceRecord:
        if head.type == "EXITED_WITH":  # +++ exited with 7 +++
            return StraceRecord("exit", exit_code=int(value.value))
        if head.type == "SUPERSEDED":  # +++ superseded by execve in pid 27175 +++
            return StraceRecord("exit", other_pid=int(value.value))
        core_dumped = rest[0] is not None  # +++ killed by SIGSEGV [(core dumped)] +++
        return StraceRecord("exit", signal=value.value, core_dumped=True if core_dumped else None)

    def syscall_name(self, name: Token, x32: Token | None = None) -> str:
        return name.value if x32 is None else name.value + x32.value

    # -- the result: `= ret [error] [aux] [duration]` ---------------------------------------

    def result(
        self,
        _returns: Token,
        return_value: _Return,
        error: _Error | None,
        aux: str | None,
        duration_ns: int | None,
    ) -> _Result:
        ret, retval, ret_target = return_value
        errno, errmsg = error if error is not None else _NO_ERROR
        return ret, retval, ret_target, errno, errmsg, aux, duration_ns

    def return_value(
        self,
        value: Token,
        decoration: Token | None = None,
        deleted: Token | None = None,
        _context: Token | None = None,  # --secontext's " [type_t]": not part of the value
    ) -> _Return:
        if value.type != "NUMBER":  # "?"
            return value.value, None, None
        text = value.value
        target = None
        if decoration is not None:
            target = decoration.value[1:-1]
            text += decoration.value
        if deleted is not None:
            text += deleted.value
        return text, _int(value.value), target

    def error(self, first: Token, message: Token | None = None) -> _Error:
        if first.type == "UNKNOWN_ERRNO":
            return first.value.strip()[1:-1], None
        assert message is not None
        return first.value.strip(), message.value[2:-1]

    def aux(self, token: Token) -> str:
        return token.value[2:-1]

    def duration(self, token: Token) -> int:
        return seconds_text_to_ns(token.value[2:-1])


def _int(text: str) -> int:
    """strace numbers: decimal, ``0x`` hex, or octal with a leading ``0`` (``0644``)."""
    digits = text.lstrip("-")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        value = int(digits, 8)
        return -value if text.startswith("-") else value
    return int(text, 0)


# ---------------------------------------------------------------------------------------------
# Argument values
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Str:
    """A quoted string: the bytes after C-unescaping; ``truncated`` when printed ``"..."...``."""

    value: bytes
    truncated: bool = False
    abstract: bool = False
    context: str | None = None
    """The SELinux context strace printed after a path (--secontext)."""

    @property
    def text(self) -> str:
        """The bytes as text (UTF-8, undecodable bytes as ``\\x..`` escapes)."""
        return self.value.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Ident:
    """A symbolic constant or name: ``NULL``, ``AT_FDCWD``, ``SIGCHLD``, ``&sin6_addr``."""

    name: str


@dataclass(frozen=True)
class Flags:
    """A ``|``-joined set: ``O_RDONLY|O_CLOEXEC`` -> ``("O_RDONLY", "O_CLOEXEC")``."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Struct:
    """``{name=value, ...}``; unnamed items in ``positional``; trailing ``...`` = abbreviated."""

    fields: dict[str, Value]
    abbreviated: bool = False
    positional: tuple[Value, ...] = ()


@dataclass(frozen=True)
class SignalSet:
    """A space-separated signal set ``[HUP INT]``; ``complement`` for ``~[...]``."""

    names: tuple[str, ...]
    complement: bool = False


@dataclass(frozen=True)
class Call:
    """A function-like value: ``htons(80)``, ``inet_addr("127.0.0.1")``, ``makedev(1, 3)``."""

    name: str
    args: tuple[Value, ...]


@dataclass(frozen=True)
class InOut:
    """``before => after`` (value on entry, value on exit); ``before`` None in an exit half."""

    before: Value | None
    after: Value


@dataclass(frozen=True)
class Fd:
    """A decorated fd or pid: ``3</etc/passwd>``, ``AT_FDCWD</srv>``, ``27641<python3.11>``."""

    number: int | str
    target: str
    deleted: bool = False
    context: str | None = None
    """The SELinux context strace printed after the fd (--secontext)."""


@dataclass(frozen=True)
class Commented:
    """A value followed by a comment: ``0x7ffe938f53f0 /* 35 vars */``."""

    value: Value
    comment: str


@dataclass(frozen=True)
class BinOp:
    """An expression strace prints unevaluated: ``8192*1024``, ``WIFEXITED(s) && ...``."""

    op: str
    left: Value
    right: Value


@dataclass(frozen=True)
class NamedArg:
    """A ``-N`` argument: ``fd=3``."""

    name: str
    value: Value


@dataclass(frozen=True)
class Note:
    """An angle-bracket note in place of arguments: ``<... resuming interrupted read ...>``."""

    text: str


Value: TypeAlias = (
    Str
    | int
    | Ident
    | Flags
    | Struct
    | list
    | SignalSet
    | Call
    | InOut
    | Fd
    | Commented
    | BinOp
    | NamedArg
    | Note
    | EllipsisType
)

_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {
    b"n": b"\n",
    b"t": b"\t",
    b"r": b"\r",
    b"v": b"\v",
    b"f": b"\f",
    b"a": b"\a",
    b"b": b"\b",
    b"e": b"\x1b",
}


def _unescape(quoted: str) -> bytes:
    raw = quoted[1:-1].encode("utf-8", "surrogateescape")

    def one(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        if code[:1].isdigit():
            return bytes([int(code, 8) & 0xFF])
        return _SIMPLE_ESCAPES.get(code, code)

    return _ESCAPE.sub(one, raw)


@v_args(inline=True)
class _ValueBuilder(Transformer[Token, list[Value]]):
    """Tree of the ``arguments`` start symbol -> list of `Value`."""

    def arguments(
        self, _space: Token | None, *rest: Value | _InOutTail | Token | None
    ) -> list[Value]:
        values: list[Value] = []
        for item in rest:
            if item is None or isinstance(item, Token):
                continue
            if isinstance(item, _InOutTail):
                values.append(InOut(None, item.after))
            else:
                values.append(item)
        return values

    def inout_tail(self, _arrow: Token, after: Value) -> _InOutTail:
        return _InOutTail(after)

    def arg_list(self, *values: Value) -> list[Value]:
        return list(values)

    def named_arg(self, name: Token, value: Value) -> NamedArg:
        return NamedArg(name.value, value)

    def inout(self, before: Value, _arrow: Token, after: Value) -> InOut:
        return InOut(before, after)

    def commented(self, value: Value, comment: Token) -> Commented:
        return Commented(value, comment.value.strip()[2:-2].strip())

    def binop(self, left: Value, op: Token, right: Value) -> BinOp:
        return BinOp(op.value.strip(), left, right)

    def _transform_tree(self, tree: Tree) -> object:
        # Flag members keep their printed text ("0644", not 420): read it before the members
        # are turned into values.
        if tree.data == "flag_set":
            return Flags(tuple(self._member_text(member) for member in tree.children))
        return super()._transform_tree(tree)

    def _member_text(self, member: Tree | Token) -> str:
        if isinstance(member, Token):
            return member.value
        tokens = list(member.scan_values(lambda value: isinstance(value, Token)))
        if member.data in ("number", "identifier") and len(tokens) == 1:
            return tokens[0].value
        return str(self._transform_tree(member))

    def abbreviation(self, _token: Token) -> EllipsisType:
        return ...

    def bare_comment(self, comment: Token) -> Commented:
        """A comment in place of the elements it counts: ``/* 16 vars */`` alone."""
        return Commented(..., comment.value[2:-2].strip())

    def nil(self, _token: Token) -> Ident:
        """``(nil)``: glibc's ``%p`` of a NULL pointer, which old decoders printed."""
        return Ident("NULL")

    def note(self, token: Token) -> Note:
        return Note(token.value[5:-5])

    def string(
        self, abstract: Token | None, quoted: Token, dots: Token | None, context: Token | None
    ) -> Str:
        return Str(
            _unescape(quoted.value),
            truncated=dots is not None,
            abstract=abstract is not None,
            context=_context(context),
        )

    def number(self, token: Token) -> int:
        return _int(token.value)

    def fd(
        self,
        number: Token,
        decoration: Token,
        deleted: Token | None = None,
        context: Token | None = None,
    ) -> Fd:
        base: int | str = _int(number.value) if number.type == "NUMBER" else number.value
        return Fd(base, decoration.value[1:-1], deleted is not None, _context(context))

    def identifier(self, name: Token) -> Ident:
        return Ident(name.value)

    def call(
        self, name: Token, _lpar: Token, args: list[Value] | Ident | None, _rpar: Token
    ) -> Call:
        if args is None:
            return Call(name.value, ())
        if isinstance(args, list):  # arg_list
            return Call(name.value, tuple(args))
        return Call(name.value, (args,))  # c_type

    def c_type(self, token: Token) -> Ident:
        return Ident(token.value)

    def address_of(self, name: Token) -> Ident:
        return Ident("&" + name.value)

    def struct(self, *items: Value | _Field | None) -> Struct:
        fields: dict[str, Value] = {}
        positional: list[Value] = []
        abbreviated = False
        for item in items:
            if item is None:
                continue
            if isinstance(item, _Field):
                fields[item.name] = item.value
            elif item is ...:
                abbreviated = True
            else:
                positional.append(item)
        return Struct(fields, abbreviated, tuple(positional))

    def termios(self, summary: Token) -> Struct:
        """``{B38400 opost isig icanon echo ...}``: the baud rate and the four flags by name
        (``False`` when strace printed them with a ``-``)."""
        baud, *flags, _dots = summary.value.split(" ")
        fields: dict[str, Value] = {"baud": Ident(baud)}
        for flag in flags:
            fields[flag.lstrip("-")] = not flag.startswith("-")
        return Struct(fields, True, ())

    def field(self, name: Token, value: Value) -> _Field:
        return _Field(name.value, value)

    def array(self, *items: Value | None) -> list[Value]:
        return [item for item in items if item is not None]

    def signal_set(self, *members: object) -> SignalSet:
        names = tuple(
            str(member.number) if isinstance(member, Fd) else str(member.value)
            for member in members
            if isinstance(member, Fd)
            or (isinstance(member, Token) and member.type in ("NAME", "NUMBER"))
        )
        complement = any(isinstance(m, Token) and m.type == "COMPLEMENT" for m in members)
        return SignalSet(names, complement)


@dataclass(frozen=True)
class _Field:
    name: str
    value: Value


@dataclass(frozen=True)
class _InOutTail:
    after: Value


def _context(token: Token | None) -> str | None:
    """The SELinux context of `` [system_u:object_r:etc_t:s0]`` (--secontext), or None."""
    return None if token is None else token.value[2:-1]


def decode_args(args: str) -> list[Value]:
    """Decode the raw ``args`` text of a record (complete, entry half or exit half)."""
    if not args:
        return []
    tree = _parser().parse(args, start="arguments")
    return _ValueBuilder().transform(tree)


# ---------------------------------------------------------------------------------------------
# Helpers over decoded values
# ---------------------------------------------------------------------------------------------


def _plain(value: Value | None) -> Value | None:
    while isinstance(value, Commented):
        value = value.value
    return value


def _call_arg(value: Value | None, name: str) -> Value | None:
    value = _plain(value)
    if isinstance(value, Call) and value.name == name and value.args:
        return _plain(value.args[-1] if name == "inet_pton" else value.args[0])
    return None


def sockaddr(value: Value) -> tuple[str, str | None, int | None] | None:
    """``(family, address, port)`` of a decoded sockaddr struct, else None.

    ``{sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("127.0.0.1")}`` gives
    ``("AF_INET", "127.0.0.1", 80)``; AF_INET6 reads ``inet_pton(AF_INET6, "::1", ...)``;
    AF_UNIX gives ``("AF_UNIX", path, None)`` (abstract names start with ``@``; None when the
    struct has no ``sun_path``).
    """
    struct = _plain(value)
    if not isinstance(struct, Struct):
        return None
    family = _plain(struct.fields.get("sa_family"))
    if not isinstance(family, Ident):
        return None
    name = family.name
    if name == "AF_UNIX":
        path = _plain(struct.fields.get("sun_path"))
        if isinstance(path, Str):
            return name, ("@" if path.abstract else "") + path.text, None
        return name, None, None
    if name not in ("AF_INET", "AF_INET6"):
        return name, None, None
    prefix = "sin_" if name == "AF_INET" else "sin6_"
    port = _call_arg(struct.fields.get(prefix + "port"), "htons")
    address: str | None = None
    if name == "AF_INET":
        addr = _call_arg(struct.fields.get("sin_addr"), "inet_addr")
        if isinstance(addr, Str):
            address = addr.text
    else:
        for item in struct.positional:
            call = _plain(item)
            if isinstance(call, Call) and call.name == "inet_pton" and len(call.args) >= 2:
                addr = _plain(call.args[1])
                if isinstance(addr, Str):
                    address = addr.text
    return name, address, port if isinstance(port, int) else None
