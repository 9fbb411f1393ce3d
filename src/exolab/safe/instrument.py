"""Instrumentation of verified code: fuel on every loop, a depth count on every call.

Applied to a tree *after* :mod:`exolab.safe.verify` accepted it, so the names
it inserts (``__exolab_tick__``, ``__exolab_enter__``, ``__exolab_leave__``; dunder
names, so a class body does not mangle them) are
names the program itself could never write. What they do is
:mod:`exolab.safe.runtime`'s business; nothing here charges a cycle.

- every ``for``/``while`` body starts with the tick inlined:
  ``__exolab_fuel__.left -= 1`` and, when it reaches 0, ``__exolab_look__()``;
- every comprehension ``for`` gets ``if __exolab_tick__()`` as its first
  condition (the tick returns True);
- every function that is not a generator runs its body between
  ``__exolab_enter__()`` and a ``finally: __exolab_leave__()``. Generator bodies
  are not counted (a suspended generator is not on the stack), nor lambdas
  (an expression has no ``finally``): see docs/security.md, stated limits.

Interface::

    instrument(tree) -> tree       (in place)
    TICK, ENTER, LEAVE, FUEL, LOOK the inserted names
"""
from __future__ import annotations

import ast
from typing import Any, TypeVar

__all__ = ["instrument", "TICK", "ENTER", "LEAVE", "FUEL", "LOOK"]

_T = TypeVar("_T", bound=ast.AST)

TICK, ENTER, LEAVE = "__exolab_tick__", "__exolab_enter__", "__exolab_leave__"
FUEL, LOOK = "__exolab_fuel__", "__exolab_look__"


def _call(name: str) -> ast.Call:
    """``name()`` as an expression."""
    return ast.Call(ast.Name(name, ast.Load()), [], [])


def _fuel_check() -> list[ast.stmt]:
    """``__exolab_fuel__.left -= 1; if __exolab_fuel__.left <= 0: __exolab_look__()``:
    the tick inlined (no call: 40 ns an iteration instead of 70)."""
    left = ast.Attribute(ast.Name(FUEL, ast.Load()), "left", ast.Store())
    test = ast.Compare(ast.Attribute(ast.Name(FUEL, ast.Load()), "left", ast.Load()),
                       [ast.LtE()], [ast.Constant(0)])
    return [ast.AugAssign(left, ast.Sub(), ast.Constant(1)),
            ast.If(test, [ast.Expr(_call(LOOK))], [])]


def _is_generator(fn: ast.FunctionDef) -> bool:
    """True if ``fn``'s own body (not nested functions) yields."""
    todo: list[ast.AST] = list(fn.body)
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.Yield, ast.YieldFrom)):
            return True
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                              ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(n))
    return False


class _Instrument(ast.NodeTransformer):
    """Inserts the ticks and the depth count; keeps every line number."""

    def _loop(self, node: Any) -> Any:
        self.generic_visit(node)
        first = node.body[0]
        node.body[:0] = [ast.copy_location(s, first) for s in _fuel_check()]
        return node

    visit_For = visit_While = _loop

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        self.generic_visit(node)
        node.ifs.insert(0, ast.copy_location(_call(TICK), node.iter))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        self.generic_visit(node)
        if _is_generator(node):
            return node
        body = node.body
        doc = body[:1] if body and isinstance(body[0], ast.Expr) \
            and isinstance(body[0].value, ast.Constant) \
            and type(body[0].value.value) is str else []
        rest = body[len(doc):] or [ast.Pass()]
        guard = ast.Try(body=rest, handlers=[], orelse=[],
                        finalbody=[ast.Expr(_call(LEAVE))])
        enter = ast.Expr(_call(ENTER))
        node.body = doc + [ast.copy_location(enter, rest[0]),
                           ast.copy_location(guard, rest[0])]
        return node


def instrument(tree: _T) -> _T:
    """Instrument ``tree`` in place (fuel on loops, depth on calls); return it."""
    _Instrument().visit(tree)
    ast.fix_missing_locations(tree)
    return tree
