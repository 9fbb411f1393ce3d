"""The parser of Singularity channel contracts and their syntax tree.

A contract file holds one or more ``contract NAME { ... }`` declarations in the
spirit of Sing# (Fähndrich et al., EuroSys 2006)::

    file        := contract* EOF
    contract    := "contract" NAME "{" member* "}"
    member      := enum | message | state
    enum        := "enum" NAME "{" NAME ("," NAME)* [","] "}" [";"]
    message     := ("in" | "out") "message" NAME "(" params ")" ";"
    params      := "..." | [param ("," param)*]
    param       := type NAME
    type        := NAME "." ("Exp" | "Imp") [":" NAME]       endpoint of a contract
                 | NAME "." NAME                              another contract's enum
                 | NAME ("[" "]" | "*") "in" "ExHeap"         exchange-heap block
                 | NAME                                       int, bool, an enum
    state       := "state" NAME ":" ("one" "{" transition* "}" [";"] | transition)
    transition  := step ("->" step)* "->" NAME ";"            ends in a state
    step        := NAME ("?" | "!")
                 | "(" branch ("or" branch)* ")"              alternatives
    branch      := step ("->" step)*

Tokens come from :mod:`.contract_lexer` (``->`` may be written ``→``; ``//``
and ``/* */`` are comments). Keywords are contextual (a message may be called
``one``). Lines and columns are 1-based.
Nesting of alternatives is bounded (:data:`MAX_DEPTH`), so no input can
exhaust the parser's stack; every malformed input raises
:class:`~exolab.errors.ContractError` naming the file, line, column and what
was expected.

Interface::

    parse(text, file="<contract>") -> tuple[ContractDecl, ...]
    ContractDecl(name, enums, messages, states, file, line, col)
    EnumDecl(name, members, line, col)
    MessageDecl(name, direction, params, elided, line, col)
    ParamDecl(name, type, line, col)
    TypeRef(form, base, member, state, exheap, line, col)
                                        form: "named", "qualified", "endpoint",
                                        "array", "pointer" (see TypeRef); text()
    StateDecl(name, transitions, line, col)
    Transition(steps, target, line, col, target_line, target_col)
    MsgStep(name, mark, line, col)      mark "?" (the exporter receives) or "!"
    AltStep(branches, line, col)        each branch a tuple of steps
    MAX_DEPTH                           deepest nesting of parentheses accepted
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from exolab.errors import ContractError
from exolab.kernels.singularity.contract_lexer import Token, tokens

__all__ = ["parse", "ContractDecl", "EnumDecl", "MessageDecl",
           "ParamDecl", "TypeRef", "StateDecl", "Transition", "MsgStep", "AltStep",
           "MAX_DEPTH"]

#: deepest nesting of "(" alternatives a contract may use
MAX_DEPTH = 16


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A parameter's type as written: ``named`` (``int``, ``bool``, an enum),
    ``qualified`` (``C.E``: base C, member E), ``endpoint`` (``C.Exp:S``: base C,
    member "Exp"/"Imp", state S or ""), ``array`` / ``pointer`` (``T[]`` / ``T*``
    ``in ExHeap``: base T)."""
    form: str
    base: str
    member: str
    state: str
    exheap: bool
    line: int
    col: int

    def text(self) -> str:
        """The type as a Sing# programmer writes it."""
        if self.form == "qualified":
            return f"{self.base}.{self.member}"
        if self.form == "endpoint":
            return f"{self.base}.{self.member}" + (f":{self.state}" if self.state else "")
        suffix = {"array": "[]", "pointer": "*"}.get(self.form, "")
        return self.base + suffix + (" in ExHeap" if self.exheap else "")


@dataclass(frozen=True, slots=True)
class ParamDecl:
    name: str
    type: TypeRef
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class MessageDecl:
    name: str
    direction: str                  # "in" (to the exporter) or "out" (from it)
    params: tuple[ParamDecl, ...]
    elided: bool                    # written "(...)": parameters not specified
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class EnumDecl:
    name: str
    members: tuple[str, ...]
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class MsgStep:
    name: str
    mark: str                       # "?" the exporter receives, "!" it sends
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class AltStep:
    branches: tuple[tuple["Step", ...], ...]
    line: int
    col: int


Step = Union[MsgStep, AltStep]


@dataclass(frozen=True, slots=True)
class Transition:
    steps: tuple[Step, ...]
    target: str
    line: int
    col: int
    target_line: int
    target_col: int


@dataclass(frozen=True, slots=True)
class StateDecl:
    name: str
    transitions: tuple[Transition, ...]
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class ContractDecl:
    name: str
    enums: tuple[EnumDecl, ...]
    messages: tuple[MessageDecl, ...]
    states: tuple[StateDecl, ...]
    file: str
    line: int
    col: int


# -- parser -------------------------------------------------------------------------

def _show(tok: Token) -> str:
    """A token as an error message names it."""
    return "end of file" if tok.kind == "eof" else repr(tok.text)


class _Parser:
    """Recursive descent over a token list (one instance per file)."""

    __slots__ = ("toks", "pos", "file")

    def __init__(self, toks: list[Token], file: str) -> None:
        self.toks = toks
        self.pos = 0
        self.file = file

    def peek(self, ahead: int = 0) -> Token:
        """The token ``ahead`` places after the current one (eof past the end)."""
        return self.toks[min(self.pos + ahead, len(self.toks) - 1)]

    def fail(self, expected: str, tok: Token | None = None) -> ContractError:
        """A syntax error at ``tok`` (default: the current token)."""
        tok = tok or self.peek()
        return ContractError(f"syntax error at {_show(tok)}", file=self.file,
                             line=tok.line, col=tok.col, expected=expected,
                             found=_show(tok))

    def take(self, kind: str, expected: str = "") -> Token:
        """Consume a token of ``kind`` or raise naming what was expected."""
        tok = self.peek()
        if tok.kind != kind:
            raise self.fail(expected or repr(kind))
        self.pos += 1
        return tok

    def word(self, text: str) -> Token:
        """Consume the name ``text`` (a contextual keyword)."""
        tok = self.peek()
        if tok.kind != "name" or tok.text != text:
            raise self.fail(repr(text))
        self.pos += 1
        return tok

    def at_word(self, text: str) -> bool:
        """Whether the current token is the name ``text``."""
        tok = self.peek()
        return tok.kind == "name" and tok.text == text

    def name(self, what: str) -> Token:
        """Consume a name standing for ``what``."""
        return self.take("name", what)

    def file_(self) -> tuple[ContractDecl, ...]:
        """file := contract* EOF"""
        out = []
        while self.peek().kind != "eof":
            out.append(self.contract())
        return tuple(out)

    def contract(self) -> ContractDecl:
        """contract := "contract" NAME "{" member* "}" """
        start = self.word("contract")
        name = self.name("the contract's name").text
        self.take("{")
        enums: list[EnumDecl] = []
        messages: list[MessageDecl] = []
        states: list[StateDecl] = []
        while self.peek().kind != "}":
            if self.at_word("enum"):
                enums.append(self.enum())
            elif self.at_word("in") or self.at_word("out"):
                messages.append(self.message())
            elif self.at_word("state"):
                states.append(self.state())
            else:
                raise self.fail("enum, in message, out message, state or }")
        self.take("}")
        return ContractDecl(name, tuple(enums), tuple(messages), tuple(states),
                            self.file, start.line, start.col)

    def enum(self) -> EnumDecl:
        """enum := "enum" NAME "{" NAME ("," NAME)* [","] "}" [";"]"""
        start = self.word("enum")
        name = self.name("the enum's name").text
        self.take("{")
        members = [self.name("an enum member").text]
        while self.peek().kind == ",":
            self.pos += 1
            if self.peek().kind == "}":
                break
            members.append(self.name("an enum member").text)
        self.take("}", "',' or '}'")
        if self.peek().kind == ";":
            self.pos += 1
        return EnumDecl(name, tuple(members), start.line, start.col)

    def message(self) -> MessageDecl:
        """message := ("in" | "out") "message" NAME "(" params ")" ";" """
        start = self.take("name")
        self.word("message")
        name = self.name("the message's name").text
        self.take("(")
        params: list[ParamDecl] = []
        elided = self.peek().kind == "ellipsis"
        if elided:
            self.pos += 1
        elif self.peek().kind != ")":
            params.append(self.param())
            while self.peek().kind == ",":
                self.pos += 1
                params.append(self.param())
        self.take(")", "',' or ')'")
        self.take(";")
        return MessageDecl(name, start.text, tuple(params), elided, start.line, start.col)

    def param(self) -> ParamDecl:
        """param := type NAME"""
        typ = self.type_()
        tok = self.name("the parameter's name")
        return ParamDecl(tok.text, typ, tok.line, tok.col)

    def type_(self) -> TypeRef:
        """type := endpoint | qualified enum | block in ExHeap | named"""
        base = self.name("a type")
        kind = self.peek().kind
        if kind == ".":
            self.pos += 1
            member = self.name("Exp, Imp or an enum of that contract").text
            if member not in ("Exp", "Imp"):
                return TypeRef("qualified", base.text, member, "", False, base.line,
                               base.col)
            state = ""
            if self.peek().kind == ":":
                self.pos += 1
                state = self.name("the endpoint's state").text
            return TypeRef("endpoint", base.text, member, state, False, base.line, base.col)
        if kind in ("[", "*"):
            self.pos += 1
            if kind == "[":
                self.take("]")
            self.word("in")
            self.word("ExHeap")
            form = "array" if kind == "[" else "pointer"
            return TypeRef(form, base.text, "", "", True, base.line, base.col)
        return TypeRef("named", base.text, "", "", False, base.line, base.col)

    def state(self) -> StateDecl:
        """state := "state" NAME ":" ("one" "{" transition* "}" [";"] | transition)"""
        start = self.word("state")
        name = self.name("the state's name").text
        self.take(":")
        transitions = []
        if self.at_word("one") and self.peek(1).kind == "{":
            self.pos += 2
            while self.peek().kind != "}":
                transitions.append(self.transition())
            self.pos += 1
            if self.peek().kind == ";":
                self.pos += 1
        else:
            transitions.append(self.transition())
        return StateDecl(name, tuple(transitions), start.line, start.col)

    def transition(self) -> Transition:
        """transition := step ("->" step)* "->" NAME ";" """
        first = self.peek()
        steps = [self.step(0)]
        while True:
            self.take("arrow", "->")
            tok = self.peek()
            if tok.kind == "name" and self.peek(1).kind not in ("?", "!"):
                self.pos += 1
                self.take(";")
                return Transition(tuple(steps), tok.text, first.line, first.col,
                                  tok.line, tok.col)
            steps.append(self.step(0))

    def step(self, depth: int) -> Step:
        """step := NAME ("?" | "!") | "(" branch ("or" branch)* ")" """
        tok = self.peek()
        if tok.kind == "(":
            if depth >= MAX_DEPTH:
                raise self.fail(f"at most {MAX_DEPTH} nested alternatives")
            self.pos += 1
            branches = [self.branch(depth + 1)]
            while self.at_word("or"):
                self.pos += 1
                branches.append(self.branch(depth + 1))
            self.take(")", "'or', '->' or ')'")
            return AltStep(tuple(branches), tok.line, tok.col)
        name = self.name("a message step (Name? or Name!) or '('")
        mark = self.peek()
        if mark.kind not in ("?", "!"):
            raise self.fail("'?' (received by the exporter) or '!' (sent by it)")
        self.pos += 1
        return MsgStep(name.text, mark.kind, name.line, name.col)

    def branch(self, depth: int) -> tuple[Step, ...]:
        """branch := step ("->" step)*"""
        steps = [self.step(depth)]
        while self.peek().kind == "arrow":
            self.pos += 1
            steps.append(self.step(depth))
        return tuple(steps)


def parse(text: str, file: str = "<contract>") -> tuple[ContractDecl, ...]:
    """The contracts declared in ``text`` (syntax only; checking is contract.py's)."""
    return _Parser(tokens(text, file), file).file_()
