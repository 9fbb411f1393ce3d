"""Checking a parsed channel contract and compiling it into a :class:`Contract`.

:func:`compile_contract` runs the well-formedness checks that
:mod:`.contract` lists (unique names, types that resolve, declared messages
in their direction, declared target states, deterministic alternatives,
reachable states), collecting every error it finds, then builds the
contract's :class:`~.contract_runtime.Machine`: one node per declared state
and one per point inside a sequence, each intermediate node named after the
state and the steps taken so far (``IO_CONFIGURE_BEGIN:RegisterForEvents?``).
The branches of an alternative all continue to the same next node.

Interface::

    compile_contract(decl, decls) -> (Contract | None, [ContractError, ...])
    contract_error(what, file, node, expected, found) -> ContractError at node
                            decls: every declaration by name (for C.Exp:S, C.E)
    Contract                .name .file .decl .messages .states .initial .enums
                            .machine_states; endpoint(side, state=None),
                            transitions(), signatures(), edges()
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Iterable, Iterator, Mapping

from exolab.errors import ContractError, safe_repr
from exolab.kernels.singularity.contract_runtime import (
    Conformance, Machine, Message, Param)
from exolab.kernels.singularity.contract_syntax import (
    AltStep, ContractDecl, MessageDecl, MsgStep, Step, TypeRef)

__all__ = ["compile_contract", "contract_error", "Contract"]

_MARK_DIRECTION = {"?": "in", "!": "out"}
_TYPES = "int, bool, an enum, C.E, T[] in ExHeap, T* in ExHeap or C.Exp:S / C.Imp:S"


def contract_error(what: str, file: str, node: object, expected: str,
                   found: str) -> ContractError:
    """A check error at ``node``'s line and column."""
    return ContractError(what, file=file, line=getattr(node, "line", 0),
                         col=getattr(node, "col", 0), expected=expected, found=found)


def _step_text(step: Step) -> str:
    """A step as written (``A?`` or ``(B! or C! -> D?)``)."""
    if isinstance(step, MsgStep):
        return step.name + step.mark
    return "(" + " or ".join(" -> ".join(map(_step_text, b)) for b in step.branches) + ")"


def _uses(steps: Iterable[Step]) -> Iterator[MsgStep]:
    """Every message step in ``steps``, alternatives included."""
    for step in steps:
        if isinstance(step, MsgStep):
            yield step
        else:
            for branch in step.branches:
                yield from _uses(branch)


class _Checker:
    """Checks one contract against the catalogue's declarations; collects errors."""

    def __init__(self, decl: ContractDecl, decls: Mapping[str, ContractDecl]) -> None:
        self.decl = decl
        self.decls = decls
        self.file = decl.file
        self.errors: list[ContractError] = []

    def fail(self, what: str, node: object, expected: str, found: str) -> None:
        """Record an error at ``node``."""
        self.errors.append(contract_error(what, self.file, node, expected, found))

    def unique(self, what: str, items: Iterable[object]) -> None:
        """Each item's ``name`` occurs once."""
        seen: set[str] = set()
        for item in items:
            name = getattr(item, "name")
            if name in seen:
                self.fail(f"duplicate {what} {name}", item, f"a new {what} name", name)
            seen.add(name)

    def names(self) -> None:
        """Unique names throughout; at least one state."""
        d = self.decl
        self.unique("enum", d.enums)
        self.unique("message", d.messages)
        self.unique("state", d.states)
        for e in d.enums:
            if len(set(e.members)) != len(e.members):
                self.fail(f"enum {e.name} repeats a member", e, "distinct members",
                          ", ".join(e.members))
        for m in d.messages:
            self.unique("parameter", m.params)
        if not d.states:
            self.fail(f"contract {d.name} has no state", d, "state S: one { ... }", "}")

    def resolve(self, t: TypeRef) -> Param | None:
        """The parameter kind ``t`` names (name left blank), or None after an error."""
        text, d = t.text(), self.decl
        if t.form in ("array", "pointer"):
            return Param("", "block", text, True)
        if t.form == "named" and t.base in ("int", "bool"):
            return Param("", t.base, text, False)
        owner = d if t.form == "named" else self.decls.get(t.base)
        if owner is None:
            self.fail(f"unknown contract {t.base} in type {text}", t,
                      "a contract in this file, a file given, or " + f"{t.base}.sg beside",
                      t.base)
            return None
        if t.form == "endpoint":
            states = [s.name for s in owner.states]
            state = t.state or (states[0] if states else "")
            if state not in states:
                self.fail(f"contract {owner.name} has no state {t.state}", t,
                          "one of " + ", ".join(states), t.state)
                return None
            return Param("", "endpoint", text, False, owner.name, t.member, state)
        enum = t.base if t.form == "named" else t.member
        for e in owner.enums:
            if e.name == enum:
                return Param("", "enum", text, False, owner.name, members=e.members)
        self.fail(f"unknown type {text}", t, _TYPES, text)
        return None

    def message(self, m: MessageDecl) -> Message:
        """The runtime form of a declared message (its parameter types resolved)."""
        params = []
        for p in m.params:
            kind = self.resolve(p.type)
            if kind is not None:
                params.append(Param(p.name, kind.kind, kind.type_name, kind.in_exheap,
                                    kind.contract, kind.side, kind.state, kind.members))
        return Message(m.name, m.direction, tuple(params), self.decl.name, m.elided)

    def transitions(self, messages: Mapping[str, Message]) -> None:
        """Every step names a declared message in its direction; targets exist."""
        states = {s.name for s in self.decl.states}
        for s in self.decl.states:
            for t in s.transitions:
                for step in _uses(t.steps):
                    self.step(step, messages)
                if t.target not in states:
                    self.fail(f"unknown state {t.target}", _At(t.target_line, t.target_col),
                              "a state declared in contract " + self.decl.name, t.target)

    def step(self, step: MsgStep, messages: Mapping[str, Message]) -> None:
        """One message step: declared, and ``?`` for ``in`` / ``!`` for ``out``."""
        msg = messages.get(step.name)
        if msg is None:
            self.fail(f"unknown message {step.name}", step,
                      "a message declared in contract " + self.decl.name, step.name)
        elif msg.direction != _MARK_DIRECTION[step.mark]:
            want = "?" if msg.direction == "in" else "!"
            self.fail(f"wrong direction: {step.name} is an {msg.direction} message", step,
                      f"{step.name}{want} ({msg.direction} messages are "
                      + ("received" if msg.direction == "in" else "sent")
                      + " by the exporter)", step.name + step.mark)


class _At:
    """A bare position, for errors at a token that has no syntax node."""
    __slots__ = ("line", "col")

    def __init__(self, line: int, col: int) -> None:
        self.line, self.col = line, col


class _Compiler:
    """Builds a checked contract's Machine; an ambiguity is an error."""

    def __init__(self, checker: _Checker) -> None:
        self.checker = checker
        self.m = Machine()
        for s in checker.decl.states:
            checker_index = self.m.node(s.name)
            self.m.index[s.name] = checker_index

    def edge(self, src: int, step: MsgStep, dst: int) -> None:
        """Add ``src --step--> dst`` unless ``src`` already has that message."""
        if step.name in self.m.out_edges[src] or step.name in self.m.in_edges[src]:
            self.checker.fail(
                f"ambiguous alternatives in {self.m.names[src]}: {step.name} starts two",
                step, "alternatives that differ in their first message", step.name)
            return
        table = self.m.out_edges if step.mark == "!" else self.m.in_edges
        table[src][step.name] = dst

    def sequence(self, steps: tuple[Step, ...], src: int, dst: int, prefix: str) -> None:
        """Compile ``steps`` from ``src`` to ``dst``, naming intermediate nodes."""
        for i, step in enumerate(steps):
            prefix = prefix + ("->" if ":" in prefix else ":") + _step_text(step)
            nxt = dst if i == len(steps) - 1 else self.m.node(prefix)
            if isinstance(step, AltStep):
                for branch in step.branches:
                    self.sequence(branch, src, nxt, prefix)
            else:
                self.edge(src, step, nxt)
            src = nxt

    def build(self) -> Machine:
        """The whole machine (errors go to the checker)."""
        for s in self.checker.decl.states:
            for t in s.transitions:
                self.sequence(t.steps, self.m.index[s.name], self.m.index[t.target],
                              s.name)
        return self.m


class Contract:
    """A checked, compiled channel contract (see the module docstring)."""

    __slots__ = ("name", "file", "messages", "states", "initial", "enums", "decl",
                 "machine_states", "_machine")

    def __init__(self, decl: ContractDecl, messages: dict[str, Message],
                 machine: Machine) -> None:
        self.name = decl.name
        self.file = decl.file
        self.decl = decl
        self.messages: Mapping[str, Message] = MappingProxyType(messages)
        self.states = tuple(s.name for s in decl.states)
        self.initial = self.states[0]
        self.enums: Mapping[str, tuple[str, ...]] = MappingProxyType(
            {e.name: e.members for e in decl.enums})
        self.machine_states = len(machine.names)
        self._machine = machine

    def endpoint(self, side: str, state: str | None = None) -> Conformance:
        """A fresh conformance tracker for the ``side`` endpoint, at ``state``
        (default: the initial state)."""
        state = self.initial if state is None else state
        node = self._machine.index.get(state) if type(state) is str else None
        if node is None:
            raise ContractError(f"contract {self.name} has no state {safe_repr(state)}",
                                file=self.file, expected=", ".join(self.states),
                                found=safe_repr(state))
        return Conformance(self.name, side, self._machine, self.messages, node)

    def transitions(self) -> list[tuple[str, str]]:
        """Each declared transition as (state, its text), in declaration order."""
        return [(s.name, " -> ".join([*map(_step_text, t.steps), t.target]))
                for s in self.decl.states for t in s.transitions]

    def signatures(self) -> list[str]:
        """Each message as declared (``in RegisterForEvents(NicEvents.Exp:READY c)``)."""
        return [f"{m.direction:<3} {m.name}("
                + ("..." if m.elided else
                   ", ".join(f"{p.type.text()} {p.name}" for p in m.params)) + ")"
                for m in self.decl.messages]

    def edges(self) -> int:
        """How many transitions the compiled machine has."""
        return self._machine.edges()

    def __repr__(self) -> str:
        return f"<Contract {self.name}: {len(self.messages)} messages, " \
               f"{len(self.states)} states>"


def compile_contract(decl: ContractDecl, decls: Mapping[str, ContractDecl]
             ) -> tuple[Contract | None, list[ContractError]]:
    """Check ``decl`` and compile it; (None, errors) when it is not well formed."""
    c = _Checker(decl, decls)
    c.names()
    messages = {m.name: c.message(m) for m in decl.messages}
    c.transitions(messages)
    if c.errors:
        return None, c.errors
    machine = _Compiler(c).build()
    if c.errors:
        return None, c.errors
    reached = machine.reachable(0)
    for s in decl.states:
        if machine.index[s.name] not in reached:
            c.fail(f"unreachable state {s.name}", s,
                   f"a state reachable from {decl.states[0].name}", s.name)
    return (None, c.errors) if c.errors else (Contract(decl, messages, machine), [])
