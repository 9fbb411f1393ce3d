"""Tests of exolab.machine.cpu: modes, traps, exceptions, interrupts, the MMU path."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from exolab.errors import KernelPanic, PrivilegeError, ProgramFault, SimulationError
from exolab.kernels.tiny import SYS_GETTID, SYS_NULL, SYS_YIELD, TinyKernel
from exolab.machine import IRQ_DISK, IRQ_NIC, IRQ_TIMER, KERNEL, USER, Cause, Machine
from exolab.machine.cpu import CPU, MAX_UPCALL_DEPTH
from exolab.machine.threads import DEAD, SimThread, ThreadExit
from exolab.machine.tlb import TLBEntry

SYS_MODE, SYS_TLBWI, SYS_PANIC, SYS_RAISE_IRQS, SYS_SIMERR = range(100, 105)


class Recorder(TinyKernel):
    """TinyKernel that records what reaches its vectors.

    Exceptions other than PROGRAM are recorded and *resumed* unless ``kill`` is
    set, so tests can see what the CPU does after a handler returns.
    """

    def __init__(self, machine: Machine, kill: bool = False, **kw: Any) -> None:
        super().__init__(machine, **kw)
        self.kill = kill
        self.seen: list[tuple[Cause, int, Any, int, int]] = []   # cause, vaddr, info, mode, now
        self.traps: list[int] = []
        self.irqs: list[tuple[int, int, int, int]] = []          # irq, now, mode, tid

    def on_trap(self, cpu: CPU, number: int, args: tuple[Any, ...]) -> Any:
        self.traps.append(number)
        if number == SYS_MODE:
            return cpu.mode
        if number == SYS_TLBWI:
            cpu.tlb_write_indexed(args[0], args[1])
            return 0
        if number == SYS_PANIC:
            raise KernelPanic("test: invariant broken", where="SYS_PANIC")
        if number == SYS_SIMERR:
            raise SimulationError("test: cannot continue")
        if number == SYS_RAISE_IRQS:
            for irq in args:
                cpu.raise_irq(irq)
            cpu.charge(1)                  # a kernel charge point: must not deliver
            return len(self.irqs)
        return super().on_trap(cpu, number, args)

    def on_exception(self, cpu: CPU, cause: Cause, vaddr: int, info: Any) -> None:
        self.seen.append((cause, vaddr, info, cpu.mode, cpu.clock.now))
        if self.kill or cause == Cause.PROGRAM:
            super().on_exception(cpu, cause, vaddr, info)

    def on_interrupt(self, cpu: CPU, irq: int) -> None:
        t = cpu.current
        self.irqs.append((irq, cpu.clock.now, cpu.mode, 0 if t is None else t.tid))
        super().on_interrupt(cpu, irq)


def run_ok(m: Machine) -> None:
    """Run to completion; re-raise any Python exception that ended a thread."""
    res = m.run()
    for t in m.threads._threads.values():
        if t.fault is not None and not isinstance(t.fault, _Expected):
            raise t.fault
    assert res.reason == "finished", res


class _Expected(Exception):
    """An exception a test throws on purpose inside a simulated program."""


# -- traps ------------------------------------------------------------------------

def test_trap_charges_entry_and_exit_and_switches_mode() -> None:
    m = Machine()
    k = Recorder(m)
    p = m.profile
    out: dict[str, Any] = {}

    def body() -> None:
        cpu = m.cpu
        out["mode_before"] = cpu.mode
        t0 = cpu.clock.now
        out["result"] = cpu.trap(SYS_NULL)
        out["delta"] = cpu.clock.now - t0
        out["mode_inside"] = cpu.trap(SYS_MODE)
        out["mode_after"] = cpu.mode
        out["tid"] = cpu.trap(SYS_GETTID)

    t = k.spawn(body)
    run_ok(m)
    assert out == {"mode_before": USER, "result": 0, "delta": p.trap_entry + p.trap_exit,
                   "mode_inside": KERNEL, "mode_after": USER, "tid": t.tid}
    assert k.traps == [SYS_NULL, SYS_MODE, SYS_GETTID]
    assert m.cpu.statistics().traps == 3


def test_trap_without_a_kernel_is_a_simulation_error() -> None:
    m = Machine()
    cpu = m.cpu
    cpu.current = SimThread(1, "t", lambda: None, (), None)
    cpu.mode = USER
    with pytest.raises(SimulationError):
        cpu.trap(SYS_NULL)
    assert cpu.mode == USER


# -- privilege --------------------------------------------------------------------

PRIVILEGED_OPS = {
    "set_asid": lambda cpu: cpu.set_asid(5),
    "tlbwr": lambda cpu: cpu.tlb_write_random(TLBEntry(1, 1, 1)),
    "tlbwi": lambda cpu: cpu.tlb_write_indexed(9, TLBEntry(1, 1, 1)),
    "tlbp": lambda cpu: cpu.tlb_probe(1, 1),
    "tlb_invalidate": lambda cpu: cpu.tlb_invalidate(1, 1),
    "tlb_flush": lambda cpu: cpu.tlb_flush(),
    "switch_to": lambda cpu: cpu.switch_to(cpu.current),
}


@pytest.mark.parametrize("op", sorted(PRIVILEGED_OPS))
def test_user_mode_may_not_use_privileged_operations(op: str) -> None:
    m = Machine()
    k = Recorder(m)
    p = m.profile
    out: dict[str, Any] = {}

    def body() -> None:
        cpu = m.cpu
        out["asid"] = cpu.asid
        t0 = cpu.clock.now
        try:
            PRIVILEGED_OPS[op](cpu)
        except PrivilegeError as ex:
            out["error"] = ex
        out["delta"] = cpu.clock.now - t0
        out["mode"] = cpu.mode
        out["asid_after"] = cpu.asid

    k.spawn(body)
    m.cpu.tlb.write_indexed(9, TLBEntry(1, 1, 2))     # something a flush would drop
    run_ok(m)
    err = out["error"]
    assert err.operation == op
    assert [s[0] for s in k.seen] == [Cause.PRIVILEGED]
    cause, _vaddr, info, mode, _ = k.seen[0]
    assert isinstance(info, PrivilegeError) and mode == KERNEL
    assert out["delta"] == p.exception_entry + p.exception_exit
    assert out["mode"] == USER and out["asid_after"] == out["asid"]
    assert m.cpu.tlb.read(9).ppn == 2                 # type: ignore[union-attr]
    assert m.cpu.tlb.statistics().writes == 1 and m.cpu.tlb.statistics().flushes == 0


def test_privileged_operation_under_tiny_kernel_kills_the_thread() -> None:
    m = Machine()
    k = TinyKernel(m)
    after: list[str] = []

    def bad() -> None:
        m.cpu.tlb_write_indexed(0, TLBEntry(0, 0, 0))
        after.append("not reached")

    def good() -> None:
        m.cpu.trap(SYS_YIELD)
        after.append("good")

    tb = k.spawn(bad)
    k.spawn(good)
    run_ok(m)
    assert after == ["good"]
    assert k.faults == [(tb.tid, "PRIVILEGED", 0)]
    assert tb.state == DEAD and tb.exit_status == "PRIVILEGED"
    assert m.cpu.tlb.statistics().occupied == 0


def test_kernel_mode_may_write_the_tlb() -> None:
    m = Machine()
    k = Recorder(m)
    k.spawn(lambda: m.cpu.trap(SYS_TLBWI, 3, TLBEntry(7, 1, 4)))
    run_ok(m)
    assert m.cpu.tlb.read(3).vpn == 7                 # type: ignore[union-attr]
    assert k.seen == []


def test_set_asid_out_of_range_is_refused() -> None:
    m = Machine()
    cpu = m.cpu
    with pytest.raises(KernelPanic):
        cpu.set_asid(cpu.tlb.asid_mask + 1)
    cpu.set_asid(cpu.tlb.asid_mask)
    assert cpu.asid == cpu.tlb.asid_mask


# -- exceptions -------------------------------------------------------------------

def test_exception_dispatch_reaches_the_kernel_and_resumes() -> None:
    m = Machine()
    k = Recorder(m)
    p = m.profile
    out: dict[str, Any] = {}

    def body() -> None:
        cpu = m.cpu
        t0 = cpu.clock.now
        cpu.fault(Cause.BREAK, 0x40, "why")
        out["delta"] = cpu.clock.now - t0
        out["mode"] = cpu.mode

    k.spawn(body)
    run_ok(m)
    assert [(c, v, i, mode) for c, v, i, mode, _ in k.seen] == [(Cause.BREAK, 0x40, "why",
                                                                 KERNEL)]
    assert out == {"delta": p.exception_entry + p.exception_exit, "mode": USER}
    assert m.cpu.statistics().exceptions == 1


@pytest.mark.parametrize("size,vaddr", [(4, 0x1002), (2, 0x1001), (8, 0x1004)])
def test_unaligned_load_raises_addr_load(size: int, vaddr: int) -> None:
    m = Machine()
    k = TinyKernel(m)
    after: list[int] = []

    def body() -> None:
        after.append(m.cpu.load(vaddr, size))

    t = k.spawn(body)
    k.map(t, 1, 2)
    run_ok(m)
    assert after == []
    assert k.faults == [(t.tid, "ADDR_LOAD", vaddr)]
    assert m.cpu.statistics().tlb_misses == 0        # checked before translation
    assert m.memory.touched() == 0


def test_unaligned_store_raises_addr_store_and_writes_nothing() -> None:
    m = Machine()
    k = TinyKernel(m)
    t = k.spawn(lambda: m.cpu.store(0x1006, 0xDEADBEEF))
    k.map(t, 1, 2)
    run_ok(m)
    assert k.faults == [(t.tid, "ADDR_STORE", 0x1006)]
    assert m.memory.touched() == 0


def test_a_kernel_that_resumes_an_unaligned_load_stops_the_simulation() -> None:
    m = Machine()
    k = Recorder(m)                                   # records ADDR_LOAD and returns
    k.spawn(lambda: m.cpu.load(0x1001))
    with pytest.raises(SimulationError):
        m.run()
    assert k.seen[0][0] == Cause.ADDR_LOAD


def test_python_exception_becomes_a_program_fault_and_others_run_on() -> None:
    m = Machine()
    k = Recorder(m)
    log: list[str] = []

    def crasher() -> None:
        m.cpu.trap(SYS_YIELD)
        raise _Expected("boom")

    def survivor() -> str:
        for i in range(4):
            log.append(f"s{i}")
            m.cpu.trap(SYS_YIELD)
        return "done"

    a = k.spawn(crasher)
    b = k.spawn(survivor)
    run_ok(m)
    assert isinstance(a.fault, _Expected) and a.state == DEAD
    assert a.exit_status == "PROGRAM"
    assert k.faults == [(a.tid, "PROGRAM", 0)]
    (cause, vaddr, info, mode, _), = k.seen
    assert (cause, vaddr, info, mode) == (Cause.PROGRAM, 0, a.fault, KERNEL)
    assert b.result == "done" and b.fault is None and log == ["s0", "s1", "s2", "s3"]
    assert m.threads.statistics().faulted == 1


def test_killed_thread_that_swallows_thread_exit_is_stopped_at_its_next_trap() -> None:
    m = Machine()
    k = Recorder(m, kill=True)
    log: list[tuple[str, int]] = []

    def sly() -> None:
        cpu = m.cpu
        try:
            cpu.load(0x9000)                          # unmapped: the kernel kills us
        except ThreadExit:
            log.append(("swallowed fault", cpu.mode))
        try:
            cpu.trap(SYS_MODE)
            log.append(("trap returned", cpu.mode))
        except ThreadExit:
            log.append(("swallowed trap", cpu.mode))
        try:                                          # still user mode: refused
            cpu.tlb_write_indexed(0, TLBEntry(1, 1, 1))
            log.append(("tlb written", cpu.mode))
        except (ThreadExit, PrivilegeError):
            log.append(("refused", cpu.mode))

    t = k.spawn(sly)
    run_ok(m)
    assert log == [("swallowed fault", USER), ("swallowed trap", USER), ("refused", USER)]
    assert SYS_MODE not in k.traps                    # the kernel never served the call
    assert m.cpu.tlb.statistics().occupied == 0
    assert t.state == DEAD


def test_store_to_read_only_page_is_a_protection_fault() -> None:
    m = Machine()
    k = TinyKernel(m)
    m.memory.store_word(4, 0, 1234)

    def writer() -> None:
        m.cpu.store(0x2000, 99)

    def reader() -> int:
        m.cpu.trap(SYS_YIELD)
        return m.cpu.load(0x2000)

    w = k.spawn(writer)
    r = k.spawn(reader)
    k.map(w, 2, 4, writable=False)
    k.map(r, 2, 4, writable=False)
    run_ok(m)
    assert k.faults == [(w.tid, "TLB_MOD", 0x2000)]
    assert r.result == 1234 and m.memory.load_word(4, 0) == 1234


# -- the MMU path -----------------------------------------------------------------

def test_tlb_miss_refill_costs_and_then_hits() -> None:
    m = Machine()
    k = TinyKernel(m)
    p = m.profile
    deltas: list[int] = []

    def body() -> None:
        cpu = m.cpu
        for _ in range(2):
            t0 = cpu.clock.now
            cpu.load(0x5008)
            deltas.append(cpu.clock.now - t0)

    t = k.spawn(body)
    k.map(t, 5, 1)
    run_ok(m)
    assert deltas == [p.load_store + p.tlb_miss_entry + p.exception_exit + p.tlb_write,
                      p.load_store]
    st_ = m.cpu.statistics()
    assert (st_.tlb_misses, st_.accesses) == (1, 2)


def test_a_rewritten_tlb_entry_naming_a_new_frame_reads_that_frame() -> None:
    """The CPU caches a frame's bytes in the entry; a TLB write with a new ppn drops them."""
    m = Machine(frames=16)
    k = Recorder(m)
    m.memory.store_word(4, 0, 0x44)
    m.memory.store_word(5, 0, 0x55)
    got: list[int] = []

    def body() -> None:
        cpu = m.cpu
        e = TLBEntry(7, cpu.asid, 4)
        cpu.trap(SYS_TLBWI, 3, e)
        got.append(cpu.load(0x7000))                    # caches frame 4's bytes in e
        cpu.trap(SYS_TLBWI, 3, e)                       # the same binding again
        got.append(cpu.load(0x7000))
        cpu.trap(SYS_TLBWI, 3, TLBEntry(8, cpu.asid, 6))   # evicts e
        e.ppn = 5                                       # reused for another frame
        cpu.trap(SYS_TLBWI, 3, e)
        got.append(cpu.load(0x7000))

    k.spawn(body)
    run_ok(m)
    assert got == [0x44, 0x44, 0x55]


def test_store_sets_dirty_and_round_trips_words() -> None:
    m = Machine()
    k = TinyKernel(m)
    got: list[int] = []

    def body() -> None:
        cpu = m.cpu
        cpu.store(0x1000, 0x1_0000_00FF)              # truncated to 32 bits
        cpu.store(0x1004, 0xAB, size=1)
        cpu.store(0x1008, 2**64 - 1, size=8)
        got.extend([cpu.load(0x1000), cpu.load(0x1004, 1), cpu.load(0x1008, 8)])

    t = k.spawn(body)
    k.map(t, 1, 6)
    run_ok(m)
    assert got == [0xFF, 0xAB, 2**64 - 1]
    assert m.cpu.tlb.lookup(1, k.asid_of(t)).dirty    # type: ignore[union-attr]


def test_bytes_cross_page_boundaries_through_separate_frames() -> None:
    m = Machine(frames=16)
    k = TinyKernel(m)
    data = bytes(range(40))
    got: list[bytes] = []

    def body() -> None:
        m.cpu.store_bytes(0x1FF0, data)
        got.append(m.cpu.load_bytes(0x1FF0, 40))
        got.append(m.cpu.load_bytes(0x1FF0, 0))

    t = k.spawn(body)
    k.map(t, 1, 7)
    k.map(t, 2, 3)
    run_ok(m)
    assert got == [data, b""]
    assert m.memory.read((7 << 12) + 0xFF0, 16) == data[:16]
    assert m.memory.read(3 << 12, 24) == data[16:]


def _bystander(m: Machine, n: int, out: dict[str, Any]) -> None:
    """Yield ``n`` times, adding as it goes: its total must come out exact."""
    total = 0
    for i in range(n):
        total += i
        m.cpu.trap(SYS_YIELD)
    out["total"] = total


def test_a_user_access_that_is_never_mapped_faults_its_thread_not_the_machine() -> None:
    m = Machine()
    k = TinyKernel(m)
    k.on_tlb_miss = lambda cpu, vaddr, write: None    # type: ignore[method-assign]
    m.cpu.install(k)
    out: dict[str, Any] = {}
    bad = k.spawn(lambda: m.cpu.load(0x4000))
    k.spawn(_bystander, m, 20, out)
    assert m.run().reason == "finished" and m.panic is None
    assert out["total"] == sum(range(20))
    assert isinstance(bad.fault, ProgramFault) and bad.fault.vaddr == 0x4000
    assert "refill livelock" in str(bad.fault)
    assert k.faults == [(bad.tid, "PROGRAM", 0)]
    assert m.cpu.statistics().tlb_misses == 64


class Toggler(TinyKernel):
    """Refills every page read-only, and its protection handler only drops the entry:
    each fault is "handled" and the store never succeeds (a protection livelock)."""

    def on_tlb_miss(self, cpu: CPU, vaddr: int, write: bool) -> None:
        cpu.tlb_write_random(TLBEntry(vaddr >> 12, cpu.asid, 5, True, False))

    def on_exception(self, cpu: CPU, cause: Cause, vaddr: int, info: Any) -> None:
        if cause == Cause.TLB_MOD:
            cpu.tlb_invalidate(vaddr >> 12, cpu.asid)
            return
        super().on_exception(cpu, cause, vaddr, info)


def test_a_protection_livelock_faults_its_thread_and_bystanders_run_on() -> None:
    m = Machine()
    k = Toggler(m)
    out: dict[str, Any] = {}
    bad = k.spawn(lambda: m.cpu.store(0x4000, 1))
    k.spawn(_bystander, m, 20, out)
    assert m.run().reason == "finished" and m.panic is None
    assert out["total"] == sum(range(20))
    assert isinstance(bad.fault, ProgramFault) and "stayed read-only" in str(bad.fault)
    assert k.faults == [(bad.tid, "PROGRAM", 0)]


def test_a_livelock_of_the_kernels_own_access_is_still_a_panic() -> None:
    m = Machine()
    k = Recorder(m)
    k.on_tlb_miss = lambda cpu, vaddr, write: None    # type: ignore[method-assign]

    def body() -> None:
        m.cpu.trap(SYS_MODE)

    def kernel_load(cpu: CPU, number: int, args: tuple[Any, ...]) -> Any:
        return cpu.load(0x4000)                   # in kernel mode: the kernel's bug
    k.on_trap = kernel_load                       # type: ignore[method-assign]
    m.cpu.install(k)
    k.spawn(body)
    with pytest.raises(SimulationError) as info:
        m.run()
    assert info.value.vaddr == 0x4000


class Nester(TinyKernel):
    """Upcalls a handler on every trap, and the handler traps again (for ever)."""

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.depths: list[int] = []

    def on_trap(self, cpu: CPU, number: int, args: tuple[Any, ...]) -> Any:
        if number != SYS_NULL:
            return super().on_trap(cpu, number, args)
        t = cpu.current
        assert t is not None
        self.depths.append(t.upcall_depth)
        return cpu.upcall(lambda: cpu.trap(SYS_NULL))


def test_upcalls_nested_past_the_bound_fault_the_program() -> None:
    m = Machine()
    k = Nester(m)
    out: dict[str, Any] = {}
    bad = k.spawn(lambda: m.cpu.trap(SYS_NULL))
    k.spawn(_bystander, m, 10, out)
    assert m.run().reason == "finished" and m.panic is None
    assert out["total"] == sum(range(10))
    assert isinstance(bad.fault, ProgramFault) and "nesting too deep" in str(bad.fault)
    assert k.depths == list(range(MAX_UPCALL_DEPTH + 1))
    assert bad.upcall_depth == 0                  # every level unwound its count


def test_nested_upcall_depth_is_per_thread_and_unwinds() -> None:
    m = Machine()
    k = TinyKernel(m)
    seen: list[int] = []

    def handler(level: int) -> None:
        t = m.cpu.current
        assert t is not None
        seen.append(t.upcall_depth)
        if level:
            m.cpu.mode = KERNEL
            m.cpu.upcall(handler, level - 1)

    def body() -> None:
        m.cpu.mode = KERNEL
        m.cpu.upcall(handler, 3)
        t = m.cpu.current
        assert t is not None
        seen.append(t.upcall_depth)
    k.spawn(body)
    k.spawn(body)
    assert m.run().reason == "finished"
    assert seen == [1, 2, 3, 4, 0, 1, 2, 3, 4, 0]


def test_broken_kernel_invariant_in_a_trap_surfaces_even_if_the_program_catches_it() -> None:
    m = Machine()
    k = Recorder(m)

    def body() -> None:
        try:
            m.cpu.trap(SYS_PANIC)
        except Exception:                             # a careless (or hostile) program
            pass

    k.spawn(body)
    with pytest.raises(KernelPanic) as info:
        m.run()
    assert info.value.where == "SYS_PANIC"


# -- interrupts -------------------------------------------------------------------

def test_irq_raised_in_the_kernel_is_delivered_on_return_lowest_line_first() -> None:
    m = Machine()
    k = Recorder(m)
    out: dict[str, Any] = {}

    def body() -> None:
        cpu = m.cpu
        out["during"] = cpu.trap(SYS_RAISE_IRQS, IRQ_NIC, IRQ_TIMER, IRQ_DISK)
        out["after"] = list(k.irqs)

    t = k.spawn(body)
    run_ok(m)
    assert out["during"] == 0                          # not while in the kernel
    assert [(irq, mode, tid) for irq, _, mode, tid in out["after"]] == [
        (IRQ_TIMER, KERNEL, t.tid), (IRQ_DISK, KERNEL, t.tid), (IRQ_NIC, KERNEL, t.tid)]
    assert m.cpu.statistics().interrupts == 3 and m.cpu.pending_irqs == 0


def test_irq_raised_in_user_mode_waits_for_the_next_charge_point() -> None:
    m = Machine()
    k = Recorder(m)
    p = m.profile
    marks: list[int] = []

    def body() -> None:
        cpu = m.cpu
        cpu.raise_irq(IRQ_DISK)
        marks.append(len(k.irqs))
        cpu.charge(3)
        marks.append(cpu.clock.now)

    k.spawn(body)
    run_ok(m)
    assert marks[0] == 0
    (irq, now, mode, _), = k.irqs
    assert irq == IRQ_DISK and mode == KERNEL
    assert marks[1] == now + p.interrupt_exit


def test_irq_raised_during_a_tlb_refill_is_taken_at_the_first_user_charge_point() -> None:
    m = Machine()
    k = Recorder(m)
    p = m.profile
    slow = 500

    def refill(cpu: CPU, vaddr: int, write: bool) -> None:
        cpu.charge(slow)                               # a slow software walk
        TinyKernel.on_tlb_miss(k, cpu, vaddr, write)

    k.on_tlb_miss = refill                             # type: ignore[method-assign]
    m.cpu.install(k)
    marks: list[int] = []

    def body() -> None:
        cpu = m.cpu
        cpu.load(0)
        marks.append(cpu.clock.now)                    # back in user mode
        for _ in range(50):
            cpu.charge(10)

    t = k.spawn(body)
    k.map(t, 0, 3)
    m.timer.arm(200)                                   # expires inside the refill
    m.clock.schedule(10**6, lambda _: None)            # an unrelated far event
    run_ok(m)
    (irq, now, _, tid), = k.irqs
    assert irq == IRQ_TIMER and tid == t.tid
    assert now == marks[0] + 10 + p.interrupt_entry    # the first charge point after


# -- context switches -------------------------------------------------------------

def test_switch_charges_register_save_and_restore() -> None:
    m = Machine()
    k = TinyKernel(m)
    p = m.profile
    marks: list[int] = []

    def a() -> None:
        marks.append(m.cpu.clock.now)
        m.cpu.trap(SYS_YIELD)

    def b() -> None:
        marks.append(m.cpu.clock.now)

    k.spawn(a)
    k.spawn(b)
    run_ok(m)
    # a -> kernel (trap entry) -> set_asid -> switch -> b starts
    assert marks[1] - marks[0] == p.trap_entry + p.asid_switch + p.reg_save + p.reg_restore
    assert m.cpu.statistics().context_switches == 3    # idle->a, a->b, idle->a


def test_switch_to_a_dead_thread_is_refused() -> None:
    m = Machine()
    k = TinyKernel(m)
    t = k.spawn(lambda: None)
    run_ok(m)
    assert t.state == DEAD
    with pytest.raises(KernelPanic):
        m.cpu.switch_to(t)


def test_statistics_is_frozen() -> None:
    s = Machine().cpu.statistics()
    assert s.index == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.traps = 1  # type: ignore[misc]


@pytest.mark.parametrize("profile,flushes", [("dec5000", False), ("athlon64", True)])
def test_loading_a_new_asid_flushes_only_an_untagged_tlb(profile: str,
                                                         flushes: bool) -> None:
    m = Machine(profile)
    cpu = m.cpu
    assert bool(m.profile.tlb_tagged) is not flushes
    cpu.tlb_write_indexed(5, TLBEntry(1, 0, 1))
    cpu.set_asid(0)                                    # same ASID: nothing to do
    assert cpu.tlb.statistics().occupied == 1
    cpu.set_asid(1)
    assert cpu.tlb.statistics().occupied == (0 if flushes else 1)
    assert cpu.asid == 1


def test_a_trap_from_kernel_mode_returns_in_kernel_mode() -> None:
    """A kernel path that traps again (L4's exit notice from a fault handler)
    goes on in kernel mode; the program's own trap returns it to user mode."""
    seen: list[Any] = []

    class Nested(TinyKernel):
        def on_trap(self, cpu: Any, number: int, args: tuple[Any, ...]) -> Any:
            if number == 100:
                cpu.trap(SYS_NULL)
                seen.append(cpu.mode)
                return "outer"
            return super().on_trap(cpu, number, args)

    m = Machine()
    k = Nested(m)

    def prog() -> None:
        seen.append(m.cpu.trap(100))
        seen.append(m.cpu.mode)

    k.spawn(prog)
    assert m.run().reason == "finished"
    assert seen == [KERNEL, "outer", USER]
    assert m.cpu.traps == 2


def test_a_trap_with_no_current_thread_is_a_machine_error_and_changes_nothing() -> None:
    from exolab.errors import MachineError
    m = Machine()
    TinyKernel(m)
    before = (m.cpu.mode, m.cpu.traps, m.clock.now)
    with pytest.raises(MachineError, match="no current thread"):
        m.cpu.trap(SYS_NULL)
    assert (m.cpu.mode, m.cpu.traps, m.clock.now) == before
