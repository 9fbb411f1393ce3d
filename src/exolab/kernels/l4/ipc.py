"""L4 IPC: synchronous rendezvous, short messages in registers, long ones copied once.

A send meets a receive: whichever comes first waits (in the partner's queue,
or the endpoint's), the second one transfers. A ``call`` (and the reply
half of ``reply_wait``) switches straight to the partner (L3's direct
process switch); a plain ``send`` to a waiting receiver makes it runnable
and the sender runs on (lazy scheduling). What moves:

* **register words** (``words``): up to :data:`REG_WORDS` stay in the CPU's
  registers across the switch (zero copy); further words come from the
  sender's UTCB (copied at the profile's copy rate);
* a **long string** (vaddr, length in the sender's space): copied once,
  directly into the receiver's buffer, through a *temporary mapping*: the
  far side's frames are entered in a kernel window of the running space,
  the window's TLB entries invalidated, and the copy walks both sides
  through the MMU (L3 Table 4); nothing is buffered in the kernel;
* **map items**: the sender's pages, mapped or granted into the receiver's
  window through the mapping database (:mod:`.mapdb`).

``call`` is send + receive-from-that-partner in one kernel entry;
``reply_wait`` answers a caller and waits for the next message in one entry.
Timeouts: ``None`` waits forever, ``0`` never blocks (EAGAIN), ``t > 0``
cycles then EAGAIN. A thread bound to a notification (seL4) is woken out of
any receive by a signal: it gets the bits from :data:`NTFN_BADGE`.

Interface::

    REG_WORDS, MAX_WORDS, WINDOW_VPN
    IPC(kernel)
      send(cpu, me, target, msg, timeout)               target: TCB | Endpoint
      call(cpu, me, target, msg, rbuf, timeout) -> Received
      receive(cpu, me, source, rbuf, timeout) -> Received   source: ANY | tid | Endpoint
      reply_wait(cpu, me, to, msg, rbuf, timeout) -> Received
      signal(cpu, ntfn, bits)      wait(cpu, me, ntfn, timeout) -> bits
      deliver_irq(cpu, tcb, irq) -> bool
      abort(tcb, error)            drop a blocked thread's wait, hand it ``error``
      statistics() -> IPCStats
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.l4.objects import (ANY, IRQ_BASE, NO_BUFFER, NTFN_BADGE,
                                       RECEIVING, SENDING, TCB, Endpoint, Message,
                                       Notification, Received, RecvBuffer)

if TYPE_CHECKING:
    from exolab.kernels.l4.kernel import L4

__all__ = ["IPC", "IPCStats", "REG_WORDS", "MAX_WORDS", "WINDOW_VPN"]

REG_WORDS = 2               # 8 bytes in registers on the 486 (L3: short messages)
MAX_WORDS = 64              # message registers in the UTCB
WINDOW_VPN = 0xBF000        # the kernel's temporary-mapping window (below the kernel)
_WINDOW_PAGES = 256         # at most 1 MiB of long message per transfer
#: the IPC path's code and data through a data cache, where the machine has one: "a
#: short IPC's code and data occupy 592 bytes, 7% of the on-chip cache" (Liedtke,
#: SOSP'93, s6); the kernel's text at physical 0x1000
PATH_PADDR, PATH_BYTES = 0x1000, 592


@dataclass(frozen=True, slots=True)
class IPCStats:
    """Messages moved and how."""

    messages: int
    short: int                  # register-only messages
    long_bytes: int             # string bytes copied (once each)
    window_pages: int           # far-side pages entered in the temporary window
    pages_mapped: int           # map items' pages mapped or granted
    blocked: int                # sends/receives that had to wait
    timeouts: int
    notifications: int          # signals delivered
    irqs: int                   # interrupts delivered as messages


class IPC:
    """The rendezvous engine of one L4 kernel (see the module docstring)."""

    def __init__(self, kernel: "L4") -> None:
        self.k = kernel
        self.messages = self.short = self.long_bytes = self.window_pages = 0
        self.pages_mapped = self.blocked = self.timeouts = 0
        self.notifications = self.irqs = 0

    # -- the four operations ----------------------------------------------------------

    def send(self, cpu: Any, me: TCB, target: Any, msg: Message,
             timeout: int | None) -> None:
        """Send ``msg``; return once it was taken (or raise EAGAIN on timeout)."""
        self._send(cpu, me, target, msg, timeout, False, None)

    def call(self, cpu: Any, me: TCB, target: Any, msg: Message, rbuf: RecvBuffer,
             timeout: int | None) -> Received:
        """Send ``msg`` and wait for the reply from whoever took it."""
        self._send(cpu, me, target, msg, timeout, True, rbuf)
        return self._outcome(me)

    def receive(self, cpu: Any, me: TCB, source: Any, rbuf: RecvBuffer,
                timeout: int | None) -> Received:
        """Wait for a message from ``source`` (ANY, a thread id or an Endpoint)."""
        got = self._take(cpu, me, source, rbuf)
        if got is not None:
            return got
        if timeout == 0:
            raise SyscallError("EAGAIN", "receive: nothing to take and no wait allowed")
        self._wait(me, RECEIVING, source, rbuf, timeout)
        self.k.block(cpu, me)
        return self._outcome(me)

    def reply_wait(self, cpu: Any, me: TCB, to: TCB, msg: Message, rbuf: RecvBuffer,
                   timeout: int | None) -> Received:
        """Reply to ``to`` (it must be waiting for this thread), then receive from ANY."""
        if not (to.state == RECEIVING and to.partner == me.tid and to.waiting_on is None):
            raise SyscallError("EAGAIN", "reply: the caller is not waiting for a reply",
                               to=to.tid)
        self.k.charge_row(cpu, "l4_ipc_access")
        cpu.translate(to.tcb_vaddr)
        self.k.charge_row(cpu, "l4_ipc_load_id")
        self._transfer(cpu, me, to, msg)
        got = self._take(cpu, me, ANY, rbuf)
        if got is not None:                     # more work queued: the caller waits
            self.k.make_ready(to)
            return got
        self._wait(me, RECEIVING, ANY, rbuf, timeout)
        self.k.switch(cpu, to)                  # straight to the caller
        return self._outcome(me)

    # -- sending -------------------------------------------------------------------------

    def _send(self, cpu: Any, me: TCB, target: Any, msg: Message, timeout: int | None,
              call: bool, rbuf: RecvBuffer | None) -> None:
        """Hand ``msg`` to a waiting receiver of ``target``, or queue and block."""
        k = self.k
        k.charge_row(cpu, "l4_ipc_access")
        receiver = self._waiting_receiver(cpu, me, target)
        k.charge_row(cpu, "l4_ipc_load_id")
        if receiver is not None:
            k.cancel_timer(receiver)
            self._transfer(cpu, me, receiver, msg)
            if not call:                        # a send: the receiver is runnable, the
                k.make_ready(receiver)          # sender keeps the CPU (lazy scheduling)
                return
            self._wait(me, RECEIVING, receiver.tid, rbuf, None)  # type: ignore[arg-type]
            k.switch(cpu, receiver)             # a call: straight to the receiver
            return
        if timeout == 0:
            raise SyscallError("EAGAIN", "send: no receiver waiting and no wait allowed")
        me.out, me.call = msg, call
        self._wait(me, SENDING, target, rbuf, timeout)
        queue = target.senders
        queue.append(me)
        k.block(cpu, me)
        if not call:
            self._outcome(me)

    def _waiting_receiver(self, cpu: Any, me: TCB, target: Any) -> TCB | None:
        """The receiver ``target`` has waiting for this sender, dequeued; or None."""
        if type(target) is Endpoint:
            while target.receivers:
                r = target.receivers.popleft()
                if r.state == RECEIVING and r.waiting_on is target:
                    r.waiting_on = None
                    return r
            return None
        cpu.translate(target.tcb_vaddr)         # access B's TCB (L3 Table 3)
        if target.state == RECEIVING and target.waiting_on is None \
                and target.partner in (ANY, me.tid):
            return target
        return None

    # -- receiving ------------------------------------------------------------------------

    def _take(self, cpu: Any, me: TCB, source: Any, rbuf: RecvBuffer) -> Received | None:
        """Take a queued message (notification bits, an interrupt, a sender), or None."""
        n = me.bound
        if n is not None and n.bits:
            bits, n.bits = n.bits, 0
            self.notifications += 1
            return Received(NTFN_BADGE, (), 0, (), bits)
        if me.irqs and (source == ANY or (type(source) is int and source >= IRQ_BASE)):
            for irq in sorted(me.irqs):
                if source in (ANY, IRQ_BASE + irq):
                    me.irqs.discard(irq)
                    self.irqs += 1
                    return Received(IRQ_BASE + irq, (irq,), 0, ())
        queue = source.senders if type(source) is Endpoint else me.senders
        for s in queue:
            if type(source) is Endpoint or source in (ANY, s.tid):
                queue.remove(s)
                self.k.cancel_timer(s)
                s.waiting_on = None
                me.rbuf = rbuf
                self._transfer(cpu, s, me, s.out)
                if s.call:
                    s.state, s.partner = RECEIVING, me.tid
                    if s.closed_on != me.tid:       # (indexed once per partner)
                        self.k.note_closed(s, me.tid)
                else:
                    s.result = None
                    self.k.make_ready(s)
                return self._outcome(me)
        return None

    def _wait(self, me: TCB, state: str, partner: Any, rbuf: RecvBuffer | None,
              timeout: int | None) -> None:
        """Mark ``me`` blocked in ``state`` for ``partner``, arming its timeout."""
        me.state = state
        me.result = None
        if rbuf is not None:
            me.rbuf = rbuf
        if type(partner) is Endpoint:
            me.partner, me.waiting_on = 0, partner
            if state == RECEIVING:
                partner.receivers.append(me)
        elif type(partner) is TCB:
            me.partner, me.waiting_on = partner.tid, partner
        else:
            me.partner, me.waiting_on = partner, None
            if state == RECEIVING and partner != ANY and me.closed_on != partner:
                self.k.note_closed(me, partner)     # (indexed once per partner)
        self.blocked += 1
        if timeout:
            me.timer = self.k.machine.clock.after(timeout, self._expire, me)

    def _outcome(self, me: TCB) -> Any:
        """What the partner left for ``me``: a Received, or an error raised here."""
        res, me.result = me.result, None
        if isinstance(res, SyscallError):
            raise res
        return res

    def _expire(self, me: TCB) -> None:
        """A timeout fired: the wait ends with EAGAIN."""
        me.timer = None
        if me.state in (SENDING, RECEIVING):
            self.timeouts += 1
            self.abort(me, SyscallError("EAGAIN", "ipc timed out", tid=me.tid))

    def abort(self, me: TCB, error: SyscallError | None) -> None:
        """End ``me``'s wait (dequeue it everywhere) with ``error``; make it ready."""
        w = me.waiting_on
        if w is not None:
            for q in (getattr(w, "senders", None), getattr(w, "receivers", None)):
                if q is not None and me in q:
                    q.remove(me)
            if type(w) is Notification and w.waiter is me:
                w.waiter = None
        me.waiting_on = None
        self.k.cancel_timer(me)
        me.result = error
        self.k.make_ready(me)

    # -- the transfer -----------------------------------------------------------------------

    def _transfer(self, cpu: Any, src: TCB, dst: TCB, msg: Message) -> None:
        """Move ``msg`` from ``src`` to ``dst`` (words, string, map items); set dst.result."""
        rbuf = dst.rbuf
        cache = cpu.machine.cache
        if cache is not None:                   # the path's own lines (mach2: cache model)
            cpu.charge(cache.read(PATH_PADDR, PATH_BYTES) * cpu.profile.cache.line_fill)
        extra = len(msg.words) - REG_WORDS
        if extra > 0:                           # beyond the registers: UTCB to UTCB
            cpu.charge(cpu.profile.copy_cost(4 * extra))
        nbytes = 0
        if msg.string is not None and rbuf.size > 0:
            nbytes = self._copy(cpu, src, msg.string, dst, rbuf)
        mapped = self._map_items(cpu, src, dst, msg, rbuf) if msg.maps else ()
        if msg.data:                            # a library's buffer: one copy, as a string
            self.k.charge_row(cpu, "l4_long_setup")
            cpu.charge(cpu.profile.copy_cost(len(msg.data)))
            cpu.note_copy(len(msg.data))
            self.long_bytes += len(msg.data)
        if msg.string is None and not msg.maps and not msg.data and extra <= 0:
            self.short += 1
        self.messages += 1
        dst.result = Received(src.tid, msg.words, nbytes, mapped, 0, msg.data, msg.objs)
        dst.rbuf = NO_BUFFER

    def _copy(self, cpu: Any, src: TCB, string: tuple[int, int], dst: TCB,
              rbuf: RecvBuffer) -> int:
        """Copy a long string once, through a temporary mapping; the bytes copied."""
        k = self.k
        here = k.space_of_cpu(cpu)
        if here is None:
            raise KernelPanic("l4: a long message with no space loaded")
        n = min(string[1], rbuf.size, _WINDOW_PAGES << 12)
        s_addr, d_addr = string[0], rbuf.vaddr
        k.charge_row(cpu, "l4_long_setup")
        far, far_addr = (dst, d_addr) if here is src.space else (src, s_addr)
        near_addr = s_addr if far is dst else d_addr
        done = 0
        while done < n:
            take = min(n - done, 4096 - ((s_addr + done) & 4095),
                       4096 - ((d_addr + done) & 4095))
            fpage = k.frame_of(far.space, (far_addr + done) >> 12)
            npage = k.frame_of(here, (near_addr + done) >> 12)
            if fpage is None or npage is None:
                break                           # flushed since the send: cut short
            win = k.window(cpu, here, fpage, far is dst)
            cpu.translate(win | ((far_addr + done) & 4095), far is dst)
            cpu.translate(near_addr + done, far is not dst)
            k.charge_row(cpu, "l4_copy_loop")
            sp, dp = (npage, fpage) if far is dst else (fpage, npage)
            cpu.charge(k.machine.memory.copy((dp << 12) | ((d_addr + done) & 4095),
                                             (sp << 12) | ((s_addr + done) & 4095), take))
            self.window_pages += 1
            done += take
        k.close_window(cpu, here)
        self.long_bytes += done
        return done

    def _map_items(self, cpu: Any, src: TCB, dst: TCB, msg: Message,
                   rbuf: RecvBuffer) -> tuple[int, ...]:
        """Map or grant each item's pages into the receiver's window; the vpns."""
        if rbuf.window < 0:
            return ()
        out: list[int] = []
        db, at = self.k.mapdb, rbuf.window
        for item in msg.maps:
            for i in range(item.pages):
                self.k.charge_row(cpu, "l4_map_item")
                op = db.grant if item.grant else db.map
                try:
                    op(src.space.sid, item.vpn + i, dst.space.sid, at, item.writable)
                except SyscallError:
                    continue                    # gone since the send: the page is dropped
                out.append(at)
                at += 1
        self.pages_mapped += len(out)
        return tuple(out)

    # -- notifications and interrupts -------------------------------------------------------

    def signal(self, cpu: Any, n: Notification, bits: int) -> None:
        """OR ``bits`` into ``n``; wake its waiter or its bound thread (never blocks)."""
        self.k.charge_row(cpu, "l4_notify")
        n.bits |= bits
        w = n.waiter
        if w is not None:
            n.waiter, w.waiting_on = None, None
            self.k.cancel_timer(w)
            w.result, n.bits = n.bits, 0
            self.notifications += 1
            self.k.make_ready(w)
            return
        b = n.bound
        if b is not None and b.state == RECEIVING and (
                type(b.waiting_on) is Endpoint or (b.waiting_on is None and b.partner == ANY)):
            bits_now, n.bits = n.bits, 0
            self.notifications += 1
            self.abort(b, None)
            b.result = Received(NTFN_BADGE, (), 0, (), bits_now)

    def wait(self, cpu: Any, me: TCB, n: Notification, timeout: int | None) -> int:
        """Take ``n``'s bits, blocking until some arrive."""
        if n.bits:
            bits, n.bits = n.bits, 0
            self.notifications += 1
            return bits
        if timeout == 0:
            raise SyscallError("EAGAIN", "wait: no bits and no wait allowed")
        if n.waiter is not None:
            raise SyscallError("EBUSY", "a thread already waits on this notification")
        n.waiter = me
        self._wait(me, RECEIVING, n, None, timeout)
        me.waiting_on = n
        self.k.block(cpu, me)
        return int(self._outcome(me))

    def deliver_irq(self, cpu: Any, t: TCB, irq: int) -> bool:
        """Interrupt ``irq`` as a message to ``t``; True if ``t`` took it now."""
        self.k.charge_row(cpu, "l4_irq_ipc")
        if t.state == RECEIVING and t.waiting_on is None and \
                t.partner in (ANY, IRQ_BASE + irq):
            self.irqs += 1
            self.k.cancel_timer(t)
            t.result = Received(IRQ_BASE + irq, (irq,), 0, ())
            self.k.make_ready(t)
            return True
        t.irqs.add(irq)                         # pending until it receives
        return False

    def statistics(self) -> IPCStats:
        """Return a frozen snapshot of the IPC counters."""
        return IPCStats(self.messages, self.short, self.long_bytes, self.window_pages,
                        self.pages_mapped, self.blocked, self.timeouts,
                        self.notifications, self.irqs)

