"""DPF's filter language: a packet filter is data, checked before it is installed.

A filter (Engler & Kaashoek, SIGCOMM'96) is a *conjunction of atoms*, each
comparing a masked field of the packet with a constant, plus *shifts* that
move the base the following offsets are relative to (how a filter skips a
header whose length the packet itself says, the IP header's IHL). A program
hands one in as a list of plain tuples::

    ("eq", offset, size, mask, value)     (field(base + offset, size) & mask) == value
    ("shift", n)                          base += n            (a fixed header)
    ("shift", offset, size, mask, scale)  base += (field(base + offset, size) & mask) * scale

``size`` is 1, 2 or 4 bytes; fields are read big-endian (network order).
A filter for UDP port 7 over IPv4 over Ethernet::

    [("eq", 12, 2, 0xFFFF, 0x0800),       # EtherType IPv4
     ("shift", 14),                       # past the Ethernet header
     ("eq", 9, 1, 0xFF, 17),              # protocol UDP
     ("shift", 0, 1, 0x0F, 4),            # past the IP header (IHL words)
     ("eq", 2, 2, 0xFFFF, 7)]             # destination port 7

:func:`decode` checks a filter (every failure a ``SyscallError("EINVAL")``
naming the term) and normalises it: fixed shifts are folded into the
offsets after them, so a filter becomes a tuple of :class:`Atom` and
variable :class:`Shift` terms, and two filters that test the same bytes
have equal terms (which is what lets :mod:`.dpf_trie` share their
prefixes). The checks are the bind-time guarantees:

- *well formed*: exact ``int`` fields, a known size, a mask that fits the
  size, a value with no bits outside the mask, at least one atom, at most
  :data:`MAX_TERMS` terms;
- *touches only the packet*: the largest offset any term can reach (every
  shift at its largest) stays inside :data:`MAX_FRAME`; at classification
  time a field past the packet's end means no match;
- *terminates*: a filter has no loops and at most MAX_TERMS terms, so
  classifying is bounded by construction;
- *does not steal*: :func:`may_overlap` is False only when no packet can
  satisfy both filters (two atoms on the same bytes, reached through the same
  shifts, want different bits); the binding layer refuses an unshared filter
  that overlaps another environment's unshared filter;
- *claims only its own key* (seed 001: "won't steal traffic other LibOSs
  want ... restrict language a lot"): :func:`key` admits an *unshared*
  (exclusive) filter only if it fixes a demultiplexing key an application
  owns: EtherType IPv4, the IP protocol, and for UDP and TCP the destination
  port, for ICMP the type and the identifier, each with a full mask, the
  ports and ICMP fields read past the IP header by the canonical IHL shift
  (:data:`IHL_SHIFT`). Anything broader (all IPv4, all UDP, a port range by
  mask, a source address alone, ARP, other protocols) is refused EPERM
  naming what it leaves open: it may only be bound shared. Two admitted
  filters with different keys are disjoint (they differ in a fully masked
  byte in the same context), so no first binder can take another's port.

A packet that several filters accept goes to an exclusive (unshared)
filter before any shared one, then to the deepest (most terms), the
earliest installed among equals: :func:`rank` and :func:`winner`. (The
exclusive filters a packet matches all belong to one environment, by the
overlap rule; padding a shared filter with terms cannot outbid a key's
owner.) :func:`matches` is the reference semantics every classifier must
reproduce.

Interface::

    MAX_TERMS, MAX_FRAME, SIZES, EXCLUSIVE, IHL_SHIFT, KEYED
    Atom(offset, size, mask, value)       Shift(offset, size, mask, scale, carry)
    Term = Atom | Shift
    decode(spec) -> tuple[Term, ...]      EINVAL with the term's index
    reach(terms) -> int                   the largest byte offset + 1 it may read
    matches(terms, frame) -> bool         field(base+off) read past the end: False
    may_overlap(a, b) -> bool             False only if provably disjoint
    constraints(terms) -> per-context byte constraints (None: accepts nothing)
    overlap(constraints_a, constraints_b) -> bool        may_overlap, precomputed
    key(terms) -> tuple | None            the key an unshared filter claims:
                                          ("udp"|"tcp", port) or ("icmp", type, ident);
                                          None if it accepts nothing; EPERM if too broad
    winner(candidates) -> fid             the highest rank, then the earliest installed
    depth(terms) -> int                   rank(terms, exclusive) -> int
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from exolab.errors import SyscallError, type_name

__all__ = ["MAX_TERMS", "MAX_FRAME", "SIZES", "EXCLUSIVE", "IHL_SHIFT", "KEYED", "Atom",
           "Shift", "Term", "decode", "reach", "matches", "may_overlap", "overlap", "winner",
           "depth", "rank", "constraints", "key"]

MAX_TERMS = 32          # terms of one filter (a TCP/IP demultiplexer needs 5-8)
MAX_FRAME = 1514        # the largest Ethernet frame without its FCS (what a filter sees)
SIZES = (1, 2, 4)       # bytes of a field: byte, halfword, word
EXCLUSIVE = MAX_TERMS + 1   # rank an exclusive filter adds: above any shared depth
ETHERTYPE = 12          # the EtherType's offset in an Ethernet frame
IPV4 = 0x0800
IP_PROTO = 14 + 9       # the IPv4 protocol byte (Ethernet header, then IP offset 9)
#: IP protocol -> (name, the key's fields: (offset past the IP header, size, what))
KEYED: dict[int, tuple[str, tuple[tuple[int, int, str], ...]]] = {
    17: ("udp", ((2, 2, "UDP destination port"),)),
    6: ("tcp", ((2, 2, "TCP destination port"),)),
    1: ("icmp", ((0, 1, "ICMP type"), (4, 2, "ICMP identifier"))),
}


@dataclass(frozen=True, slots=True)
class Atom:
    """``(field(base + offset, size) & mask) == value``, big-endian."""

    offset: int         # bytes from the current base (fixed shifts folded in)
    size: int           # 1, 2 or 4
    mask: int           # nonzero, fits ``size``
    value: int          # no bits outside ``mask``


@dataclass(frozen=True, slots=True)
class Shift:
    """``base += carry + (field(base + offset, size) & mask) * scale``."""

    offset: int         # where the length field is, from the current base
    size: int
    mask: int
    scale: int          # bytes per unit of the field (4 for IHL)
    carry: int          # the fixed shifts before it, folded in


Term = Atom | Shift

#: the shift past an IPv4 header of IHL words (``("shift", 14), ("shift", 0, 1,
#: 0x0F, 4)`` normalised): the one context a key's transport fields are read in
IHL_SHIFT = Shift(14, 1, 0x0F, 4, 14)


def _bad(i: int, why: str, **fields: Any) -> SyscallError:
    """The EINVAL for term ``i``."""
    return SyscallError("EINVAL", f"bad filter term: {why}", term=i, **fields)


def _field(i: int, item: tuple[Any, ...]) -> tuple[int, int, int]:
    """Decode (offset, size, mask) of term ``i``: exact ints, a known size, a mask
    that fits it."""
    offset, size, mask = item
    if type(offset) is not int or type(size) is not int or type(mask) is not int:
        raise _bad(i, "offset, size and mask must be ints")
    if size not in SIZES:
        raise _bad(i, "size must be 1, 2 or 4", size=size)
    if not 0 <= offset < MAX_FRAME:
        raise _bad(i, "offset outside the largest frame", offset=offset)
    if not 0 < mask < 1 << (8 * size):
        raise _bad(i, "mask must be nonzero and fit the size", mask=mask, size=size)
    return offset, size, mask


def decode(spec: Any) -> tuple[Term, ...]:
    """Check ``spec`` (a list or tuple of term tuples) and return its normal form."""
    if type(spec) not in (list, tuple):
        raise SyscallError("EINVAL", "a filter is a list of terms", type=type_name(spec))
    if not 0 < len(spec) <= MAX_TERMS:
        raise SyscallError("EINVAL", "a filter has 1 to MAX_TERMS terms",
                           terms=len(spec), limit=MAX_TERMS)
    out: list[Term] = []
    carry = 0
    for i, item in enumerate(spec):
        if type(item) is not tuple or not item or type(item[0]) is not str:
            raise _bad(i, "a term is a tuple naming its kind")
        kind, rest = item[0], item[1:]
        if kind == "eq" and len(rest) == 4:
            off, size, mask = _field(i, rest[:3])
            value = rest[3]
            if type(value) is not int or value < 0 or value & ~mask:
                raise _bad(i, "value must be an int with no bits outside the mask")
            out.append(Atom(carry + off, size, mask, value))
        elif kind == "shift" and len(rest) == 1:
            n = rest[0]
            if type(n) is not int or not 0 < n < MAX_FRAME:
                raise _bad(i, "a fixed shift is 1 to MAX_FRAME - 1 bytes")
            carry += n
        elif kind == "shift" and len(rest) == 4:
            off, size, mask = _field(i, rest[:3])
            scale = rest[3]
            if type(scale) is not int or not 0 < scale <= 8:
                raise _bad(i, "a shift's scale is 1 to 8 bytes")
            out.append(Shift(carry + off, size, mask, scale, carry))
            carry = 0
        else:
            raise _bad(i, "unknown kind or wrong number of fields", kind=kind)
        if carry >= MAX_FRAME:
            raise _bad(i, "shifts past the largest frame")
    terms = tuple(out)         # a trailing shift stays: its field must exist
    if not any(type(t) is Atom for t in terms):
        raise SyscallError("EINVAL", "a filter needs at least one atom")
    if reach(terms) > MAX_FRAME:
        raise SyscallError("EINVAL", "filter can read beyond the largest frame",
                           reach=reach(terms), limit=MAX_FRAME)
    return terms


def reach(terms: Iterable[Term]) -> int:
    """One past the largest byte offset ``terms`` can read (every shift at its largest)."""
    base = far = 0
    for t in terms:
        far = max(far, base + t.offset + t.size)
        if isinstance(t, Shift):
            base += t.carry + t.mask * t.scale
    return far


def depth(terms: tuple[Term, ...]) -> int:
    """How deep a filter's match is: its number of terms."""
    return len(terms)


def rank(terms: tuple[Term, ...], exclusive: bool = False) -> int:
    """A match's precedence: its depth, raised above every shared one if exclusive."""
    return len(terms) + (EXCLUSIVE if exclusive else 0)


def matches(terms: tuple[Term, ...], frame: bytes) -> bool:
    """Whether ``frame`` satisfies every term (the reference semantics)."""
    base, n = 0, len(frame)
    for t in terms:
        start = base + t.offset
        end = start + t.size
        if end > n:
            return False
        v = int.from_bytes(frame[start:end], "big") & t.mask
        if isinstance(t, Atom):
            if v != t.value:
                return False
        else:
            base += t.carry + v * t.scale
    return True


def constraints(terms: tuple[Term, ...]) -> dict[tuple[Shift, ...], dict[int, tuple[int, int]]] | None:
    """Per shift context (the shifts taken so far), byte offset -> (mask, value) the
    filter requires; None if the filter contradicts itself (accepts nothing)."""
    out: dict[tuple[Shift, ...], dict[int, tuple[int, int]]] = {(): {}}
    ctx: tuple[Shift, ...] = ()
    for t in terms:
        if isinstance(t, Shift):
            ctx = ctx + (t,)
            out.setdefault(ctx, {})
            continue
        bytes_ = out[ctx]
        for j in range(t.size):
            sh = 8 * (t.size - 1 - j)
            m, v = (t.mask >> sh) & 0xFF, (t.value >> sh) & 0xFF
            if not m:
                continue
            om, ov = bytes_.get(t.offset + j, (0, 0))
            if (om & m) & (ov ^ v):
                return None
            bytes_[t.offset + j] = (om | m, ov | v)
    return out


def may_overlap(a: tuple[Term, ...], b: tuple[Term, ...]) -> bool:
    """False only if no packet satisfies both: some byte both test, reached through
    the same shifts, must hold different bits."""
    return overlap(constraints(a), constraints(b))


def overlap(ca: Any, cb: Any) -> bool:
    """:func:`may_overlap` of two filters' :func:`constraints`."""
    if ca is None or cb is None:
        return False
    for ctx, bytes_a in ca.items():
        bytes_b = cb.get(ctx)
        if not bytes_b:
            continue
        for off, (ma, va) in bytes_a.items():
            mb, vb = bytes_b.get(off, (0, 0))
            if (ma & mb) & (va ^ vb):
                return False
    return True


def winner(candidates: Iterable[tuple[int, int]]) -> int | None:
    """Of (rank, fid) pairs (:func:`rank`; the depth for shared filters), the fid of
    the highest, the lowest fid among equals (the earliest installed); None if none."""
    best: tuple[int, int] | None = None
    for d, fid in candidates:
        if best is None or d > best[0] or (d == best[0] and fid < best[1]):
            best = (d, fid)
    return None if best is None else best[1]


def _fixed(bytes_: dict[int, tuple[int, int]], offset: int, size: int) -> int | None:
    """The value ``size`` bytes at ``offset`` must hold, or None unless all are
    fully masked."""
    value = 0
    for j in range(size):
        m, v = bytes_.get(offset + j, (0, 0))
        if m != 0xFF:
            return None
        value = value << 8 | v
    return value


def _open(what: str, **fields: Any) -> SyscallError:
    """The EPERM for an unshared filter that leaves ``what`` open."""
    return SyscallError("EPERM", "an unshared filter must fix its demultiplexing key "
                        "(bind a broader filter shared)", missing=what, **fields)


def key(terms: tuple[Term, ...]) -> tuple[Any, ...] | None:
    """The demultiplexing key ``terms`` claim, for an unshared bind; None if they
    accept nothing; EPERM naming the field a broader filter leaves open."""
    cons = constraints(terms)
    if cons is None:
        return None
    eth = cons[()]
    ethertype = _fixed(eth, ETHERTYPE, 2)
    if ethertype is None:
        raise _open("EtherType")
    if ethertype != IPV4:
        raise _open("an IPv4 key (only UDP, TCP and ICMP keys can be owned)",
                    ethertype=ethertype)
    proto = _fixed(eth, IP_PROTO, 1)
    if proto is None:
        raise _open("IP protocol")
    if proto not in KEYED:
        raise _open("a keyed IP protocol (UDP, TCP, ICMP)", protocol=proto)
    name, fields = KEYED[proto]
    transport = cons.get((IHL_SHIFT,), {})
    out: list[Any] = [name]
    for offset, size, what in fields:
        value = _fixed(transport, offset, size)
        if value is None:
            raise _open(what + " (past the IHL shift, full mask)", protocol=proto)
        out.append(value)
    return tuple(out)
