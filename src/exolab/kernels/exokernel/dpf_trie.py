"""DPF's merged decision structure, compiled to specialised code per change.

Every installed filter (:mod:`.dpf`, normal form) is a path in one trie:
an edge is a term, so filters that begin with the same terms share those
nodes (the ten filters of ten TCP connections share Ethernet, IP, protocol
and shift, and differ only in the last port). Edges that load the same
field (offset, size, mask) from a node are one *group*: the field is loaded
once and its value picks at most one child (DPF's "or" of atoms on the same
bits). Classifying walks the trie; its cost grows with the depth of the
match, not with the number of filters.

The trie is not interpreted: :meth:`Trie.compile` generates Python source
for it (one function per node, the values of a group a literal comparison
chain or, past :data:`CHAIN_MAX`, a dispatch table) and compiles it once
per change — lazily, at the first classification after an insert or a
remove. Each piece of generated code adds the instruction count of the
R3000 code DPF would have emitted for it (:data:`COSTS`, with sources), so
the simulated cycles come from what the generated code does on this
packet. Code generation uses what is known at generation time, as DPF does
(§3 of the paper): a mask covering the whole field is not emitted; a
length check already implied by one on the same path and the same base is
not repeated; values are immediates; a group's table is sized to its values.

The verdict is :func:`.dpf.winner` of every filter the frame matches (the
deepest, then the earliest installed), exactly :class:`Naive`'s.

Interface::

    COSTS                       piece of generated code -> (instructions, source)
    CHAIN_MAX                   values compared in a chain before a table is used
    Naive()                     insert, remove, classify: every filter in turn
    Trie()                      insert(fid, terms), remove(fid), classify(frame)
                                -> (fid | None, instructions); compile() -> source;
                                nodes() -> int; compiles (count); statistics()
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Callable

from exolab.errors import KernelPanic
from exolab.kernels.exokernel import dpf

__all__ = ["COSTS", "CHAIN_MAX", "Naive", "Trie", "TrieStats"]

CHAIN_MAX = 4       # a group of up to 4 values is a compare chain, more a hash table

#: piece of generated code -> (R3000 instructions, source); all estimates of
#: the code DPF emits (Engler & Kaashoek, SIGCOMM'96 §3), one cycle each
COSTS: dict[str, tuple[int, str]] = {
    "entry":  (3, "load the frame pointer and length into registers, clear the result"),
    "exit":   (2, "return the winner (move, jr)"),
    "bounds": (3, "add the field's end to the base, compare with the length, branch; "
                  "elided when a check on the same path and base already covers it"),
    "load1":  (1, "lbu"),
    "load2":  (1, "lhu (the offsets of a filter's fields are known, aligned halfwords)"),
    "load4":  (2, "lwl + lwr (a word at an offset only known to be halfword aligned)"),
    "mask":   (1, "andi/and with an immediate; not emitted when the mask covers the "
                  "field"),
    "eq":     (2, "one value: compare with an immediate and branch (li folded: bne)"),
    "chain":  (2, "per value tried in a chain of up to CHAIN_MAX: li + beq"),
    "hash":   (7, "a group of many values: fold the value, mask with the table size, "
                  "index, load the key, compare, jump through the entry (a table sized "
                  "at generation time so that it has no collisions)"),
    "shift":  (3, "and the length field, sll by log2(scale), add to the base"),
    "carry":  (1, "add the fixed shift that precedes a variable one"),
    "mul":    (2, "a scale that is not a power of two: a shift-and-add more"),
    "accept": (3, "compare the depth with the best match so far, record the filter"),
}
_C = {name: n for name, (n, _) in COSTS.items()}


class Naive:
    """Every filter tried in turn (the reference semantics, dpf.winner); cost is
    not modelled (0 instructions): a test oracle."""

    def __init__(self) -> None:
        self.filters: dict[int, tuple[dpf.Term, ...]] = {}

    def insert(self, fid: int, terms: tuple[dpf.Term, ...]) -> None:
        """Add filter ``fid``."""
        self.filters[fid] = terms

    def remove(self, fid: int) -> None:
        """Drop filter ``fid``."""
        del self.filters[fid]

    def classify(self, frame: bytes) -> tuple[int | None, int]:
        """The winning fid for ``frame`` (and 0 instructions)."""
        found = [(dpf.depth(t), fid) for fid, t in self.filters.items()
                 if dpf.matches(t, frame)]
        return dpf.winner(found), 0


class _Node:
    """A trie node: filters ending here, groups of atom edges, shift edges."""

    __slots__ = ("accepts", "groups", "shifts")

    def __init__(self) -> None:
        self.accepts: list[int] = []                              # fids, ascending
        self.groups: dict[tuple[int, int, int], dict[int, _Node]] = {}
        self.shifts: dict[dpf.Shift, _Node] = {}

    def empty(self) -> bool:
        """Whether nothing ends at or below this node."""
        return not (self.accepts or self.groups or self.shifts)


@dataclass(frozen=True, slots=True)
class TrieStats:
    """Size of the merged structure and how often it was regenerated."""

    filters: int
    nodes: int
    compiles: int
    classified: int


class Trie:
    """The merged filters and their generated classifier; see the module docstring."""

    def __init__(self) -> None:
        self.root = _Node()
        self.paths: dict[int, tuple[dpf.Term, ...]] = {}   # fid -> its terms
        self._fn: Callable[..., tuple[int, int, int]] | None = None   # None: stale
        self.source = ""
        self.compiles = self.classified = 0

    # -- changes ---------------------------------------------------------------------

    def insert(self, fid: int, terms: tuple[dpf.Term, ...]) -> None:
        """Merge filter ``fid`` into the trie (its code is regenerated lazily)."""
        if fid in self.paths:
            raise KernelPanic("dpf: filter inserted twice", fid=fid)
        node = self.root
        for t in terms:
            if isinstance(t, dpf.Atom):
                node = node.groups.setdefault((t.offset, t.size, t.mask), {}) \
                    .setdefault(t.value, _Node())
            else:
                node = node.shifts.setdefault(t, _Node())
        bisect.insort(node.accepts, fid)
        self.paths[fid] = terms
        self._fn = None

    def remove(self, fid: int) -> None:
        """Take filter ``fid`` out, pruning the nodes nothing else needs."""
        terms = self.paths.pop(fid)
        trail: list[tuple[_Node, dpf.Term]] = []
        node = self.root
        for t in terms:
            trail.append((node, t))
            if isinstance(t, dpf.Atom):
                node = node.groups[(t.offset, t.size, t.mask)][t.value]
            else:
                node = node.shifts[t]
        node.accepts.remove(fid)
        for parent, t in reversed(trail):
            if not node.empty():
                break
            if isinstance(t, dpf.Atom):
                key = (t.offset, t.size, t.mask)
                del parent.groups[key][t.value]
                if not parent.groups[key]:
                    del parent.groups[key]
            else:
                del parent.shifts[t]
            node = parent
        self._fn = None

    # -- classification ----------------------------------------------------------------

    def classify(self, frame: bytes) -> tuple[int | None, int]:
        """The winning fid for ``frame`` and the instructions the generated code ran."""
        fn = self._fn
        if fn is None:
            fn = self._compile()
        self.classified += 1
        depth, fid, cost = fn(frame, len(frame), 0, -1, 0, _C["entry"] + _C["exit"])
        return (fid if depth >= 0 else None), cost

    def compile(self) -> str:
        """Regenerate the code now; return its source (for inspection and tests)."""
        self._compile()
        return self.source

    def _compile(self) -> Callable[..., tuple[int, int, int]]:
        """Generate, compile and keep the classifier for the current trie."""
        gen = _Generator()
        root = gen.node(self.root, 0, {})
        namespace: dict[str, Any] = {"__builtins__": {}, "int": int}
        namespace.update(gen.tables)
        self.source = "\n".join(gen.lines)
        exec(compile(self.source, "<dpf generated>", "exec"), namespace)  # noqa: S102
        for name, table in gen.tables.items():          # tables name functions
            for value, child in list(table.items()):
                table[value] = namespace[child]
        self._fn = namespace[root]
        self.compiles += 1
        return self._fn

    def nodes(self) -> int:
        """Nodes in the trie (the root included)."""
        count, stack = 0, [self.root]
        while stack:
            n = stack.pop()
            count += 1
            stack.extend(c for g in n.groups.values() for c in g.values())
            stack.extend(n.shifts.values())
        return count

    def statistics(self) -> TrieStats:
        """Return a frozen snapshot of the trie's size and counters."""
        return TrieStats(len(self.paths), self.nodes(), self.compiles, self.classified)


def _load(size: int, at: str) -> str:
    """Python for a big-endian field of ``size`` bytes at index expression ``at``."""
    if size == 1:
        return f"p[{at}]"
    if size == 2:
        return f"(p[{at}] << 8 | p[{at} + 1])"
    return f"int.from_bytes(p[{at}:{at} + 4], 'big')"


class _Generator:
    """Emits one function per trie node; knows, per path, which lengths are checked."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.tables: dict[str, dict[int, Any]] = {}
        self.count = 0

    def node(self, node: _Node, depth: int, checked: dict[int, int]) -> str:
        """Emit ``node``'s function (children first); return its name.

        ``checked`` maps a base (the number of shifts taken) to the frame length
        already proven on this path for it; the function's own base is the
        deepest key."""
        name = f"n{self.count}"
        self.count += 1
        level = len(checked) - 1 if checked else 0
        body: list[str] = []
        if node.accepts:
            fid = node.accepts[0]
            body.append(f"    if {depth} > bd or ({depth} == bd and {fid} < bf): "
                        f"bd = {depth}; bf = {fid}")
            body.append(f"    c += {_C['accept']}")
        for (off, size, mask), values in node.groups.items():
            body += self._group(off, size, mask, values, depth, level, checked)
        for shift, child in node.shifts.items():
            body += self._shift(shift, child, depth, level, checked)
        self.lines.append(f"def {name}(p, n, b, bd, bf, c):")
        self.lines += body
        self.lines.append("    return bd, bf, c")
        return name

    def _check(self, end: int, level: int, checked: dict[int, int]) -> tuple[bool, int]:
        """Whether a length check for ``end`` must be emitted, and its cost."""
        if checked.get(level, 0) >= end:
            return False, 0
        return True, _C["bounds"]

    def _group(self, off: int, size: int, mask: int, values: dict[int, _Node],
               depth: int, level: int, checked: dict[int, int]) -> list[str]:
        """Code for one group: load the field once, pick at most one child."""
        end = off + size
        emit, cost = self._check(end, level, checked)
        inner = dict(checked)
        inner[level] = max(checked.get(level, 0), end)
        cost += _C[f"load{size}"] + (0 if mask == (1 << 8 * size) - 1 else _C["mask"])
        field = _load(size, f"b + {off}")
        if mask != (1 << 8 * size) - 1:
            field = f"({field} & {mask})"
        pad = "        " if emit else "    "
        out = [f"    if b + {end} <= n:"] if emit else []
        out.append(f"{pad}v = {field}")
        children = [(v, self.node(child, depth + 1, inner)) for v, child in values.items()]
        if len(children) == 1:
            (v, child), = children
            out.append(f"{pad}c += {cost + _C['eq']}")
            out.append(f"{pad}if v == {v}: bd, bf, c = {child}(p, n, b, bd, bf, c)")
        elif len(children) <= CHAIN_MAX:
            out.append(f"{pad}c += {cost}")
            for i, (v, child) in enumerate(children):
                kw = "if" if i == 0 else "elif"
                out.append(f"{pad}{kw} v == {v}: c += {_C['chain'] * (i + 1)}; "
                           f"bd, bf, c = {child}(p, n, b, bd, bf, c)")
            out.append(f"{pad}else: c += {_C['chain'] * len(children)}")
        else:
            table = f"t{len(self.tables)}"
            self.tables[table] = dict(children)
            out.append(f"{pad}c += {cost + _C['hash']}")
            out.append(f"{pad}f = {table}.get(v)")
            out.append(f"{pad}if f is not None: bd, bf, c = f(p, n, b, bd, bf, c)")
        if emit:
            out.append(f"    else: c += {_C['bounds']}")
        return out

    def _shift(self, s: dpf.Shift, child: _Node, depth: int, level: int,
               checked: dict[int, int]) -> list[str]:
        """Code for a variable shift: load the length field, move the base."""
        end = s.offset + s.size
        emit, cost = self._check(end, level, checked)
        inner = dict(checked)
        inner[level] = max(checked.get(level, 0), end)
        inner[level + 1] = 0                      # a new base: nothing checked yet
        cost += _C[f"load{s.size}"] + _C["shift"] + (_C["carry"] if s.carry else 0)
        cost += 0 if s.scale & (s.scale - 1) == 0 else _C["mul"]
        name = self.node(child, depth + 1, inner)
        field = f"({_load(s.size, f'b + {s.offset}')} & {s.mask})"
        pad = "        " if emit else "    "
        out = [f"    if b + {end} <= n:"] if emit else []
        out.append(f"{pad}c += {cost}")
        out.append(f"{pad}bd, bf, c = {name}(p, n, b + {s.carry} + {field} * {s.scale}, "
                   f"bd, bf, c)")
        if emit:
            out.append(f"    else: c += {_C['bounds']}")
        return out
