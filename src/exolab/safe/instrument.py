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
  (an expression has no ``finally``): see docs/security.md, stated limits;
- ``a ** b`` and ``a << b`` (unless both are small int constants) and ``*``
  with a literal sequence operand (``b"x" * n``, ``[0] * n``) become calls of
  size-checking guards, so one operation cannot exhaust the host.

Interface::

    instrument(tree) -> tree       (in place)
    TICK ENTER LEAVE FUEL LOOK CURRENT DEPTHS DEEP POW SHL REP   the globals it names
"""
from __future__ import annotations

import ast
from typing import Any, TypeVar

from exolab.safe.runtime import MAX_BITS, PROGRAM_DEPTH

__all__ = ["instrument", "TICK", "ENTER", "LEAVE", "FUEL", "LOOK", "CURRENT", "DEPTHS",
           "DEEP", "POW", "SHL", "REP"]

_T = TypeVar("_T", bound=ast.AST)

TICK, ENTER, LEAVE = "__exolab_tick__", "__exolab_enter__", "__exolab_leave__"
FUEL, LOOK = "__exolab_fuel__", "__exolab_look__"
CURRENT, DEPTHS, DEEP = "__exolab_current__", "__exolab_depths__", "__exolab_deep__"
POW, SHL, REP = "__exolab_pow__", "__exolab_shl__", "__exolab_rep__"
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


def _small_constant(op: ast.operator, a: ast.expr, b: ast.expr) -> bool:
    """True if ``a op b`` has int constant operands and a result below MAX_BITS."""
    if not (isinstance(a, ast.Constant) and isinstance(b, ast.Constant)
            and type(a.value) is int and type(b.value) is int):
        return False
    x, y = a.value, b.value
    if isinstance(op, ast.Pow):
        return y <= 1 or x.bit_length() <= 1 or x.bit_length() * y <= MAX_BITS
    return y <= 0 or x.bit_length() + y <= MAX_BITS


def _guard_for(op: ast.operator, a: ast.expr, b: ast.expr) -> str | None:
    """The guard ``a op b`` needs (``**``, ``<<``, a literal sequence ``*``), or None."""
    if isinstance(op, (ast.Pow, ast.LShift)):
        if _small_constant(op, a, b):
            return None
        return POW if isinstance(op, ast.Pow) else SHL
    if isinstance(op, ast.Mult) and any(
            isinstance(x, (ast.List, ast.Tuple, ast.JoinedStr))
            or (isinstance(x, ast.Constant) and type(x.value) in (str, bytes))
            for x in (a, b)):
        return REP
    return None


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

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        self.generic_visit(node)
        guard = _guard_for(node.op, node.left, node.right)
        if guard is None:
            return node
        return ast.copy_location(
            ast.Call(ast.Name(guard, ast.Load()), [node.left, node.right], []), node)

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        self.generic_visit(node)
        if not isinstance(node.target, ast.Name) or \
                _guard_for(node.op, node.target, node.value) is None:
            return node
        value = ast.BinOp(ast.Name(node.target.id, ast.Load()), node.op, node.value)
        return ast.copy_location(ast.Assign([node.target], self.visit_BinOp(
            ast.copy_location(value, node))), node)

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
