"""Which call arguments the fast scanner may keep: text made of the grammar's argument tokens,
in an order the grammar allows, with its brackets matched.

The scanner takes the arguments of a call as the text between ``name(`` and ``) = ``, without
parsing them; text that is no strace output would be kept as arguments though the grammar
rejects the line: a program's output spliced into the call (``write(2, "Err", 3Err) = 3``), a
hand edit (``{sa_family=AF_INET6, ...), sin6_scope_id=0}``), a mail's quoted-printable
(``{tv_sec=3D1}``), a look-alike tracer's ``<sigset=()>``. Two RE2 checks over the argument
texts keep the scanner to arguments the grammar reads (the others go to the grammar, which
is slower, never wrong):

- `ARGS_TOKENS`: tokens (strings, numbers, names, fds, ``...``, comments) joined by ``, ``
  or an operator, opened and closed by brackets, a ``name=``/``name:`` only where a value
  starts; what strace prints rarely (``sizeof(struct x)``, termios) is left out.
- `ARGS_BRACKETS`: brackets matched up to `DEPTH` levels, ``=`` only in a struct, a call or
  at the top (``[a=1]`` is no array), ``:`` only in a struct (strace < 4.2x: ``{entry_number:6}``).

Not checked (strace never prints them and no real log has them): two `` => `` or two
`` == `` in one argument.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from analyzer.arrays import filled_numpy

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_STRING = r'"(?:[^"\\]|\\.)*"'
_DECORATION = r"<(?:->|[^<>]|<[^<>]*>)*>"
_COMMENT = r"/\*[^*]*\*/"
_NUMBER = r"-?(?:0x[0-9a-fA-F]+|[0-9]+)"
# --secontext: the SELinux context of a path or fd, after it
_CONTEXT = r" \[[A-Za-z0-9.:,-]*_[A-Za-z0-9_.:,-]*(?:!![A-Za-z0-9_.:,-]+)?\]"
_MEMBER = rf"(?:{_NAME}|{_NUMBER}(?:{_DECORATION})?)"
_LEAF = (
    rf"(?:@?{_STRING}(?:\.\.\.)?(?:{_CONTEXT})?"
    rf"|{_NUMBER}(?:{_DECORATION}(?:\(deleted\))?(?:{_CONTEXT})?)?"
    rf"|{_NAME}(?:{_DECORATION})?"
    rf"|\.\.\.|&{_NAME}|{_COMMENT}|\(nil\)|<\.\.\. resuming interrupted [A-Za-z0-9_?#]+ \.\.\.>"
    rf"|\[{_MEMBER}(?: {_MEMBER})+\]|~\[(?:{_MEMBER}(?: {_MEMBER})*)?\])"
)
_FIELD = rf"(?:{_NAME}[=:])?"
_OPEN = rf"(?:\{{|\[|{_NAME}\()"
_CLOSE = r"[)\]}]"
_START = rf"(?:(?:{_OPEN}{_FIELD})*{_LEAF}|(?:{_OPEN}{_FIELD})*{_OPEN}{_CLOSE})"
_ENDS_PLAIN = rf"{_START}(?:{_CLOSE}| {_COMMENT}{_CLOSE})*"
_ENDS_COMMENTED = rf"{_ENDS_PLAIN} {_COMMENT}"
_SEP = f", {_FIELD}"
_INOUT = " [=-]> "
_BODY = (
    rf"(?:{_ENDS_PLAIN}(?:{_SEP}|{_INOUT}|\||\*| && | == )"
    rf"|{_ENDS_COMMENTED}(?:{_SEP}|{_INOUT}))*"
    rf"(?:{_ENDS_PLAIN}|{_ENDS_COMMENTED})"
)
ARGS_TOKENS = rf"^ ?(?:(?:{_INOUT}{_BODY}|(?:, )?{_FIELD}{_BODY})(?:, )?)?$"
"""The union of the three kinds' argument texts; `args_fit` rules out each kind's extras."""

DEPTH = 4
_UNITS = rf"{_STRING}|{_DECORATION}|{_COMMENT}|{_CONTEXT}"
_PLAIN_TOP = r'[^(){}\[\]"<:]'
_PLAIN_STRUCT = r'[^(){}\[\]"<]'
_PLAIN_ARRAY = r'[^(){}\[\]"<=:]| => | == '


def _brackets(plain: str, depth: int) -> str:
    if depth == 0:
        return rf"(?:{_UNITS}|{plain})*"
    inner = {
        "struct": _brackets(_PLAIN_STRUCT, depth - 1),
        "array": _brackets(_PLAIN_ARRAY, depth - 1),
        "call": _brackets(_PLAIN_TOP, depth - 1),
    }
    return (
        rf"(?:{_UNITS}|{plain}"
        rf"|\{{{inner['struct']}\}}|\[{inner['array']}\]|\({inner['call']}\))*"
    )


ARGS_BRACKETS = rf"^{_brackets(_PLAIN_TOP, DEPTH)}$"
_SHALLOW_BRACKETS = rf"^{_brackets(_PLAIN_TOP, DEPTH - 1)}$"
"""`ARGS_BRACKETS` one level shallower: what it matches, `ARGS_BRACKETS` matches (each level
adds alternatives). pyarrow compiles a pattern on every call, and this one in a quarter of the
time (1 ms against 3.7): `ARGS_BRACKETS` is tried only on the texts it refuses, which real
traces rarely have."""


def distinct(args: pa.Array | pa.ChunkedArray) -> pa.DictionaryArray:
    """The texts as one dictionary-encoded array.

    The checks below run once per distinct text: a trace repeats its arguments (11-39% of
    them are distinct in the fixtures' real captures). One array, not chunks: pyarrow compiles
    a regular expression again for every chunk of a chunked array (4-9 ms for these)."""
    if isinstance(args, pa.ChunkedArray):
        args = args.combine_chunks()
    return pc.dictionary_encode(args)


def shapes_fit(encoded: pa.DictionaryArray) -> np.ndarray:
    """For each text of the dictionary, whether it matches both `ARGS_TOKENS` and
    `ARGS_BRACKETS`."""
    texts = encoded.dictionary
    tokens = pc.match_substring_regex(texts, ARGS_TOKENS).to_numpy(zero_copy_only=False)
    brackets = pc.match_substring_regex(texts, _SHALLOW_BRACKETS).to_numpy(zero_copy_only=False)
    deeper = np.flatnonzero(tokens & ~brackets)
    if len(deeper):
        found = pc.match_substring_regex(texts.take(pa.array(deeper)), ARGS_BRACKETS)
        brackets[deeper] = found.to_numpy(zero_copy_only=False)
    return tokens & brackets


def args_fit(
    args: pa.Array | pa.ChunkedArray,
    kinds: pa.Array | pa.ChunkedArray,
    encoded: pa.DictionaryArray | None = None,
) -> np.ndarray:
    """Per record of the scanner (`kind` syscall, unfinished or resumed), whether the grammar
    reads its `args` as the scanner took them (`encoded`: their `distinct`, when the caller
    has it)."""
    if len(args) == 0:
        return np.zeros(0, dtype=bool)
    if encoded is None:
        encoded = distinct(args)
    texts = encoded.dictionary

    def per_text(found: pa.Array) -> np.ndarray:
        return found.to_numpy(zero_copy_only=False)

    # Only an exit half may start with " " (pre-5.0, or " => ") or ", "; only an entry half may
    # end with ", ". Texts that do neither (nearly all) need no look at the kind.
    leading = per_text(pc.starts_with(texts, " ")) | per_text(pc.starts_with(texts, ", "))
    trailing = per_text(pc.ends_with(texts, ", "))
    index = filled_numpy(encoded.indices, 0)
    fit = shapes_fit(encoded)[index]
    fit &= encoded.indices.is_valid().to_numpy(zero_copy_only=False)
    fit &= pc.is_valid(kinds).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(fit & (leading | trailing)[index])
    if len(rows):
        kind = kinds.take(pa.array(rows))

        def of_kind(name: str) -> np.ndarray:
            return filled_numpy(pc.equal(kind, name), False)

        syscall = of_kind("syscall")
        entry = syscall | of_kind("unfinished")
        exit_half = syscall | of_kind("resumed")
        fit[rows] = ~((entry & leading[index[rows]]) | (exit_half & trailing[index[rows]]))
    return fit
