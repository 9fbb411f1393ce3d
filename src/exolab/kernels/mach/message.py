"""Mach messages: the header, typed body items, and kernel message buffers (kmsgs).

A message is a 24-byte header (``mach_msg_header_t``: bits, size, remote
port, local port, seqno, id) followed by a *typed* body: each item is a
4-byte descriptor (type in the low 8 bits, count in the high 24) and its
data — ``count`` bytes (padded to 4) for a byte item, one 4-byte port name
for a port item, whose type is the disposition of the right it carries. The
bits word holds the dispositions of the remote (destination) and local
(reply) rights. Nothing in a header is trusted: :func:`parse_header` and
:func:`parse_body` decode every field at its exact type and bound and raise
``EINVAL`` naming the field, before the kernel looks any name up.

A sent message is copied into a *kmsg*: pages from the kernel's kmsg zone
(simulated frames wired at boot), written through physical memory and
charged at the profile's copy rate; the receiver's copy out of it is the
second copy. Large messages take more pages of the zone; an empty zone is
``ENOMEM``: user sends leave a reserve the kernel's and the UX path's use,
and above it a light reserve only a send under no pressure (its payer holds
few pages, :mod:`.quota`) may take.

Interface::

    MOVE_RECEIVE, MOVE_SEND, MOVE_SEND_ONCE, COPY_SEND, MAKE_SEND, MAKE_SEND_ONCE
    TYPE_BYTES, DISPOSITIONS      the item types
    header(remote, local, size, rbits, lbits, msg_id) -> bytes
    item_bytes(data) -> bytes     item_port(disposition, name) -> bytes
    Header                        a decoded header (slotted)
    parse_header(raw, body_len) -> Header
    parse_body(body) -> list[(type, bytes | name)]
    Kmsg, KmsgZone(memory, ppns, reserve, light_reserve=0)
      zone.alloc(nbytes, privileged=False, light=False) -> Kmsg    zone.write(kmsg, data)   zone.read(kmsg) -> bytes
      zone.free(kmsg)              zone.statistics()
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from exolab.errors import SyscallError
from exolab.kernels.common.args import shown
from exolab.kernels.mach.limits import HEADER_SIZE, MAX_ITEMS, MAX_MSG

__all__ = ["MOVE_RECEIVE", "MOVE_SEND", "MOVE_SEND_ONCE", "COPY_SEND", "MAKE_SEND",
           "MAKE_SEND_ONCE", "TYPE_BYTES", "DISPOSITIONS", "header", "item_bytes",
           "item_port", "Header", "parse_header", "parse_body", "Kmsg", "KmsgZone",
           "ZoneStats"]

MOVE_RECEIVE = 16       # Mach's MACH_MSG_TYPE_* values
MOVE_SEND = 17
MOVE_SEND_ONCE = 18
COPY_SEND = 19
MAKE_SEND = 20
MAKE_SEND_ONCE = 21
TYPE_BYTES = 9          # MACH_MSG_TYPE_BYTE

#: disposition -> what it does with the sender's right
DISPOSITIONS: dict[int, str] = {
    MOVE_RECEIVE: "move the receive right", MOVE_SEND: "move a send right",
    MOVE_SEND_ONCE: "move a send-once right", COPY_SEND: "copy a send right",
    MAKE_SEND: "make a send right from the receive right",
    MAKE_SEND_ONCE: "make a send-once right from the receive right"}

_HEADER = struct.Struct("<IIIIII")
_WORD = struct.Struct("<I")
_REMOTE_OK = frozenset({MOVE_SEND, MOVE_SEND_ONCE, COPY_SEND, MAKE_SEND, MAKE_SEND_ONCE})
_LOCAL_OK = frozenset({0, MAKE_SEND, MAKE_SEND_ONCE, COPY_SEND, MOVE_SEND,
                       MOVE_SEND_ONCE})


def header(remote: int, local: int, size: int, rbits: int, lbits: int = 0,
           msg_id: int = 0) -> bytes:
    """Encode a header (a library's job: the kernel trusts none of it)."""
    return _HEADER.pack(rbits | lbits << 8, size, remote, local, 0, msg_id)


def item_bytes(data: bytes) -> bytes:
    """Encode a byte item: descriptor, data, padding to 4."""
    return _WORD.pack(TYPE_BYTES | len(data) << 8) + data + bytes(-len(data) & 3)


def item_port(disposition: int, name: int) -> bytes:
    """Encode a port item carrying the right ``disposition`` of ``name``."""
    return _WORD.pack(disposition | 1 << 8) + _WORD.pack(name)


@dataclass(slots=True)
class Header:
    """A decoded header: names still in the sender's space."""

    remote: int
    local: int
    rbits: int
    lbits: int
    msg_id: int
    size: int


def parse_header(raw: Any, body_len: int) -> Header:
    """Decode a header: exact bytes of HEADER_SIZE, size = header + body within
    MAX_MSG, known dispositions, no reserved bits; EINVAL naming the field."""
    if type(raw) is not bytes or len(raw) != HEADER_SIZE:
        raise SyscallError("EINVAL", "malformed message header", field="header",
                           expected=HEADER_SIZE, actual=_len(raw))
    bits, size, remote, local, _seqno, msg_id = _HEADER.unpack(raw)
    if body_len > MAX_MSG:
        raise SyscallError("EINVAL", "message too large", field="size",
                           limit=MAX_MSG, actual=body_len)
    if size != HEADER_SIZE + body_len:
        raise SyscallError("EINVAL", "header size does not match the message",
                           field="size", expected=HEADER_SIZE + body_len, actual=size)
    rbits, lbits = bits & 0xFF, bits >> 8 & 0xFF
    if bits >> 16:
        raise SyscallError("EINVAL", "reserved header bits set", field="bits", bits=bits)
    if rbits not in _REMOTE_OK:
        raise SyscallError("EINVAL", "bad remote disposition", field="bits", rbits=rbits)
    if lbits not in _LOCAL_OK:
        raise SyscallError("EINVAL", "bad local disposition", field="bits", lbits=lbits)
    return Header(remote, local, rbits, lbits, msg_id, size)


def parse_body(body: bytes) -> list[tuple[int, Any]]:
    """Decode a typed body into (type, data) items: byte items' data, port items'
    names; EINVAL for a truncated item, an unknown type or too many items."""
    items: list[tuple[int, Any]] = []
    pos, n = 0, len(body)
    while pos < n:
        if len(items) >= MAX_ITEMS:
            raise SyscallError("EINVAL", "too many items", field="body", limit=MAX_ITEMS)
        if pos + 4 > n:
            raise SyscallError("EINVAL", "truncated item descriptor", field="body", at=pos)
        desc = _WORD.unpack_from(body, pos)[0]
        kind, count = desc & 0xFF, desc >> 8
        pos += 4
        if kind == TYPE_BYTES:
            if pos + count > n:
                raise SyscallError("EINVAL", "item runs past the message", field="body",
                                   at=pos, count=count)
            items.append((kind, body[pos:pos + count]))
            pos += count + (-count & 3)
        elif kind in DISPOSITIONS and count == 1 and pos + 4 <= n:
            items.append((kind, _WORD.unpack_from(body, pos)[0]))
            pos += 4
        else:
            raise SyscallError("EINVAL", "bad item descriptor", field="body", at=pos - 4,
                               descriptor=desc)
    return items


def _len(raw: Any) -> Any:
    """A length to report for a header argument (its type's name if not bytes)."""
    return len(raw) if type(raw) is bytes else shown(raw)


@dataclass(slots=True, eq=False)
class Kmsg:
    """A message in the kernel: its buffer pages and translated contents."""

    ppns: list[int]                     # zone frames holding header + body
    nbytes: int                         # bytes in the buffer
    dest: Any = None                    # the Port it was sent to
    reply: Any = None                   # reply Port, or None
    reply_bits: int = 0                 # SEND or SEND_ONCE: the right it carries
    msg_id: int = 0
    rights: list[tuple[Any, int]] = field(default_factory=list)   # (Port, bits) items
    layout: list[tuple[int, int]] = field(default_factory=list)   # (type, length) items
    payer: Any = None                   # the principal its pages are charged to (quota.py)
    reply_maker: Any = None             # a send-once reply right's maker (who pays for
                                        # the message it allows)
    makers: list[Any] = field(default_factory=list)   # per item of ``rights``: its maker


@dataclass(frozen=True, slots=True)
class ZoneStats:
    """Kernel-buffer zone use."""

    allocated: int
    freed: int
    bytes_in: int
    bytes_out: int
    free_pages: int


class KmsgZone:
    """A fixed pool of wired frames for kernel message buffers."""

    def __init__(self, memory: Any, ppns: range, reserve: int, light_reserve: int = 0) -> None:
        self.memory = memory
        self.page = memory.page_size
        self.free_ppns = list(reversed(ppns))   # kernel frames: never the allocator's
        self.reserve = reserve                  # pages a user send must leave free
        self.light_reserve = light_reserve      # and more a send under pressure must
        self.allocated = self.freed = self.bytes_in = self.bytes_out = 0

    def pages_for(self, nbytes: int) -> int:
        """Pages a kmsg of ``nbytes`` needs."""
        return max(1, -(-nbytes // self.page))

    def alloc(self, nbytes: int, privileged: bool = False, light: bool = False) -> Kmsg:
        """Take the pages for a kmsg of ``nbytes`` (ENOMEM if the zone is short; a
        user send, not ``privileged``, may not take the reserve, nor the light
        reserve unless ``light``: its payer is under no pressure)."""
        need = self.pages_for(nbytes)
        keep = 0 if privileged else self.reserve + (0 if light else self.light_reserve)
        if need + keep > len(self.free_ppns):
            raise SyscallError("ENOMEM", "the kernel message zone is exhausted",
                               pages=need, free=len(self.free_ppns))
        ppns = [self.free_ppns.pop() for _ in range(need)]
        self.allocated += 1
        return Kmsg(ppns, nbytes)

    def write(self, kmsg: Kmsg, data: bytes) -> None:
        """Copy ``data`` into the kmsg's pages (the first copy; caller charges)."""
        page = self.page
        for i, ppn in enumerate(kmsg.ppns):
            chunk = data[i * page:(i + 1) * page]
            if chunk:
                self.memory.write(ppn * page, chunk)
        self.memory.note_copy(len(data))
        self.bytes_in += len(data)

    def read(self, kmsg: Kmsg, start: int, n: int) -> bytes:
        """Copy ``n`` bytes at ``start`` out of the kmsg (the second copy)."""
        page, out = self.page, bytearray()
        pos = start
        while len(out) < n:
            i, off = divmod(pos, page)
            take = min(n - len(out), page - off)
            out += self.memory.read(kmsg.ppns[i] * page + off, take)
            pos += take
        self.memory.note_copy(n)
        self.bytes_out += n
        return bytes(out)

    def free(self, kmsg: Kmsg) -> None:
        """Return the kmsg's pages to the zone."""
        self.free_ppns.extend(kmsg.ppns)
        kmsg.ppns = []
        self.freed += 1

    def statistics(self) -> ZoneStats:
        """Return a frozen snapshot of the zone's counters."""
        return ZoneStats(self.allocated, self.freed, self.bytes_in, self.bytes_out,
                         len(self.free_ppns))
