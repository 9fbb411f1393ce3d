"""The user-level L4 library: what a thread's body gets as ``l4``.

Each method is the user-side stub of one kernel call (:mod:`.syscall`): it
charges the stub's own instructions and traps. The IPC stubs are L3's:
load the partner's id and the message length (``l4_ipc_user``) before the
``int``; after it, the receiver inspects the message in its UTCB
(``l4_inspect`` and a load of the UTCB page, a TLB miss after an
address-space switch).

Messages: ``words`` is a tuple of ints (the first two travel in registers);
``string=(vaddr, n)`` sends ``n`` bytes of the caller's memory (or ``bytes``
of a buffer the library holds), copied once
into the receiver's ``buffer=(vaddr, size, window)``; ``maps`` is a tuple of
``(vpn, pages, writable, grant)`` items of the caller's pages, which land in
the receiver's ``window`` (a vpn; -1 accepts none). ``dest`` is a thread id
or ``("ep", cap)`` for an seL4-style endpoint; ``timeout`` is None (wait
forever), 0 (never block) or cycles (then EAGAIN).

Interface::

    L4Lib(kernel, tcb)
      myself()  kip()  kinfo()  time()  compute(cycles)  print(*parts)
      send(dest, words=(), string=None, maps=(), timeout=None, objs=())
      receive(source=ANY, buffer=None, timeout=None) -> Received
      call(dest, words=(), string=None, maps=(), buffer=None, timeout=None, objs=())
      reply_wait(to, words=(), string=None, maps=(), buffer=None, timeout=None, objs=())
      yield_(same_space=False)
      space_create(name="")  thread_create(space, entry, *args, pager=None, name="",
                                          start=True)   thread_start(tid)
      space_destroy(space)   flush(vpn | (vpn, ...), pages=1, write_only=False)
      unmap(vpn, pages=1)    status(vpn, pages=1, own=True) -> access bits
      irq_attach(irq)  irq_notify(irq, cap, bits)  timer(cycles, periodic=False)
      endpoint_create()  notification_create()  signal(cap, bits)  wait(cap, timeout=None)
      bind(cap)  cap_give(space, cap)
      load(vaddr, size=4)  store(vaddr, value, size=4)  load_bytes(vaddr, n)
      store_bytes(vaddr, data)
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.errors import safe_str
from exolab.kernels.l4 import syscall as sc
from exolab.kernels.l4.objects import ANY, IRQ_BASE, KIP, NTFN_BADGE, Received, make_id
from exolab.safe.sealed import Sealed

__all__ = ["L4Lib"]

_KIP = KIP(sigma0=make_id(1, 1), irq_base=IRQ_BASE, ntfn_badge=NTFN_BADGE,
           fault_tag=sc.FAULT_TAG, pages_tag=sc.PAGES_TAG)


class L4Lib(metaclass=Sealed):
    """One thread's user-level view of the kernel (see the module docstring)."""

    __slots__ = ("_cpu", "_utcb", "_c_user", "_c_inspect")

    def __init__(self, kernel: Any, tcb: Any) -> None:
        self._cpu = kernel.machine.cpu
        self._utcb = tcb.utcb_vaddr                 # this thread's message registers
        self._c_user = kernel.paths["l4_ipc_user"]
        self._c_inspect = kernel.paths["l4_inspect"]

    def _ipc(self, number: int, *args: Any) -> Any:
        """An IPC trap with L3's user-side instructions around it."""
        cpu = self._cpu
        cpu.charge(self._c_user)
        got = cpu.trap(number, *args)
        cpu.charge(self._c_inspect)
        cpu.load(self._utcb)                        # inspect the message
        return got

    # -- IPC ------------------------------------------------------------------------

    def send(self, dest: Any, words: tuple[int, ...] = (), string: Any = None,
             maps: tuple[Any, ...] = (), timeout: int | None = None,
             objs: tuple[Any, ...] = ()) -> None:
        """Send a message; return once the receiver took it."""
        self._ipc(sc.SEND, dest, words, string, maps, timeout, objs)

    def receive(self, source: Any = ANY, buffer: Any = None,
                timeout: int | None = None) -> Received:
        """Wait for a message from ``source`` (ANY, a thread id, ("ep", cap))."""
        got: Received = self._ipc(sc.RECV, source, buffer, timeout)
        return got

    def call(self, dest: Any, words: tuple[int, ...] = (), string: Any = None,
             maps: tuple[Any, ...] = (), buffer: Any = None,
             timeout: int | None = None, objs: tuple[Any, ...] = ()) -> Received:
        """Send and wait for the reply, in one kernel entry."""
        got: Received = self._ipc(sc.CALL, dest, words, string, maps, buffer, timeout,
                                  objs)
        return got

    def reply_wait(self, to: int, words: tuple[int, ...] = (), string: Any = None,
                   maps: tuple[Any, ...] = (), buffer: Any = None,
                   timeout: int | None = None, objs: tuple[Any, ...] = ()) -> Received:
        """Reply to ``to`` and wait for the next message from anybody."""
        got: Received = self._ipc(sc.REPLY_WAIT, to, words, string, maps, buffer,
                                  timeout, objs)
        return got

    def yield_(self, same_space: bool = False) -> None:
        """Give the CPU to the next ready thread (of this space only, if asked)."""
        self._cpu.trap(sc.YIELD, same_space)

    # -- spaces, threads, memory -----------------------------------------------------

    def myself(self) -> int:
        """This thread's id."""
        tid: int = self._cpu.trap(sc.MYSELF)
        return tid

    def kip(self) -> KIP:
        """The kernel interface page (a read-only page in every space): sigma0's id,
        the interrupt and notification ids, the pager protocol's tags."""
        self._cpu.charge(self._cpu.profile.load_store)
        return _KIP

    def kinfo(self) -> tuple[int, int, int]:
        """(first free frame, end, this space's id): what sigma0 starts from."""
        got: tuple[int, int, int] = self._cpu.trap(sc.KINFO)
        return got

    def space_create(self, name: str = "") -> int:
        """A new, empty address space this thread's space owns."""
        sid: int = self._cpu.trap(sc.SPACE_CREATE, name)
        return sid

    def thread_create(self, space: int, entry: Callable[..., Any], *args: Any,
                      pager: int | None = None, name: str = "", start: bool = True) -> int:
        """Start ``entry(l4, *args)`` in ``space`` with ``pager`` (None: this
        thread's pager; 0: none), or with ``start=False`` leave it inactive until
        :meth:`thread_start`; its id."""
        tid: int = self._cpu.trap(sc.THREAD_CREATE, space, entry, args, pager, name, start)
        return tid

    def thread_start(self, tid: int) -> None:
        """Start an inactive thread of a space this thread's space created (or its own)."""
        self._cpu.trap(sc.THREAD_START, tid)

    def space_destroy(self, space: int) -> None:
        """Destroy a space this thread's space created (its threads and mappings)."""
        self._cpu.trap(sc.SPACE_DESTROY, space)

    def flush(self, vpn: Any, pages: int = 1, write_only: bool = False) -> int:
        """Revoke pages from everyone who got them from this space; how many went
        (``vpn`` a tuple: a list of up to 64 single pages, one kernel entry)."""
        n: int = self._cpu.trap(sc.FLUSH, vpn, pages, write_only, False)
        return n

    def status(self, vpn: int, pages: int = 1, own: bool = True) -> int:
        """How pages this space holds were used (STATUS_READ | STATUS_WRITE), by
        this space (``own``) and every space that got them from it."""
        bits: int = self._cpu.trap(sc.STATUS, vpn, pages, own)
        return bits

    def unmap(self, vpn: int, pages: int = 1) -> int:
        """Flush, and remove this space's own mapping too."""
        n: int = self._cpu.trap(sc.FLUSH, vpn, pages, False, True)
        return n

    # -- interrupts, endpoints, notifications ----------------------------------------

    def irq_attach(self, irq: int) -> int:
        """Receive interrupt ``irq`` as messages from the returned pseudo-thread id."""
        pid: int = self._cpu.trap(sc.IRQ_ATTACH, irq)
        return pid

    def irq_notify(self, irq: int, cap: int, bits: int) -> None:
        """Deliver interrupt ``irq`` as ``bits`` signalled on notification ``cap``."""
        self._cpu.trap(sc.IRQ_NOTIFY, irq, cap, bits)

    def timer(self, cycles: int, periodic: bool = False) -> None:
        """Program the interval timer (the thread attached to irq 0 only)."""
        self._cpu.trap(sc.TIMER, cycles, periodic)

    def endpoint_create(self) -> int:
        """A new endpoint; its capability index in this space."""
        cap: int = self._cpu.trap(sc.EP_CREATE)
        return cap

    def notification_create(self) -> int:
        """A new notification (a word of bits); its capability index."""
        cap: int = self._cpu.trap(sc.NTFN_CREATE)
        return cap

    def signal(self, cap: int, bits: int) -> None:
        """OR ``bits`` into a notification (never blocks)."""
        self._cpu.trap(sc.SIGNAL, cap, bits)

    def wait(self, cap: int, timeout: int | None = None) -> int:
        """Take a notification's bits, blocking until there are some."""
        bits: int = self._ipc(sc.WAIT, cap, timeout)
        return bits

    def bind(self, cap: int) -> None:
        """Bind a notification to this thread: a signal also ends its receives."""
        self._cpu.trap(sc.BIND, cap)

    def cap_give(self, space: int, cap: int) -> int:
        """Copy a capability into a space this one created; its index there."""
        idx: int = self._cpu.trap(sc.CAP_GIVE, space, cap)
        return idx

    # -- plain user-mode work --------------------------------------------------------

    def time(self) -> int:
        """The cycle counter."""
        return int(self._cpu.now())

    def compute(self, cycles: int) -> None:
        """Burn ``cycles`` of user-mode work."""
        if type(cycles) is int and 0 <= cycles < 1 << 40:
            self._cpu.charge(cycles)

    def print(self, *parts: Any) -> None:
        """Print a line on the kernel's debug console."""
        line = " ".join(safe_str(p) for p in parts) + "\n"
        self._cpu.trap(sc.PRINT, line.encode()[:4096])

    def load(self, vaddr: int, size: int = 4) -> int:
        """Load a word of this space's memory (a page fault goes to the pager)."""
        return int(self._cpu.load(vaddr, size))

    def store(self, vaddr: int, value: int, size: int = 4) -> None:
        """Store a word into this space's memory."""
        self._cpu.store(vaddr, value, size)

    def load_bytes(self, vaddr: int, n: int) -> bytes:
        """Read ``n`` bytes of this space's memory."""
        return bytes(self._cpu.load_bytes(vaddr, n))

    def store_bytes(self, vaddr: int, data: bytes) -> None:
        """Write ``data`` into this space's memory."""
        self._cpu.store_bytes(vaddr, bytes(data))
