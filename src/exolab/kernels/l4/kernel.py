"""The L4 microkernel: address spaces, threads, IPC; everything else at user level.

Three abstractions (Liedtke, SOSP'95): **address spaces**, built recursively
from sigma0 by grant, map and flush (:mod:`.mapdb`) and kept in x86
two-level page tables in simulated memory (:mod:`exolab.machine.pagewalk`:
on the ``i486`` profile the MMU walks them; elsewhere the refill handler
walks them in software); **threads**, whose ids are IPC endpoints; and
**IPC** (:mod:`.ipc`). A page fault is a message from the faulting thread to
its pager, answered with a mapping; an interrupt is a message from the
interrupt's pseudo-thread to the thread that attached it (or bits in a
notification). Sigma0, the first pager, is a user-level thread that hands
out free frames (:mod:`.sigma0`). The kernel calls are in :mod:`.syscall`.

Kernel memory: the first frames are the kernel's (image, TCB pages, UTCBs,
page tables); the rest is sigma0's. Each thread's TCB is a page of kernel
virtual memory (a *virtual TCB*, L3 5.3), mapped in a kernel region whose
page tables every directory shares, so touching a TCB after a TLB flush is a
TLB miss, as on the 486. Each space has a code and a stack page and each
thread a UTCB page, touched on the way back to user mode.

Interface::

    L4(machine, paths=None)
      boot(program, *args, name="init") -> TCB      program(l4, *args) at user level
      run(until=None)  console  faults  statistics() -> L4Stats
      spaces, tcbs, mapdb, ipc, sigma0 (its TCB), paths
      new_space(creator, name) -> Space
      new_thread(space, entry, args, pager, name, start=True)   start_thread(tcb)
      tcb_of(tid) -> TCB | None             current(cpu) -> TCB
      kill(tcb, what, where)                destroy_space(space)
      shutdown()                            end_at_shutdown(tcb)  (the root ended)
      exception_ends(tcb, cause, vaddr, info)   a non-page-fault exception (a hook)
      page_fault(cpu, vaddr, write, retry=False) -> the pager's reply
      access_bits(space, vpn) -> STATUS_READ | STATUS_WRITE (PTE A/D; a mapping
                                            change that keeps the frame keeps them)
      (used by ipc/syscall) charge_row, switch, block, make_ready, cancel_timer,
      frame_of, window, close_window, space_of_cpu, tick (the slice and irq 0's timer)
      billing                           the principal the next new space is charged to
      free_tables() -> (kernel frames, space numbers, TCB numbers) free now

Accounting (:mod:`.accounts`): a space has a principal (``billing`` when the
server creates it, else its creator's); its kernel frames, its ASID and its
threads' TCB numbers and frames are charged to it as they are taken (ENOMEM,
EAGAIN for threads, past a cap) and paid back as they are freed.

Scheduling is round robin with a timeslice (:data:`SLICE_US`): the kernel's
tick (:mod:`exolab.kernels.common.tick`) runs while a thread does, and when a
slice ends with another thread ready the running one goes to the back of
the ready queue. The interval timer is also irq 0's, which a user-level
driver may attach and program (``timer``); the tick multiplexes the one
device between the slice and that driver's deadline. An IPC that switches
to its partner runs the partner in the slice it is in (no new slice).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from exolab.errors import ConfigError, KernelPanic, SyscallError
from exolab.kernels.common.console import Console
from exolab.kernels.common.contract import Declaration
from exolab.kernels.common.stats import KernelStats
from exolab.kernels.l4 import accounts, syscall
from exolab.kernels.l4.ipc import IPC, WINDOW_VPN, IPCStats
from exolab.kernels.l4.mapdb import MapDBStats, MappingDB
from exolab.kernels.l4.objects import (DEAD, INACTIVE, NIL, READY, RECEIVING, RUNNING,
                                       SENDING, TCB, Space, id_number, make_id)
from exolab.kernels.l4.paths import resolve
from exolab.kernels.common.numpool import NumberPool
from exolab.kernels.common.tick import Tick
from exolab.machine.cpu import CPU, IRQ_TIMER, KERNEL, USER, Cause
from exolab.machine.machine import Machine, RunResult
from exolab.machine.pagewalk import PTE_A, PTE_D, PTE_P, PTE_W, PageTables, walk
from exolab.machine.threads import SimThread, ThreadExit
from exolab.machine.tlb import TLBEntry

__all__ = ["L4", "L4Stats", "SIGMA0_SID", "SIGMA0_ID", "MAX_THREADS", "MAX_SPACES", "USER_LIMIT"]

SIGMA0_SID = 0
SIGMA0_ID = make_id(1, 1)   # sigma0's thread id, well known (the first TCB)
MAX_THREADS = 16_384        # TCB numbers (the virtual TCB array: 16 page tables, the
                            # first 4 made at boot, the rest when a number needs them)
MAX_SPACES = 16_384         # space numbers (TLB tags are derived, shared, flushed)
KERNEL_IMAGE = 16           # frames of kernel text and data
TCB_VPN = 0xC0000           # virtual TCB array: TCB n at page TCB_VPN + n
UTCB_VPN = 0xBFD00          # per-space UTCB pages: UTCB_VPN + slot (slot < 512)
STACK_VPN, CODE_VPN = 0xBFF00, 0xBFF80
USER_LIMIT = WINDOW_VPN     # user pages (mapped, granted, faulted) lie below this
_KERNEL_PDS = (TCB_VPN >> 10, (TCB_VPN + MAX_THREADS) >> 10)
_BOOT_PDS = 4               # TCB page tables made at boot (TCB numbers below 4,096)
#: the timeslice: L4Ka::Pistachio's DEFAULT_TIMESLICE_LENGTH, 10,000 us
#: (kernel/include/api/v4/schedule.h)
SLICE_US = 10_000


@dataclass(frozen=True, slots=True)
class L4Stats(KernelStats):
    """The common counters, with the IPC engine's and the mapping database's."""

    threads: int = 0                    # threads ever created
    spaces: int = 0                     # spaces ever created
    page_faults: int = 0                # faults turned into messages to pagers
    preemptions: int = 0                # running threads sent back at a slice's end
    ipc: IPCStats | None = None
    mapdb: MapDBStats | None = None


class L4:
    """The kernel: see the module docstring."""

    name = "l4"
    trap_names: dict[int, str] = dict(syscall.NAMES)
    declaration = Declaration(paths="exolab.kernels.l4.paths")

    def __init__(self, machine: Machine, paths: dict[str, int] | None = None) -> None:
        mem = machine.memory
        if mem.page_size != 4096:
            raise ConfigError("L4 uses the x86 4 KiB page", page_size=mem.page_size)
        pool = max(128, mem.frames // 4)
        if mem.frames <= pool + 64:
            raise ConfigError("L4 needs more physical memory", frames=mem.frames)
        self.machine = machine
        self.paths = resolve(machine.profile.name, paths)
        self._kfree = NumberPool(KERNEL_IMAGE, pool)    # kernel frames (lazy: none per frame)
        self.kframes_total = self._kfree.total
        self._payer: Any = None         # the principal _kalloc charges (None: nobody)
        self._paid: dict[int, Any] = {}     # kernel frame -> the principal it is charged to
        self.billing: Any = None        # the principal the next new space is charged to
        self.pt = PageTables(mem, self._kalloc, self._kgive)
        self.kdir = self.pt.new_directory()         # the kernel region's tables
        self.spaces: dict[int, Space] = {}
        self._tcb_pds = _KERNEL_PDS[0]              # TCB page tables made: slots below this
        for _ in range(_BOOT_PDS):                  # made once, linked into every space
            self._tcb_table()
        self.mapdb = MappingDB(SIGMA0_SID, range(pool, mem.frames), self._on_change)
        self.tcbs: dict[int, TCB] = {}              # TCB number -> TCB
        self.by_sim: dict[int, TCB] = {}            # SimThread tid -> TCB
        self._closed: dict[int, dict[TCB, None]] = {}   # tid -> threads that entered a
        #   closed receive from it (an index: a stale entry is filtered where used)
        self._versions: dict[int, int] = {}        # TCB number -> its last version
        self._free_numbers = NumberPool(1, MAX_THREADS)
        self.ready: deque[TCB] = deque()
        self.tick = Tick(machine, machine.profile.us_to_cycles(SLICE_US))
        self.preemptions = 0
        self.ipc = IPC(self)
        self.console = Console()
        self.faults: list[tuple[int, str, Any]] = []
        self.irq_owner: dict[int, TCB] = {}
        self.irq_ntfn: dict[int, tuple[Any, int]] = {}   # irq -> (notification, bits)
        self.loaded: Space | None = None            # the space whose cr3 is loaded
        self.syscalls = self.page_faults = self.threads_made = self.spaces_made = 0
        self._next_sid = SIGMA0_SID
        self._asids = NumberPool(1, MAX_SPACES + 1)        # space numbers (tags below)
        self._asid_mask = machine.cpu.tlb.asid_mask
        self._tag_owner: dict[int, Space] = {}              # TLB tag -> space using it
        self.sigma0: TCB | None = None
        self.root: TCB | None = None                # the boot thread: its end ends all
        self.user_limit = USER_LIMIT
        for cpu in machine.cpus:
            cpu.install(self)

    # -- memory ---------------------------------------------------------------------------

    def _kalloc(self) -> int:
        """A free kernel frame (page tables, TCBs, UTCBs), or ENOMEM."""
        if not self._kfree:
            raise SyscallError("ENOMEM", "out of kernel memory")
        p = self._payer
        if p is None:
            return self._kfree.take()
        accounts.charge(p, accounts.KFRAMES)
        f = self._kfree.take()
        self._paid[f] = p
        return f

    def _kgive(self, f: int) -> None:
        """Free a kernel frame; its principal (if any) is paid back."""
        p = self._paid.pop(f, None)
        if p is not None:
            accounts.uncharge(p, accounts.KFRAMES)
        self._kfree.give(f)

    def _kgive_all(self, frames: Any) -> None:
        """Free kernel frames (see _kgive)."""
        for f in frames:
            self._kgive(f)

    def _paying(self, p: Any) -> Any:
        """Make ``p`` the payer of kernel frames taken next; the previous payer."""
        was, self._payer = self._payer, p
        return was

    def free_tables(self) -> tuple[int, int, int]:
        """Free kernel frames, space numbers and TCB numbers now (principals' totals)."""
        return len(self._kfree), len(self._asids), len(self._free_numbers)

    def _on_change(self, sid: int, vpn: int, ppn: int | None, writable: bool) -> None:
        """The mapping database changed (sid, vpn): store the PTE, drop the TLB entry."""
        space = self.spaces.get(sid)
        if space is None or sid == SIGMA0_SID or not space.alive:
            return
        if ppn is None:
            self.pt.unmap(space.directory, vpn)
        else:
            old = self.pt.entry(space.directory, vpn)
            was = self._paying(space.principal)     # a new page table is the space's
            try:
                self.pt.map(space.directory, vpn, ppn, writable)
            finally:
                self._payer = was
            if old & PTE_P and old >> 12 == ppn:    # the same page, new rights: its
                used = (old | self._tlb_bits(space, vpn)) & (PTE_A | PTE_D)   # use stays
                if used:
                    self.pt.mark(space.directory, vpn, used)
        cpu = self.machine.cpu
        cpu.charge(cpu.profile.tlb_write)           # the PTE store
        if cpu.mode == KERNEL and (space is self.loaded or (
                cpu.profile.tlb_tagged and self._tag_owner.get(space.asid) is space)):
            cpu.tlb_invalidate(vpn, space.asid)     # invlpg (a tagged TLB keeps others')

    def _tlb_bits(self, space: Space, vpn: int) -> int:
        """PTE_D if a TLB entry of ``space`` for ``vpn`` was stored through (a
        software-refilled TLB's record of a store the page table has not seen)."""
        cpu = self.machine.cpu
        if cpu._hw_walk or (space is not self.loaded and not cpu.profile.tlb_tagged):
            return 0
        e = cpu.tlb.lookup(vpn, space.asid)
        return PTE_D if e is not None and e.dirty and e.valid else 0

    def access_bits(self, sid: int, vpn: int) -> int:
        """How ``sid``'s page ``vpn`` was used: STATUS_READ / STATUS_WRITE (its PTE's
        A and D bits, and a TLB entry's record of a store)."""
        space = self.spaces.get(sid)
        if space is None or not space.alive:
            return 0
        pte = self.pt.entry(space.directory, vpn)
        if not pte & PTE_P:
            return 0
        pte |= self._tlb_bits(space, vpn)
        return (syscall.STATUS_READ if pte & PTE_A else 0) | \
            (syscall.STATUS_WRITE if pte & PTE_D else 0)

    def frame_of(self, space: Space, vpn: int) -> int | None:
        """The frame ``space`` reaches at ``vpn`` through its tables, or None."""
        got = self.pt.lookup(space.directory, vpn)
        return None if got is None else got[0]

    def window(self, cpu: CPU, here: Space, ppn: int, writable: bool) -> int:
        """Enter frame ``ppn`` in the running space's temporary window; its address."""
        was = self._paying(here.principal)      # (its page table is the space's)
        try:
            self.pt.map(here.directory, WINDOW_VPN, ppn, writable, user=False)
        finally:
            self._payer = was
        cpu.charge(cpu.profile.tlb_write)
        cpu.tlb_invalidate(WINDOW_VPN, here.asid)
        return WINDOW_VPN << 12

    def close_window(self, cpu: CPU, here: Space) -> None:
        """Take the temporary window down again."""
        if self.pt.unmap(here.directory, WINDOW_VPN):
            cpu.charge(cpu.profile.tlb_write)
            cpu.tlb_invalidate(WINDOW_VPN, here.asid)

    def space_of_cpu(self, cpu: CPU) -> Space | None:
        """The space whose page directory is loaded."""
        return self.loaded

    def _tcb_table(self) -> None:
        """Make the next page table of the virtual TCB array and enter it in every
        space's directory (the kernel region is shared). TCB numbers are handed out
        lowest first, so this happens once per 1,024 numbers, never per thread."""
        di = self._tcb_pds
        self.pt.map(self.kdir, di << 10, 0, False, user=False)
        self.pt.unmap(self.kdir, di << 10)
        self._tcb_pds = di + 1
        for space in self.spaces.values():
            self.pt.link(space.directory, self.kdir, di, di + 1)

    # -- spaces and threads -------------------------------------------------------------

    def new_space(self, creator: int, name: str) -> Space:
        """Create an empty space (page directory, kernel region, code/stack pages)."""
        if not self._asids:
            raise SyscallError("ENOMEM", "no address-space identifiers left")
        creator_space = self.spaces.get(creator)
        payer = self.billing if self.billing is not None else (
            creator_space.principal if creator_space is not None else None)
        if payer is not None:
            accounts.charge(payer, accounts.SPACES)
        was = self._paying(payer)
        try:
            directory, kf = self._space_frames()
        except SyscallError:
            if payer is not None:
                accounts.uncharge(payer, accounts.SPACES)
            raise
        finally:
            self._payer = was
        sid = self._next_sid
        self._next_sid += 1
        number = self._asids.take()
        space = Space(sid, name, (number - 1) % self._asid_mask + 1, directory, creator,
                      CODE_VPN, STACK_VPN, kf)
        space.number = number
        space.principal = payer
        self.spaces[sid] = space
        parent = self.spaces.get(creator)
        if parent is not None and parent is not space:
            parent.children.add(sid)
        self.spaces_made += 1
        return space

    def _space_frames(self) -> tuple[int, list[int]]:
        """A new page directory with the kernel region and code/stack pages; ENOMEM."""
        kf: list[int] = []
        directory = self.pt.new_directory()
        try:
            self.pt.link(directory, self.kdir, _KERNEL_PDS[0], self._tcb_pds)
            for vpn in (CODE_VPN, STACK_VPN):
                kf.append(self._kalloc())
                self.pt.map(directory, vpn, kf[-1], vpn == STACK_VPN)
        except SyscallError:
            self._kgive_all(kf)
            self.pt.release(directory)
            raise
        return directory, kf

    def new_thread(self, space: Space, entry: Callable[..., Any], args: tuple[Any, ...],
                   pager: int, name: str, start: bool = True) -> TCB:
        """Create a thread running ``entry(l4, *args)`` in ``space``: ready, or
        inactive until :meth:`start_thread` (``start=False``)."""
        from exolab.kernels.l4.user import L4Lib
        if not self._free_numbers or len(space.threads) >= 512:
            raise SyscallError("EAGAIN", "no thread control blocks left")
        payer = space.principal
        if payer is not None:
            accounts.charge(payer, accounts.THREADS)
        try:
            tcb_frame, utcb_frame, number = self._thread_frames(payer)
        except SyscallError:
            if payer is not None:
                accounts.uncharge(payer, accounts.THREADS)
            raise
        self._versions[number] = version = self._versions.get(number, 0) + 1
        used = {(self.tcbs[n].utcb_vaddr >> 12) - UTCB_VPN for n in space.threads}
        slot = min(set(range(512)) - used)
        self.pt.map(self.kdir, TCB_VPN + number, tcb_frame, True, user=False)
        self.pt.map(space.directory, UTCB_VPN + slot, utcb_frame, True)
        tid = make_id(number, version)
        sim = self.machine.threads.create(self._thread_body, (), name or f"t{number}",
                                          owner=space)
        t = TCB(tid, space, sim, pager, (TCB_VPN + number) << 12, (UTCB_VPN + slot) << 12)
        t.frames = (tcb_frame, utcb_frame)
        sim.args = (t, entry, args, L4Lib)
        t.serial = self.threads_made
        self.tcbs[number] = t
        self.by_sim[sim.tid] = t
        space.threads.add(number)
        self.threads_made += 1
        if start:
            self.make_ready(t)
        else:
            t.state = INACTIVE
        return t

    def _thread_frames(self, payer: Any) -> tuple[int, int, int]:
        """A TCB and a UTCB frame (charged to ``payer``) and a TCB number; ENOMEM."""
        was = self._paying(payer)
        try:
            tcb_frame = self._kalloc()
            try:
                utcb_frame = self._kalloc()
            except SyscallError:
                self._kgive(tcb_frame)
                raise
        finally:
            self._payer = was
        number = self._free_numbers.take()
        try:
            if (TCB_VPN + number) >> 10 >= self._tcb_pds:
                self._tcb_table()               # (shared by all: nobody's charge)
        except SyscallError:
            self._free_numbers.give(number)
            self._kgive_all((utcb_frame, tcb_frame))
            raise
        return tcb_frame, utcb_frame, number

    def start_thread(self, t: TCB) -> None:
        """Make an inactive thread ready (EINVAL if it has been started)."""
        if t.state != INACTIVE:
            raise SyscallError("EINVAL", "the thread has been started", tid=t.tid)
        self.make_ready(t)

    def _thread_body(self, t: TCB, entry: Callable[..., Any], args: tuple[Any, ...],
                     lib: Any) -> Any:
        """A thread's user-level body: its entry with the user library (a thread
        killed before it first ran, as one never started, runs none of it)."""
        if t.sim.killed:
            raise ThreadExit(t.sim.exit_status)
        return entry(lib(self, t), *args)

    def tcb_of(self, tid: Any) -> TCB | None:
        """The live thread ``tid`` names (number and version), or None."""
        if type(tid) is not int or tid <= 0:
            return None
        t = self.tcbs.get(id_number(tid))
        return t if t is not None and t.tid == tid and t.state != DEAD else None

    def current(self, cpu: CPU) -> TCB:
        """The running thread's TCB."""
        sim = cpu.current
        t = None if sim is None else self.by_sim.get(sim.tid)
        if t is None:
            raise KernelPanic("l4: no current thread")
        return t

    def boot(self, program: Callable[..., Any], *args: Any, name: str = "init") -> TCB:
        """Create sigma0 and the root task running ``program(l4, *args)``."""
        from exolab.kernels.l4.sigma0 import sigma0_main
        if self.sigma0 is None:
            s0 = self.new_space(SIGMA0_SID, "sigma0")
            self.sigma0 = self.new_thread(s0, sigma0_main, (), NIL, "sigma0")
            if self.sigma0.tid != SIGMA0_ID:       # (the KIP announces this id)
                raise KernelPanic("l4: sigma0 must get the well-known id")
        root = self.new_space(SIGMA0_SID, name)
        self.root = self.new_thread(root, program, args, self.sigma0.tid, name)
        return self.root

    def run(self, until: int | None = None) -> RunResult:
        """Run the machine (see Machine.run)."""
        return self.machine.run(until)

    # -- scheduling ---------------------------------------------------------------------

    def charge_row(self, cpu: CPU, row: str) -> None:
        """Charge one software path row."""
        cpu.charge(self.paths[row])

    def make_ready(self, t: TCB) -> None:
        """Queue ``t`` to run (once)."""
        if t.state not in (DEAD, READY):
            t.state = READY
            self.ready.append(t)
        elif t.state == READY and t not in self.ready:
            self.ready.append(t)

    def cancel_timer(self, t: TCB) -> None:
        """Cancel ``t``'s pending IPC timeout."""
        if t.timer is not None:
            self.machine.clock.cancel(t.timer)
            t.timer = None

    def switch(self, cpu: CPU, t: TCB) -> None:
        """Switch stack (and address space) to ``t``; return when this thread runs again."""
        self.charge_row(cpu, "l4_stack_switch")
        if t in self.ready:
            self.ready.remove(t)
        self._load(cpu, t.space)
        cpu.translate(t.tcb_vaddr)              # t's kernel stack, after the flush
        t.state = RUNNING
        cpu.switch_to(t.sim, save=False)

    def _load(self, cpu: CPU, space: Space) -> None:
        """Load ``space``'s page directory (cr3) unless it is loaded."""
        if space is not self.loaded:
            self.charge_row(cpu, "l4_as_switch")
            if self._tag_owner.get(space.asid) is not space:   # a tag shared by spaces:
                if cpu.profile.tlb_tagged:                    # drop the other's entries
                    cpu.tlb_flush(space.asid)
                self._tag_owner[space.asid] = space
            cpu.set_page_table(space.directory, space.asid)
            self.loaded = space

    def block(self, cpu: CPU, me: TCB) -> None:
        """``me`` waits: run the next ready thread or idle; return when resumed."""
        self.charge_row(cpu, "l4_block")
        while self.ready:
            t = self.ready.popleft()
            if t.state == READY and t is not me:
                self.switch(cpu, t)
                return
        cpu.idle()

    def yield_cpu(self, cpu: CPU, me: TCB, same_space: bool) -> None:
        """Run the next ready thread (of ``me``'s space if asked); ``me`` stays ready."""
        for t in self.ready:
            if t.state == READY and t is not me and (not same_space or
                                                     t.space is me.space):
                self.make_ready(me)
                self.switch(cpu, t)
                return
        self.charge_row(cpu, "l4_block")

    def resume_user(self, cpu: CPU, t: TCB) -> None:
        """The way back to user mode touches the code and stack pages (iret's misses)."""
        cpu.translate(t.space.code_vpn << 12)
        cpu.translate(t.space.stack_vpn << 12)

    # -- faults, death ----------------------------------------------------------------------

    def kill(self, t: TCB, what: str, where: Any) -> None:
        """Record a fault of ``t`` and end it (at its next kernel entry, or now)."""
        self.faults.append((t.tid, what, where))
        t.sim.killed = True
        t.sim.exit_status = what

    def page_fault(self, cpu: CPU, vaddr: int, write: bool, retry: bool = False) -> Any:
        """Send the fault to the thread's pager; its reply (which maps the page)."""
        if cpu.prev_mode == KERNEL:
            raise KernelPanic("l4: kernel page fault", vaddr=vaddr)
        me = self.current(cpu)
        pager = self.tcb_of(me.pager)
        if pager is None or pager is me:
            self.kill(me, "page fault with no pager", vaddr)
            raise ThreadExit(me.sim.exit_status)
        self.page_faults += 1
        self.charge_row(cpu, "l4_fault_ipc")
        try:
            got = self.ipc.call(cpu, me, pager, syscall.fault_message(vaddr, write, retry),
                                syscall.fault_buffer(vaddr), None)
        except SyscallError as ex:
            self.kill(me, "page fault: pager gone", ex.errno)
            raise ThreadExit(me.sim.exit_status) from None
        self.resume_user(cpu, me)
        return got

    def destroy_space(self, space: Space) -> None:
        """Kill the space's threads, drop its mappings, free its tables and frames;
        the spaces it created go with it (recursively)."""
        if not space.alive:
            return
        space.alive = False
        for sid in list(space.children):
            sub = self.spaces.get(sid)
            if sub is not None and sub is not space:
                self.destroy_space(sub)
        for n in list(space.threads):
            t = self.tcbs.get(n)
            if t is not None and t.state != DEAD:
                t.sim.killed = True
                if t.state in (SENDING, RECEIVING):
                    self.ipc.abort(t, SyscallError("ESRCH", "space destroyed"))
                elif t.state == INACTIVE:       # never started: it runs only to unwind
                    self.make_ready(t)
        self.mapdb.drop_space(space.sid)
        if not space.threads:
            self._release_space(space)

    def note_closed(self, t: TCB, partner: int) -> None:
        """Index that ``t`` waits in a closed receive from ``partner`` (so a dying
        partner finds its waiters without scanning every thread)."""
        if t.closed_on != partner:
            self._unnote_closed(t)
            got = self._closed.get(partner)
            if got is None:
                got = self._closed[partner] = {}
            got[t] = None
            t.closed_on = partner

    def _unnote_closed(self, t: TCB) -> None:
        """Take ``t`` out of the closed-receive index."""
        got = self._closed.get(t.closed_on)
        if got is not None:
            got.pop(t, None)
            if not got:
                del self._closed[t.closed_on]
        t.closed_on = NIL

    def _reap(self, t: TCB) -> None:
        """Forget a dead thread: partners waiting on it get ESRCH; free its pages."""
        t.state = DEAD
        self.cancel_timer(t)
        if t in self.ready:
            self.ready.remove(t)
        for s in list(t.senders):
            self.ipc.abort(s, SyscallError("ESRCH", "the receiver died", tid=t.tid))
        self._unnote_closed(t)
        for o in sorted(self._closed.pop(t.tid, {}), key=_serial):
            if o.state == RECEIVING and o.partner == t.tid and o.waiting_on is None:
                self.ipc.abort(o, SyscallError("ESRCH", "the partner died", tid=t.tid))
        if t.waiting_on is not None:
            self.ipc.abort(t, SyscallError("ESRCH", "dead"))
            t.state = DEAD
            if t in self.ready:
                self.ready.remove(t)
        for irq in [i for i, o in self.irq_owner.items() if o is t]:
            del self.irq_owner[irq]
            if irq == IRQ_TIMER:            # nobody can receive its ticks any more
                self.tick.cancel_client()
        if t.bound is not None:
            t.bound.bound, t.bound = None, None
        number = id_number(t.tid)
        self.pt.unmap(self.kdir, TCB_VPN + number)
        self.pt.unmap(t.space.directory, t.utcb_vaddr >> 12)
        self._kgive_all(t.frames)
        t.frames = ()
        if t.space.principal is not None:
            accounts.uncharge(t.space.principal, accounts.THREADS)
        del self.tcbs[number]
        self._free_numbers.give(number)
        t.space.threads.discard(number)
        if not t.space.threads and not t.space.alive:
            self._release_space(t.space)

    def _release_space(self, space: Space) -> None:
        """A destroyed space's last thread is gone: free its kernel frames and ASID."""
        if space is self.loaded:
            self.loaded = None
            self.machine.cpu.page_table = -1
        self.pt.release(space.directory)
        self._kgive_all(space.kframes)
        space.kframes = []
        self._asids.give(space.number)
        if space.principal is not None:
            accounts.uncharge(space.principal, accounts.SPACES)
        parent = self.spaces.get(space.creator)
        if parent is not None:
            parent.children.discard(space.sid)
        if self._tag_owner.get(space.asid) is space:
            del self._tag_owner[space.asid]
        self.spaces.pop(space.sid, None)

    # -- vectors -------------------------------------------------------------------------

    def on_trap(self, cpu: CPU, number: Any, args: tuple[Any, ...]) -> Any:
        """A kernel call: decode, then invoke (see syscall.py)."""
        self.syscalls += 1
        return syscall.dispatch(self, cpu, number, args)

    def on_exception(self, cpu: CPU, cause: Cause, vaddr: int, info: Any) -> None:
        """A store to a read-only page is a page fault; anything else ends the thread."""
        if cause == Cause.TLB_MOD:
            self.page_fault(cpu, vaddr, True)
            return
        self.exception_ends(self.current(cpu), cause, vaddr, info)

    def exception_ends(self, t: TCB, cause: Cause, vaddr: int, info: Any) -> None:
        """An exception other than a page fault: ``t`` is killed and unwinds now."""
        self.kill(t, cause.name, vaddr if cause != Cause.PROGRAM else type(info).__name__)
        raise ThreadExit(t.sim.exit_status)

    def on_tlb_miss(self, cpu: CPU, vaddr: int, write: bool) -> None:
        """x86 MMU: a failed walk (a page fault). Software MMU: walk, else fault."""
        if not cpu._hw_walk and cpu.page_table >= 0:
            pte = walk(self.machine.memory, cpu.page_table, vaddr >> 12, write,
                       cpu.prev_mode == USER)
            if pte:
                cpu.tlb_write_random(TLBEntry(vaddr >> 12, cpu.asid, pte >> 12, True,
                                              bool(pte & PTE_W)))
                return
        self.page_fault(cpu, vaddr, write)

    def on_interrupt(self, cpu: CPU, irq: int) -> None:
        """The timer: the slice (preempt) and irq 0's driver; any interrupt becomes a
        message (or notification bits) to its attached thread."""
        if irq != IRQ_TIMER:
            self._deliver(cpu, irq)
            return
        slice_due, client_due = self.tick.expired()
        if client_due and self._deliver(cpu, irq):
            return                                  # the driver ran: the slice is spent
        if slice_due:
            self._preempt(cpu)

    def _deliver(self, cpu: CPU, irq: int) -> bool:
        """Interrupt ``irq`` to its thread or notification; True if the woken handler
        was switched to (and this thread has run again since)."""
        woken = None
        nt = self.irq_ntfn.get(irq)
        if nt is not None:
            self.ipc.signal(cpu, nt[0], nt[1])
            woken = nt[0].bound or nt[0].waiter
        else:
            owner = self.irq_owner.get(irq)
            if owner is not None and self.ipc.deliver_irq(cpu, owner, irq):
                woken = owner
        if cpu.current is not None and woken is not None and woken.state == READY:
            me = self.current(cpu)                  # preempt: the handler runs now
            self.make_ready(me)
            self.switch(cpu, woken)
            return True
        return False

    def _preempt(self, cpu: CPU) -> None:
        """The slice ended: the running thread goes to the back of the ready queue if
        another thread is ready (entries no longer ready are dropped on the way)."""
        sim = cpu.current
        me = None if sim is None else self.by_sim.get(sim.tid)
        if me is None:
            return
        self.charge_row(cpu, "l4_tick")
        ready = self.ready
        while ready:
            t = ready[0]
            if t.state == READY and t is not me:
                self.preemptions += 1
                self.make_ready(me)
                self.switch(cpu, t)
                return
            ready.popleft()

    def on_idle(self, cpu: CPU) -> bool:
        """Dispatch the next ready thread (the slice runs); none: the tick stops."""
        while self.ready:
            t = self.ready.popleft()
            if t.state == READY:
                self.tick.start()
                self.switch(cpu, t)
                return True
        self.tick.stop()
        return False

    def on_thread_exit(self, cpu: CPU, thread: SimThread) -> None:
        """A thread's body ended: flush its console tail and reap it."""
        t = self.by_sim.pop(thread.tid, None)
        if t is None:
            return
        self.console.flush(t.tid)
        if thread.fault is not None and not any(f[0] == t.tid for f in self.faults):
            self.faults.append((t.tid, "exception", type(thread.fault).__name__))
        self._reap(t)
        if t is self.root:
            self.shutdown()

    def shutdown(self) -> None:
        """The root task ended: every other thread is ended too (servers, sigma0)."""
        for o in list(self.tcbs.values()):
            self.end_at_shutdown(o)

    def end_at_shutdown(self, t: TCB) -> None:
        """End ``t`` unless it is dead or ending: killed with status "shutdown", any
        IPC it waits in aborted (ESRCH), made ready so that it unwinds."""
        if t.state != DEAD and not t.sim.killed:
            t.sim.killed = True
            t.sim.exit_status = "shutdown"
            if t.state in (SENDING, RECEIVING):
                self.ipc.abort(t, SyscallError("ESRCH", "shutdown"))
            self.make_ready(t)

    def statistics(self) -> L4Stats:
        """Return a frozen record of the kernel's counters."""
        live = sum(1 for t in self.tcbs.values() if t.state != DEAD)
        return L4Stats(self.syscalls, len(self.faults), self.spaces_made, live,
                       len(self.tcbs), self.kframes_total - len(self._kfree) +
                       self.mapdb.statistics().nodes, 0, self.threads_made,
                       self.spaces_made, self.page_faults, self.preemptions,
                       self.ipc.statistics(), self.mapdb.statistics())


def _serial(t: TCB) -> int:
    """A thread's creation order (sort key)."""
    return t.serial
