"""L4 kernel calls: one table of (number, name, decoder, invoker).

Every call is *decode* (exact types, ranges, ids that name live threads,
capabilities the caller's space holds, pages the caller holds: a typed
:class:`SyscallError`, nothing changed) then *invoke*. A forged or stale
thread id is ESRCH; a page the caller does not hold is EFAULT; a capability
index the space was never given is EPERM; a space the caller did not create
is EPERM. Every kernel entry pays the 486's segment-register reloads
(``l4_segments``); IPC calls return through the receiver's code and stack
pages (:meth:`L4.resume_user`).

Interface::

    SEND RECV CALL REPLY_WAIT MYSELF SPACE_CREATE THREAD_CREATE FLUSH IRQ_ATTACH
    IRQ_NOTIFY EP_CREATE NTFN_CREATE SIGNAL WAIT BIND CAP_GIVE PRINT TIMER
    SPACE_DESTROY KINFO YIELD STATUS THREAD_START   trap numbers
    NAMES                                     number -> name (traces)
    FAULT_TAG, PAGES_TAG                      first word of a fault / page request
    UPCALL_TAG                                first word of a pager's "run your handler"
    STATUS_READ, STATUS_WRITE                 the access bits ``status`` reports
    dispatch(kernel, cpu, number, args)       decode, then invoke
    fault_message(vaddr, write, retry=False), fault_buffer(vaddr)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from exolab.errors import SyscallError, safe_str
from exolab.kernels.common.args import call_error
from exolab.kernels.l4.objects import (ANY, IRQ_BASE, Endpoint, MapItem, Message,
                                       NO_BUFFER, Notification, RecvBuffer)

if TYPE_CHECKING:
    from exolab.kernels.l4.kernel import L4
    from exolab.kernels.l4.objects import TCB

__all__ = ["NAMES", "FAULT_TAG", "PAGES_TAG", "UPCALL_TAG", "STATUS_READ", "STATUS_WRITE",
           "MAX_FPAGES",
           "dispatch", "fault_message", "fault_buffer"]

(SEND, RECV, CALL, REPLY_WAIT, MYSELF, SPACE_CREATE, THREAD_CREATE, FLUSH, IRQ_ATTACH,
 IRQ_NOTIFY, EP_CREATE, NTFN_CREATE, SIGNAL, WAIT, BIND, CAP_GIVE, PRINT, TIMER,
 SPACE_DESTROY, KINFO, YIELD, STATUS, THREAD_START) = range(23)
FAULT_TAG, PAGES_TAG, UPCALL_TAG = 0xFA, 0xFB, 0xFC
STATUS_WRITE, STATUS_READ = 0b010, 0b100      # L4 X.2's access bits (r w x)
MAX_STRING = 1 << 20
MAX_FPAGES = 64             # fpages one flush may name (X.2: the message registers)
MAX_TIMEOUT = 1 << 40
NIRQ = 8
_WORD_MIN, _WORD_MAX = -(1 << 63), 1 << 64


def fault_message(vaddr: int, write: bool, retry: bool = False) -> Message:
    """The message a page fault sends to the pager: tag, address, access; a fourth
    word marks the access re-executed after the thread's handler ran (an upcall)."""
    return Message((FAULT_TAG, vaddr, int(write), 1) if retry else
                   (FAULT_TAG, vaddr, int(write)), None, ())


def fault_buffer(vaddr: int) -> RecvBuffer:
    """The faulting thread's receive window: the page that faulted."""
    return RecvBuffer(0, 0, vaddr >> 12)


# -- decoders --------------------------------------------------------------------------

def _int(x: Any, name: str, lo: int, hi: int) -> int:
    """``x`` as an int in [lo, hi), else EINVAL."""
    if type(x) is not int or not lo <= x < hi:
        raise SyscallError("EINVAL", f"bad {name}", argument=name, value=safe_str(x))
    return x


def _timeout(x: Any) -> int | None:
    """None (forever), 0 (never wait) or a number of cycles."""
    return None if x is None else _int(x, "timeout", 0, MAX_TIMEOUT)


def _thread(k: "L4", tid: Any) -> "TCB":
    """The live thread ``tid`` names, else ESRCH (forged, stale or dead)."""
    t = k.tcb_of(tid)
    if t is None:
        raise SyscallError("ESRCH", "no such thread", tid=safe_str(tid))
    return t


def _cap(me: "TCB", cap: Any, kind: type) -> Any:
    """The object of kind ``kind`` at capability index ``cap`` of the caller's space."""
    obj = me.space.caps.get(cap) if type(cap) is int else None
    if type(obj) is not kind:
        raise SyscallError("EPERM", "no such capability", cap=safe_str(cap))
    return obj


def _target(k: "L4", me: "TCB", x: Any, receive: bool) -> Any:
    """A thread id, ANY (receive only), an irq pseudo-id, or ("ep", cap)."""
    if type(x) is tuple and len(x) == 2 and x[0] == "ep":
        return _cap(me, x[1], Endpoint)
    if receive and x == ANY and type(x) is int:
        return ANY
    if receive and type(x) is int and IRQ_BASE <= x < IRQ_BASE + NIRQ:
        return x
    t = _thread(k, x)
    return t.tid if receive else t


def _held(k: "L4", me: "TCB", vpn: int, pages: int) -> None:
    """EFAULT unless the caller's space holds every page [vpn, vpn + pages)."""
    for v in range(vpn, vpn + pages):
        if k.mapdb.lookup(me.space.sid, v) is None:
            raise SyscallError("EFAULT", "the caller holds no page there", vpn=v)


def _message(k: "L4", me: "TCB", words: Any, string: Any, maps: Any,
             objs: Any = ()) -> Message:
    """Decode a message: words, a string in held pages (or bytes of the library's
    own buffer), map items of held pages, host objects (program images)."""
    from exolab.kernels.l4.ipc import MAX_WORDS
    if type(words) is not tuple or len(words) > MAX_WORDS or not all(
            type(w) is int and _WORD_MIN <= w < _WORD_MAX for w in words):
        raise SyscallError("EINVAL", "words: a tuple of at most 64 ints", argument="words")
    s, data = None, b""
    if type(objs) is not tuple or len(objs) > 8:
        raise SyscallError("EINVAL", "objs: a tuple of at most 8 items", argument="objs")
    if type(string) is bytes:
        if len(string) > MAX_STRING:
            raise SyscallError("EINVAL", "a buffer of at most 1 MiB", argument="string")
        data, string = string, None
    if string is not None:
        if type(string) is not tuple or len(string) != 2:
            raise SyscallError("EINVAL", "string: (vaddr, length)", argument="string")
        va = _int(string[0], "string address", 0, k.user_limit << 12)
        n = _int(string[1], "string length", 1, MAX_STRING + 1)
        _held(k, me, va >> 12, ((va + n - 1) >> 12) - (va >> 12) + 1)
        s = (va, n)
    items: list[MapItem] = []
    if type(maps) is not tuple or len(maps) > 8:
        raise SyscallError("EINVAL", "maps: a tuple of at most 8 items", argument="maps")
    for m in maps:
        if type(m) is not tuple or len(m) != 4:
            raise SyscallError("EINVAL", "a map item is (vpn, pages, writable, grant)")
        vpn = _int(m[0], "map vpn", 0, 1 << 20)
        pages = _int(m[1], "map pages", 1, 1025)
        if type(m[2]) is not bool or type(m[3]) is not bool:
            raise SyscallError("EINVAL", "map item flags are bools")
        _held(k, me, vpn, pages)
        items.append(MapItem(vpn, pages, m[2], m[3]))
    return Message(words, s, tuple(items), data, objs)


def _rbuf(k: "L4", x: Any) -> RecvBuffer:
    """None, or (vaddr, size, window vpn or -1) within the user range."""
    if x is None:
        return NO_BUFFER
    if type(x) is not tuple or len(x) != 3:
        raise SyscallError("EINVAL", "buffer: (vaddr, size, window)", argument="buffer")
    limit = k.user_limit
    va = _int(x[0], "buffer address", 0, limit << 12)
    size = _int(x[1], "buffer size", 0, MAX_STRING + 1)
    if va + size > limit << 12:
        raise SyscallError("EINVAL", "buffer beyond the user range")
    window = x[2] if x[2] == -1 and type(x[2]) is int else _int(x[2], "window", 0, limit)
    return RecvBuffer(va, size, window)


# -- invokers ----------------------------------------------------------------------------

def _send(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    dest, words, string, maps, timeout, objs = a
    target = _target(k, me, dest, False)
    k.ipc.send(cpu, me, target, _message(k, me, words, string, maps, objs),
               _timeout(timeout))
    k.resume_user(cpu, me)
    return None


def _recv(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    source, rbuf, timeout = a
    got = k.ipc.receive(cpu, me, _target(k, me, source, True), _rbuf(k, rbuf),
                        _timeout(timeout))
    k.resume_user(cpu, me)
    return got


def _call(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    return _two_way(k, cpu, me, k.ipc.call, _target(k, me, a[0], False), "call", a)


def _reply_wait(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    return _two_way(k, cpu, me, k.ipc.reply_wait, _thread(k, a[0]), "reply to", a)


def _two_way(k: "L4", cpu: Any, me: "TCB", op: Callable[..., Any], target: "TCB",
             verb: str, a: tuple[Any, ...]) -> Any:
    """Call and reply-and-wait, their target decoded from ``a[0]``: EINVAL if it is
    the caller, else decode the rest of ``a`` (words, string, maps, buffer, timeout,
    objects) and send-then-receive."""
    _, words, string, maps, rbuf, timeout, objs = a
    if target is me:
        raise SyscallError("EINVAL", f"a thread cannot {verb} itself")
    got = op(cpu, me, target, _message(k, me, words, string, maps, objs),
             _rbuf(k, rbuf), _timeout(timeout))
    k.resume_user(cpu, me)
    return got


def _space_create(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    (name,) = a
    k.charge_row(cpu, "l4_space_create")
    return k.new_space(me.space.sid, safe_str(name)[:32]).sid


def _own_space(k: "L4", me: "TCB", sid: Any) -> Any:
    """A live space the caller is or created, else EPERM."""
    sp = k.spaces.get(sid) if type(sid) is int else None
    if sp is None or not sp.alive or (sp is not me.space and sp.creator != me.space.sid):
        raise SyscallError("EPERM", "not a space of the caller", space=safe_str(sid))
    return sp


def _thread_create(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    sid, entry, args, pager, name, start = a
    sp = _own_space(k, me, sid)
    if not callable(entry) or type(args) is not tuple or type(start) is not bool:
        raise SyscallError("EINVAL", "thread: a callable entry, a tuple of args, a "
                                     "bool start")
    if pager is None:
        pager_id = me.pager                     # inherit the creator's pager
    else:
        pager_id = 0 if pager == 0 and type(pager) is int else _thread(k, pager).tid
    k.charge_row(cpu, "l4_thread_create")
    return k.new_thread(sp, entry, args, pager_id, safe_str(name)[:32], start).tid


def _thread_start(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    t = _thread(k, a[0])
    _own_space(k, me, t.space.sid)              # a thread of a space the caller made
    k.start_thread(t)
    return None


def _fpages(k: "L4", me: "TCB", vpn: Any, pages: Any) -> Any:
    """The pages a flush names: a run [vpn, vpn + pages), or a tuple of up to 64
    single pages (L4 X.2's unmap takes a list of fpages in the message registers);
    EFAULT unless the caller holds them all."""
    if type(vpn) is tuple:
        if not 0 < len(vpn) <= MAX_FPAGES or pages != 1 or type(pages) is not int:
            raise SyscallError("EINVAL", "an fpage list is 1..64 pages, one each")
        vpns = tuple(_int(v, "vpn", 0, 1 << 20) for v in vpn)
        for v in vpns:
            _held(k, me, v, 1)
        return vpns
    vpn = _int(vpn, "vpn", 0, 1 << 20)
    pages = _int(pages, "pages", 1, 1025)
    _held(k, me, vpn, pages)
    return range(vpn, vpn + pages)


def _flush(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    vpn, pages, write_only, unmap = a
    if type(write_only) is not bool or type(unmap) is not bool:
        raise SyscallError("EINVAL", "flush flags are bools")
    vpns = _fpages(k, me, vpn, pages)
    if unmap and me.space.sid == 0:
        raise SyscallError("EPERM", "sigma0 keeps its pages")
    removed = 0
    for v in vpns:
        removed += (k.mapdb.unmap(me.space.sid, v) if unmap
                    else k.mapdb.flush(me.space.sid, v, write_only))
    cpu.charge(removed * k.paths["l4_flush_page"])
    return removed


def _status(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    """The access bits of pages the caller holds: L4 X.2's unmap with no rights
    revoked, which reports how the fpage was used (read, written), here over the
    caller's own mappings (``own``) and every mapping derived from them. Read,
    not reset: the ABI's dirty is "stored to since it was mapped"."""
    vpn, pages, own = a
    vpn = _int(vpn, "vpn", 0, 1 << 20)
    pages = _int(pages, "pages", 1, 1025)
    if type(own) is not bool:
        raise SyscallError("EINVAL", "status: own is a bool")
    _held(k, me, vpn, pages)
    bits = 0
    for v in range(vpn, vpn + pages):
        if own:
            bits |= k.access_bits(me.space.sid, v)
        for sid, dv in k.mapdb.derived(me.space.sid, v):
            bits |= k.access_bits(sid, dv)
    return bits


def _privileged(k: "L4", me: "TCB") -> None:
    """EPERM unless the caller is in a space sigma0's level created (the root task)."""
    if me.space.creator != 0:
        raise SyscallError("EPERM", "only the root task may attach interrupts")


def _irq(k: "L4", me: "TCB", irq: Any) -> int:
    """A free interrupt line, else EINVAL/EBUSY."""
    irq = _int(irq, "irq", 0, NIRQ)
    owner = k.irq_owner.get(irq)
    if (owner is not None and owner is not me and k.tcb_of(owner.tid) is not None) or \
            (irq in k.irq_ntfn and owner is not me):
        raise SyscallError("EBUSY", "the interrupt is attached", irq=irq)
    return irq


def _irq_attach(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    _privileged(k, me)
    irq = _irq(k, me, a[0])
    k.irq_owner[irq] = me
    k.irq_ntfn.pop(irq, None)
    return IRQ_BASE + irq


def _irq_notify(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    _privileged(k, me)
    irq = _irq(k, me, a[0])
    n = _cap(me, a[1], Notification)
    bits = _int(a[2], "bits", 1, 1 << 64)
    k.irq_owner[irq] = me
    k.irq_ntfn[irq] = (n, bits)
    return None


def _new_cap(me: "TCB", obj: Any) -> int:
    """Enter ``obj`` in the caller's capability table; its index."""
    if len(me.space.caps) >= 256:
        raise SyscallError("ENOMEM", "capability table full")
    idx = me.space.next_cap
    me.space.next_cap += 1
    me.space.caps[idx] = obj
    return idx


def _ep_create(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    k.charge_row(cpu, "l4_syscall")
    return _new_cap(me, Endpoint(id(me) ^ me.space.next_cap))


def _ntfn_create(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    k.charge_row(cpu, "l4_syscall")
    return _new_cap(me, Notification(me.space.next_cap))


def _signal(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    n = _cap(me, a[0], Notification)
    k.ipc.signal(cpu, n, _int(a[1], "bits", 1, 1 << 64))
    return None


def _wait(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    n = _cap(me, a[0], Notification)
    bits = k.ipc.wait(cpu, me, n, _timeout(a[1]))
    k.resume_user(cpu, me)
    return bits


def _bind(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    n = _cap(me, a[0], Notification)
    if n.bound is not None and n.bound is not me:
        raise SyscallError("EBUSY", "the notification is bound to another thread")
    n.bound, me.bound = me, n
    return None


def _cap_give(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    sid, cap = a
    sp = _own_space(k, me, sid)
    obj = me.space.caps.get(cap) if type(cap) is int else None
    if obj is None:
        raise SyscallError("EPERM", "no such capability", cap=safe_str(cap))
    if len(sp.caps) >= 256:
        raise SyscallError("ENOMEM", "capability table full")
    idx = sp.next_cap
    sp.next_cap += 1
    sp.caps[idx] = obj
    return idx


def _print(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    (data,) = a
    if type(data) is not bytes or len(data) > 4096:
        raise SyscallError("EINVAL", "print: at most 4 KiB of bytes")
    k.console.write(me.tid, data)
    return None


def _timer(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    cycles, periodic = _int(a[0], "cycles", 1, MAX_TIMEOUT), a[1]
    if type(periodic) is not bool or k.irq_owner.get(0) is not me:
        raise SyscallError("EPERM", "the timer belongs to the thread attached to irq 0")
    k.tick.program(cycles, periodic)
    return None


def _space_destroy(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    sp = _own_space(k, me, a[0])
    if sp is me.space:
        raise SyscallError("EINVAL", "a space cannot destroy itself")
    k.destroy_space(sp)
    return None


def _myself(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    return me.tid


def _kinfo(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    """sigma0's view: the frames it holds (first, end), its space id."""
    frames = k.mapdb.frames
    return (frames.start, frames.stop, me.space.sid)


def _yield(k: "L4", cpu: Any, me: "TCB", a: tuple[Any, ...]) -> Any:
    """Give the CPU to the next ready thread (``same_space``: of this space only)."""
    same = a[0]
    if type(same) is not bool:
        raise SyscallError("EINVAL", "yield takes a bool")
    return k.yield_cpu(cpu, me, same)


Invoker = Callable[["L4", Any, "TCB", tuple[Any, ...]], Any]
#: number -> (name, argument count, invoker)
TABLE: dict[int, tuple[str, int, Invoker]] = {
    SEND: ("send", 6, _send), RECV: ("receive", 3, _recv), CALL: ("call", 7, _call),
    REPLY_WAIT: ("reply_wait", 7, _reply_wait), MYSELF: ("myself", 0, _myself),
    SPACE_CREATE: ("space_create", 1, _space_create),
    THREAD_CREATE: ("thread_create", 6, _thread_create), FLUSH: ("flush", 4, _flush),
    IRQ_ATTACH: ("irq_attach", 1, _irq_attach), IRQ_NOTIFY: ("irq_notify", 3, _irq_notify),
    EP_CREATE: ("endpoint_create", 0, _ep_create),
    NTFN_CREATE: ("notification_create", 0, _ntfn_create),
    SIGNAL: ("signal", 2, _signal), WAIT: ("wait", 2, _wait), BIND: ("bind", 1, _bind),
    CAP_GIVE: ("cap_give", 2, _cap_give), PRINT: ("print", 1, _print),
    TIMER: ("timer", 2, _timer), SPACE_DESTROY: ("space_destroy", 1, _space_destroy),
    KINFO: ("kinfo", 0, _kinfo), YIELD: ("yield", 1, _yield),
    STATUS: ("status", 3, _status), THREAD_START: ("thread_start", 1, _thread_start),
}
NAMES: dict[int, str] = {n: row[0] for n, row in TABLE.items()}
_IPC = frozenset((SEND, RECV, CALL, REPLY_WAIT, WAIT))


def dispatch(k: "L4", cpu: Any, number: Any, args: tuple[Any, ...]) -> Any:
    """Decode the trap number and arity, charge the entry, invoke."""
    row = TABLE.get(number) if type(number) is int else None
    if row is None or len(args) != row[1]:
        raise call_error(number, row, len(args), "L4 call")
    cpu.charge(k.paths["l4_segments"])
    if number not in _IPC:
        k.charge_row(cpu, "l4_syscall")
    return row[2](k, cpu, k.current(cpu), args)
