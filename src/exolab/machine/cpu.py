"""The CPU: modes, traps, exceptions, interrupts, the MMU path and context switch.

The CPU runs whichever :class:`SimThread` is ``current`` in user or kernel
mode. Kernel code runs on the same greenlet as the thread that entered the
kernel (as a real kernel runs on the thread's kernel stack), so a system call
costs a function call, not a switch. A kernel installs itself with
:meth:`install`; the CPU then calls its vectors:

    on_trap(cpu, number, args) -> result       system call
    on_exception(cpu, cause, vaddr, info)      fault, unaligned, overflow, ...
    on_tlb_miss(cpu, vaddr, write)             no valid TLB entry for vaddr (on an
                                               x86 MMU: the walk failed, a page fault)
    on_interrupt(cpu, irq)                     device or timer interrupt
    on_idle(cpu) -> bool                       idle loop: dispatch a thread?
    on_thread_exit(cpu, thread)                a thread's body ended

Every action charges cycles from the profile. Interrupts become pending when
a device raises them and are delivered at the first charge point in user mode
(or in the idle loop, or when the kernel returns to user mode).

Interface::

    Cause, IRQ_TIMER, IRQ_DISK, IRQ_NIC, USER, KERNEL, MAX_UPCALL_DEPTH
    CPU(machine, index)
      current, mode, asid, tracer
      install(kernel)             charge(cycles)         service()
      now() -> int                randbytes(n) -> bytes  (the clock and its seeded RNG)
      trap(number, *args)         fault(cause, vaddr=0, info=None)
      load(vaddr, size=4)         store(vaddr, value, size=4)
      load_bytes(vaddr, n)        store_bytes(vaddr, data)
      raise_irq(irq)              switch_to(thread, save=True)   idle()
      user_switch(thread, finished=False)   (library-OS thread switch, user mode)
      upcall(fn, *args)           prev_mode (mode before the last exception)
      set_asid(asid)              set_page_table(directory, asid)  (x86 cr3)
      page_table                  the directory the MMU walks (profile ``mmu="x86"``)
      translate(vaddr, write=False) -> ppn   (kernel: touch through the MMU)
      tlb_write_random/indexed, tlb_probe,
      tlb_invalidate, tlb_flush   statistics()

This module is over the 400-line guide because the CPU's hot paths (trap,
load/store, TLB miss, charge) inline one another for simulator speed and
share its private fields; split, every one would pay an attribute hop.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from greenlet import GreenletExit

from exolab.errors import (ConfigError, ExolabError, KernelPanic, MachineError,
                           PrivilegeError, ProgramFault, SimulationError)
from exolab.hostint import host_interrupted
from exolab.machine.memory import WORD_MASK as _MASK
from exolab.machine.memory import WORD_PACK as _PACK
from exolab.machine.memory import WORD_UNPACK as _UNPACK
from exolab.machine.threads import DEAD, READY, SimThread, ThreadExit
from exolab.machine.pagewalk import PAGE_SIZE, PTE_W, walk
from exolab.machine.tlb import TLB, TLBEntry
from exolab.trace.events import Kind

if TYPE_CHECKING:
    from exolab.machine.machine import Machine

__all__ = ["CPU", "Cause", "CPUStats", "USER", "KERNEL", "IRQ_TIMER", "IRQ_DISK",
           "IRQ_NIC", "MAX_UPCALL_DEPTH"]

USER, KERNEL = 0, 1
IRQ_TIMER, IRQ_DISK, IRQ_NIC = 0, 1, 2
_LIVELOCK = 64          # refills of one access before it is the program's fault
#: upcalls nested in one thread (kernel -> handler -> kernel -> handler ...): each level
#: costs some 20-40 Python frames of kernel, library-OS and handler code, so 32 levels
#: stay far below the default recursion limit of 1000 on every kernel
MAX_UPCALL_DEPTH = 32


class Cause(IntEnum):
    """Exception causes, numbered as the MIPS ExcCode where one exists."""

    INTERRUPT = 0
    TLB_MOD = 1          # store to a valid, non-writable page
    TLB_LOAD = 2         # no valid entry on a load
    TLB_STORE = 3        # no valid entry on a store
    ADDR_LOAD = 4        # unaligned load
    ADDR_STORE = 5       # unaligned store
    SYSCALL = 8
    BREAK = 9
    PRIVILEGED = 10      # kernel-only operation in user mode (reserved instruction)
    COPROC = 11          # coprocessor (FPU) unusable
    OVERFLOW = 12        # arithmetic overflow
    PROGRAM = 32         # a Python exception escaped simulated code


@dataclass(frozen=True, slots=True)
class CPUStats:
    """Counters of one CPU."""

    index: int
    traps: int
    exceptions: int
    interrupts: int
    tlb_misses: int
    accesses: int
    context_switches: int
    idle_cycles: int
    upcalls: int                # kernel-to-user upcalls (handlers, entries, PCT callees)
    asid_loads: int             # address-space register loads (set_asid)


class _NoKernel:
    """Vectors of a CPU with no kernel: every entry is a simulation error."""

    def _none(self, *args: Any) -> Any:
        raise SimulationError("no kernel installed on the CPU")

    on_trap = on_exception = on_tlb_miss = on_interrupt = _none

    def on_idle(self, cpu: "CPU") -> bool:
        return False

    def on_thread_exit(self, cpu: "CPU", thread: SimThread) -> None:
        return None


class CPU:
    """One processor; see the module docstring for its contract."""

    __slots__ = ("index", "machine", "clock", "memory", "tlb", "profile", "current",
                 "mode", "prev_mode", "asid", "tracer", "pending_irqs", "idling", "kernel",
                 "_v_trap", "_v_exc", "_v_miss", "_v_irq", "_tlb_index", "_pshift",
                 "_pmask", "_abits", "_c_trap_in", "_c_trap_out", "_c_ls", "_c_switch",
                 "_c_asid", "_c_miss_in", "_c_exc_out", "traps", "exceptions", "interrupts",
                 "tlb_misses", "accesses", "switches", "idle_cycles", "upcalls",
                 "asid_loads", "_asid_max", "_tagged", "page_size", "note_copy",
                 "page_table", "_hw_walk", "_c_pf_in", "_retired", "_reaping")

    def __init__(self, machine: "Machine", index: int, tlb: TLB) -> None:
        p = machine.profile
        self.index = index
        self.machine = machine
        self.clock = machine.clock
        self.memory = machine.memory
        self.page_size = machine.memory.page_size      # (user-visible: no path to frames)
        self.note_copy = machine.memory.note_copy      # count a copy beside its charge
        self.tlb = tlb
        self.profile = p
        self.current: SimThread | None = None   # running thread (None: idle loop)
        self.mode = KERNEL                      # USER or KERNEL
        self.prev_mode = KERNEL                 # mode at the last exception/miss entry
        self.asid = 0                           # address-space identifier register
        self.tracer = machine.tracer            # None when tracing is off
        self.pending_irqs = 0                   # bitmask of raised, undelivered IRQs
        self.idling = False                     # True while the idle loop waits
        self._tlb_index = tlb.index
        self._pshift = machine.memory.page_shift
        self._pmask = machine.memory.page_size - 1
        self._abits = tlb.asid_bits
        self._asid_max, self._tagged = tlb.asid_mask, p.tlb_tagged     # (for set_asid)
        self._c_trap_in, self._c_trap_out = p.trap_entry, p.trap_exit
        self._c_ls = p.load_store
        self._c_switch = p.reg_save + p.reg_restore
        self._c_asid = p.asid_switch
        self._c_miss_in, self._c_exc_out = p.tlb_miss_entry, p.exception_exit
        self.traps = self.exceptions = self.interrupts = self.tlb_misses = 0
        self.accesses = self.switches = self.idle_cycles = 0
        self.upcalls = self.asid_loads = 0
        self.page_table = -1                    # x86 cr3: page-directory frame (-1: none)
        self._hw_walk = p.mmu == "x86"          # the MMU walks tables (pagewalk.py)
        self._c_pf_in = p.exception_entry       # a failed walk is a page fault
        self._retired: list[SimThread] = []     # retired by user_switch, not yet unwound
        self._reaping: SimThread | None = None  # the retired thread being unwound
        if self._hw_walk and self.page_size != PAGE_SIZE:
            raise ConfigError("the x86 MMU walks 4 KiB pages", page_size=self.page_size)
        self.install(_NoKernel())

    # -- kernel installation and charging ---------------------------------------

    def install(self, kernel: Any) -> None:
        """Install ``kernel``'s vectors (see the module docstring)."""
        self.kernel = kernel
        self._v_trap = kernel.on_trap
        self._v_exc = kernel.on_exception
        self._v_miss = kernel.on_tlb_miss
        self._v_irq = kernel.on_interrupt

    def now(self) -> int:
        """The cycle counter (what a program reads as the time)."""
        return self.clock.now

    def randbytes(self, n: int) -> bytes:
        """``n`` bytes from the seed's user stream (the caller charges); never the
        machine's own generator, whose draws mint capabilities."""
        return self.clock.user_rng.randbytes(n)

    def charge(self, cycles: int) -> None:
        """Advance time by ``cycles``; fire due events and deliver interrupts."""
        clk = self.clock
        clk.now += cycles
        if clk.now >= clk.deadline:
            self.service()

    def service(self) -> None:
        """Fire due events, then deliver pending interrupts if the CPU may take them."""
        self.clock.fire_due()
        if self.pending_irqs:
            if self.mode == USER or self.idling:
                self._deliver_interrupts()
            else:   # kernel mode: keep the next charge point looking (see raise_irq)
                self.clock.deadline = self.clock.now

    def _emit(self, kind: Kind, name: Any = "", arg: Any = None) -> None:
        """Record a trace event for the current thread (tracing must be on)."""
        t = self.current
        self.tracer.emit(self.clock.now, kind, self.index,  # type: ignore[union-attr]
                         0 if t is None else t.tid, str(name), arg)

    def _require_kernel(self, what: str) -> None:
        """Raise a PRIVILEGED exception unless the CPU is in kernel mode."""
        if self.mode != KERNEL:
            self.fault(Cause.PRIVILEGED, 0, PrivilegeError(
                "kernel-mode operation in user mode", operation=what))
            raise PrivilegeError("kernel-mode operation in user mode", operation=what)

    # -- traps, exceptions, interrupts ------------------------------------------

    def trap(self, number: Any, *args: Any) -> Any:
        """Enter the kernel for system call ``number``; return its result in the
        mode the trap came from (a kernel path's nested trap returns in KERNEL).
        A trap with no current thread is a MachineError, and nothing changes."""
        t = self.current
        if t is None:
            raise MachineError("trap with no current thread", operation="trap",
                               number=number)
        clk = self.clock
        clk.now += self._c_trap_in
        prev, self.mode = self.mode, KERNEL
        self.traps += 1
        if t.killed:
            clk.now += self._c_trap_out     # unwind to the caller's mode: a program
            self.mode = prev                # that swallows ThreadExit keeps no KERNEL
            raise ThreadExit(t.exit_status)
        tr = self.tracer
        if tr is not None:
            self._emit(Kind.TRAP, number, args)
        try:
            result = self._v_trap(self, number, args)
        except (KernelPanic, SimulationError) as ex:
            self.machine.panic = ex         # surfaces from run() even if caught
            raise
        finally:
            clk.now += self._c_trap_out
            self.mode = prev
            if tr is not None:              # also when the call unwinds: B/E stay paired
                self._emit(Kind.TRAP_RETURN, number)
        if clk.now >= clk.deadline or self.pending_irqs:
            self.service()
        return result

    def fault(self, cause: Cause, vaddr: int = 0, info: Any = None) -> None:
        """Raise exception ``cause`` and run the kernel's handler; return to retry/resume."""
        p = self.profile
        prev = self.prev_mode = self.mode
        self.mode = KERNEL
        self.clock.now += p.exception_entry
        self.exceptions += 1
        if self.tracer is not None:
            self._emit(Kind.EXCEPTION, cause.name, vaddr)
        try:
            self._v_exc(self, cause, vaddr, info)
        except (KernelPanic, SimulationError) as ex:
            self.machine.panic = ex         # surfaces from run() even if caught
            raise
        finally:
            self.clock.now += p.exception_exit
            self.mode = prev
            if self.tracer is not None:     # also when the handler unwinds
                self._emit(Kind.EXCEPTION_RETURN, cause.name)
        self._check_killed()
        if prev == USER and (self.pending_irqs or self.clock.now >= self.clock.deadline):
            self.service()

    def _check_killed(self) -> None:
        """Unwind the current thread if a kernel marked it killed."""
        t = self.current
        if t is not None and t.killed:
            raise ThreadExit(t.exit_status)

    def raise_irq(self, irq: int) -> None:
        """A device asserts interrupt line ``irq`` (delivered at the next charge point)."""
        self.pending_irqs |= 1 << irq
        if self.clock.deadline > self.clock.now:
            self.clock.deadline = self.clock.now   # make the next charge point look

    def _deliver_interrupts(self) -> None:
        """Deliver pending interrupts, lowest line first, to the kernel."""
        p = self.profile
        while self.pending_irqs:
            bits = self.pending_irqs
            irq = (bits & -bits).bit_length() - 1
            self.pending_irqs = bits & (bits - 1)
            prev, idling = self.mode, self.idling
            self.mode = KERNEL
            self.idling = False             # the handler is a kernel path: an interrupt
            self.clock.now += p.interrupt_entry     # it raises waits for this loop
            self.interrupts += 1
            if self.tracer is not None:
                self._emit(Kind.INTERRUPT, f"irq{irq}", irq)
            try:
                self._v_irq(self, irq)
            except (KernelPanic, SimulationError) as ex:
                self.machine.panic = ex     # surfaces from run() even if caught
                raise
            finally:                        # a ThreadExit must not leave KERNEL mode
                self.clock.now += p.interrupt_exit
                self.mode, self.idling = prev, idling
                if self.tracer is not None:
                    self._emit(Kind.INTERRUPT_RETURN, f"irq{irq}")
        self.clock._reset_deadline()
        self._check_killed()

    def upcall(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` in user mode from kernel code (a kernel-to-user upcall).

        The kernel charges its own delivery path; the CPU only switches mode and
        records UPCALL / UPCALL_RETURN. Returns ``fn``'s result. Upcalls nested in
        one thread deeper than :data:`MAX_UPCALL_DEPTH` (a handler that re-raises
        its own exception, a miss handler that misses again) raise ProgramFault
        to the calling kernel path instead of running ``fn``, so the program's
        own loop ends its process long before Python's recursion limit is hit
        inside kernel code.
        """
        t = self.current
        if t is not None:                   # (None: an upcall from the idle loop)
            depth = t.upcall_depth
            if depth >= MAX_UPCALL_DEPTH:   # before any state changes: raised to the kernel
                raise ProgramFault("upcall nesting too deep", depth=depth)
            t.upcall_depth = depth + 1
        prev = self.mode
        self.mode = USER
        self.upcalls += 1
        if self.tracer is not None:
            self._emit(Kind.UPCALL, getattr(fn, "__name__", "upcall"))
        try:
            return fn(*args)
        except (KernelPanic, SimulationError) as ex:
            if ex is self.machine.panic:    # a kernel broke below the upcall
                raise
            # user code raised it: a fault of the program, not of the machine
            raise ProgramFault("upcall raised a machine error", error=repr(ex)) from None
        finally:
            self.mode = prev
            if t is not None:
                t.upcall_depth -= 1
            if self.tracer is not None:
                self._emit(Kind.UPCALL_RETURN, getattr(fn, "__name__", "upcall"))

    def _panic(self, ex: SimulationError) -> SimulationError:
        """Record ``ex`` as the machine's panic (the CPU caught a broken kernel)."""
        self.machine.panic = ex
        return ex

    # -- memory access through the MMU ------------------------------------------

    def _lookup(self, vaddr: int) -> TLBEntry | None:
        """Return the valid TLB entry for ``vaddr`` in the current ASID, or None."""
        e = self._tlb_index.get(((vaddr >> self._pshift) << self._abits) | self.asid)
        return e if e is not None and e.valid else None

    def _miss(self, vaddr: int, write: bool) -> TLBEntry:
        """Take TLB-miss exceptions until the kernel installs a valid entry."""
        if self._hw_walk:
            return self._walk_miss(vaddr, write)
        clk = self.clock
        tries = _LIVELOCK               # a countdown: building a range costs more than
        while tries:                    # the rest of an STLB-served refill's loop body
            tries -= 1
            prev = self.prev_mode = self.mode
            self.mode = KERNEL
            clk.now += self._c_miss_in
            self.tlb_misses += 1
            if self.tracer is not None:
                self._emit(Kind.TLB_MISS, "store" if write else "load", vaddr)
            try:
                self._v_miss(self, vaddr, write)
            except (KernelPanic, SimulationError) as ex:
                self.machine.panic = ex     # surfaces from run() even if caught
                raise
            finally:
                clk.now += self._c_exc_out
                self.mode = prev
            t = self.current                # _check_killed and _lookup, inlined
            if t is not None and t.killed:
                raise ThreadExit(t.exit_status)
            e = self._tlb_index.get(((vaddr >> self._pshift) << self._abits) | self.asid)
            if e is not None and e.valid:
                return e
        raise self._livelock("TLB refill livelock: the page was never mapped", vaddr)

    def _walk(self, vaddr: int, write: bool) -> TLBEntry | None:
        """The MMU's refill: walk the tables at ``page_table``; the entry, or None."""
        self.clock.now += self._c_miss_in
        self.tlb_misses += 1
        if self.tracer is not None:
            self._emit(Kind.TLB_MISS, "walk", vaddr)
        if self.page_table < 0:
            return None
        vpn = vaddr >> self._pshift
        pte = walk(self.memory, self.page_table, vpn, write, self.mode == USER)
        if not pte:
            return None
        e = TLBEntry(vpn, self.asid, pte >> 12, True, bool(pte & PTE_W))
        self.tlb.write_random(e)
        return e

    def _walk_miss(self, vaddr: int, write: bool) -> TLBEntry:
        """Walk; a failed walk is a page fault (the kernel's ``on_tlb_miss`` vector),
        after which the access walks again (or uses an entry the kernel wrote)."""
        clk = self.clock
        tries = _LIVELOCK
        while tries:
            tries -= 1
            e = self._walk(vaddr, write)
            if e is not None:
                return e
            prev = self.prev_mode = self.mode
            self.mode = KERNEL
            clk.now += self._c_pf_in
            self.exceptions += 1
            if self.tracer is not None:
                self._emit(Kind.EXCEPTION, "PAGE_FAULT", vaddr)
            try:
                self._v_miss(self, vaddr, write)
            except (KernelPanic, SimulationError) as ex:
                self.machine.panic = ex     # surfaces from run() even if caught
                raise
            finally:
                clk.now += self._c_exc_out
                self.mode = prev
                if self.tracer is not None:
                    self._emit(Kind.EXCEPTION_RETURN, "PAGE_FAULT")
            self._check_killed()
            e = self._tlb_index.get(((vaddr >> self._pshift) << self._abits) | self.asid)
            if e is not None and e.valid:
                return e
        raise self._livelock("page-fault livelock: the page was never mapped", vaddr)

    def _writable(self, vaddr: int) -> TLBEntry:
        """Return a valid, writable entry for ``vaddr``, raising TLB_MOD as needed."""
        tries = _LIVELOCK               # a countdown, as in _miss
        while tries:
            tries -= 1
            e = self._lookup(vaddr) or self._miss(vaddr, True)
            if e.writable:
                return e
            self.fault(Cause.TLB_MOD, vaddr)
        raise self._livelock("protection-fault livelock: the page stayed read-only",
                             vaddr)

    def _livelock(self, what: str, vaddr: int) -> ExolabError:
        """The error for an access retried ``_LIVELOCK`` times in vain: a user access
        (the program's handlers kept undoing the fix) is the program's fault, raised
        into its code, which ends its process; a kernel's own access is a panic."""
        if self.mode == USER:
            return ProgramFault(what, vaddr=vaddr, asid=self.asid)
        return self._panic(SimulationError(what, vaddr=vaddr, asid=self.asid))

    def load(self, vaddr: int, size: int = 4) -> int:
        """Load an unsigned ``size``-byte word from virtual address ``vaddr``."""
        clk = self.clock
        clk.now += self._c_ls
        if clk.now >= clk.deadline:
            self.service()
        if vaddr & (size - 1):
            self.fault(Cause.ADDR_LOAD, vaddr)
            raise self._panic(SimulationError("unaligned load resumed", vaddr=vaddr))
        self.accesses += 1
        e = self._tlb_index.get(((vaddr >> self._pshift) << self._abits) | self.asid)
        if e is None or not e.valid:
            e = self._miss(vaddr, False)
        buf = e.frame
        if buf is None:
            buf = e.frame = self.memory.backing(e.ppn)
            if buf is None:         # untouched frames read as zero and stay unbacked
                return self.memory.load_word(e.ppn, vaddr & self._pmask, size)
        return _UNPACK[size](buf, vaddr & self._pmask)[0]

    def store(self, vaddr: int, value: int, size: int = 4) -> None:
        """Store the low ``size`` bytes of ``value`` at virtual address ``vaddr``."""
        clk = self.clock
        clk.now += self._c_ls
        if clk.now >= clk.deadline:
            self.service()
        if vaddr & (size - 1):
            self.fault(Cause.ADDR_STORE, vaddr)
            raise self._panic(SimulationError("unaligned store resumed", vaddr=vaddr))
        self.accesses += 1
        e = self._tlb_index.get(((vaddr >> self._pshift) << self._abits) | self.asid)
        if e is None or not e.valid or not e.writable:
            e = self._writable(vaddr)
        if not e.dirty:
            self._dirtied(e, vaddr)
        buf = e.frame
        if buf is None:
            buf = e.frame = self.memory.frame(e.ppn)
        _PACK[size](buf, vaddr & self._pmask, value & _MASK[size])

    def _dirtied(self, e: TLBEntry, vaddr: int) -> None:
        """The first store through ``e``: on an x86 MMU the 486 also sets D in the
        PTE (its locked update, no cycles charged); elsewhere only the entry knows."""
        e.dirty = True
        if self._hw_walk and self.page_table >= 0:
            walk(self.memory, self.page_table, vaddr >> self._pshift, True,
                 self.mode == USER)

    def load_bytes(self, vaddr: int, n: int) -> bytes:
        """Read ``n`` bytes at ``vaddr``, page by page, charging one access per word."""
        out = bytearray()
        while n > 0:
            base, take = self._span(vaddr, n, False)
            out += self.memory.read(base, take)
            vaddr += take
            n -= take
        return bytes(out)

    def store_bytes(self, vaddr: int, data: bytes | bytearray) -> None:
        """Write ``data`` at ``vaddr``, page by page, charging one access per word."""
        pos, n = 0, len(data)
        while pos < n:
            base, take = self._span(vaddr, n - pos, True)
            self.memory.write(base, data[pos:pos + take])
            vaddr += take
            pos += take

    def _span(self, vaddr: int, n: int, write: bool) -> tuple[int, int]:
        """The first page's piece of an ``n``-byte access at ``vaddr``: its physical
        address and length, charged as one access of that many words, translated
        through the TLB (for a write: a writable entry, marked dirty)."""
        take = min(n, self._pmask + 1 - (vaddr & self._pmask))
        self.charge(self._c_ls * ((take + 3) >> 2))
        self.accesses += 1
        if write:
            e = self._writable(vaddr)
            if not e.dirty:
                self._dirtied(e, vaddr)
        else:
            e = self._lookup(vaddr) or self._miss(vaddr, False)
        return (e.ppn << self._pshift) | (vaddr & self._pmask), take

    # -- privileged TLB and address-space operations ----------------------------

    def set_asid(self, asid: int) -> None:
        """Load the ASID register (kernel mode)."""
        if self.mode != KERNEL:
            self._require_kernel("set_asid")
        if not 0 <= asid <= self._asid_max:
            raise KernelPanic("set_asid: out of range", asid=asid)
        if asid != self.asid and not self._tagged:
            self.tlb.flush()      # an untagged TLB (x86 CR3 load) forgets everything
            if self.tracer is not None:
                self._emit(Kind.TLB_FLUSH, "asid", asid)
        self.asid = asid
        self.asid_loads += 1
        clk = self.clock                # self.charge, inlined (every process switch)
        clk.now += self._c_asid
        if clk.now >= clk.deadline:
            self.service()

    def set_page_table(self, directory: int, asid: int) -> None:
        """Load cr3 (kernel mode): the page directory the MMU walks, and the ASID.

        One register load: charged once, as :meth:`set_asid`; on an untagged
        TLB a new directory flushes it even under the same ASID.
        """
        if self.mode != KERNEL:
            self._require_kernel("set_page_table")
        if not -1 <= directory < self.memory.frames:
            raise KernelPanic("set_page_table: no such frame", directory=directory)
        if directory != self.page_table and asid == self.asid and not self._tagged:
            self.tlb.flush()
            if self.tracer is not None:
                self._emit(Kind.TLB_FLUSH, "cr3", asid)
        self.page_table = directory
        self.set_asid(asid)

    def translate(self, vaddr: int, write: bool = False) -> int:
        """The frame an access to ``vaddr`` reaches (kernel mode): a kernel's touch of
        its own data or of a message buffer, through the TLB and its refill (a miss
        costs what a load's would); no data moves and no load/store is charged."""
        if self.mode != KERNEL:
            self._require_kernel("translate")
        e = self._tlb_index.get(((vaddr >> self._pshift) << self._abits) | self.asid)
        if e is None or not e.valid:
            e = self._miss(vaddr, write)
        if write and not e.writable:
            e = self._writable(vaddr)
        return e.ppn

    def tlb_write_random(self, entry: TLBEntry) -> int:
        """Write ``entry`` into a random TLB slot (kernel mode); return the slot."""
        self._require_kernel("tlbwr")
        self.clock.now += self.profile.tlb_write
        if self.tracer is not None:
            self._emit(Kind.TLB_REFILL, "tlbwr", (entry.vpn, entry.asid, entry.ppn))
        return self.tlb.write_random(entry)

    def tlb_write_indexed(self, index: int, entry: TLBEntry) -> None:
        """Write ``entry`` into TLB slot ``index`` (kernel mode)."""
        if self.mode != KERNEL:
            self._require_kernel("tlbwi")
        self.clock.now += self.profile.tlb_write
        if self.tracer is not None:
            self._emit(Kind.TLB_REFILL, "tlbwi", (entry.vpn, entry.asid, entry.ppn))
        self.tlb.write_indexed(index, entry)

    def tlb_probe(self, vpn: int, asid: int) -> TLBEntry | None:
        """Return the TLB entry for (vpn, asid), or None (kernel mode)."""
        self._require_kernel("tlbp")
        self.clock.now += self.profile.tlb_probe
        return self.tlb.lookup(vpn, asid)

    def tlb_invalidate(self, vpn: int, asid: int) -> bool:
        """Drop the TLB entry for (vpn, asid) (kernel mode); True if one was dropped."""
        self._require_kernel("tlb_invalidate")
        self.clock.now += self.profile.tlb_probe + self.profile.tlb_write
        return self.tlb.invalidate(vpn, asid)

    def tlb_flush(self, asid: int | None = None) -> int:
        """Drop all TLB entries, or those of ``asid`` (kernel mode)."""
        self._require_kernel("tlb_flush")
        self.charge(self.profile.tlb_flush)
        if self.tracer is not None:
            self._emit(Kind.TLB_FLUSH, "flush", asid)
        return self.tlb.flush(asid)

    # -- threads ----------------------------------------------------------------

    def switch_to(self, thread: SimThread, save: bool = True) -> None:
        """Save the current context and run ``thread`` (kernel mode); returns when resumed.

        ``save=False``: the kernel saves and restores no registers (an exokernel,
        whose library OSes save their own context in user mode), so the switch
        charges no ``reg_save``/``reg_restore``.
        """
        if self.mode != KERNEL:
            self._require_kernel("switch_to")
        if thread.state == DEAD:
            raise KernelPanic("switch_to: dead thread", tid=thread.tid)
        prev = self.current
        if thread is prev:
            return
        if save:
            self.clock.now += self._c_switch
        self.switches += 1
        if self.tracer is not None:
            self._emit(Kind.CONTEXT_SWITCH, thread.name, thread.tid)
        self.current = thread
        g = thread.glet
        if g is None:                   # first run: started from a shallow stack
            thread.state = READY
            self.machine.launch(thread, self._thread_body)
        else:
            g.switch()
        self.mode = KERNEL
        if prev is None:          # the idle loop was resumed
            self.current = None
        elif prev.killed:
            raise ThreadExit(prev.exit_status)

    def user_switch(self, thread: SimThread, finished: bool = False) -> None:
        """Switch in user mode to another thread of the same protection domain.

        A library OS's thread switch: it saves and restores the registers itself
        (``reg_save + reg_restore``, charged here), enters no kernel and keeps
        the address space. ``thread`` must have the caller's ``owner`` and be
        alive (else PrivilegeError). ``finished=True`` retires the caller: its
        body is done and it is never resumed (it is marked dead now). Returns
        when some thread of the domain switches back to the caller.
        """
        prev = self.current
        if self.mode != USER or prev is None or thread.owner is not prev.owner \
                or thread.state == DEAD:
            raise PrivilegeError("user_switch: not a live thread of this domain",
                                 tid=thread.tid)
        if thread is prev:
            return
        if prev is self._reaping:       # a retired thread's way out switches nowhere
            raise ThreadExit(prev.exit_status)
        self.charge(self._c_switch)
        self.switches += 1
        if self.tracer is not None:
            if finished:
                self._emit(Kind.THREAD_EXIT, prev.name, prev.exit_status)
            self._emit(Kind.CONTEXT_SWITCH, thread.name, thread.tid)
        if finished:
            prev.state = DEAD
            self._retired.append(prev)
        self.current = thread
        g = thread.glet
        if g is None:                   # first run: started from a shallow stack
            thread.state = READY
            self.machine.launch(thread, self._thread_body)
        else:
            g.switch()
        self.mode = USER
        if self._retired:
            self._reap_retired()
        self._check_killed()

    def _reap_retired(self) -> None:
        """Back on a thread after a user_switch: unwind the threads retired meanwhile,
        so their stacks are freed now and not at the end of the run (a library OS
        that makes and ends threads for ever holds only its live ones).

        Each is unwound as the current thread, killed, so whatever its frames run on
        the way out (a ``finally``) acts as itself and any kernel entry ends it; it is
        of the same domain as this thread, so nothing runs in another's space."""
        me = self.current
        while self._retired:
            r = self._retired.pop()
            g = r.glet
            if g is None or g.dead:
                continue
            r.killed = True
            self._reaping, self.current = r, r
            try:
                self.machine.unwind_greenlet(g)
            finally:
                self._reaping, self.current, self.mode = None, me, USER

    def idle(self) -> None:
        """Give the CPU to the idle loop (the current thread blocked); returns when resumed."""
        t = self.current
        self.current = None
        self.machine.root.switch()
        self.mode = KERNEL
        if t is not None and t.killed:
            raise ThreadExit(t.exit_status)

    def _thread_body(self, t: SimThread) -> None:
        """Greenlet body: run the thread in user mode and report how it ended."""
        self.mode = USER
        if self.tracer is not None:
            track = getattr(t.owner, "trace_track", None)     # the kernel's process
            self.tracer.name_thread(t.tid, t.name, track() if callable(track) else None)
            self._emit(Kind.THREAD_START, t.name)
        try:
            t.result = t.entry(*t.args)
        except ThreadExit as ex:
            t.exit_status, t.exit_tb = ex.status, ex.__traceback__
        except GreenletExit as ex:
            if self.current is not t or t is self._reaping:    # greenlet teardown of a
                t.state = DEAD              # parked thread, or of a retired one
                return
            self._program_fault(t, ex)
        except BaseException as ex:       # a bug or attack in simulated code; a panic
            if type(ex) is KeyboardInterrupt and host_interrupted():
                raise                     # ^C from the person running the simulator
            if self.machine.panic is None and t is not self._reaping:
                self._program_fault(t, ex)  # (a kernel path recorded passes through)
        if t is self._reaping:              # retired: the kernel was told nothing of it
            return
        self._end_thread(t)

    def _program_fault(self, t: SimThread, ex: BaseException) -> None:
        """Deliver a Python exception from simulated code to the kernel as a fault."""
        t.fault = ex
        if self.tracer is not None:
            self._emit(Kind.FAULT, type(ex).__name__, str(ex))
        try:
            self.mode = USER
            self.fault(Cause.PROGRAM, 0, ex)
        except ThreadExit as e2:
            t.exit_status = e2.status
        except (KernelPanic, SimulationError) as e3:
            self.machine.panic = e3

    def _end_thread(self, t: SimThread) -> None:
        """Mark ``t`` dead and tell the kernel; control then returns to the idle loop."""
        self.mode = KERNEL
        t.state = DEAD
        if self.tracer is not None:
            self._emit(Kind.THREAD_EXIT, t.name, t.exit_status)
        try:
            self.kernel.on_thread_exit(self, t)
        except (KernelPanic, SimulationError) as ex:
            self.machine.panic = ex
        self.current = None

    def statistics(self) -> CPUStats:
        """Return a frozen snapshot of this CPU's counters."""
        return CPUStats(self.index, self.traps, self.exceptions, self.interrupts,
                        self.tlb_misses, self.accesses, self.switches, self.idle_cycles,
                        self.upcalls, self.asid_loads)
