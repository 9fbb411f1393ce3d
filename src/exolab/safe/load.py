"""Loading untrusted programs: verify, instrument, execute in a restricted namespace.

Two ways in. :func:`load_program_file` reads a program file, verifies the
whole module (minus its ``if __name__ == "__main__":`` block, which a load
never runs), instruments it and executes it in fresh globals whose builtins
are the policy's; any exception at import time (``SystemExit`` included)
becomes one :class:`~exolab.errors.ConfigError` naming the file and line.
:func:`load_function` takes a function object (a test's program, a
benchmark's): it verifies that function's source and, recursively, what the
function references through its globals and closure — same-module functions
and classes (loaded the same way), immutable constants, allowlisted objects —
and rejects anything else, naming it. Either way the result is a new
function object whose globals carry the verified marker; the original is
never run.

Interface::

    load_program_file(path, func="main", policy=PROGRAM) -> program
    load_program_source(source, file="<program>", func="main", policy=PROGRAM) -> program
    load_function(fn, policy=PROGRAM) -> program
    is_verified(fn) -> bool
"""
from __future__ import annotations

import ast
import builtins
import dis
import importlib
import inspect
import os
import sys
import textwrap
import types
from typing import Any

from exolab.errors import ConfigError, VerifyError, type_name
from exolab.hostint import host_interrupted
from exolab.safe.guards import IMPORTED
from exolab.safe.instrument import instrument
from exolab.safe.policy import IMPORTS, PROGRAM, Policy
from exolab.safe.runtime import MARKER, namespace
from exolab.safe.verify import _ANNOTATIONS, verify_source, verify_tree

__all__ = ["load_program_file", "load_program_source", "load_function", "is_verified"]

_FILES: dict[tuple[str, float, int, str], Any] = {}     # compiled program files
_CODE: dict[tuple[Any, str], Any] = {}                   # compiled functions/classes
_CONST = (int, float, complex, str, bytes, bool, type(None), range, type(Ellipsis))
# mutable containers of plain values a caller (a test) may hand a program by
# reference: they hold no code and lead nowhere but to their contents
_CONTAINERS = (list, dict, set, bytearray)
_EXCEPTIONS = frozenset(v for v in vars(builtins).values()
                        if isinstance(v, type) and issubclass(v, Exception))


def is_verified(fn: Any) -> bool:
    """True if ``fn`` is a function loaded by this module (its globals carry the marker)."""
    g = getattr(fn, "__globals__", None)
    return type(g) is dict and g.get(MARKER) is True


def load_program_file(path: str, func: str = "main", policy: Policy = PROGRAM) -> Any:
    """Verify and load the program file at ``path``; return its function ``func``."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_mtime, st.st_size, policy.name)
    code = _FILES.get(key)
    if code is None:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        code = _FILES[key] = _compile_module(source, path, policy)
    return _run_module(code, path, func, policy)


def load_program_source(source: str, file: str = "<program>", func: str = "main",
                        policy: Policy = PROGRAM) -> Any:
    """Verify and load a program given as source text; return its function ``func``."""
    return _run_module(_compile_module(source, file, policy), file, func, policy)


def _compile_module(source: str, file: str, policy: Policy) -> Any:
    """Verify, instrument and compile a program module's source."""
    tree = instrument(verify_source(source, file, policy))
    return compile(tree, file, "exec", 0, True)     # (it has its own __future__ imports)


def _run_module(code: Any, path: str, func: str, policy: Policy) -> Any:
    """Execute a compiled program module in fresh globals; return its ``func``."""
    ns = namespace(f"exolab_program_{os.path.splitext(os.path.basename(path))[0]}", policy)
    _exec_module(code, ns, path)
    program = ns.get(func)
    if not callable(program) or func.startswith("_"):
        raise ConfigError("program has no such function", program=path, function=func)
    return program


def _exec_module(code: Any, ns: dict[str, Any], path: str) -> None:
    """Run a program module's top level; any exception becomes a ConfigError naming
    the file and line."""
    try:
        exec(code, ns)
    except BaseException as ex:     # SystemExit included: the program must not exit us
        if type(ex) is KeyboardInterrupt and host_interrupted():
            raise
        line, tb = 0, ex.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == path:
                line = tb.tb_lineno
            tb = tb.tb_next
        raise ConfigError("cannot load program", program=path, line=line,
                          reason=f"{type_name(ex)}: {_message(ex)}") from None


def _message(ex: BaseException) -> str:
    """``str(ex)`` that never raises."""
    from exolab.errors import safe_str
    return safe_str(ex)


def load_function(fn: Any, policy: Policy = PROGRAM) -> Any:
    """A verified copy of function ``fn`` and of everything it references (VerifyError
    naming the first thing that cannot be verified)."""
    if is_verified(fn):
        return fn
    return _Loader(policy).value(fn, getattr(fn, "__name__", "program"), "<program>", 0)


_ALLOWED: dict[int, Any] = {}


def _allowed_objects() -> dict[int, Any]:
    """The objects a verified program may hold because the allowlist imports them."""
    if not _ALLOWED:
        for mod, names in IMPORTS.items():
            if mod == "__future__":
                continue
            m = importlib.import_module(mod)
            pub = [n for n in dir(m) if not n.startswith("_")] if "*" in names else names
            for n in pub:
                if hasattr(m, n):
                    v = getattr(m, n)
                    _ALLOWED[id(v)] = v
    return _ALLOWED


_GUARDED: dict[int, Any] = {}


def _guarded_imports() -> dict[int, Any]:
    """id of an allowlisted object -> the guard verified code gets in its place."""
    if not _GUARDED:
        for (mod, name), guard in IMPORTED.items():
            real = getattr(importlib.import_module(mod), name)
            _GUARDED[id(real)] = guard
    return _GUARDED


_PENDING = object()     # the value of something still being loaded (a cycle)
_TREES: dict[str, ast.Module] = {}


def _file_tree(file: str) -> ast.Module:
    """The parsed AST of source file ``file`` (cached; linecache finds the text)."""
    tree = _TREES.get(file)
    if tree is None:
        import linecache
        text = "".join(linecache.getlines(file))
        if not text:
            raise OSError(file)
        tree = _TREES[file] = ast.parse(text, file)
    return tree


def _class_cells(cls: type) -> dict[str, Any]:
    """The free variables the methods of ``cls`` close over (a class defined inside a
    function), by name; ``__class__`` (super()'s cell) is the class's own."""
    cells: dict[str, Any] = {}
    for member in vars(cls).values():
        fn = getattr(member, "__func__", member)        # staticmethod, classmethod
        if isinstance(member, property):
            fns = [member.fget, member.fset, member.fdel]
        else:
            fns = [fn]
        for f in fns:
            if type(f) is not types.FunctionType or not f.__closure__:
                continue
            for n, c in zip(f.__code__.co_freevars, f.__closure__):
                if n == "__class__":
                    continue
                try:
                    cells[n] = c.cell_contents
                except ValueError:      # an empty cell: a NameError when it is used
                    cells[n] = None
    return cells


class _Loader:
    """One load: a fresh namespace per source module, and what was loaded into it.

    ``done`` maps an original object's id to its verified copy (``_PENDING``
    while it loads); ``pending`` holds, per id, the setters to call with the
    copy once it exists (a cycle: mutual recursion, a class naming itself).
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.spaces: dict[str, dict[str, Any]] = {}
        self.done: dict[int, Any] = {}
        self.pending: dict[int, list[Any]] = {}
        self.allowed = _allowed_objects()

    def value(self, v: Any, name: str, file: str, line: int) -> Any:
        """``v`` as verified code may hold it (``_PENDING`` in a cycle), or VerifyError
        naming ``name``."""
        t = type(v)
        if t in _CONST:
            return v
        if id(v) in self.allowed:
            return _guarded_imports().get(id(v), v)
        if t in (tuple, frozenset):
            return t(self._settled(x, name, file, line) for x in v)
        if id(v) in self.done:
            return self.done[id(v)]
        if t is types.FunctionType:
            return v if is_verified(v) else self._function(v)
        if isinstance(v, type):
            return self._class(v)
        if t in _CONTAINERS:
            return self._container(v, name, file, line)
        if t is types.ModuleType and "*" in IMPORTS.get(v.__name__, ()):
            return types.SimpleNamespace(**{
                n: IMPORTED.get((v.__name__, n), x) for n, x in vars(v).items()
                if not n.startswith("_")})
        if t in _EXCEPTIONS and all(type(a) in _CONST for a in v.args):
            return v
        raise VerifyError(f"reference to {name} (a {type_name(v)})", file=file,
                          line=line, policy=self.policy.name,
                          why="only constants, allowlisted and verified objects")

    def _settled(self, v: Any, name: str, file: str, line: int) -> Any:
        """:meth:`value`, where a cycle is an error (inside a tuple it cannot be patched)."""
        out = self.value(v, name, file, line)
        if out is _PENDING:
            raise VerifyError(f"a cycle through {name} inside a tuple", file=file,
                              line=line, policy=self.policy.name)
        return out

    def _later(self, v: Any, setter: Any) -> None:
        """Call ``setter(copy)`` once the copy of ``v`` (now loading) exists."""
        self.pending.setdefault(id(v), []).append(setter)

    def _finish(self, orig: Any, new: Any) -> Any:
        """Record ``new`` as the verified copy of ``orig``; run the setters waiting on it."""
        self.done[id(orig)] = new
        for setter in self.pending.pop(id(orig), ()):
            setter(new)
        return new

    def _container(self, v: Any, name: str, file: str, line: int) -> Any:
        """Container ``v`` itself when verified code may hold everything in it as it
        is (shared with the caller, by the caller's choice); else a copy of the same
        type holding the verified copies (functions a test keeps in a dict)."""
        if type(v) is bytearray:
            return v
        items = list(v.items()) if type(v) is dict else list(v)
        flat = [y for x in items for y in (x if type(v) is dict else (x,))]
        got = [self.value(y, name, file, line) for y in flat]
        if any(g is _PENDING for g in got):
            raise VerifyError(f"a cycle through {name} inside a {type_name(v)}",
                              file=file, line=line, policy=self.policy.name)
        if all(g is y for g, y in zip(got, flat)):
            return v
        if type(v) is dict:
            return dict(zip(got[0::2], got[1::2]))
        return type(v)(got)

    def _space(self, module: str) -> dict[str, Any]:
        """The fresh namespace standing for source module ``module`` in this load."""
        ns = self.spaces.get(module)
        if ns is None:
            ns = self.spaces[module] = namespace(module, self.policy)
        return ns

    def _source(self, obj: Any) -> tuple[ast.Module, str, int]:
        """``obj``'s AST (positioned at its file's lines), its file and first line."""
        if getattr(obj, "__name__", None) == "<lambda>":
            return self._lambda_source(obj)
        try:
            lines, first = inspect.getsourcelines(obj)
            file = inspect.getsourcefile(obj) or "<program>"
        except (OSError, TypeError):
            raise VerifyError(f"{type_name(obj)} {getattr(obj, '__qualname__', '?')} "
                              "without source", policy=self.policy.name,
                              why="only code with source can be verified") from None
        tree = ast.parse(textwrap.dedent("".join(lines)), file)
        ast.increment_lineno(tree, first - 1)
        node = tree.body[0] if tree.body else None
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            raise VerifyError(f"{getattr(obj, '__qualname__', '?')} (not a def or class "
                              "statement)", file=file, line=first, policy=self.policy.name)
        return tree, file, first

    def _lambda_source(self, fn: Any) -> tuple[ast.Module, str, int]:
        """A lambda's AST as ``def exolab_lambda(args): return body``: the one
        lambda of its file that starts on its first line with its parameters."""
        code = fn.__code__
        file = code.co_filename
        try:
            tree = _file_tree(file)
        except (OSError, SyntaxError, ValueError):
            tree = None
        found = [] if tree is None else [
            n for n in ast.walk(tree) if isinstance(n, ast.Lambda)
            and n.lineno == code.co_firstlineno
            and [a.arg for a in n.args.posonlyargs + n.args.args + n.args.kwonlyargs]
            == list(code.co_varnames[:code.co_argcount + code.co_kwonlyargcount])]
        if len(found) != 1:
            raise VerifyError(f"lambda at {file}:{code.co_firstlineno} (its source is "
                              f"{'ambiguous' if found else 'not found'})",
                              policy=self.policy.name,
                              why="only code with source can be verified")
        lam = found[0]
        node = ast.FunctionDef(name="exolab_lambda", args=lam.args,
                               body=[ast.Return(lam.body)], decorator_list=[],
                               returns=None, type_comment=None)
        ast.copy_location(node, lam)
        ast.copy_location(node.body[0], lam.body)
        return ast.Module(body=[node], type_ignores=[]), file, lam.lineno

    def _function(self, fn: types.FunctionType) -> Any:
        """Load function ``fn``: verify, vet its globals and cells, re-create it."""
        code = fn.__code__
        lazy = bool(code.co_flags & _ANNOTATIONS)
        key = (code, self.policy.name)
        entry = _CODE.get(key)
        if entry is None:
            tree, file, line = self._source(fn)
            verify_tree(tree, self.policy, file, lazy)
            used = _global_names(code) | _outer_names(tree.body[0], lazy)
            entry = _CODE[key] = (self._compile(tree, code.co_freevars, file, lazy),
                                  sorted(used), file, line)
        compiled, names, file, line = entry
        ns = self._space(fn.__module__)
        self.done[id(fn)] = _PENDING
        self._fill(ns, fn.__globals__, names, file, line)
        cells: list[Any] = []
        for n, c in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                v = c.cell_contents
            except ValueError:          # an empty cell: a NameError when it is used
                v = None
            cells.append(None if v is fn else self.value(v, n, file, line))
        local: dict[str, Any] = {}
        exec(compiled, ns, local)
        new = local["__exolab_outer__"](*[None if c is _PENDING else c for c in cells])
        for i, (got, orig) in enumerate(zip(cells, fn.__closure__ or ())):
            if got is _PENDING:
                cell = new.__closure__[i]
                self._later(orig.cell_contents,
                            lambda copy, cell=cell: setattr(cell, "cell_contents", copy))
        new.__name__, new.__qualname__ = fn.__name__, fn.__qualname__
        for k, v in vars(fn).items():
            if not k.startswith("_"):
                got = self.value(v, f"{fn.__name__}.{k}", file, line)
                if got is _PENDING:
                    self._later(v, lambda copy, k=k: setattr(new, k, copy))
                else:
                    setattr(new, k, got)
        return self._finish(fn, new)

    def _class(self, cls: type) -> Any:
        """Load class ``cls`` from its source into its module's namespace."""
        key = (cls, self.policy.name)
        entry = _CODE.get(key)
        if entry is None:
            tree, file, line = self._source(cls)
            mod = sys.modules.get(cls.__module__)
            future = getattr(mod, "annotations", None)
            lazy = getattr(future, "compiler_flag", 0) == _ANNOTATIONS
            verify_tree(tree, self.policy, file, lazy)
            used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            free = tuple(sorted(_class_cells(cls)))
            entry = _CODE[key] = (self._compile(tree, free, file, lazy), sorted(used),
                                  file, line)
        compiled, names, file, line = entry
        ns = self._space(cls.__module__)
        self.done[id(cls)] = _PENDING
        mod = sys.modules.get(cls.__module__)
        g = vars(mod) if mod is not None else {}
        self._fill(ns, g, [n for n in names if n != cls.__name__], file, line)
        cells = _class_cells(cls)
        args = []
        for n in sorted(cells):         # a class inside a function: its methods' cells
            got = self.value(cells[n], n, file, line)
            if got is _PENDING:
                raise VerifyError(f"a cycle through {n} in the cells of class "
                                  f"{cls.__qualname__}", file=file, line=line,
                                  policy=self.policy.name)
            args.append(got)
        local: dict[str, Any] = {}
        exec(compiled, ns, local)
        new = local["__exolab_outer__"](*args)
        ns[cls.__name__] = new          # a method naming its own class finds the copy
        return self._finish(cls, new)

    def _fill(self, ns: dict[str, Any], g: dict[str, Any], names: list[str],
              file: str, line: int) -> None:
        """Put the vetted value of every global ``names`` refers to into ``ns``."""
        for n in names:
            if n in ns or n not in g or not n.isidentifier():
                continue    # a builtin, a NameError at run time, or pytest's @py_builtins
            v = self.value(g[n], n, file, line)
            if v is _PENDING:
                self._later(g[n], lambda copy, n=n: ns.__setitem__(n, copy))
            else:
                ns[n] = v

    @staticmethod
    def _compile(tree: Any, freevars: tuple[str, ...], file: str, lazy: bool) -> Any:
        """Instrument a def/class tree and wrap it as ``__exolab_outer__(*freevars)``."""
        node = instrument(tree).body[0]       # type: ignore[attr-defined]
        outer = ast.FunctionDef(
            name="__exolab_outer__",
            args=ast.arguments(posonlyargs=[], args=[ast.arg(v) for v in freevars],
                               kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=[node, ast.Return(ast.Name(node.name, ast.Load()))],
            decorator_list=[], returns=None, type_comment=None)
        mod = ast.Module(body=[outer], type_ignores=[])
        ast.copy_location(outer, node)
        ast.fix_missing_locations(mod)
        return compile(mod, file, "exec", flags=_ANNOTATIONS if lazy else 0,
                       dont_inherit=True)


def _outer_names(node: Any, lazy: bool) -> set[str]:
    """Names a def evaluates in its enclosing scope: decorators, defaults, annotations."""
    exprs = node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d]
    if not lazy:
        args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
        exprs += [a.annotation for a in args if a.annotation] + \
            ([node.returns] if node.returns else [])
    return {n.id for e in exprs for n in ast.walk(e) if isinstance(n, ast.Name)}


def _global_names(code: Any) -> set[str]:
    """The global names ``code`` and its nested code objects load."""
    out: set[str] = set()
    todo = [code]
    while todo:
        c = todo.pop()
        for ins in dis.get_instructions(c):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                out.add(ins.argval)
        todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return out

