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
- every function that is not a generator counts itself in the running
  greenlet's depth for the time of its body (:func:`_depth_guard`, inlined;
  ``__exolab_enter__``/``__exolab_leave__`` are the same as calls). Generator bodies
  are not counted (a suspended generator is not on the stack), nor lambdas
  (an expression has no ``finally``): see docs/security.md, stated limits.

Interface::

    instrument(tree) -> tree       (in place)
    TICK ENTER LEAVE FUEL LOOK CURRENT DEPTHS DEEP   the globals it names
"""
from __future__ import annotations

import ast
from typing import Any, TypeVar

from exolab.safe.runtime import PROGRAM_DEPTH

__all__ = ["instrument", "TICK", "ENTER", "LEAVE", "FUEL", "LOOK", "CURRENT", "DEPTHS",
           "DEEP"]

_T = TypeVar("_T", bound=ast.AST)

TICK, ENTER, LEAVE = "__exolab_tick__", "__exolab_enter__", "__exolab_leave__"
FUEL, LOOK = "__exolab_fuel__", "__exolab_look__"
CURRENT, DEPTHS, DEEP = "__exolab_current__", "__exolab_depths__", "__exolab_deep__"
G, D = "__exolab_g__", "__exolab_d__"         # locals of an instrumented function


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


def _depth_guard(body: list[ast.stmt]) -> list[ast.stmt]:
    """``body`` between a depth count up and a ``finally`` that counts down, inlined:

        __exolab_g__ = __exolab_current__()
        __exolab_d__ = __exolab_depths__.get(__exolab_g__, 0) + 1
        if __exolab_d__ > PROGRAM_DEPTH: __exolab_deep__()
        __exolab_depths__[__exolab_g__] = __exolab_d__
        try: body
        finally: __exolab_depths__[__exolab_g__] = __exolab_d__ - 1

    (about 100 ns a call; two hook calls cost 265). Names ending in ``__`` are
    not mangled in class bodies; verified code can name none of them.
    """
    def name(n: str, store: bool = False) -> ast.Name:
        return ast.Name(n, ast.Store() if store else ast.Load())

    def slot(store: bool) -> ast.Subscript:
        return ast.Subscript(name(DEPTHS), name(G), ast.Store() if store else ast.Load())
    get = ast.Call(ast.Attribute(name(DEPTHS), "get", ast.Load()),
                   [name(G), ast.Constant(0)], [])
    return [
        ast.Assign([name(G, True)], _call(CURRENT)),
        ast.Assign([name(D, True)], ast.BinOp(get, ast.Add(), ast.Constant(1))),
        ast.If(ast.Compare(name(D), [ast.Gt()], [ast.Constant(PROGRAM_DEPTH)]),
               [ast.Expr(_call(DEEP))], []),
        ast.Assign([slot(True)], name(D)),
        ast.Try(body=body, handlers=[], orelse=[], finalbody=[
            ast.Assign([slot(True)], ast.BinOp(name(D), ast.Sub(), ast.Constant(1)))]),
    ]


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
        node.body = doc + [ast.copy_location(s, rest[0]) for s in _depth_guard(rest)]
        return node


def instrument(tree: _T) -> _T:
    """Instrument ``tree`` in place (fuel on loops, depth on calls); return it."""
    _Instrument().visit(tree)
    ast.fix_missing_locations(tree)
    return tree
