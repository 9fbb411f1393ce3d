"""Interpreted packet classifiers in the style of MPF and PATHFINDER (for comparison).

Before DPF, a demultiplexer interpreted each installed filter in turn:
MPF (Yuhara et al., USENIX'94) extends the BSD packet filter, an
accumulator machine whose instructions are fetched, decoded through a
switch and executed one at a time; PATHFINDER (Bailey et al., OSDI'94)
interprets *cells* — (offset, length, mask, value) comparisons — of one
pattern after another. Both are modelled here over the same normal-form
filters as DPF (:mod:`.dpf`), with the same verdict (:func:`.dpf.winner`):
filters are tried in order of decreasing depth, then installation, and the
first that accepts wins, so the search stops as soon as the winner is
found. The cost is the instructions the interpreter executes on this
packet (:data:`MPF_COSTS`, :data:`PATHFINDER_COSTS`, with sources), so it
grows with the number of filters tried — linearly in the number
installed — where DPF's grows with the depth of the match.

The interpreters really interpret: a filter is translated once into the
interpreter's program (BPF-style instructions; PATHFINDER cells) and every
classification runs those programs.

Interface::

    MPF_COSTS, PATHFINDER_COSTS       piece of interpreter work -> (instructions, source)
    MPF(), Pathfinder()               insert(fid, terms), remove(fid),
                                      classify(frame) -> (fid | None, instructions),
                                      program(fid) -> the translated filter
"""
from __future__ import annotations

import bisect
from typing import Any

from exolab.kernels.exokernel import dpf

__all__ = ["MPF_COSTS", "PATHFINDER_COSTS", "MPF", "Pathfinder"]

#: MPF's interpreter (a BPF-style accumulator machine), R3000 instructions; estimates
MPF_COSTS: dict[str, tuple[int, str]] = {
    "entry":    (20, "take the frame, set up the loop over installed filters"),
    "filter":   (10, "per filter tried: load its program, clear A and X, call the "
                     "interpreter, test the verdict"),
    "dispatch": (12, "per instruction: fetch the 8-byte instruction (code, jt, jf, k: "
                     "4 loads), range-check the opcode and jump through the switch "
                     "table (5), advance pc and loop (2), a load-delay slot (1)"),
    "bounds":   (3,  "per load: compare offset + size with the frame length, branch"),
    "ld1":      (1,  "lbu"),
    "ld2":      (4,  "two lbu, sll, or: BPF loads are byte-assembled (unaligned safe)"),
    "ld4":      (8,  "four lbu, three sll/or pairs"),
    "and":      (1,  "and with k"),
    "jeq":      (2,  "compare A with k, branch"),
    "ldx":      (5,  "X += carry + (P[X+k] & mask) * scale: lbu, and, sll, two adds"),
    "ret":      (2,  "return the verdict"),
}

#: PATHFINDER's cell interpreter, R3000 instructions; estimates
PATHFINDER_COSTS: dict[str, tuple[int, str]] = {
    "entry":    (20, "take the frame, set up the walk over installed patterns"),
    "pattern":  (6,  "per pattern tried: load its first cell and its result, loop"),
    "cell":     (9,  "per cell: load offset, length, mask and value (4 loads), "
                     "dispatch on the length (3), advance to the next cell (2)"),
    "bounds":   (3,  "compare offset + length with the frame length, branch"),
    "ld1":      (1,  "lbu"),
    "ld2":      (3,  "lbu, lbu, sll/or (cells are not known aligned)"),
    "ld4":      (7,  "four lbu, three sll/or"),
    "mask":     (1,  "and with the cell's mask (cells always carry one)"),
    "cmp":      (2,  "compare with the cell's value, branch"),
    "shift":    (4,  "a header-length cell: and, sll, add to the base, add the carry"),
    "accept":   (3,  "record the pattern's result"),
}
_M = {k: n for k, (n, _) in MPF_COSTS.items()}
_P = {k: n for k, (n, _) in PATHFINDER_COSTS.items()}

# MPF opcodes: (op, size, offset, mask, value-or-scale, carry)
LD, LDI, AND, JEQ, LDX, RET = range(6)


class _Linear:
    """Filters kept in priority order: deeper first, then earlier installed."""

    def __init__(self) -> None:
        self.order: list[tuple[int, int]] = []          # (-depth, fid), ascending
        self.programs: dict[int, Any] = {}

    def insert(self, fid: int, terms: tuple[dpf.Term, ...]) -> None:
        """Translate and add filter ``fid``."""
        self.programs[fid] = self.translate(terms)
        bisect.insort(self.order, (-dpf.depth(terms), fid))

    def remove(self, fid: int) -> None:
        """Drop filter ``fid``."""
        del self.programs[fid]
        self.order = [e for e in self.order if e[1] != fid]

    def program(self, fid: int) -> Any:
        """The translated form of filter ``fid``."""
        return self.programs[fid]

    def translate(self, terms: tuple[dpf.Term, ...]) -> Any:
        """The interpreter's program for ``terms``."""
        raise NotImplementedError

    def run(self, prog: Any, frame: bytes, n: int) -> tuple[bool, int]:
        """Interpret one program: (accepted, instructions)."""
        raise NotImplementedError

    def classify(self, frame: bytes) -> tuple[int | None, int]:
        """Try each filter in priority order; the first accept wins."""
        n, cost, per = len(frame), self.entry, self.per_filter
        for _, fid in self.order:
            ok, c = self.run(self.programs[fid], frame, n)
            cost += per + c
            if ok:
                return fid, cost
        return None, cost

    entry = per_filter = 0


def _field(frame: bytes, at: int, size: int) -> int:
    """Big-endian field of ``size`` bytes at ``at`` (the caller checked bounds)."""
    if size == 1:
        return frame[at]
    if size == 2:
        return frame[at] << 8 | frame[at + 1]
    return int.from_bytes(frame[at:at + 4], "big")


class MPF(_Linear):
    """A BPF-style accumulator machine, one filter program after another."""

    entry, per_filter = _M["entry"], _M["filter"]

    def translate(self, terms: tuple[dpf.Term, ...]) -> list[tuple[int, ...]]:
        """BPF-style instructions: loads (absolute, then X-relative), and, jeq, ldx, ret."""
        prog: list[tuple[int, ...]] = []
        indexed = False
        for t in terms:
            if isinstance(t, dpf.Shift):
                prog.append((LDX, t.size, t.offset, t.mask, t.scale, t.carry))
                indexed = True
                continue
            prog.append((LDI if indexed else LD, t.size, t.offset, 0, 0, 0))
            if t.mask != (1 << 8 * t.size) - 1:
                prog.append((AND, 0, 0, t.mask, 0, 0))
            prog.append((JEQ, 0, 0, 0, t.value, 0))
        prog.append((RET, 0, 0, 0, 0, 0))
        return prog

    def run(self, prog: Any, frame: bytes, n: int) -> tuple[bool, int]:
        """Interpret ``prog`` on ``frame``: (accepted, instructions executed)."""
        a = x = 0
        cost, dispatch = 0, _M["dispatch"]
        for op, size, off, mask, k, carry in prog:
            cost += dispatch
            if op == LD or op == LDI or op == LDX:
                at = off + (x if op != LD else 0)
                cost += _M["bounds"] + (_M[f"ld{size}"] if op != LDX else _M["ldx"])
                if at + size > n:
                    return False, cost
                v = _field(frame, at, size)
                if op == LDX:
                    x += carry + (v & mask) * k
                else:
                    a = v
            elif op == AND:
                a &= mask
                cost += _M["and"]
            elif op == JEQ:
                cost += _M["jeq"]
                if a != k:
                    return False, cost
            else:
                return True, cost + _M["ret"]
        return False, cost


class Pathfinder(_Linear):
    """Cells of one pattern after another (comparison cells and header-length cells)."""

    entry, per_filter = _P["entry"], _P["pattern"]

    def translate(self, terms: tuple[dpf.Term, ...]) -> list[tuple[bool, int, int, int, int, int]]:
        """Cells: (is_shift, offset, size, mask, value or scale, carry)."""
        return [(isinstance(t, dpf.Shift), t.offset, t.size, t.mask,
                 t.scale if isinstance(t, dpf.Shift) else t.value,
                 t.carry if isinstance(t, dpf.Shift) else 0) for t in terms]

    def run(self, prog: Any, frame: bytes, n: int) -> tuple[bool, int]:
        """Interpret the cells of one pattern: (accepted, instructions executed)."""
        base, cost = 0, 0
        for is_shift, off, size, mask, k, carry in prog:
            cost += _P["cell"] + _P["bounds"]
            at = base + off
            if at + size > n:
                return False, cost
            v = _field(frame, at, size) & mask
            cost += _P[f"ld{size}"] + _P["mask"]
            if is_shift:
                base += carry + v * k
                cost += _P["shift"]
            else:
                cost += _P["cmp"]
                if v != k:
                    return False, cost
        return True, cost + _P["accept"]
