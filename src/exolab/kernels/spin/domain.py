"""SPIN's logical protection domains: which names an extension can reach.

An *object file* is an extension's source text: a Python module verified by
:mod:`exolab.safe` (the Modula-3 compiler's role) and loaded into a fresh
namespace. It declares, as module constants::

    INTERFACE = "Name"                  the interface it exports
    EXPORTS = {"Proc": 1, ...}          procedure -> arity (the interface's type)
    IMPORTS = {"Other.Proc": 2, ...}    what it needs: symbol -> the arity it expects

An import ``Other.Proc`` is reached in the code as ``Other.Proc(...)``: the
name ``Other`` is bound in the extension's namespace only when a
:func:`resolve` links it, to an :class:`Interface` whose attributes are
*gates*: each charges one ``spin_proc_call`` and calls the exporter's
procedure (a fault there unloads the exporter). An unresolved name is not
bound at all, so the code cannot reach an interface outside its domain, and
verified code cannot name anything else (no module, no kernel object).
A kernel procedure that acts for its caller (``Event.Install``,
``Console.Print``, ``Translation.Create``, ...) is exported with the caller's
:class:`Owner` as a hidden first argument: the gate passes the importing
extension's, ``domain_call`` the calling process's, so no callee ever infers
who called it from the code it is handed.

Operations (the seed's Domain interface)::

    create(obj, charge, proc_call) -> Domain        Create(object file)
    from_module(interface, procs, owner, callers=()) -> Domain   CreateFromModule()
                                    (an untrusted owner's procs: plain functions)
    resolve(source, target)         link target's imports against source's exports:
                                    VerifyError-free SyscallError naming the symbol
                                    (ENOENT missing, EINVAL wrong interface)
    combine(d1, d2) -> Domain       an aggregate exporting both
    unresolved(domain) -> [symbol]  lookup(domain, symbol) -> procedure
    Extension, Domain, Interface
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from types import FunctionType
from typing import Any, Callable

from exolab.errors import SyscallError, VerifyError
from exolab.kernels.spin.dispatch import Owner, invoke
from exolab.kernels.spin.limits import MAX_SOURCE
from exolab.safe.sealed import Sealed

__all__ = ["Extension", "Domain", "Interface", "create", "from_module", "resolve",
           "combine", "unresolved", "lookup", "Signature"]

Signature = dict[str, int]          # procedure -> arity


class Interface(metaclass=Sealed):
    """What an extension sees of an imported interface: one gate per procedure."""

    def __repr__(self) -> str:
        return "<interface>"


@dataclass(slots=True, eq=False)
class Extension:
    """A loaded object file (or a module that named itself); guarded by the kernel."""

    owner: Owner                            # loaded flag, fault record
    interface: str                          # the interface it exports
    exports: dict[str, Callable[..., Any]]  # procedure -> function
    arity: Signature                        # procedure -> arity (its type)
    imports: Signature                      # "Iface.Proc" -> arity expected
    namespace: dict[str, Any] | None        # where resolved interfaces are bound
    bound: dict[str, Callable[..., Any]] = field(default_factory=dict)  # symbol -> gate
    callers: frozenset[str] = frozenset()   # procedures given the caller's Owner first


@dataclass(slots=True, eq=False)
class Domain:
    """A set of extensions; its exports are theirs (an aggregate's: its parts')."""

    extensions: list[Extension]

    def exports(self) -> dict[str, tuple[Extension, int]]:
        """symbol ("Iface.Proc") -> (exporting extension, arity), loaded ones only."""
        out: dict[str, tuple[Extension, int]] = {}
        for ext in self.extensions:
            if ext.owner.loaded:
                for proc, n in ext.arity.items():
                    out.setdefault(f"{ext.interface}.{proc}", (ext, n))
        return out


def _constant(ns: dict[str, Any], name: str, default: Any) -> Any:
    """A module constant of the extension, exactly typed (EINVAL otherwise)."""
    value = ns.get(name, default)
    if name == "INTERFACE":
        if type(value) is not str or not value.isidentifier():
            raise SyscallError("EINVAL", "INTERFACE must be an identifier string")
        return value
    if type(value) is not dict or not all(
            type(k) is str and type(v) is int and 0 <= v <= 16 for k, v in value.items()):
        raise SyscallError("EINVAL", f"{name} must map names to arities", field=name)
    return dict(value)


def create(obj: Any, namespace_of: Callable[[str], tuple[dict[str, Any], Any]]) -> Domain:
    """Create(object file): verify and load ``obj`` (source text); a domain
    exporting its INTERFACE. ``namespace_of(source)`` verifies, compiles and
    runs the module (VerifyError/ConfigError become EINVAL here)."""
    if type(obj) is not str or len(obj) > MAX_SOURCE:
        raise SyscallError("EINVAL", "an object file is source text", limit=MAX_SOURCE)
    try:
        ns, _code = namespace_of(obj)
    except VerifyError as ex:
        raise SyscallError("EINVAL", "object file rejected by the verifier",
                           reason=ex.message[:200]) from None
    iface = _constant(ns, "INTERFACE", None)
    arity = _constant(ns, "EXPORTS", {})
    imports = _constant(ns, "IMPORTS", {})
    exports = {}
    for proc in arity:
        fn = ns.get(proc)
        if proc.startswith("_") or not callable(fn):
            raise SyscallError("EINVAL", "exported procedure not defined", symbol=proc)
        exports[proc] = fn
    for sym in imports:
        head, _, tail = sym.partition(".")
        if not head.isidentifier() or not tail.isidentifier() or head.startswith("_"):
            raise SyscallError("EINVAL", "an import is Interface.Procedure", symbol=sym)
    ext = Extension(Owner(iface), iface, exports, arity, imports, ns)
    return Domain([ext])


def from_module(interface: Any, procs: Any, owner: Owner,
                callers: frozenset[str] = frozenset()) -> Domain:
    """CreateFromModule(): a domain exporting ``procs`` (name -> function, arity
    from each function's positional parameters, less the hidden caller of those
    in ``callers``) as ``interface``. An untrusted owner's procedures must be
    plain functions (EINVAL otherwise: nothing of the program's runs here)."""
    if type(interface) is not str or not interface.isidentifier():
        raise SyscallError("EINVAL", "interface must be an identifier")
    if type(procs) is not dict or not procs:
        raise SyscallError("EINVAL", "procedures must be a dict name -> function")
    exports, arity = {}, {}
    for name, fn in procs.items():
        if type(name) is not str or not name.isidentifier() or name.startswith("_") \
                or not callable(fn) or (not owner.trusted and type(fn) is not FunctionType):
            raise SyscallError("EINVAL", "bad exported procedure (a plain function)",
                               symbol=name if type(name) is str else None)
        exports[name] = fn
        arity[name] = _arity(fn, name) - (1 if name in callers else 0)
    return Domain([Extension(owner, interface, exports, arity, {}, None,
                             callers=frozenset(callers))])


def _arity(fn: Callable[..., Any], name: str) -> int:
    """How many parameters ``fn`` takes (a plain function's: read from its code
    object, so no program hook runs; a kernel procedure's: its signature)."""
    if type(fn) is FunctionType:
        code = fn.__code__
        return code.co_argcount + code.co_kwonlyargcount + \
            bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
    try:
        return len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        raise SyscallError("EINVAL", "exported procedure has no signature",
                           symbol=name) from None


def _gate(ext: Extension, proc: str, charge: Callable[[int], None], cost: int,
          caller: Owner) -> Callable[..., Any]:
    """A procedure-call gate from ``caller`` into ``ext``'s ``proc`` (a fault
    there unloads ext); a caller-aware procedure is handed ``caller`` first."""
    owner, fn = ext.owner, ext.exports[proc]
    if proc in ext.callers:
        def gate_for(*args: Any) -> Any:
            charge(cost)
            if not owner.loaded:
                raise SyscallError("ESRCH", "the extension was unloaded",
                                   extension=owner.name)
            return invoke(owner, fn, (caller, *args))
        return gate_for

    def gate(*args: Any) -> Any:
        charge(cost)
        if not owner.loaded:
            raise SyscallError("ESRCH", "the extension was unloaded", extension=owner.name)
        return invoke(owner, fn, args)
    return gate


def resolve(source: Domain, target: Domain, charge: Callable[[int], None],
            cost: int) -> int:
    """Link every import of ``target`` that ``source`` can satisfy; return how
    many. An import of an interface ``source`` exports but without that
    procedure is ENOENT, one of the wrong arity EINVAL, each naming the symbol;
    imports of other interfaces stay unresolved."""
    exported = source.exports()
    interfaces = {sym.partition(".")[0] for sym in exported}
    plan: list[tuple[Extension, str, Extension, int]] = []
    for ext in target.extensions:           # decode: everything, before any binding
        for sym, want in ext.imports.items():
            if sym in ext.bound:
                continue
            found = exported.get(sym)
            if found is None:
                if sym.partition(".")[0] in interfaces:
                    raise SyscallError("ENOENT", "import not exported by the source",
                                       symbol=sym)
                continue
            if found[1] != want:
                raise SyscallError("EINVAL", "import has the wrong interface", symbol=sym,
                                   expected=want, actual=found[1])
            plan.append((ext, sym, found[0], want))
    for ext, sym, exporter, _n in plan:     # invoke: bind the gates
        head, _, proc = sym.partition(".")
        gate = _gate(exporter, proc, charge, cost, ext.owner)
        ext.bound[sym] = gate
        if ext.namespace is not None:
            iface = ext.namespace.get(head)
            if type(iface) is not Interface:
                iface = ext.namespace[head] = Interface()
            setattr(iface, proc, gate)
    return len(plan)


def combine(d1: Domain, d2: Domain) -> Domain:
    """Combine(d1, d2): an aggregate domain exporting both (d1 first on a clash)."""
    return Domain(list(dict.fromkeys(d1.extensions + d2.extensions)))


def unresolved(domain: Domain) -> list[str]:
    """The imports of ``domain``'s extensions not yet linked."""
    return [sym for ext in domain.extensions for sym in ext.imports if sym not in ext.bound]


def lookup(domain: Domain, symbol: Any) -> tuple[Extension, Callable[..., Any]]:
    """The exported procedure ``symbol`` of ``domain`` (ENOENT), refusing a
    domain with unresolved imports (ENOENT naming the first)."""
    if type(symbol) is not str:
        raise SyscallError("EINVAL", "a symbol is a string Interface.Procedure")
    found = domain.exports().get(symbol)
    if found is None:
        raise SyscallError("ENOENT", "no such exported procedure", symbol=symbol)
    missing = [s for s in unresolved(Domain([found[0]]))]
    if missing:
        raise SyscallError("ENOENT", "the extension has an unresolved import",
                           symbol=missing[0])
    return found[0], found[0].exports[symbol.partition(".")[2]]
