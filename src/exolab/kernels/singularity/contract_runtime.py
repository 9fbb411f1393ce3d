"""Runtime side of channel contracts: messages, the compiled state machine and
per-endpoint conformance.

A checked contract (:mod:`.contract`) is compiled into a deterministic state
machine: one node per declared state plus one per intermediate point of a
sequence (after ``RegisterForEvents?`` in ``RegisterForEvents? ->
SetParameters? -> S``); each node has two transition dicts, the messages the
exporter sends there (``M!``) and those it receives (``M?``). An endpoint's
:class:`Conformance` holds its current node and the two dicts seen from its
side: Exp sends the ``!`` messages and receives the ``?`` ones, Imp the
mirror. ``check_send``/``check_receive`` is one dict lookup: a message the
current node does not allow raises :class:`~exolab.errors.ContractViolation`
and leaves the state unchanged; an allowed one advances.

Each endpoint tracks its own state: the two ends of a channel move through
the same machine, each at the moment it sends or receives.

Interface::

    Param(name, kind, type_name, in_exheap, contract="", side="", state="",
          members=())         kind: "int", "bool", "enum" (members), "block"
                              (in_exheap), "endpoint" (contract, side, state)
    Message(name, direction, params, contract="", elided=False)
      check_args(args, is_block=None, is_endpoint=None) -> tuple
                              arity and kinds; is_block(value, param) and
                              is_endpoint(value, param) are the kernel's
                              predicates (absent: no block/endpoint accepted)
    Machine()                 a compiled contract (built by .contract_check):
                              names, index, out_edges, in_edges; node(name),
                              reachable(node), edges(), view(side)
    Conformance(contract, side, machine, messages, node)
      .contract .side .state  check_send(msg, args=None, *, is_block, is_endpoint)
      check_receive(msg)  can_send(msg)  can_receive(msg)
      expected_sends()  expected_receives()  at(state) -> bool
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from exolab.errors import ContractError, ContractViolation, safe_repr, type_name

__all__ = ["Param", "Message", "Machine", "Conformance", "SIDES"]

SIDES = ("Exp", "Imp")
Predicate = Optional[Callable[[Any, "Param"], bool]]


@dataclass(frozen=True, slots=True)
class Param:
    """One declared parameter of a message, with its type resolved."""
    name: str
    kind: str                   # "int", "bool", "enum", "block", "endpoint"
    type_name: str              # as written in the contract
    in_exheap: bool             # a block in the exchange heap (kind "block")
    contract: str = ""          # endpoint: whose endpoint; enum: who declares it
    side: str = ""              # endpoint: "Exp" or "Imp"
    state: str = ""             # endpoint: the state it must be in
    members: tuple[str, ...] = ()   # enum: its members, in order


def _scalar_ok(value: Any, param: Param) -> bool:
    """Whether ``value`` is an acceptable int, bool or enum value for ``param``."""
    if param.kind == "int":
        return type(value) is int
    if param.kind == "bool":
        return type(value) is bool
    if type(value) is int:                  # enum: its index ...
        return 0 <= value < len(param.members)
    return type(value) is str and value in param.members    # ... or its name


@dataclass(frozen=True, slots=True)
class Message:
    """A declared message: ``direction`` "in" goes to the exporter, "out" from it."""
    name: str
    direction: str
    params: tuple[Param, ...]
    contract: str = ""
    elided: bool = False        # declared "(...)": any scalars, blocks or endpoints

    def _refuse(self, expected: str, index: int, value: Any) -> ContractViolation:
        """The error for argument ``index`` (or the arity when -1)."""
        return ContractViolation(contract=self.contract, state="-", side="-",
                                 message=self.name, op="args", expected=expected,
                                 argument=index, found=type_name(value))

    def check_args(self, args: Any, is_block: Predicate = None,
                   is_endpoint: Predicate = None) -> tuple[Any, ...]:
        """``args`` as a tuple if they match the declaration, else ContractViolation."""
        kind = type(args)
        if kind is not tuple:
            if kind is not list:
                raise self._refuse("a tuple of arguments", -1, args)
            args = tuple(args)
        params = self.params
        if self.elided:
            for i, value in enumerate(args):
                if not _arg_ok(value, _ANY, is_block, is_endpoint):
                    raise self._refuse(f"a channel value for argument {i}", i, value)
        elif len(args) != len(params):
            raise self._refuse(f"{len(params)} arguments", -1, len(args))
        else:
            for i, value in enumerate(args):
                if not _arg_ok(value, params[i], is_block, is_endpoint):
                    raise self._refuse(f"{params[i].type_name} for argument {i}", i,
                                       value)
        return args


#: the parameter of an elided list: any int, bool, block or endpoint
_ANY = Param("...", "any", "...", False)


def _arg_ok(value: Any, param: Param, is_block: Predicate, is_endpoint: Predicate) -> bool:
    """Whether one argument fits ``param`` (kind "any": any channel value)."""
    kind = param.kind
    if kind == "int":
        return type(value) is int
    if kind == "block":
        return is_block is not None and is_block(value, param) is True
    if kind == "endpoint":
        return is_endpoint is not None and is_endpoint(value, param) is True
    if kind != "any":
        return _scalar_ok(value, param)
    return (type(value) is int or type(value) is bool
            or (is_block is not None and is_block(value, param) is True)
            or (is_endpoint is not None and is_endpoint(value, param) is True))


class Machine:
    """A contract compiled to nodes: ``names[node]``, ``index[state] -> node``,
    ``out_edges[node]`` (exporter sends: msg -> node), ``in_edges[node]`` (it
    receives)."""

    __slots__ = ("names", "index", "out_edges", "in_edges", "_views")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.out_edges: list[dict[str, int]] = []
        self.in_edges: list[dict[str, int]] = []
        self._views: dict[str, tuple[Any, Any, tuple[str, ...]]] = {}

    def view(self, side: str) -> tuple[Any, Any, tuple[str, ...]]:
        """(sends, receives, names) as seen from ``side``; built once per side, so
        a new endpoint costs no copy of the machine (call only after building)."""
        v = self._views.get(side)
        if v is None:
            exp = side == "Exp"
            v = (tuple(self.out_edges if exp else self.in_edges),
                 tuple(self.in_edges if exp else self.out_edges), tuple(self.names))
            self._views[side] = v
        return v

    def node(self, name: str) -> int:
        """A new node called ``name`` (made unique with a suffix if taken)."""
        taken = set(self.names)
        unique, k = name, 1
        while unique in taken:
            k += 1
            unique = f"{name}#{k}"
        self.names.append(unique)
        self.out_edges.append({})
        self.in_edges.append({})
        return len(self.names) - 1

    def reachable(self, start: int) -> set[int]:
        """Every node reachable from ``start``."""
        seen, todo = {start}, [start]
        while todo:
            n = todo.pop()
            for nxt in (*self.out_edges[n].values(), *self.in_edges[n].values()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def edges(self) -> int:
        """How many transitions the machine has."""
        return sum(len(d) for d in self.out_edges) + sum(len(d) for d in self.in_edges)


class Conformance:
    """One endpoint's position in its contract; every send and receive is checked."""

    __slots__ = ("contract", "side", "_node", "_sends", "_receives", "_names",
                 "_messages")

    def __init__(self, contract: str, side: str, machine: Machine,
                 messages: Mapping[str, Message], node: int) -> None:
        if side not in SIDES:
            raise ContractError("an endpoint side is Exp or Imp", file=contract,
                                expected="Exp or Imp", found=safe_repr(side))
        self.contract = contract
        self.side = side
        self._node = node
        self._sends, self._receives, self._names = machine.view(side)
        self._messages = messages

    @property
    def state(self) -> str:
        """The current state's name (intermediate states read "S:A?->B!")."""
        return self._names[self._node]

    def at(self, state: str) -> bool:
        """Whether the endpoint is in the state called ``state``."""
        return self._names[self._node] == state

    def _violation(self, op: str, msg: Any, table: tuple[dict[str, int], ...]
                   ) -> ContractViolation:
        """The refusal of ``msg`` in the current state."""
        shown = msg if type(msg) is str else safe_repr(msg)
        return ContractViolation(contract=self.contract, state=self.state, side=self.side,
                                 message=shown, op=op, expected=tuple(table[self._node]))

    def check_send(self, msg: str, args: Any = None, *, is_block: Predicate = None,
                   is_endpoint: Predicate = None) -> Any:
        """Advance past sending ``msg`` (its ``args`` checked first when given, and
        returned as a tuple), or raise ContractViolation leaving the state as it was."""
        nxt = self._sends[self._node].get(msg) if type(msg) is str else None
        if nxt is None:
            raise self._violation("send", msg, self._sends)
        if args is not None:
            args = self._messages[msg].check_args(args, is_block, is_endpoint)
        self._node = nxt
        return args

    def check_receive(self, msg: str) -> None:
        """Advance past receiving ``msg``, or raise ContractViolation (state kept)."""
        nxt = self._receives[self._node].get(msg) if type(msg) is str else None
        if nxt is None:
            raise self._violation("receive", msg, self._receives)
        self._node = nxt

    def can_send(self, msg: str) -> bool:
        """Whether ``msg`` may be sent now."""
        return type(msg) is str and msg in self._sends[self._node]

    def can_receive(self, msg: str) -> bool:
        """Whether ``msg`` may be received now."""
        return type(msg) is str and msg in self._receives[self._node]

    def expected_sends(self) -> tuple[str, ...]:
        """The messages this endpoint may send now, in declaration order."""
        return tuple(self._sends[self._node])

    def expected_receives(self) -> tuple[str, ...]:
        """The messages this endpoint may receive now."""
        return tuple(self._receives[self._node])

    def __repr__(self) -> str:
        return f"<Conformance {self.contract}.{self.side}:{self.state}>"
