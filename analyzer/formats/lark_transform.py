"""`InlineTransformer`: the `lark.Transformer` that the grammar parsers reduce trees with.

Each rule of a grammar maps to the method of the same name (or alias), which takes the rule's
children as positional arguments, typed, and returns a typed piece of the record (as with
``@v_args(inline=True)``); the method of the tree's root rule returns the record. An optional
item that is absent is None (the parsers are built with ``maybe_placeholders=True``).

Why not lark's own dispatch: the grammar parsers run on every line the fast paths decline, and
on every line with ``--engine lark``, where lark's per-node overhead (a generator per node and,
with `v_args`, a new wrapper object per call) made `strace_lark.parse_line` about a quarter
slower than the hand-written tree walk this replaced. This class walks the tree with one list
comprehension per node and calls each method directly; `opaque` names the rules whose
subtrees are handed to the parent's method as parsed, not visited.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from lark import Token, Transformer, Tree

__all__ = ["InlineTransformer"]

_Result = TypeVar("_Result")


class InlineTransformer(Transformer[Token, _Result]):
    """A `Transformer` whose methods get a rule's children as arguments, called directly.

    Every rule a tree can hold needs a method, except those in `opaque`: their subtrees are
    passed to the parent's method unchanged (for text the parent takes by position).
    """

    opaque: ClassVar[frozenset[str]] = frozenset()
    """Rules left as parsed: the subtree is not visited."""

    def __init__(self) -> None:
        """Nothing to set up (`Transformer.__init__` sets ``visit_tokens``, unused here)."""

    def transform(self, tree: Tree[Token]) -> _Result:
        """What the method of the tree's root rule returns."""
        result: _Result = self._transform_tree(tree)
        return result

    def _transform_tree(self, tree: Tree[Token]) -> Any:
        children: list[Any] = tree.children
        for child in children:
            if isinstance(child, Tree):  # else all are tokens (or None): passed as they are
                opaque = self.opaque
                children = [
                    (item if item.data in opaque else self._transform_tree(item))
                    if isinstance(item, Tree)
                    else item
                    for item in children
                ]
                break
        return getattr(self, tree.data)(*children)
