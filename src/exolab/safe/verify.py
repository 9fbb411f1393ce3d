"""The static verifier: reject untrusted Python that could leave its object graph.

Walks a program's AST once, before anything runs, and raises one
:class:`~exolab.errors.VerifyError` (file, line, column, construct) at the
first construct the :class:`~exolab.safe.policy.Policy` forbids. What is
rejected, and why, is listed in ``docs/security.md``; each rule has a test
in ``tests/safe/test_verify.py``.

Interface::

    verify_tree(tree, policy=PROGRAM, file="<program>", lazy_annotations=False)
    verify_source(source, file="<program>", policy=PROGRAM) -> ast.Module
    strip_main(tree) -> ast.Module      drop `if __name__ == "__main__":` blocks
"""
from __future__ import annotations

import ast
import builtins
import string
from typing import Any, Iterator, NoReturn

from exolab.errors import VerifyError
from exolab.safe.guards import SIZED_METHODS
from exolab.safe.policy import (BANNED_ATTRIBUTES, CALL_CHECKED, IMPORTS, NAME_ATTRIBUTES,
                                PROGRAM, SELF_MATCHING, Policy)

__all__ = ["verify_tree", "verify_source", "strip_main"]

_BUILTIN_NAMES = frozenset(dir(builtins))
_ANNOTATIONS = 0x1000000        # CO_FUTURE_ANNOTATIONS / __future__.annotations flag


def verify_source(source: str, file: str = "<program>", policy: Policy = PROGRAM) -> ast.Module:
    """Parse ``source`` and verify it under ``policy``; return the tree (VerifyError if not)."""
    try:
        tree = ast.parse(source, file)
    except SyntaxError as ex:
        raise VerifyError("a syntax error", file=file, line=ex.lineno or 0,
                          col=ex.offset or 0, policy=policy.name,
                          why=ex.msg or "") from None
    except (ValueError, RecursionError, MemoryError) as ex:    # NUL bytes, nesting
        raise VerifyError("unparsable source", file=file, policy=policy.name,
                          why=type(ex).__name__) from None
    tree = strip_main(tree)
    try:
        verify_tree(tree, policy, file, _future_annotations(tree))
    except RecursionError:
        raise VerifyError("code nested too deeply", file=file, policy=policy.name) from None
    return tree


def strip_main(tree: ast.Module) -> ast.Module:
    """``tree`` without its module-level ``if __name__ == "__main__":`` blocks (never run
    when the file is loaded as a program)."""
    tree.body = [s for s in tree.body if not _is_main_guard(s)]
    return tree


def _is_main_guard(s: ast.stmt) -> bool:
    """True for ``if __name__ == "__main__":`` (either operand order)."""
    if not (isinstance(s, ast.If) and isinstance(s.test, ast.Compare)
            and len(s.test.ops) == 1 and isinstance(s.test.ops[0], ast.Eq)):
        return False
    sides = [s.test.left, s.test.comparators[0]]
    names = [x for x in sides if isinstance(x, ast.Name) and x.id == "__name__"]
    consts = [x for x in sides if isinstance(x, ast.Constant) and x.value == "__main__"]
    return len(names) == 1 and len(consts) == 1


def _future_annotations(tree: ast.Module) -> bool:
    """True if the module starts with ``from __future__ import annotations``."""
    return any(isinstance(s, ast.ImportFrom) and s.module == "__future__"
               and any(a.name == "annotations" for a in s.names) for s in tree.body)


def verify_tree(tree: ast.AST, policy: Policy = PROGRAM, file: str = "<program>",
                lazy_annotations: bool = False) -> None:
    """Raise VerifyError at the first construct of ``tree`` that ``policy`` forbids."""
    checker = _Checker(policy, file, lazy_annotations)
    checker.bound = bound_names(tree)
    for node, name in _bindings(tree):
        if name in CALL_CHECKED:
            checker.fail(node, f"rebinding {name}",
                         "the verifier checks its calls by name")
    checker.visit(tree)
    if not policy.allow_recursion:
        _check_recursion(tree, checker)


def bound_names(tree: ast.AST) -> frozenset[str]:
    """Every name the code binds anywhere (assignments, defs, imports, parameters,
    ``except ... as``, pattern captures)."""
    return frozenset(name for _node, name in _bindings(tree))


def _bindings(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Each (node, name) where the code binds a name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            yield node, node.id
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node, node.name
        elif isinstance(node, ast.arg):
            yield node, node.arg
        elif isinstance(node, ast.alias):
            yield node, node.asname or node.name.split(".")[0]
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)):
            if node.name is not None:
                yield node, node.name
        elif isinstance(node, ast.MatchMapping) and node.rest is not None:
            yield node, node.rest


def _check_recursion(tree: ast.AST, checker: _Checker) -> None:
    """Reject a cycle in the static call graph of the code's named functions."""
    defs = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    calls = {name: {c.func.id for c in ast.walk(d) if isinstance(c, ast.Call)
                    and isinstance(c.func, ast.Name) and c.func.id in defs}
             for name, d in defs.items()}
    for start, node in defs.items():
        seen, todo = set(), list(calls[start])
        while todo:
            f = todo.pop()
            if f == start:
                checker.fail(node, f"recursion through {start}()",
                             "the policy requires termination")
            if f not in seen:
                seen.add(f)
                todo.extend(calls[f])


def _plain_attribute(x: ast.expr) -> bool:
    """True if ``x`` is a string literal naming an attribute ``x.name`` may use."""
    if not (isinstance(x, ast.Constant) and type(x.value) is str and x.value.isidentifier()):
        return False
    return _attribute_refusal(x.value) is None and x.value not in ("format", "format_map")


def _attribute_refusal(attr: str) -> str | None:
    """Why ``x.attr`` reaches what a program may not (None: it may)."""
    if attr.startswith("_") and attr not in NAME_ATTRIBUTES:
        return "attributes beginning with '_' are private"
    if attr in BANNED_ATTRIBUTES:
        return "it reaches frames, code or classes"
    return None


def _format_fields(fmt: str) -> Iterator[str]:
    """The field names of format string ``fmt`` (nested specs included)."""
    for _, field, spec, _ in string.Formatter().parse(fmt):
        if field is not None:
            yield field
        if spec:
            yield from _format_fields(spec)


class _Checker(ast.NodeVisitor):
    """One pass over a tree; ``fail`` raises the VerifyError for a node."""

    def __init__(self, policy: Policy, file: str, lazy: bool) -> None:
        self.policy, self.file, self.lazy = policy, file, lazy
        self.bound: frozenset[str] = frozenset()
        self.steps = 1                  # product of the enclosing loops' bounds
        self.total = 0                  # loop iterations counted so far
        self.in_class = False

    def fail(self, node: Any, construct: str, why: str = "") -> NoReturn:
        """Raise VerifyError for ``construct`` at ``node``'s position."""
        raise VerifyError(construct, file=self.file, line=getattr(node, "lineno", 0),
                          col=getattr(node, "col_offset", 0), policy=self.policy.name,
                          why=why)

    # -- names and attributes -------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name in ("__all__", "__slots__") and isinstance(node.ctx, ast.Store):
            return                      # export list, slot layout: metadata, not a power
        if name.startswith("__") and not (self.in_class and isinstance(node.ctx, ast.Store)
                                          and name in self.policy.dunder_defs):
            # (a class body may bind an allowlisted dunder: ``__hash__ = None``)
            self.fail(node, f"name {name}", "names beginning with '__' reach the host")
        if name in _BUILTIN_NAMES and name not in self.policy.builtins \
                and name not in self.bound:
            self.fail(node, f"builtin {name}", "it reaches outside the object graph")
        if name in CALL_CHECKED:        # (a call by name is visit_Call's; never bound)
            self.fail(node, f"builtin {name} named outside a call",
                      "the verifier checks its calls by their arguments")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        why = _attribute_refusal(attr)
        if why is not None:
            self.fail(node, f"attribute .{attr}", why)
        if attr in ("format", "format_map"):
            self._check_format(node)
        self.generic_visit(node)

    def _check_format(self, node: ast.Attribute) -> None:
        """``.format`` only on a literal whose fields reach no attribute or index."""
        v = node.value
        if not (isinstance(v, ast.Constant) and type(v.value) is str):
            self.fail(node, f".{node.attr} on a non-literal string",
                      "the format string could reach attributes")
        try:
            fields = list(_format_fields(v.value))
        except ValueError:
            self.fail(node, "a malformed format string")
        for f in fields:
            if "." in f or "[" in f:
                self.fail(node, f"format field {{{f}}}", "it reaches attributes or items")

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if not (isinstance(f, ast.Name) and f.id in CALL_CHECKED):
            self.generic_visit(node)
            return
        if f.id not in self.policy.builtins:
            self.visit_Name(f)          # the policy's "builtin ..." refusal
        n = len(node.args) + len(node.keywords)
        if f.id == "type" and n != 1:
            self.fail(node, "type() with 3 arguments", "it builds a class at run time")
        if f.id in ("getattr", "hasattr") and not (
                n == len(node.args) and n in (2, 2 + (f.id == "getattr"))
                and _plain_attribute(node.args[1])):
            self.fail(node, f"{f.id}() without a literal attribute name",
                      "only what `x.name` could write")
        if f.id == "iter" and n != 1:
            self.fail(node, "iter() with 2 arguments", "an infinite C-level iteration")
        for x in [*node.args, *node.keywords]:
            self.visit(x)

    # -- patterns (``match``) -------------------------------------------------

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        cls = node.cls
        if node.patterns and not (isinstance(cls, ast.Name) and cls.id in SELF_MATCHING
                                  and cls.id not in self.bound and len(node.patterns) == 1):
            self.fail(node, "a class pattern with positional sub-patterns",
                      "they read the attributes the class's __match_args__ names")
        for attr in node.kwd_attrs:     # ``case C(attr=p)`` reads subject.attr
            why = _attribute_refusal(attr)
            if why is None and (attr in ("format", "format_map") or attr in SIZED_METHODS):
                why = "a method the verifier and the guards check only as `x.name`"
            if why is not None:
                self.fail(node, f"pattern attribute {attr}=", why)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs | ast.MatchStar) -> None:
        if node.name is not None and node.name.startswith("__"):
            self.fail(node, f"pattern capture {node.name}",
                      "names beginning with '__' reach the host")
        self.generic_visit(node)

    visit_MatchStar = visit_MatchAs

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest is not None and node.rest.startswith("__"):
            self.fail(node, f"pattern capture **{node.rest}",
                      "names beginning with '__' reach the host")
        self.generic_visit(node)

    # -- imports --------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        self.fail(node, f"import {node.names[0].name}", "programs bind no module objects")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        allowed = IMPORTS.get(node.module or "") if node.level == 0 else None
        if allowed is None:
            self.fail(node, f"import from {'.' * node.level}{node.module or ''}",
                      "the module is not on the allowlist")
        for a in node.names:
            if a.name == "*" or a.name.startswith("_") or \
                    (a.name not in allowed and "*" not in allowed):
                self.fail(node, f"from {node.module} import {a.name}",
                          "the name is not on the allowlist")
            if a.asname is not None and a.asname.startswith("__"):
                self.fail(node, f"import as {a.asname}")

    # -- definitions ----------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        name = node.name
        if name.startswith("__") and not (self.in_class and name in self.policy.dunder_defs):
            self.fail(node, f"def {name}", "only allowlisted dunder methods, in a class")
        self._visit_function(node)

    def _visit_function(self, node: ast.FunctionDef | ast.Lambda) -> None:
        """Check a function's decorators, arguments and body (not in a class any more)."""
        outer, self.in_class = self.in_class, False
        if isinstance(node, ast.FunctionDef):
            for d in node.decorator_list:
                self.visit(d)
            if not self.lazy and node.returns is not None:
                self.visit(node.returns)
        self.visit(node.args)
        for s in (node.body if isinstance(node.body, list) else [node.body]):
            self.visit(s)
        self.in_class = outer

    def visit_arg(self, node: ast.arg) -> None:
        if node.arg.startswith("__"):
            self.fail(node, f"parameter {node.arg}")
        if not self.lazy and node.annotation is not None:
            self.visit(node.annotation)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        if not self.lazy:
            self.visit(node.annotation)
        if node.value is not None:
            self.visit(node.value)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        if not self.policy.allow_lambda:
            self.fail(node, "lambda", "the policy requires termination")
        self._visit_function(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if node.name.startswith("__"):
            self.fail(node, f"class {node.name}")
        for k in node.keywords:
            self.fail(k, f"class keyword {k.arg}", "metaclasses run host code at definition")
        for x in node.bases + node.decorator_list:
            self.visit(x)
        outer, self.in_class = self.in_class, True
        for s in node.body:
            self.visit(s)
        self.in_class = outer

    def _async(self, node: ast.AST) -> None:
        self.fail(node, "async code", "programs block through the ABI, not coroutines")

    visit_AsyncFunctionDef = visit_AsyncFor = visit_AsyncWith = visit_Await = _async

    # -- statements -----------------------------------------------------------

    def visit_Global(self, node: ast.Global | ast.Nonlocal) -> None:
        if not self.policy.allow_global:
            self.fail(node, "global/nonlocal state", "the policy keeps no state between calls")

    visit_Nonlocal = visit_Global

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is None:
            self.fail(node, "bare except", "it would catch the simulator's own unwinding")
        if node.name is not None and node.name.startswith("__"):
            self.fail(node, f"except as {node.name}")
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        if not self.policy.allow_while:
            self.fail(node, "while loop", "the policy requires termination")
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._loop(node, node.iter, [node.target], node.body + node.orelse)

    def _loop(self, node: Any, it: ast.expr, heads: list[Any], body: list[Any]) -> None:
        """Visit a loop; under a bounded policy count its steps against the bound."""
        if not self.policy.bounded_loops:
            for x in [it] + heads + body:
                self.visit(x)
            return
        n = self._bound_of(it)
        outer = self.steps
        self.steps = outer * n
        self.total += self.steps
        if self.total > self.policy.max_steps:
            self.fail(node, f"loops of more than {self.policy.max_steps} steps",
                      "the policy bounds the steps")
        for x in [it] + heads + body:
            self.visit(x)
        self.steps = outer

    def _bound_of(self, it: ast.expr) -> int:
        """The number of iterations of a bounded loop's iterable (VerifyError if unbounded)."""
        if isinstance(it, (ast.Tuple, ast.List, ast.Set)):
            return len(it.elts)
        if isinstance(it, ast.Constant) and isinstance(it.value, (str, bytes)):
            return len(it.value)
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) \
                and it.func.id == "range" and not it.keywords and 1 <= len(it.args) <= 3 \
                and all(isinstance(a, ast.Constant) and type(a.value) is int
                        for a in it.args):
            return len(range(*[a.value for a in it.args
                               if isinstance(a, ast.Constant) and isinstance(a.value, int)]))
        self.fail(it, "a loop over a non-constant iterable",
                  "the policy allows range(constants) and literals only")

    def _comprehension(self, node: Any) -> None:
        outer = self.steps
        for g in node.generators:
            if g.is_async:
                self._async(node)
            if self.policy.bounded_loops:
                self.steps *= self._bound_of(g.iter)
                self.total += self.steps
                if self.total > self.policy.max_steps:
                    self.fail(node, f"loops of more than {self.policy.max_steps} steps")
        self.generic_visit(node)
        self.steps = outer

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_Module(self, node: ast.Module) -> None:
        if self.policy.deterministic:
            for s in node.body:
                if isinstance(s, (ast.Assign, ast.AnnAssign)) and s.value is not None \
                        and not isinstance(s.value, (ast.Constant, ast.Tuple, ast.Name,
                                                     ast.Attribute, ast.BinOp,
                                                     ast.UnaryOp)):
                    self.fail(s, "module-level state", "the policy keeps no state")
        self.generic_visit(node)
