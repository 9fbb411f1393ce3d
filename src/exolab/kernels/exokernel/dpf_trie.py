"""DPF's merged decision structure, compiled to specialised code per change.

Every installed filter (:mod:`.dpf`, normal form) is a path in one trie:
an edge is a term, so filters that begin with the same terms share those
nodes (the ten filters of ten TCP connections share Ethernet, IP, protocol
and shift, and differ only in the last port). Edges that load the same
field (offset, size, mask) from a node are one *group*: the field is loaded
once and its value picks at most one child (DPF's "or" of atoms on the same
bits). Classifying walks the trie; its cost grows with the depth of the
match, not with the number of filters.

The trie is not interpreted: it is generated as Python source (one function
per node, the values of a group a literal comparison chain or, past
:data:`CHAIN_MAX`, a dispatch table) and compiled at each change, eagerly,
inside :meth:`Trie.insert` and :meth:`Trie.remove` — never at
classification. Only the changed path is regenerated: a node's code
depends on its own subtree and on the path above it (its depth, the lengths
already checked), so the nodes from the root to the inserted (or removed)
filter's last node are regenerated and every other node's function is kept;
functions call their children by a stable name (one per node, for its
life), so a regenerated child is found by the unchanged parents that call
it. This is DPF's incremental generation (the DPF 2.0 release regenerates
an atom's code when it is created, when its "or" list or hash table
changes, or when its first child changes; oskit dpf/OVERVIEW). Both return
the instructions the regeneration emitted (counted from the same
:data:`COSTS`: every piece of code a node's function holds, once), which Aegis charges to the caller
(:mod:`.dpf_rx`). Each piece of generated code adds the instruction count of the
R3000 code DPF would have emitted for it (:data:`COSTS`, with sources), so
the simulated cycles come from what the generated code does on this
packet. Code generation uses what is known at generation time, as DPF does
(§3 of the paper): a mask covering the whole field is not emitted; a
length check already implied by one on the same path and the same base is
not repeated; values are immediates; a group's table is sized to its values.

The verdict is :func:`.dpf.winner` of every filter the frame matches (the
highest :func:`.dpf.rank`: an exclusive filter first, then the deepest, then
the earliest installed), exactly :class:`Naive`'s. Exclusivity changes only
the constant a node's accept compares, never the code's length or cost.

Interface::

    COSTS                       piece of generated code -> (instructions, source)
    CHAIN_MAX                   values compared in a chain before a table is used
    Naive()                     insert(fid, terms, exclusive=False), remove, classify:
                                every filter in turn
    Trie()                      insert(fid, terms, exclusive=False) -> emitted,
                                remove(fid) -> emitted,
                                classify(frame) -> (fid | None, instructions);
                                compile() -> source (everything regenerated);
                                source; nodes() -> int; compiles (count); statistics()
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
        self.exclusive: set[int] = set()

    def insert(self, fid: int, terms: tuple[dpf.Term, ...], exclusive: bool = False) -> None:
        """Add filter ``fid`` (``exclusive``: an unshared binding, ranked first)."""
        self.filters[fid] = terms
        if exclusive:
            self.exclusive.add(fid)

    def remove(self, fid: int) -> None:
        """Drop filter ``fid``."""
        del self.filters[fid]
        self.exclusive.discard(fid)

    def classify(self, frame: bytes) -> tuple[int | None, int]:
        """The winning fid for ``frame`` (and 0 instructions)."""
        found = [(dpf.rank(t, fid in self.exclusive), fid)
                 for fid, t in self.filters.items() if dpf.matches(t, frame)]
        return dpf.winner(found), 0


class _Node:
    """A trie node: filters ending here, groups of atom edges, shift edges."""

    __slots__ = ("accepts", "groups", "shifts", "name")

    def __init__(self, name: str) -> None:
        self.name = name                                          # its function's, for life
        self.accepts: list[tuple[int, int]] = []     # (-exclusive, fid), best first
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
        self._made = 0                                     # nodes ever made (names)
        self.root = self._node()
        self.paths: dict[int, tuple[dpf.Term, ...]] = {}   # fid -> its terms
        self.exclusive: set[int] = set()                   # fids ranked above shared
        self._ns: dict[str, Any] = {"__builtins__": {}, "int": int}   # the code
        self._src: dict[str, list[str]] = {}               # node name -> its source
        self._owned: dict[str, list[str]] = {}             # node name -> its tables
        self._via: dict[str, tuple[int, int, int, int]] = {}  # node -> its path edge
        self._fn: Callable[..., tuple[int, int, int]] | None = None
        self.compiles = self.classified = 0
        self._regen([self.root], [], set())                       # the empty classifier
        self.compiles = 0

    def _node(self) -> _Node:
        """A new node, named for its function."""
        self._made += 1
        return _Node(f"n{self._made - 1}")

    # -- changes (each regenerates the changed path now) -------------------------------

    def insert(self, fid: int, terms: tuple[dpf.Term, ...], exclusive: bool = False) -> int:
        """Merge filter ``fid`` (``exclusive``: ranked above every shared filter) into
        the trie and regenerate its path; return the instructions emitted."""
        if fid in self.paths:
            raise KernelPanic("dpf: filter inserted twice", fid=fid)
        node = self.root
        path = [node]
        for t in terms:
            if isinstance(t, dpf.Atom):
                values = node.groups.setdefault((t.offset, t.size, t.mask), {})
                self._via[node.name] = (t.offset, t.size, t.mask, t.value)
                child = values.get(t.value)
                if child is None:
                    child = values[t.value] = self._node()
            else:
                child = node.shifts.get(t)
                if child is None:
                    child = node.shifts[t] = self._node()
            node = child
            path.append(node)
        bisect.insort(node.accepts, (-int(exclusive), fid))
        self.paths[fid] = terms
        if exclusive:
            self.exclusive.add(fid)
        return self._regen(path, [], set())

    def remove(self, fid: int) -> int:
        """Take filter ``fid`` out, pruning the nodes nothing else needs, and
        regenerate what is left of its path; return the instructions emitted."""
        terms = self.paths.pop(fid)
        trail: list[tuple[_Node, dpf.Term]] = []
        node = self.root
        path = [node]
        for t in terms:
            trail.append((node, t))
            if isinstance(t, dpf.Atom):
                self._via[node.name] = (t.offset, t.size, t.mask, t.value)
                node = node.groups[(t.offset, t.size, t.mask)][t.value]
            else:
                node = node.shifts[t]
            path.append(node)
        node.accepts.remove((-int(fid in self.exclusive), fid))
        self.exclusive.discard(fid)
        dead: list[_Node] = []
        gone: set[tuple[str, int, int, int, int]] = set()  # table entries to drop
        for parent, t in reversed(trail):
            if not node.empty():
                break
            if isinstance(t, dpf.Atom):
                key = (t.offset, t.size, t.mask)
                del parent.groups[key][t.value]
                gone.add((parent.name, *key, t.value))
                if not parent.groups[key]:
                    del parent.groups[key]
            else:
                del parent.shifts[t]
            dead.append(node)
            node = parent
        return self._regen(path[:len(path) - len(dead)], dead, gone)

    # -- classification ----------------------------------------------------------------

    def classify(self, frame: bytes) -> tuple[int | None, int]:
        """The winning fid for ``frame`` and the instructions the generated code ran
        (the code is always current: nothing is generated here)."""
        fn = self._fn
        assert fn is not None
        self.classified += 1
        depth, fid, cost = fn(frame, len(frame), 0, -1, 0, _C["entry"] + _C["exit"])
        return (fid if depth >= 0 else None), cost

    @property
    def source(self) -> str:
        """The generated code of every node (for inspection and tests)."""
        return "\n".join(line for lines in self._src.values() for line in lines)

    def compile(self) -> str:
        """Regenerate every node's code now; return the source."""
        self._regen(None, [], set())
        return self.source

    def _regen(self, path: list[_Node] | None, dead: list[_Node],
               gone: set[tuple[str, int, int, int, int]]) -> int:
        """Regenerate the code of the nodes on ``path`` (root first; None: all),
        drop ``dead``'s and the table entries in ``gone``; return the instructions
        emitted. A dispatch table that exists is updated in place: only the entry of
        the path's child (and a removed one) is written, whatever its size."""
        for n in dead:
            self._ns.pop(n.name, None)
            self._src.pop(n.name, None)
            for table in self._owned.pop(n.name, ()):
                self._ns.pop(table, None)
        todo = None if path is None else {id(n) for n in path}
        gen = _Generator(todo, self._via, gone, self._ns)
        gen.node(self.root, 0, {})
        self._via.clear()
        source = "\n".join(line for lines in gen.funcs.values() for line in lines)
        exec(compile(source, "<dpf generated>", "exec"), self._ns)  # noqa: S102
        for table, (full, entries, dropped) in gen.tables.items():   # name functions
            t = {} if full else self._ns[table]
            for v in dropped:
                t.pop(v, None)
            for v, child in entries.items():
                t[v] = self._ns[child]
            self._ns[table] = t
        for name, tables in gen.owned.items():           # tables no longer used
            for table in set(self._owned.get(name, ())) - set(tables):
                self._ns.pop(table, None)
            self._owned[name] = tables
        self._src.update(gen.funcs)
        self._fn = self._ns[self.root.name]
        self.compiles += 1
        return gen.emitted

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
    """Emits one function per regenerated node; knows, per path, which lengths are
    checked; counts the instructions it emits (each piece's :data:`COSTS` once; a
    dispatch table's entries one word each)."""

    def __init__(self, todo: set[int] | None, via: dict[str, tuple[int, int, int, int]],
                 gone: set[tuple[str, int, int, int, int]], ns: dict[str, Any]) -> None:
        self.todo = todo                                  # ids of the nodes to emit
        self.via = via                                    # node name -> its path edge
        self.gone = gone                                  # table entries removed
        self.ns = ns                                      # the code so far (tables)
        self.funcs: dict[str, list[str]] = {}             # node name -> its source
        # table -> (built afresh, value -> function to write, values to drop)
        self.tables: dict[str, tuple[bool, dict[int, str], list[int]]] = {}
        self.owned: dict[str, list[str]] = {}             # node name -> its tables
        self.emitted = 0

    def child(self, node: _Node, depth: int, checked: dict[int, int]) -> str:
        """``node``'s function name, emitting it first if it is to be regenerated."""
        if self.todo is None or id(node) in self.todo:
            return self.node(node, depth, checked)
        return node.name

    def node(self, node: _Node, depth: int, checked: dict[int, int]) -> str:
        """Emit ``node``'s function (children to regenerate first); return its name.

        ``checked`` maps a base (the number of shifts taken) to the frame length
        already proven on this path for it; the function's own base is the
        deepest key."""
        name = node.name
        self.owned[name] = []
        level = len(checked) - 1 if checked else 0
        body: list[str] = []
        if depth == 0:
            self.emitted += _C["entry"] + _C["exit"]
        if node.accepts:
            top, fid = node.accepts[0]
            rank = depth + (dpf.EXCLUSIVE if top else 0)
            body.append(f"    if {rank} > bd or ({rank} == bd and {fid} < bf): "
                        f"bd = {rank}; bf = {fid}")
            body.append(f"    c += {_C['accept']}")
            self.emitted += _C["accept"]
        for (off, size, mask), values in node.groups.items():
            body += self._group(name, off, size, mask, values, depth, level, checked)
        for shift, child in node.shifts.items():
            body += self._shift(shift, child, depth, level, checked)
        self.funcs[name] = [f"def {name}(p, n, b, bd, bf, c):", *body,
                            "    return bd, bf, c"]
        return name

    def _check(self, end: int, level: int, checked: dict[int, int]) -> tuple[bool, int]:
        """Whether a length check for ``end`` must be emitted, and its cost."""
        if checked.get(level, 0) >= end:
            return False, 0
        return True, _C["bounds"]

    def _group(self, owner: str, off: int, size: int, mask: int,
               values: dict[int, _Node], depth: int, level: int,
               checked: dict[int, int]) -> list[str]:
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
        if len(values) > CHAIN_MAX:
            out += self._table(owner, off, size, mask, values, depth, inner, cost, pad)
            if emit:
                out.append(f"    else: c += {_C['bounds']}")
            return out
        children = [(v, self.child(child, depth + 1, inner)) for v, child in values.items()]
        if len(children) == 1:
            (v, child), = children
            self.emitted += cost + _C["eq"]
            out.append(f"{pad}c += {cost + _C['eq']}")
            out.append(f"{pad}if v == {v}: bd, bf, c = {child}(p, n, b, bd, bf, c)")
        elif len(children) <= CHAIN_MAX:
            self.emitted += cost + _C["chain"] * len(children)
            out.append(f"{pad}c += {cost}")
            for i, (v, child) in enumerate(children):
                kw = "if" if i == 0 else "elif"
                out.append(f"{pad}{kw} v == {v}: c += {_C['chain'] * (i + 1)}; "
                           f"bd, bf, c = {child}(p, n, b, bd, bf, c)")
            out.append(f"{pad}else: c += {_C['chain'] * len(children)}")
        if emit:
            out.append(f"    else: c += {_C['bounds']}")
        return out

    def _table(self, owner: str, off: int, size: int, mask: int,
               values: dict[int, _Node], depth: int, inner: dict[int, int], cost: int,
               pad: str) -> list[str]:
        """A group of many values: a dispatch table. One that exists is kept and
        only the path's entry (and a removed one) rewritten; a new one is built."""
        table = f"t{owner[1:]}_{off}_{size}_{mask}"
        self.owned[owner].append(table)
        if self.todo is None or table not in self.ns:
            entries = {v: self.child(child, depth + 1, inner) for v, child in values.items()}
            self.tables[table] = (True, entries, [])
        else:
            entries = {}
            edge = self.via.get(owner)                    # the path's edge from here
            if edge is not None and edge[:3] == (off, size, mask) and edge[3] in values:
                entries[edge[3]] = self.child(values[edge[3]], depth + 1, inner)
            dropped = [g[4] for g in self.gone if g[:4] == (owner, off, size, mask)]
            self.tables[table] = (False, entries, dropped)
            self.emitted += len(dropped)
        self.emitted += cost + _C["hash"] + len(entries)
        return [f"{pad}c += {cost + _C['hash']}", f"{pad}f = {table}.get(v)",
                f"{pad}if f is not None: bd, bf, c = f(p, n, b, bd, bf, c)"]

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
        self.emitted += cost
        name = self.child(child, depth + 1, inner)
        field = f"({_load(s.size, f'b + {s.offset}')} & {s.mask})"
        pad = "        " if emit else "    "
        out = [f"    if b + {end} <= n:"] if emit else []
        out.append(f"{pad}c += {cost}")
        out.append(f"{pad}bd, bf, c = {name}(p, n, b + {s.carry} + {field} * {s.scale}, "
                   f"bd, bf, c)")
        if emit:
            out.append(f"    else: c += {_C['bounds']}")
        return out
