"""Singularity channel contracts: load, check and compile them.

A contract (syntax: :mod:`.contract_syntax`) declares the messages of a
channel, each ``in`` (to the exporting endpoint, Exp) or ``out`` (from it),
and a state machine over them. Loading checks that every contract is well
formed and compiles it (:mod:`.contract_runtime`) so that each endpoint of a
channel can be held to it at every send and receive in O(1).

Checks, each a :class:`~exolab.errors.ContractError` at the offending place:

- names are unique (contracts in a catalogue; enums, members, messages,
  parameters and states in a contract), and a contract has a state;
- every parameter type resolves: ``int``, ``bool``, an enum of the contract,
  ``C.E`` (enum E of contract C), ``T[] in ExHeap`` / ``T* in ExHeap`` (an
  exchange-heap block; T is an opaque struct name), ``C.Exp:S`` / ``C.Imp:S``
  (an endpoint of contract C in its state S; no state: C's initial state);
- every message a transition uses is declared, with a consistent direction:
  ``M?`` (the exporter receives) needs ``in``, ``M!`` (it sends) ``out``;
- every transition ends in a declared state;
- the machine is deterministic: the alternatives at any point (a state's
  transitions, the branches of ``( ... or ... )``) differ in their first
  message;
- every state is reachable from the initial (first declared) state.

Contracts naming another contract's endpoint type find it in the same file,
in another file loaded with it, or in ``<Name>.sg`` beside the file that
names it (``NicDevice.sg`` names ``NicEvents`` -> ``NicEvents.sg``).

Interface::

    Catalogue.load(paths) -> Catalogue           files; the first error is raised
    Catalogue.parse(text, file="<contract>", beside=None) -> Catalogue
    Catalogue.shipped() -> Catalogue              the contracts in ./contracts
    catalogue[name] -> Contract   name in catalogue   iter(catalogue)   len()
    diagnose(paths) -> (Catalogue | None, [ContractError, ...])   every error
    Contract.name .file .messages {name: Message} .states .initial
             .enums {name: members} .machine_states (named + intermediate)
      endpoint(side "Exp"|"Imp", state=None) -> Conformance
      transitions() -> [(state, "A? -> (B! or C!) -> S"), ...]
      signatures() -> ["in A(int x)", ...]    edges() -> transitions compiled
    CONTRACTS_DIR                                 where the shipped .sg files are
    Message, Param, Conformance                   re-exported from .contract_runtime
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Mapping

from exolab.errors import ContractError, safe_repr
from exolab.kernels.singularity.contract_check import (
    Contract, compile_contract, contract_error)
from exolab.kernels.singularity.contract_runtime import Conformance, Message, Param
from exolab.kernels.singularity.contract_syntax import ContractDecl, parse

__all__ = ["Catalogue", "Contract", "Message", "Param", "Conformance", "diagnose",
           "CONTRACTS_DIR"]

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"


# -- loading ------------------------------------------------------------------------

def _read(path: Path) -> str:
    """The text of a contract file, or a ContractError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as ex:
        reason = (ex.strerror or type(ex).__name__) if isinstance(ex, OSError) \
            else "not UTF-8 text"
        raise ContractError("cannot read the contract file", file=str(path),
                            expected="a readable UTF-8 contract file",
                            found=str(reason)) from None


def _referenced(decl: ContractDecl) -> set[str]:
    """The other contracts ``decl``'s parameter types name."""
    return {p.type.base for m in decl.messages for p in m.params
            if p.type.form in ("endpoint", "qualified") and p.type.base != decl.name}


class _Gatherer:
    """Collects declarations from texts and files, then from files found beside."""

    def __init__(self) -> None:
        self.decls: dict[str, ContractDecl] = {}
        self.home: dict[str, Path | None] = {}      # contract -> directory to look in
        self.errors: list[ContractError] = []
        self.tried: set[Path] = set()

    def add_text(self, text: str, file: str, home: Path | None) -> None:
        """Parse ``text`` and record its contracts (a repeated name is an error)."""
        try:
            found = parse(text, file)
        except ContractError as ex:
            self.errors.append(ex)
            return
        for d in found:
            if d.name in self.decls:
                self.errors.append(contract_error(f"duplicate contract {d.name}", file, d,
                                        "a new contract name (first in "
                                        + self.decls[d.name].file + ")", d.name))
                continue
            self.decls[d.name] = d
            self.home[d.name] = home

    def add_file(self, path: Path) -> None:
        """Read and add one file (an unreadable file is an error)."""
        self.tried.add(path.resolve())
        try:
            text = _read(path)
        except ContractError as ex:
            self.errors.append(ex)
            return
        self.add_text(text, str(path), path.parent)

    def beside(self) -> None:
        """Add ``<Name>.sg`` beside each file that names a missing contract Name."""
        changed = True
        while changed:
            changed = False
            for name, decl in list(self.decls.items()):
                home = self.home[name]
                for ref in sorted(_referenced(decl) - set(self.decls)):
                    path = (home / f"{ref}.sg") if home is not None else None
                    if path is not None and path.resolve() not in self.tried \
                            and path.is_file():
                        self.add_file(path)
                        changed = True


def _catalogue(g: _Gatherer) -> tuple[Catalogue | None, list[ContractError]]:
    """Check and compile everything gathered."""
    errors = list(g.errors)
    contracts: dict[str, Contract] = {}
    for decl in g.decls.values():
        contract, errs = compile_contract(decl, g.decls)
        errors.extend(errs)
        if contract is not None:
            contracts[decl.name] = contract
    return (None if errors else Catalogue(contracts)), errors


def _paths(paths: Iterable[str | Path]) -> list[Path]:
    """``paths`` as Path objects (one string is one path, not its characters)."""
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def diagnose(paths: Iterable[str | Path]) -> tuple[Catalogue | None, list[ContractError]]:
    """Load ``paths`` (and the files beside them they need); the catalogue, or None
    and every error found (one syntax error per file at most)."""
    g = _Gatherer()
    for path in _paths(paths):
        g.add_file(path)
    g.beside()
    return _catalogue(g)


def _first(result: tuple[Catalogue | None, list[ContractError]]) -> Catalogue:
    """The catalogue, or raise its first error."""
    catalogue, errors = result
    if catalogue is None:
        raise errors[0]
    return catalogue


class Catalogue:
    """Checked contracts by name; build with :meth:`load`, :meth:`parse` or
    :meth:`shipped`."""

    __slots__ = ("_contracts",)

    def __init__(self, contracts: Mapping[str, Contract]) -> None:
        self._contracts = dict(contracts)

    @classmethod
    def load(cls, paths: Iterable[str | Path]) -> Catalogue:
        """The contracts in ``paths`` and the files beside them they name."""
        return _first(diagnose(paths))

    @classmethod
    def parse(cls, text: str, file: str = "<contract>",
              beside: str | Path | None = None) -> Catalogue:
        """The contracts in ``text``; names of other contracts are looked up as
        ``<Name>.sg`` in directory ``beside`` when given."""
        g = _Gatherer()
        g.add_text(text, file, None if beside is None else Path(beside))
        g.beside()
        return _first(_catalogue(g))

    @classmethod
    def shipped(cls) -> Catalogue:
        """The contracts exolab ships (``CONTRACTS_DIR/*.sg``)."""
        return cls.load(sorted(CONTRACTS_DIR.glob("*.sg")))

    def __getitem__(self, name: str) -> Contract:
        contract = self._contracts.get(name) if type(name) is str else None
        if contract is None:
            raise ContractError(f"no contract {safe_repr(name)} in the catalogue",
                                expected=", ".join(self._contracts) or "a loaded contract",
                                found=safe_repr(name))
        return contract

    def get(self, name: str) -> Contract | None:
        """The contract called ``name``, or None."""
        return self._contracts.get(name) if type(name) is str else None

    def __contains__(self, name: object) -> bool:
        return type(name) is str and name in self._contracts

    def __iter__(self) -> Iterator[str]:
        return iter(self._contracts)

    def __len__(self) -> int:
        return len(self._contracts)

    def __repr__(self) -> str:
        return f"<Catalogue {', '.join(self._contracts)}>"
