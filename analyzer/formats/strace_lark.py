"""Reference parser for strace text output, driven by the grammar `grammars/strace.lark`.

This is the slow-but-obviously-correct parser: every line goes through an LALR parser built
from the grammar, which is the formal specification of the format. The fast vectorised scanner
(`strace_scan`) must produce the same `StraceRecord` for every line; tests compare the two.

Two entry points share one Lark instance (two start symbols of the same grammar):

- `parse_line(text)` reduces one line to a `StraceRecord` (field rules in
  `analyzer.formats.strace_record`), or to `Unparsed(reason)` when the line is not strace
  output (e.g. a call cut by a stderr message or by a killed tracer).
- `decode_args(args)` decodes the raw ``args`` text of a record into Python values, on demand.

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
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import EllipsisType
from typing import Any, TypeAlias

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from analyzer.formats import grammar
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


def parse_line(text: str) -> StraceRecord | Unparsed:
    """Parse one line of strace output (without its newline) into a record."""
    try:
        tree = _parser().parse(text, start="line")
    except UnexpectedInput as exc:
        return Unparsed(reason=_reason(text, exc))
    return _line_record(text, tree)


def _reason(text: str, exc: UnexpectedInput) -> str:
    if not text.strip():
        return "empty line"
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {text[exc.pos_in_stream]!r} at column {exc.column}"
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            if exc.expected & {"RPAR", "_SEP", "UNFINISHED", "RETURNS"}:
                return "line ends before the call is complete"
            return "line ends unexpectedly"
        shown = token.value if len(token.value) <= 24 else token.value[:21] + "..."
        return f"unexpected {shown!r} at column {token.column}"
    return str(exc).splitlines()[0]


def _line_record(text: str, tree: Tree) -> StraceRecord:
    children = tree.children
    if len(children) == 1:  # frame, dump, summary or message: no prefix
        kind = children[0].data.removesuffix("_line")
        return StraceRecord(kind=kind, text=text.rstrip())
    pid_prefix, timestamp, relative_stamp, scno, ip, event = children
    fields: dict[str, object] = {}
    if pid_prefix is not None:
        _prefix_pid(pid_prefix.children[0], fields)
    if timestamp is not None:
        _prefix_timestamp(timestamp.children[0], fields)
    if relative_stamp is not None:
        rel = relative_stamp.children[0].value
        fields["rel_ns"] = seconds_text_to_ns(rel[rel.index("+") + 1 : rel.index(")")])
    if scno is not None:
        fields["scno"] = int(scno.children[0].value.strip()[1:-1])
    if ip is not None:
        fields["ip"] = ip.children[0].value.strip()[1:-1]
    _EVENTS[event.data](text, event.children, fields)
    return StraceRecord(**fields)  # type: ignore[arg-type]


def _prefix_pid(token: Token, fields: dict[str, object]) -> None:
    value = token.value.strip()
    if token.type == "INT_FIELD":
        fields["pid"] = int(value)
        return
    match = (_BRACKET_PID if token.type == "BRACKET_PID_FIELD" else _PID_COMM).fullmatch(value)
    assert match is not None, value
    fields["pid"] = int(match.group(1))
    fields["comm"] = match.group(2)


def _prefix_timestamp(token: Token, fields: dict[str, object]) -> None:
    value = token.value.strip()
    if token.type == "CLOCK_FIELD":
        fields["ts_ns"] = clock_text_to_ns(value)
        fields["ts_kind"] = "clock"
        return
    fields["ts_ns"] = seconds_text_to_ns(value)
    epoch = len(value.partition(".")[0]) > _RELATIVE_INT_WIDTH
    fields["ts_kind"] = "epoch" if epoch else "relative"


def _syscall_name(tree: Tree) -> str:
    return "".join(tok.value for tok in tree.children if tok is not None)


def _result(tree: Tree, fields: dict[str, object]) -> None:
    _returns, value, error, aux, duration = tree.children
    ret = "".join(tok.value for tok in value.children if tok is not None)
    fields["ret"] = ret
    number = value.children[0]
    if number.type == "NUMBER":
        fields["retval"] = _int(number.value)
        decoration = value.children[1]
        if decoration is not None:
            fields["ret_target"] = decoration.value[1:-1]
    if error is not None:
        first = error.children[0]
        if first.type == "UNKNOWN_ERRNO":
            fields["errno"] = first.value.strip()[1:-1]
        else:
            fields["errno"] = first.value.strip()
            fields["errmsg"] = error.children[1].value[2:-1]
    if aux is not None:
        token = aux.children[0]
        fields["aux"] = token.value[2:-1]
    if duration is not None:
        fields["duration_ns"] = seconds_text_to_ns(duration.children[0].value[2:-1])


def _event_syscall(text: str, children: list[Any], fields: dict[str, object]) -> None:
    name, lpar, _args, rpar, result = children
    fields.update(kind="syscall", syscall=_syscall_name(name))
    fields["args"] = text[lpar.end_pos : rpar.start_pos]
    _result(result, fields)


_EventBuilder: TypeAlias = Callable[[str, list[Any], dict[str, object]], None]


def _event_open(kind: str) -> _EventBuilder:
    """unfinished / detached: the marker terminal starts with the one space that is excluded."""

    def build(text: str, children: list[Any], fields: dict[str, object]) -> None:
        name, lpar, _args, marker = children
        fields.update(kind=kind, syscall=_syscall_name(name))
        fields["args"] = text[lpar.end_pos : marker.start_pos]

    return build


def _event_resumed(text: str, children: list[Any], fields: dict[str, object]) -> None:
    _start, name, resumed_end, _args, rpar, result = children
    fields.update(kind="resumed", syscall=_syscall_name(name))
    fields["args"] = text[resumed_end.end_pos : rpar.start_pos]
    _result(result, fields)


def _event_signal(text: str, children: list[Any], fields: dict[str, object]) -> None:
    fields["kind"] = "signal"
    fields["signal"] = children[1].value
    if children[0].type == "STOPPED_START":
        fields["text"] = "stopped"
    else:
        fields["args"] = text[children[2].end_pos : children[4].start_pos]


def _event_exit(_text: str, children: list[Any], fields: dict[str, object]) -> None:
    fields["kind"] = "exit"
    head = children[0].type
    if head == "EXITED_WITH":
        fields["exit_code"] = int(children[1].value)
    elif head == "SUPERSEDED":
        fields["other_pid"] = int(children[1].value)
    else:
        fields["signal"] = children[1].value
        if children[2] is not None:
            fields["core_dumped"] = True


_EVENTS: dict[str, _EventBuilder] = {
    "syscall": _event_syscall,
    "unfinished": _event_open("unfinished"),
    "detached": _event_open("detached"),
    "resumed": _event_resumed,
    "signal": _event_signal,
    "exit": _event_exit,
}


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
class _ValueBuilder(Transformer):
    """Tree of the ``arguments`` start symbol -> list of `Value`."""

    def arguments(self, _space: Token | None, *rest: object) -> list[Value]:
        values: list[Value] = []
        for item in rest:
            if item is None or isinstance(item, Token):
                continue
            if isinstance(item, _InOutTail):
                values.append(InOut(None, item.after))
            else:
                values.append(item)  # type: ignore[arg-type]
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

    def note(self, token: Token) -> Note:
        return Note(token.value[5:-5])

    def string(self, abstract: Token | None, quoted: Token, dots: Token | None) -> Str:
        return Str(
            _unescape(quoted.value), truncated=dots is not None, abstract=abstract is not None
        )

    def number(self, token: Token) -> int:
        return _int(token.value)

    def fd(self, number: Token, decoration: Token, deleted: Token | None = None) -> Fd:
        base: int | str = _int(number.value) if number.type == "NUMBER" else number.value
        return Fd(base, decoration.value[1:-1], deleted is not None)

    def identifier(self, name: Token) -> Ident:
        return Ident(name.value)

    def call(self, name: Token, _lpar: Token, args: object, _rpar: Token) -> Call:
        if args is None:
            return Call(name.value, ())
        if isinstance(args, list):
            return Call(name.value, tuple(args))
        return Call(name.value, (args,))  # type: ignore[arg-type]

    def c_type(self, token: Token) -> Ident:
        return Ident(token.value)

    def address_of(self, name: Token) -> Ident:
        return Ident("&" + name.value)

    def struct(self, *items: object) -> Struct:
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
                positional.append(item)  # type: ignore[arg-type]
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
            str(member.value)
            for member in members
            if isinstance(member, Token) and member.type in ("NAME", "NUMBER")
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
    value = _plain(value)
    if not isinstance(value, Struct):
        return None
    family = _plain(value.fields.get("sa_family"))
    if not isinstance(family, Ident):
        return None
    name = family.name
    if name == "AF_UNIX":
        path = _plain(value.fields.get("sun_path"))
        if isinstance(path, Str):
            return name, ("@" if path.abstract else "") + path.text, None
        return name, None, None
    if name not in ("AF_INET", "AF_INET6"):
        return name, None, None
    prefix = "sin_" if name == "AF_INET" else "sin6_"
    port = _call_arg(value.fields.get(prefix + "port"), "htons")
    address: str | None = None
    if name == "AF_INET":
        addr = _call_arg(value.fields.get("sin_addr"), "inet_addr")
        if isinstance(addr, Str):
            address = addr.text
    else:
        for item in value.positional:
            item = _plain(item)
            if isinstance(item, Call) and item.name == "inet_pton" and len(item.args) >= 2:
                addr = _plain(item.args[1])
                if isinstance(addr, Str):
                    address = addr.text
    return name, address, port if isinstance(port, int) else None
