"""Manifests: what a program is, what it needs, and the channels it expects.

Every SIP starts from a manifest. A program carries one as its ``manifest``
attribute (the way it carries ``image_pages``); a program without one gets
the default manifest of an ABI program (its name, no endpoints, no
dependencies). The kernel starts a SIP only if its manifest is satisfiable
(every dependency is an installed program, every endpoint names a contract
the catalogue knows, the resources fit) and gives it exactly the endpoints
it declares. A program whose code names a contract its manifest does not
declare is refused at load time: the code's constants are searched for
contract names (the verifier has already fixed what the code can reach).

Interface::

    EndpointDecl(name, contract, side="Imp")        a desired channel endpoint
    Manifest(name, code=(), resources={}, endpoints=(), dependencies=(), uses=())
      contracts -> frozenset[str]           of its endpoints and of the channels it makes
    manifest_of(program) -> Manifest                decoded from the attribute
    from_plain(tuple) -> Manifest                   the constants form verified code carries
    contracts_used(program, known) -> frozenset[str]  contract names in the code
    check(manifest, program, known_contracts, installed) -> None   ConfigError if not
"""
from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from exolab.errors import ConfigError, safe_str
from exolab.kernels.common.args import shown

__all__ = ["EndpointDecl", "Manifest", "manifest_of", "from_plain", "contracts_used", "check"]

_SIDES = ("Exp", "Imp")
_RESOURCES = ("heap_pages", "threads", "nic", "disk", "exheap_pages")


@dataclass(frozen=True, slots=True)
class EndpointDecl:
    """One endpoint a SIP expects at start: its name, contract and side."""

    name: str
    contract: str
    side: str = "Imp"

    def __post_init__(self) -> None:
        if type(self.name) is not str or type(self.contract) is not str or \
                self.side not in _SIDES:
            raise ConfigError("bad endpoint declaration", name=shown(self.name),
                              contract=shown(self.contract), side=shown(self.side))


@dataclass(frozen=True, slots=True)
class Manifest:
    """Details, code resources, system resources, endpoints, dependencies."""

    name: str
    code: tuple[str, ...] = ()                          # code resources (modules)
    resources: Mapping[str, int] = field(default_factory=dict)   # heap_pages, threads,
    #               exheap_pages (its exchange-heap quota), devices: nic, disk
    endpoints: tuple[EndpointDecl, ...] = ()
    dependencies: tuple[str, ...] = ()                  # programs it needs installed
    uses: tuple[str, ...] = ()                          # contracts it makes channels of

    def __post_init__(self) -> None:
        if type(self.name) is not str:
            raise ConfigError("a manifest's name is a str", name=shown(self.name))
        object.__setattr__(self, "code", tuple(self.code))
        object.__setattr__(self, "endpoints", tuple(self.endpoints))
        object.__setattr__(self, "dependencies", tuple(self.dependencies))
        object.__setattr__(self, "uses", tuple(self.uses))
        if any(type(u) is not str for u in self.uses):
            raise ConfigError("a manifest's uses are contract names")
        object.__setattr__(self, "resources", types.MappingProxyType(dict(self.resources)))
        for e in self.endpoints:
            if type(e) is not EndpointDecl:
                raise ConfigError("a manifest endpoint is an EndpointDecl", got=shown(e))
        for k, v in self.resources.items():
            if k not in _RESOURCES or type(v) is not int or v < 0:
                raise ConfigError("bad manifest resource", resource=shown(k),
                                  value=shown(v), expected=list(_RESOURCES))
        if any(type(d) is not str for d in self.dependencies):
            raise ConfigError("a manifest dependency is a program name")

    @property
    def contracts(self) -> frozenset[str]:
        """The contracts of the endpoints it declares and of the channels it makes."""
        return frozenset(e.contract for e in self.endpoints) | frozenset(self.uses)


def from_plain(m: Any) -> Manifest:
    """A manifest written as constants (what verified code may carry):
    ``(name, ((endpoint, contract, side), ...), (dependency, ...), ((resource, n), ...),
    (contract used, ...))``, all but the name optional."""
    if type(m) is not tuple or not 1 <= len(m) <= 5:
        raise ConfigError("a plain manifest is a tuple (name, endpoints, dependencies, "
                          "resources)", got=shown(m))
    eps, deps, res, uses = (tuple(m[1:]) + ((), (), (), ()))[:4]
    if any(type(x) is not tuple for x in (eps, deps, res, uses)) or \
            any(type(e) is not tuple or len(e) != 3 for e in eps) or \
            any(type(r) is not tuple or len(r) != 2 for r in res):
        raise ConfigError("bad plain manifest", name=shown(m[0]))
    return Manifest(m[0], endpoints=tuple(EndpointDecl(*e) for e in eps),
                    dependencies=deps, resources=dict(res), uses=uses)


def manifest_of(program: Any) -> Manifest:
    """The program's manifest (a Manifest, or its plain form), or the default one of
    an ABI program."""
    m = getattr(program, "manifest", None)
    if m is None:
        return Manifest(safe_str(getattr(program, "__name__", "sip"))[:64])
    if type(m) is tuple:
        return from_plain(m)
    if type(m) is not Manifest:
        raise ConfigError("a program's manifest must be a Manifest", got=shown(m))
    return m


def _strings(code: types.CodeType, out: set[str]) -> None:
    """Every str constant of ``code`` and of the code objects it nests."""
    for c in code.co_consts:
        if type(c) is str:
            out.add(c)
        elif type(c) is types.CodeType:
            _strings(c, out)
    out.update(code.co_names)


def contracts_used(program: Any, known: Iterable[str]) -> frozenset[str]:
    """The known contract names the program's code mentions."""
    code = getattr(program, "__code__", None)
    if type(code) is not types.CodeType:
        return frozenset()
    found: set[str] = set()
    _strings(code, found)
    return frozenset(found) & frozenset(known)


def check(manifest: Manifest, program: Any, known_contracts: Iterable[str],
          installed: Iterable[str]) -> None:
    """ConfigError unless ``manifest`` is satisfiable and covers the code's contracts."""
    known = frozenset(known_contracts)
    missing = sorted(manifest.contracts - known)
    if missing:
        raise ConfigError("manifest names an unknown contract", contracts=missing)
    have = frozenset(installed)
    deps = sorted(d for d in manifest.dependencies if d not in have)
    if deps:
        raise ConfigError("manifest dependency not installed", dependencies=deps)
    undeclared = sorted(contracts_used(program, known) - manifest.contracts)
    if undeclared:
        raise ConfigError("code uses a contract its manifest does not declare",
                          program=manifest.name, contracts=undeclared)
