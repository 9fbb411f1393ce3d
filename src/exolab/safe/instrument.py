"""Instrumentation of verified code: fuel on every loop and call, a depth count on
every call, guards on the operations one step of which could exhaust the host.

Applied to a tree *after* :mod:`exolab.safe.verify` accepted it, so the names
it inserts (``__exolab_tick__``, ``__exolab_mul__``, ...; dunder names, so a
class body does not mangle them) are names the program itself could never
write. What they do is :mod:`exolab.safe.runtime`'s and
:mod:`exolab.safe.guards`' business; nothing here charges a cycle.

- every ``for``/``while`` body, and every function body, starts with the tick
  inlined: ``__exolab_fuel__.left -= 1`` and, when it reaches 0,
  ``__exolab_look__()``; every comprehension ``for`` gets ``if __exolab_tick__()`` as its first
  condition (the tick returns True). A C loop that calls back into the program
  (``sum`` over an object whose ``__next__`` never stops) so ticks too;
- every function counts itself in the running greenlet's depth for the time
  of its body (:func:`_depth_guard`, inlined; ``__exolab_enter__``/
  ``__exolab_leave__`` are the same as calls); a generator only while it runs:
  it counts down before each ``yield`` statement and up again in a ``finally``
  after it (resume, throw and close alike), so a suspended generator holds no
  frame (a generator with a ``yield`` inside an expression is not counted:
  docs/security.md, stated limits); every lambda is made inside a wrapper
  (:func:`counted_lambda`, in the lambda's own globals) that ticks and counts.
  So a recursion through C (``sorted(..., key=f)`` calling back into ``f``),
  which costs C stack per level, stops at PROGRAM_DEPTH levels;
- ``for x in range(...)`` (statement or comprehension) iterates the builtin
  range, since its loop ticks; every other ``range`` is the metered
  :class:`~exolab.safe.guards.Range` the namespace binds;
- ``a ** b``, ``a << b`` (unless both are small int constants), ``a * b``
  (unless both are number constants), ``a + b`` (unless one is a number
  constant or both are constants), ``a // b``
  and ``a % b`` (unless the right one is a number constant), and the augmented
  forms of these on a name, ``x.attr`` or ``x[k]`` (``x``, ``k`` names or
  constants), become calls of guards; so do calls of ``bytes``/``bytearray``
  by name, the size-building methods (``s.ljust``, ``sep.join``,
  ``fmt.format``... :data:`~exolab.safe.guards.SIZED_METHODS`) whether called
  or only named, ``getattr(x, "ljust")``, f-string fields with a computed
  spec and f-strings with two or more fields.

Interface::

    instrument(tree) -> tree       (in place)
    TICK ENTER LEAVE FUEL LOOK CURRENT DEPTHS DEEP RANGE
    POW SHL MUL ADD IADD IMUL DIV MOD CALL ATTR FMT BUILT UNPACK SLICED
                                   the globals it names
"""
from __future__ import annotations

import ast
import types
from typing import Any, TypeVar

from exolab.safe.guards import MAX_BITS, MAX_ITEMS, SIZED_METHODS
from exolab.safe.runtime import PROGRAM_DEPTH

__all__ = ["instrument", "TICK", "ENTER", "LEAVE", "FUEL", "LOOK", "CURRENT", "DEPTHS",
           "DEEP", "RANGE", "POW", "SHL", "MUL", "ADD", "IADD", "IMUL", "DIV", "MOD",
           "CALL", "ATTR", "FMT", "BUILT", "UNPACK", "SLICED", "LAMBDA", "counted_lambda"]

_T = TypeVar("_T", bound=ast.AST)

TICK, ENTER, LEAVE = "__exolab_tick__", "__exolab_enter__", "__exolab_leave__"
FUEL, LOOK = "__exolab_fuel__", "__exolab_look__"
CURRENT, DEPTHS, DEEP = "__exolab_current__", "__exolab_depths__", "__exolab_deep__"
RANGE = "__exolab_range__"
POW, SHL, MUL, ADD = "__exolab_pow__", "__exolab_shl__", "__exolab_mul__", "__exolab_add__"
IADD, IMUL, DIV, MOD = "__exolab_iadd__", "__exolab_imul__", "__exolab_div__", "__exolab_mod__"
CALL, ATTR = "__exolab_call__", "__exolab_attr__"
FMT, BUILT = "__exolab_format__", "__exolab_built__"
UNPACK, SLICED = "__exolab_unpack__", "__exolab_sliced__"
LAMBDA, LAMBDA_FN = "__exolab_lambda__", "__exolab_f__"
YIELDED = "__exolab_y__"        # a local of an instrumented generator
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


def _name(n: str, store: bool = False) -> ast.Name:
    """``n`` as a Name node."""
    return ast.Name(n, ast.Store() if store else ast.Load())


def _count_up() -> list[ast.stmt]:
    """``g = current(); d = depths.get(g, 0) + 1; if d > LIMIT: deep(); depths[g] = d``
    for a generator resuming (on whichever greenlet resumes it)."""
    get = ast.Call(ast.Attribute(_name(DEPTHS), "get", ast.Load()),
                   [_name(G), ast.Constant(0)], [])
    return [
        ast.Assign([_name(G, True)], _call(CURRENT)),
        ast.Assign([_name(D, True)], ast.BinOp(get, ast.Add(), ast.Constant(1))),
        ast.If(ast.Compare(_name(D), [ast.Gt()], [ast.Constant(PROGRAM_DEPTH)]),
               [ast.Expr(_call(DEEP))], []),
        ast.Assign([ast.Subscript(_name(DEPTHS), _name(G), ast.Store())], _name(D)),
    ]


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
    slot = ast.Subscript(_name(DEPTHS), _name(G), ast.Store())
    return _count_up() + [ast.Try(body=body, handlers=[], orelse=[], finalbody=[
        ast.Assign([slot], ast.BinOp(_name(D), ast.Sub(), ast.Constant(1)))])]


def _count_down() -> list[ast.stmt]:
    """``g = current(); depths[g] = depths.get(g, 1) - 1``: a generator suspends or ends."""
    get = ast.Call(ast.Attribute(_name(DEPTHS), "get", ast.Load()),
                   [_name(G), ast.Constant(1)], [])
    return [ast.Assign([_name(G, True)], _call(CURRENT)),
            ast.Assign([ast.Subscript(_name(DEPTHS), _name(G), ast.Store())],
                       ast.BinOp(get, ast.Sub(), ast.Constant(1)))]


_YIELDS = (ast.Yield, ast.YieldFrom)


def _statement_yield(s: ast.stmt) -> bool:
    """True for ``yield x``, ``v = yield x``, ``v += yield x`` as whole statements."""
    value = getattr(s, "value", None)
    return isinstance(s, (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign)) and \
        isinstance(value, _YIELDS) and not any(
            isinstance(n, _YIELDS) for n in ast.walk(value) if n is not value)


def _countable_generator(fn: ast.FunctionDef) -> bool:
    """True if every yield of ``fn``'s own body is a whole statement (so each one can
    count the frame down before it suspends and up when it resumes)."""
    stmts = {id(v) for n in _own_nodes(fn) if isinstance(n, ast.stmt)
             and _statement_yield(n) for v in [n.value]}     # type: ignore[attr-defined]
    return all(id(n) in stmts for n in _own_nodes(fn) if isinstance(n, _YIELDS))


def _own_nodes(fn: ast.FunctionDef) -> list[ast.AST]:
    """The nodes of ``fn``'s body, not of the functions, lambdas or classes in it."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(fn.body)
    while todo:
        n = todo.pop()
        out.append(n)
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                              ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(n))
    return out


class _Suspensions(ast.NodeTransformer):
    """Wraps each statement ``yield`` of one generator body in ``count down; try:
    yield finally: count up`` (the finally runs on resume, throw and close alike)."""

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                             ast.ClassDef)):
            return node
        return super().generic_visit(node)

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.stmt) and _statement_yield(node):
            y = node.value                                  # type: ignore[attr-defined]
            first: list[ast.stmt] = []
            if y.value is not None:       # the operand runs counted, before suspending
                first = [ast.Assign([_name(YIELDED, True)], y.value)]
                y.value = _name(YIELDED)
            wrapped = first + _count_down() + [ast.Try([node], [], [], _count_up())]
            return [ast.copy_location(s, node) for s in wrapped]
        return self.generic_visit(node)


def _counted_generator(body: list[ast.stmt]) -> list[ast.stmt]:
    """A generator body that counts its frame while it runs, not while suspended."""
    inner: list[ast.stmt] = []
    for s in body:
        out = _Suspensions().visit(s)
        inner.extend(out if isinstance(out, list) else [out])
    return _count_up() + [ast.Try(inner, [], [], _count_down())]


def _lambda_template() -> Any:
    """The code of the wrapper that counts a lambda's frame and ticks on its entry:
    ``def <lambda>(*args, **kw): tick; depth guard: return f(*args, **kw)``."""
    call = ast.Call(_name(LAMBDA_FN), [ast.Starred(_name("args"), ast.Load())],
                    [ast.keyword(None, _name("kw"))])
    inner = ast.FunctionDef(
        LAMBDA, ast.arguments([], [], ast.arg("args"), [], [], ast.arg("kw"), []),
        _fuel_check() + _depth_guard([ast.Return(call)]), [], None)
    outer = ast.FunctionDef(
        "outer", ast.arguments([], [ast.arg(LAMBDA_FN)], None, [], [], None, []),
        [inner, ast.Return(_name(LAMBDA))], [], None)
    tree = ast.fix_missing_locations(ast.Module([outer], []))
    code = compile(tree, "<exolab lambda>", "exec")
    outer_code = next(c for c in code.co_consts if hasattr(c, "co_code"))
    return next(c for c in outer_code.co_consts if hasattr(c, "co_code"))


_LAMBDA_CODE: list[Any] = []


def counted_lambda(f: Any) -> Any:
    """``f`` (a lambda just made) inside a wrapper, made in ``f``'s own (verified)
    globals, that ticks and counts a frame for each call."""
    if not _LAMBDA_CODE:
        _LAMBDA_CODE.append(_lambda_template())
    w = types.FunctionType(_LAMBDA_CODE[0], f.__globals__, "<lambda>", None,
                           (types.CellType(f),))
    w.__qualname__ = f.__qualname__
    return w


def _small_constant(op: ast.operator, a: ast.expr, b: ast.expr) -> bool:
    """True if ``a op b`` has int constant operands and a result below MAX_BITS."""
    if not (isinstance(a, ast.Constant) and isinstance(b, ast.Constant)
            and type(a.value) is int and type(b.value) is int):
        return False
    x, y = a.value, b.value
    if isinstance(op, ast.Pow):
        return y <= 1 or x.bit_length() <= 1 or x.bit_length() * y <= MAX_BITS
    return y <= 0 or x.bit_length() + y <= MAX_BITS


def _number(x: ast.expr) -> bool:
    """True if ``x`` is an int, float or complex constant."""
    return isinstance(x, ast.Constant) and type(x.value) in (int, float, complex, bool)


def _const(x: ast.expr) -> bool:
    """True if ``x`` is a constant."""
    return isinstance(x, ast.Constant)


def _long_spec(text: str) -> bool:
    """True if a constant format spec or ``%`` format has a run of 8+ digits or a
    ``*`` width (what :func:`guards._check_spec` looks at)."""
    run = 0
    for c in text:
        run = run + 1 if c.isdigit() else 0
        if run > len(str(MAX_ITEMS)) - 1:
            return True
    return False


def _safe_percent(x: ast.expr) -> bool:
    """True if ``x`` is a constant ``%`` format with no ``*``, no long width and at
    most one conversion (so the result cannot be a doubling of an operand)."""
    v = x.value if isinstance(x, ast.Constant) else None
    if isinstance(v, bytes):
        v = v.decode("latin-1")
    if not isinstance(v, str):
        return False
    text = v
    return "*" not in text and not _long_spec(text) and \
        text.replace("%%", "").count("%") <= 1


def _guard_for(op: ast.operator, a: ast.expr, b: ast.expr) -> str | None:
    """The guard ``a op b`` needs, or None (see the module docstring for the rules)."""
    if isinstance(op, (ast.Pow, ast.LShift)):
        if _small_constant(op, a, b):
            return None
        return POW if isinstance(op, ast.Pow) else SHL
    if isinstance(op, ast.Mult):        # (' ' * 10000 is built at each evaluation)
        return None if _number(a) and _number(b) else MUL
    if isinstance(op, ast.Add):         # (big + 'x' copies big)
        return None if _number(a) or _number(b) or (_const(a) and _const(b)) else ADD
    if isinstance(op, ast.FloorDiv):
        return None if _number(b) or _number(a) else DIV
    if isinstance(op, ast.Mod):
        if isinstance(a, ast.Constant) and type(a.value) in (str, bytes):
            return None if _safe_percent(a) else MOD
        return None if _number(b) or _number(a) else MOD
    return None


_IN_PLACE = {ADD: IADD, MUL: IMUL}


def _pure(x: ast.expr) -> bool:
    """True if evaluating ``x`` twice is the same as once: a name, a constant."""
    return isinstance(x, (ast.Name, ast.Constant))


def _reloadable(t: ast.expr) -> bool:
    """True if an augmented target can be read and then stored again: ``n``,
    ``n.attr``, ``n[k]`` (``n``, ``k`` names or constants)."""
    if isinstance(t, ast.Name):
        return True
    if isinstance(t, ast.Attribute):
        return isinstance(t.value, ast.Name)
    return isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and _pure(t.slice)


def _load(t: ast.expr) -> ast.expr:
    """A Load-context copy of the (reloadable) target ``t``."""
    if isinstance(t, ast.Name):
        return ast.Name(t.id, ast.Load())
    if isinstance(t, ast.Attribute):
        return ast.Attribute(ast.Name(t.value.id, ast.Load()), t.attr, ast.Load())  # type: ignore[attr-defined]
    return ast.Subscript(ast.Name(t.value.id, ast.Load()), t.slice, ast.Load())  # type: ignore[attr-defined]


def _spec_fields(spec: ast.JoinedStr) -> bool:
    """True if a format spec is computed (has a field of its own)."""
    return any(isinstance(v, ast.FormattedValue) for v in spec.values)


def _spec_text(spec: ast.JoinedStr) -> str:
    """The text of a constant format spec."""
    return "".join(str(v.value) for v in spec.values if isinstance(v, ast.Constant))


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
    """Inserts the ticks, the depth count and the guards; keeps every line number.

    ``bound`` is every name the program binds: a call of ``range`` or ``bytes``
    is only rewritten where that name is still the builtin."""

    def __init__(self, bound: frozenset[str]) -> None:
        self.bound = bound

    def _builtin(self, x: ast.expr, *names: str) -> bool:
        """True if ``x`` is one of the builtins ``names``, not rebound by the program."""
        return isinstance(x, ast.Name) and x.id in names and x.id not in self.bound

    def _own_range(self, it: ast.expr) -> None:
        """Give ``for ... in range(...)`` the builtin range (its loop ticks already)."""
        if isinstance(it, ast.Call) and self._builtin(it.func, "range"):
            it.func = ast.copy_location(ast.Name(RANGE, ast.Load()), it.func)

    def _loop(self, node: Any) -> Any:
        self.generic_visit(node)
        if isinstance(node, ast.For):
            self._own_range(node.iter)
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
        guard = _guard_for(node.op, _load(node.target), node.value) \
            if _reloadable(node.target) else None
        if guard is None:
            return node
        call = ast.Call(ast.Name(_IN_PLACE.get(guard, guard), ast.Load()),
                        [_load(node.target), node.value], [])
        return ast.copy_location(ast.Assign([node.target], ast.copy_location(call, node)),
                                 node)

    def _unpacked(self, kind: str, elts: list[ast.expr], at: ast.AST) -> ast.Call:
        """``__exolab_unpack__(kind, (a,), b, ...)`` for the elements ``a, *b, ...``
        (each run of plain elements one tuple), so a display cannot outgrow the cap."""
        parts: list[ast.expr] = []
        plain: list[ast.expr] = []
        for e in elts:
            if isinstance(e, ast.Starred):
                if plain:
                    parts.append(ast.Tuple(plain, ast.Load()))
                    plain = []
                parts.append(e.value)
            else:
                plain.append(e)
        if plain:
            parts.append(ast.Tuple(plain, ast.Load()))
        return ast.copy_location(ast.Call(_name(UNPACK), [ast.Constant(kind), *parts], []),
                                 at)

    def _display(self, node: Any) -> Any:
        self.generic_visit(node)
        if not isinstance(node.ctx, ast.Load) or \
                not any(isinstance(e, ast.Starred) for e in node.elts):
            return node
        return self._unpacked("list" if isinstance(node, ast.List) else "tuple",
                              node.elts, node)

    visit_List = visit_Tuple = _display

    def visit_Assign(self, node: ast.Assign) -> Any:
        self.generic_visit(node)
        if any(isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Slice)
               for t in node.targets):
            node.value = ast.copy_location(ast.Call(_name(SLICED), [node.value], []),
                                           node.value)
        return node

    def visit_Call(self, node: ast.Call) -> Any:
        self.generic_visit(node)
        if any(isinstance(a, ast.Starred) for a in node.args):
            star = self._unpacked("tuple", node.args, node)
            node.args = [ast.copy_location(ast.Starred(star, ast.Load()), star)]
        f = node.func
        if self._builtin(f, "getattr") and len(node.args) in (2, 3) and \
                not node.keywords and isinstance(node.args[1], ast.Constant) and \
                node.args[1].value in SIZED_METHODS:
            return ast.copy_location(ast.Call(ast.Name(ATTR, ast.Load()), node.args, []),
                                     node)
        if self._builtin(f, "bytes", "bytearray"):
            return ast.copy_location(
                ast.Call(ast.Name(CALL, ast.Load()), [f, *node.args], node.keywords), node)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        self.generic_visit(node)
        if not isinstance(node.ctx, ast.Load) or node.attr not in SIZED_METHODS:
            return node
        return ast.copy_location(ast.Call(ast.Name(ATTR, ast.Load()),
                                          [node.value, ast.Constant(node.attr)], []), node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> Any:
        node.value = self.visit(node.value)
        spec = node.format_spec
        if not isinstance(spec, ast.JoinedStr):
            return node
        for v in spec.values:
            if isinstance(v, ast.FormattedValue):
                self.visit_FormattedValue(v)
        if not _spec_fields(spec) and not _long_spec(_spec_text(spec)):
            return node
        call = ast.Call(ast.Name(FMT, ast.Load()),
                        [node.value, ast.Constant(node.conversion), spec], [])
        return ast.copy_location(
            ast.FormattedValue(ast.copy_location(call, node), -1, None), node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> Any:
        node.values = [self.visit(v) if isinstance(v, ast.FormattedValue) else v
                       for v in node.values]
        if sum(isinstance(v, ast.FormattedValue) for v in node.values) < 2:
            return node
        return ast.copy_location(ast.Call(ast.Name(BUILT, ast.Load()), [node], []), node)

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        self.generic_visit(node)
        return ast.copy_location(ast.Call(_name(LAMBDA), [node], []), node)

    def visit_comprehension(self, node: ast.comprehension) -> Any:
        self.generic_visit(node)
        self._own_range(node.iter)
        node.ifs.insert(0, ast.copy_location(_call(TICK), node.iter))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> Any:
        self.generic_visit(node)
        body = node.body
        doc = body[:1] if body and isinstance(body[0], ast.Expr) \
            and isinstance(body[0].value, ast.Constant) \
            and type(body[0].value.value) is str else []
        rest = body[len(doc):] or [ast.Pass()]
        if not _is_generator(node):
            inner = _depth_guard(rest)
        elif _countable_generator(node):
            inner = _counted_generator(rest)
        else:
            inner = rest
        node.body = doc + [ast.copy_location(s, rest[0]) for s in _fuel_check() + inner]
        return node


def instrument(tree: _T) -> _T:
    """Instrument ``tree`` in place (fuel on loops and calls, depth on calls, guards
    on sized operations); return it."""
    from exolab.safe.verify import bound_names
    _Instrument(bound_names(tree)).visit(tree)
    ast.fix_missing_locations(tree)
    return tree
