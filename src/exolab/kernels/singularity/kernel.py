"""The Singularity kernel: SIPs isolated by verification, in one address space.

Every SIP is a verified program (:mod:`exolab.safe`) running in kernel mode
in the kernel's own address space with paging off: no page tables, no ASIDs,
no TLB flushes. A kernel call is a procedure call (``sing_abi_call``), not a
trap. SIPs talk only over channels (:mod:`.channel`), moving exchange-heap
blocks (:mod:`.exheap`); each starts from its manifest (:mod:`.manifest`).
Every SIP is an accounting principal nested in its parent's (:mod:`.accounts`):
a spawning tree holds at most its cap of SIPs, threads, exchange-heap pages
and connections to one service, charged up the chain.
What a sealed SIP cannot have (fork, shared memory, page protection and
fault handlers, which need paging, exception handlers) is refused with ENOSYS
and declared.

Interface::

    Singularity(machine, paths=None, catalogue=None, installed=(), isolation="base",
                isolated=())                       the knob: isolation.CONFIGS;
                                                   catalogue None: the shipped contracts
      boot(program, *args, name="init") -> SIP
      spawn(parent, program, args, name) -> SIP     (decode, then create)
      start_thread(sip, entry, args) -> SimThread   fault(sip, what, where)
      kill(sip, status)                              alloc_region(sip, pages) -> base
      forget(pid)                                    a reaped SIP leaves the table
      heap, channels, sched, sips, principals, console, faults, paths, statistics()
      vectors: on_trap, on_exception, on_tlb_miss, on_interrupt, on_idle, on_thread_exit
    SingStats                                        the statistics record
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterable

from exolab.abi import EXCEPTION_KINDS, FILE_CALLS, SOCKET_CALLS, image_pages
from exolab.errors import ConfigError, KernelPanic, SyscallError
from exolab.kernels.common import principals as ledger
from exolab.kernels.common.console import Console
from exolab.kernels.common.contract import Declaration
from exolab.kernels.common.exitstatus import thread_status
from exolab.kernels.common.names import process_name
from exolab.kernels.common.stats import KernelStats
from exolab.kernels.common.wait import WaitTable
from exolab.kernels.singularity import accounts, manifest as manifests
from exolab.kernels.singularity.accounts import KINDS, SIPS, THREADS
from exolab.kernels.common.args import shown
from exolab.kernels.singularity.channel import Channels, ChannelStats, Endpoint
from exolab.kernels.singularity.devices import DiskPort, NicPort
from exolab.kernels.singularity.exheap import ExchangeHeap, ExHeapStats
from exolab.kernels.singularity.frames import FramePool
from exolab.kernels.singularity.limits import (ENDPOINT_RESERVE, EXHEAP_MAX_PAGES,
                                               EXHEAP_QUOTA_PAGES, HEAP_PAGES, LIMITS,
                                               MAX_ENDPOINTS, MAX_HEAP_PAGES,
                                               MAX_QUEUED, MAX_SIPS, MAX_THREADS,
                                               MAX_THREADS_PER_SIP)
from exolab.kernels.singularity.paging import Pager, PagerStats
from exolab.kernels.singularity.paths import resolve
from exolab.kernels.singularity.sched import SLICE_US, Scheduler, SchedStats
from exolab.kernels.singularity.sip import SIP
from exolab.kernels.common.tick import Tick
from exolab.machine.cpu import IRQ_DISK, IRQ_NIC, IRQ_TIMER, KERNEL, CPU, Cause
from exolab.machine.machine import Machine, RunResult
from exolab.machine.threads import SimThread, ThreadExit
from exolab.machine.tlb import TLBEntry
from exolab.kernels.singularity.isolation import applies, configure

__all__ = ["Singularity", "SingStats", "REFUSES"]

#: what a sealed SIP in a paging-off kernel cannot have (ENOSYS, declared)
REFUSES = frozenset({"fork", "shm_create", "shm_attach", "shm_detach", "mprotect",
                     "dirty", "set_fault_handler"} |
                    {f"exception:{k}" for k in EXCEPTION_KINDS} | FILE_CALLS |
                    SOCKET_CALLS)
#: calls the personality adds beyond the ABI (channels, the exchange heap)
EXTENSIONS = frozenset({"channel", "send", "receive", "close_endpoint", "endpoint",
                        "exheap_new", "exheap_read", "exheap_write", "exheap_free",
                        "nic_post", "nic_send", "nic_wait", "disk_read", "disk_info"})
KERNEL_FRAMES = 64          # the kernel's own image and data
CHANNEL_TABLE = 32          # its last 32 frames: the endpoint records (channel.py)
TRAP_CALL = 0               # the one trap: a ring-3 SIP entering a kernel call


@dataclass(frozen=True, slots=True)
class SingStats(KernelStats):
    """The common counters, with the mechanisms' records."""

    calls: int = 0                  # kernel ABI calls (procedure calls: no trap)
    sched: SchedStats | None = None
    channels: ChannelStats | None = None
    exheap: ExHeapStats | None = None
    pager: PagerStats | None = None


class Singularity:
    """SIPs, channels, the exchange heap, manifests."""

    name = "singularity"
    trap_names: dict[int, str] = {0: "ring_crossing"}   # only ring-3 SIPs (the knob) trap
    declaration = Declaration(refuses=REFUSES, extensions=EXTENSIONS,
                              paths="exolab.kernels.singularity.paths", limits=LIMITS)
    disk: DiskPort | None = None        # the disk's port (devices.py), if there is one

    def __init__(self, machine: Machine, paths: dict[str, int] | None = None,
                 catalogue: Any = None, installed: Iterable[str] = (),
                 isolation: str = "base", isolated: Iterable[str] = ()) -> None:
        page_shift = machine.memory.page_shift
        if machine.memory.frames <= KERNEL_FRAMES + HEAP_PAGES:
            raise KernelPanic("singularity: not enough physical memory",
                              frames=machine.memory.frames)
        self.machine = machine
        self.page_shift = page_shift
        self.isolation, self._isolated = configure(isolation, isolated)
        self.paged = self.isolation.paging      # SIP accesses go through the TLB
        self._next_asid = 0
        self.paths = resolve(machine.profile.name, paths)
        self.frames = FramePool(KERNEL_FRAMES, machine.memory.frames)
        self.pager = Pager(machine.cpu, self.paths["sing_pte_op"]) if self.paged else None
        self.heap = ExchangeHeap(machine.memory, self.frames, EXHEAP_MAX_PAGES,
                                 EXHEAP_QUOTA_PAGES, self.pager)
        self.tick = Tick(machine, machine.profile.us_to_cycles(SLICE_US))
        self.sched = Scheduler(self.paths["sing_sched"], self.tick)
        self.channels = Channels(self.heap, self.sched, MAX_ENDPOINTS,
                                 self.paths["sing_channel_op"], pager=self.pager,
                                 table=((KERNEL_FRAMES - CHANNEL_TABLE) << page_shift,
                                        CHANNEL_TABLE << page_shift),
                                 queue=MAX_QUEUED, reserve=ENDPOINT_RESERVE)
        self._catalogue = catalogue                 # None: the shipped ones, when asked
        self.installed = frozenset(installed)       # programs a manifest may depend on
        self.sips: dict[int, SIP] = {}
        self.waits = WaitTable()
        self.console = Console()
        self.faults: list[tuple[int, str, Any]] = []
        self.exits: list[tuple[int, str, Any]] = []     # (pid, name, status) as they end
        self.services: dict[str, Any] = {}          # rpc name -> its service record
        self.principals = accounts.make(MAX_SIPS, MAX_THREADS, EXHEAP_MAX_PAGES,
                                        MAX_ENDPOINTS - ENDPOINT_RESERVE)
        self.calls = 0
        self.threads_live = 0
        self._next_pid = 1
        self.nic = NicPort(machine.nics[0]) if machine.nics else None   # devices.py
        if machine.disks:                   # (else the class's None: no instance slot)
            self.disk = DiskPort(machine.disks[0])
        for cpu in machine.cpus:
            cpu.install(self)
        self.channels.attach(machine.cpu)           # whose current thread calls

    # -- SIPs --------------------------------------------------------------------------

    @property
    def catalogue(self) -> Any:
        """Contract name -> Contract: the one given, else the shipped contracts."""
        if self._catalogue is None:
            self._catalogue = shipped_catalogue()
        return self._catalogue

    def contracts(self) -> frozenset[str]:
        """Names of the contracts the catalogue knows."""
        cat = self.catalogue
        return frozenset() if cat is None else frozenset(cat)

    def boot(self, program: Callable[..., Any], *args: Any, name: str = "init") -> SIP:
        """Create the first SIP, running ``program(os, *args)``."""
        return self.spawn(None, program, args, name)

    def run(self, until: int | None = None) -> RunResult:
        """Run the machine (see Machine.run)."""
        return self.machine.run(until)

    def _admit(self, parent: SIP | None, program: Any,
               name: Any) -> tuple[Any, int, str, Any]:
        """Decode a SIP creation: manifest satisfiable, limits, its principal's room;
        (manifest, pages, name, its new principal)."""
        if not callable(program):
            raise SyscallError("EINVAL", "spawn needs a callable program")
        try:
            m = manifests.manifest_of(program)
            manifests.check(m, program, self.contracts(), self.installed)
        except ConfigError as ex:
            raise SyscallError("ENOEXEC", "manifest not satisfiable",
                               reason=str(ex)) from None
        for resource, most in (("exheap_pages", EXHEAP_QUOTA_PAGES),
                               ("heap_pages", MAX_HEAP_PAGES)):
            if m.resources.get(resource, 0) > most:      # a quarter of the heap at most
                raise SyscallError("ENOEXEC", "manifest not satisfiable: more than a "
                                   "SIP may hold", resource=resource, limit=most)
        if len(self.sips) >= MAX_SIPS or self.threads_live >= MAX_THREADS:
            raise SyscallError("EAGAIN", "too many SIPs", limit=MAX_SIPS)
        principal = self.principals.root() if parent is None else \
            self.principals.nested(parent.principal)     # EAGAIN: nested too deep
        for kind in (SIPS, THREADS):                     # EAGAIN: its tree's share used
            ledger.check(principal, kind, 1, "EAGAIN", KINDS[kind])
        for port in self._devices(m):                    # before anything is made
            if port.owner is not None:
                raise SyscallError("EBUSY", "the device already has a driver",
                                   owner=port.owner)
        pages = max(HEAP_PAGES, image_pages(program), m.resources.get("heap_pages", 0))
        if self._frames_left() < pages:
            raise SyscallError("ENOMEM", "no memory for the SIP's heap", pages=pages)
        return m, pages, process_name(name, program), principal

    def _devices(self, m: Any) -> list[Any]:
        """The device ports manifest ``m`` asks for (ENODEV for one the machine lacks)."""
        out = []
        for resource, port in (("nic", self.nic), ("disk", self.disk)):
            if m.resources.get(resource, 0):
                if port is None:
                    raise SyscallError("ENODEV", "the manifest asks for a device; there "
                                       "is none", device=resource)
                out.append(port)
        return out

    def spawn(self, parent: SIP | None, program: Callable[..., Any], args: tuple[Any, ...],
              name: Any) -> SIP:
        """Create a SIP from its manifest and start its first thread; the endpoints
        among ``args`` move to it and must be exactly those its manifest declares.
        All or nothing: every check comes before anything is made, and a failure
        after that unwinds what was made (:meth:`_unmake`)."""
        m, pages, pname, principal = self._admit(parent, program, name)
        eps = self._decode_spawn_args(parent, m, args, principal)
        frames = self.frames.take_run(pages)             # ENOMEM: nothing made yet
        pid = self._next_pid
        self._next_pid += 1
        sip = SIP(pid, pname, None if parent is None else parent.pid, m)
        sip.principal = principal
        sip.fds = {0: ("console", None), 1: ("console", None), 2: ("console", None)}
        self._add_region(sip, frames, self.page_shift)
        try:
            main, moved = self._make(parent, sip, m, pages, eps, program, args)
        except BaseException:
            self._unmake(sip)
            raise
        self.waits.add(pid, sip.parent)                   # from here nothing fails
        self.sips[pid] = sip
        ledger.add(principal, SIPS, 1)                    # (checked in _admit)
        for ep in moved:                                 # its endpoints: the first thread's
            self.channels.claim(pid, ep, main.tid)
        return sip

    def _make(self, parent: SIP | None, sip: SIP, m: Any, pages: int,
              eps: list[Endpoint], program: Callable[..., Any],
              args: tuple[Any, ...]) -> tuple[SimThread, list[Endpoint]]:
        """The invoke half of :meth:`spawn`: isolation, quota, devices, the endpoints
        handed over, the first thread; (that thread, the endpoints it got)."""
        pid = sip.pid
        self._isolate(sip, pages)
        self.heap.set_quota(pid, m.resources.get("exheap_pages", EXHEAP_QUOTA_PAGES))
        self.heap.set_principal(pid, sip.principal)
        for port in self._devices(m):                    # decoded in _admit: free
            port.grant(pid)
        from exolab.kernels.singularity.personality import SipOS
        sip.personality = SipOS(self, sip)
        moved = {}
        for decl, ep in zip(m.endpoints, eps):           # hand them over
            moved[id(ep)] = sip.endpoints[decl.name] = self.channels.give(
                parent.pid, ep, pid)                      # type: ignore[union-attr]
        args = tuple(moved.get(id(a), a) if type(a) is Endpoint else a for a in args)
        self.machine.cpu.charge(self.paths["sing_sip_create"])
        return self.start_thread(sip, program, args), list(moved.values())

    def _unmake(self, sip: SIP) -> None:
        """Undo a SIP creation that failed half-way (its first thread, the last step,
        not made): its endpoints closed (the peers see the end), its account and
        quota, devices and frames (never written: still zero) back; it was never in
        ``sips`` nor in the wait table."""
        pid = sip.pid
        self.channels.close_all(pid)
        self.heap.reclaim(pid)
        for port in (self.nic, self.disk):
            if port is not None:
                port.release(pid)
        self.frames.give(sip.frames)
        sip.frames, sip.regions, sip.state = [], [], "zombie"

    def _isolate(self, sip: SIP, pages: int) -> None:
        """Apply the isolation knob to a new SIP: its page tables, domain and ring."""
        iso, cpu = self.isolation, self.machine.cpu
        if iso.paging:
            cpu.charge(self.paths["sing_pte_op"] * pages)
        if applies(iso.own_domain, sip.name, self._isolated):
            self._next_asid = self._next_asid % cpu.tlb.asid_mask + 1
            sip.asid = self._next_asid
            cpu.charge(self.paths["sing_domain_map"])
        sip.ring3 = applies(iso.ring3, sip.name, self._isolated)

    def _decode_spawn_args(self, parent: SIP | None, m: Any, args: tuple[Any, ...],
                           principal: Any) -> list[Endpoint]:
        """Check a SIP's arguments share nothing: plain immutable values, and endpoints
        the creator owns, one per endpoint the manifest declares, contracts matching
        (the first SIP's arguments come from the harness, not from a SIP: any); the
        blocks queued behind those endpoints must fit the new SIP's exchange-heap
        quota and its principal's cap (ENOMEM), as for any move between SIPs."""
        eps = [a for a in args if type(a) is Endpoint]
        if len({id(e) for e in eps}) < len(eps):
            raise SyscallError("EINVAL", "one endpoint twice among a SIP's arguments "
                               "(an endpoint moves once)")
        for a in args:
            if parent is not None and type(a) is not Endpoint and not _plain(a):
                raise SyscallError("EINVAL", "a SIP's arguments are plain values or "
                                   "endpoints (a SIP shares no object)", argument=shown(a))
        if len(eps) != len(m.endpoints) or (eps and parent is None):
            raise SyscallError("ENOEXEC", "manifest not satisfiable: endpoints given "
                               "differ from those declared", given=len(eps),
                               declared=len(m.endpoints))
        owner = 0 if parent is None else parent.pid      # (no endpoints without one)
        moving = sum(self.channels.weight(owner, ep) for ep in eps)  # with their cargo
        self.channels.room(self._next_pid, moving)       # EAGAIN (never for a few)
        if eps:                                          # ENOMEM, as a send's
            self.heap.admit_new([b for ep in eps for b in self.channels.blocks_behind(
                owner, ep)], m.resources.get("exheap_pages", EXHEAP_QUOTA_PAGES), principal)
        for decl, ep in zip(m.endpoints, eps):
            got = self.channels.contract_of(parent.pid, ep)  # type: ignore[union-attr]
            if got != decl.contract or self.channels.side(
                    parent.pid, ep) != decl.side:             # type: ignore[union-attr]
                raise SyscallError("ENOEXEC", "manifest not satisfiable: endpoint of "
                                   "another contract or side", endpoint=decl.name,
                                   contract=got)
        return eps

    def _frames_left(self) -> int:
        """Frames still free for SIP heaps and the exchange heap."""
        return self.frames.left()

    def alloc_region(self, sip: SIP, pages: int) -> int:
        """Give ``sip`` ``pages`` more frames as one region; its base address."""
        return self._add_region(sip, self.frames.take_run(pages), self.page_shift)

    @staticmethod
    def _add_region(sip: SIP, frames: list[int], shift: int) -> int:
        """Record a contiguous run of frames as one region of ``sip``."""
        base = frames[0] << shift
        sip.regions.append((base, (frames[-1] + 1) << shift))
        sip.frames += frames
        return base

    def unmap_region(self, sip: SIP, lo: int, hi: int) -> None:
        """Take the pages of [lo, hi) out of ``sip``'s mapped regions (munmap): their
        frames are zeroed and go back. Pages no region holds are skipped; the first
        region (image, stack, heap) stays for the SIP's life (EINVAL) and a region a
        device may still DMA into is kept whole (EBUSY); on either nothing changes."""
        first = sip.regions[0]
        if lo < first[1] and first[0] < hi:
            raise SyscallError("EINVAL", "munmap of the SIP's first region (its image, "
                               "stack and heap)", vaddr=lo)
        cuts = [(max(b, lo), min(e, hi)) for b, e in sip.regions[1:] if b < hi and lo < e]
        if not cuts:
            return
        for port in (self.nic, self.disk):
            if port is not None and port.owner == sip.pid and \
                    any(port.dma_into(c_lo, c_hi) for c_lo, c_hi in cuts):
                raise SyscallError("EBUSY", f"the {port.device} may still DMA into the "
                                   "range", vaddr=lo)
        shift = self.page_shift
        kept = [first]
        for b, e in sip.regions[1:]:
            if e <= lo or hi <= b:
                kept.append((b, e))
                continue
            if b < lo:
                kept.append((b, lo))
            if hi < e:
                kept.append((hi, e))
        gone = [f for c_lo, c_hi in cuts for f in range(c_lo >> shift, c_hi >> shift)]
        drop = set(gone)
        sip.regions = kept
        sip.frames = [f for f in sip.frames if f not in drop]
        if self.pager is not None:
            self.pager.unmap(gone)
        self._give_frames(gone)

    def _give_frames(self, frames: list[int]) -> None:
        """Zero ``frames`` (no later owner sees a SIP's bytes) and return them to the
        pool; the zeroing is charged."""
        zero = self.machine.memory.zero_frame
        self.machine.cpu.charge(sum(zero(f) for f in frames))
        self.frames.give(frames)

    def start_thread(self, sip: SIP, entry: Callable[..., Any],
                     args: tuple[Any, ...]) -> SimThread:
        """A ready kernel thread of ``sip`` running ``entry(os, *args)``."""
        if len(sip.threads) >= MAX_THREADS_PER_SIP or self.threads_live >= MAX_THREADS:
            raise SyscallError("EAGAIN", "too many threads", limit=MAX_THREADS_PER_SIP)
        ledger.charge(sip.principal, THREADS, 1, "EAGAIN", KINDS[THREADS])
        t = self.machine.threads.create(self._thread_main, (sip, entry, args),
                                        f"{sip.name}.{len(sip.threads)}", owner=sip)
        sip.threads.append(t)
        if sip.main is None:
            sip.main = t
        self.threads_live += 1
        self.sched.add(t)
        return t

    def _thread_main(self, sip: SIP, entry: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Body of every SIP thread."""
        t = self.machine.cpu.current
        if t is not None and t.killed:
            raise ThreadExit(t.exit_status)
        return entry(sip.personality, *args)

    def kill(self, sip: SIP, status: Any) -> None:
        """End every thread of ``sip`` with ``status`` (sleepers are woken to unwind)."""
        if sip.status is None:
            sip.status = status
        sip.doomed = True
        for t in sip.threads:
            if not t.killed:
                t.killed = True
                t.exit_status = status
                self.sched.wakeup([t])

    def fault(self, sip: SIP, what: str, where: Any) -> ThreadExit:
        """Record a fault of ``sip`` and end it; the ThreadExit for the caller to raise."""
        self.faults.append((sip.pid, what, where))
        self.kill(sip, what)
        return ThreadExit(what)

    def _exit_sip(self, cpu: CPU, sip: SIP) -> None:
        """The last thread ended: reclaim everything, make it a zombie, wake its parent."""
        cpu.clock.now += self.paths["sing_sip_exit"]
        self.channels.close_all(sip.pid)
        self.heap.reclaim(sip.pid)
        if self.nic is not None:
            self.nic.release(sip.pid)
        if self.disk is not None and self.disk.owner == sip.pid:
            self.disk.release(sip.pid)
            if self.disk.orphans:           # a DMA may still land there: keep them
                self.disk.pinned.extend(sip.frames)
                sip.frames = []
        self._give_frames(sip.frames)
        sip.frames, sip.regions = [], []
        from exolab.kernels.singularity import personality
        personality.release(self, sip)
        sip.state = "zombie"
        self.console.flush(sip.pid)
        self.exits.append((sip.pid, sip.name, sip.status))
        parent, reaped = self.waits.exit(sip.pid, sip.status)
        for pid in reaped:
            self.forget(pid)
        if parent is not None and parent in self.sips:
            self.sched.wakeup(self.sips[parent].waiters)

    def forget(self, pid: int) -> None:
        """A reaped SIP leaves the table; its principal's tree holds one SIP fewer."""
        sip = self.sips.pop(pid, None)
        if sip is not None:
            ledger.uncharge(sip.principal, SIPS, 1, KINDS[SIPS])

    # -- vectors ---------------------------------------------------------------------

    def on_trap(self, cpu: CPU, number: int, args: tuple[Any, ...]) -> Any:
        """The ring crossing of a ring-3 SIP's kernel call (the isolation knob); the
        call itself then runs as a procedure. Ring-0 SIPs never trap."""
        if number != TRAP_CALL:
            raise SyscallError("ENOSYS", "singularity has one trap", number=number)
        return None

    def on_exception(self, cpu: CPU, cause: Cause, vaddr: int, info: Any) -> None:
        """A SIP's exception ends that SIP (the others run on)."""
        t = cpu.current
        if t is None:
            raise KernelPanic("exception with no current thread", cause=cause.name)
        sip: SIP = t.owner
        where = None if cause == Cause.PROGRAM else vaddr
        what = "fault" if cause != Cause.PROGRAM else _fault_name(info)
        raise self.fault(sip, what, where)

    def on_tlb_miss(self, cpu: CPU, vaddr: int, write: bool) -> None:
        """Paging on (the isolation knob): refill the identity mapping of the SIP's
        own page (the access was bounds-checked before it reached the MMU), of an
        exchange-heap page or, for the kernel's own access, of a kernel page."""
        t = cpu.current
        sip = t.owner if t is not None else None
        if not self.paged or sip is None or not (
                sip.contains(vaddr, 1) or self.heap.holds(vaddr) or
                (cpu.prev_mode == KERNEL and vaddr >> self.page_shift < KERNEL_FRAMES)):
            raise KernelPanic("singularity: unexpected TLB miss", vaddr=vaddr)
        vpn = vaddr >> self.page_shift
        cpu.tlb_write_random(TLBEntry(vpn, cpu.asid, vpn, True, True))

    def on_interrupt(self, cpu: CPU, irq: int) -> None:
        """The tick ends a slice (taken at the running thread's next call, sched.py);
        a device's interrupt wakes its driver SIP (drivers are SIPs, not kernel code)."""
        if irq == IRQ_TIMER:
            slice_due, _ = self.tick.expired()
            if slice_due and self.sched.ready and cpu.current is not None:
                self.sched.resched = True
        elif irq == IRQ_NIC and self.nic is not None:
            self.nic.interrupt(self.sched)
        elif irq == IRQ_DISK and self.disk is not None:
            self.disk.interrupt(self.sched)
            if self.disk.pinned and not self.disk.orphans:
                self._give_frames(self.disk.pinned)
                self.disk.pinned = []

    def on_idle(self, cpu: CPU) -> bool:
        """Dispatch the next ready thread (after failing rpc connects nobody can serve);
        the tick runs while one does."""
        if self.sched.dispatch(cpu):
            return True
        from exolab.kernels.singularity import personality
        if personality.no_server(self) and self.sched.dispatch(cpu):
            return True
        self.tick.stop()
        return False

    def on_thread_exit(self, cpu: CPU, thread: SimThread) -> None:
        """A thread ended; with the SIP's last, the SIP exits."""
        sip: SIP = thread.owner
        self.sched.forget(thread)
        if thread in sip.threads:
            sip.threads.remove(thread)
            self.threads_live -= 1
            ledger.uncharge(sip.principal, THREADS, 1, KINDS[THREADS])
        if sip.threads:
            if sip.status is not None and not sip.doomed:
                self.kill(sip, sip.status)
            return
        if sip.status is None:
            main = sip.main if sip.main is not None else thread
            sip.status = thread_status(main)
        prev, cpu.mode = cpu.mode, KERNEL
        try:
            self._exit_sip(cpu, sip)
        finally:
            cpu.mode = prev

    def statistics(self) -> SingStats:
        """A frozen snapshot of the kernel's counters."""
        live = sum(1 for s in self.sips.values() if s.state == "live")
        used = self.frames.in_use()
        return SingStats(syscalls=self.calls, faults=len(self.faults),
                         processes_created=self._next_pid - 1, processes_live=live,
                         process_slots=len(self.sips), frames_in_use=used,
                         frames_retained=0, calls=self.calls,
                         sched=self.sched.statistics(),
                         channels=self.channels.statistics(),
                         exheap=self.heap.statistics(),
                         pager=None if self.pager is None else self.pager.statistics())


@lru_cache(maxsize=1)
def shipped_catalogue() -> Any:
    """The contracts exolab ships (``contracts/*.sg``): the catalogue of a kernel made
    without one, parsed once (a catalogue is read-only once loaded)."""
    from exolab.kernels.singularity.contract import Catalogue
    return Catalogue.shipped()


_PLAIN = (int, bool, float, str, bytes, type(None))


def _plain(x: Any, depth: int = 0) -> bool:
    """Whether ``x`` is an immutable plain value (tuples of them, a few levels deep)."""
    t = type(x)
    if t in _PLAIN:
        return True
    return t is tuple and depth < 4 and len(x) <= 64 and all(_plain(y, depth + 1) for y in x)


def _fault_name(info: Any) -> str:
    """The status of a SIP an escaping exception ended."""
    from exolab.abi import fault_status
    return fault_status(info) if isinstance(info, BaseException) else "fault"
