"""Tests of exolab.machine.machine: composition, the run loop, pause/resume, determinism."""
from __future__ import annotations

import dataclasses
import functools
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.errors import ConfigError, KernelPanic
from exolab.kernels.tiny import SYS_YIELD, TinyKernel
from exolab.machine import IRQ_TIMER, Machine, MachineStats, RunResult
from exolab.machine.costs import get_profile
from exolab.machine.cpu import CPU
from exolab.trace.events import Kind

SYS_SLEEP, SYS_HALT, SYS_PANIC, SYS_NAP = 140, 141, 142, 143
SMALL = dataclasses.replace(get_profile("dec5000"), name="small-tlb", tlb_entries=8,
                            tlb_wired=2)


class Sleepy(TinyKernel):
    """TinyKernel with sleep-forever, halt, panic, and a timer nap woken by IRQ_TIMER."""

    def __init__(self, machine: Machine, **kw: Any) -> None:
        super().__init__(machine, **kw)
        self.nappers: list[Any] = []
        self.irqs: list[int] = []

    def on_trap(self, cpu: CPU, number: int, args: tuple[Any, ...]) -> Any:
        if number == SYS_SLEEP:
            self._block(cpu)                      # nobody will ever wake us
            return 0
        if number == SYS_HALT:
            self.machine.halt()
            return 0
        if number == SYS_PANIC:
            raise KernelPanic("test: broken invariant")
        if number == SYS_NAP:                     # args: (timer delay, kernel work)
            self.machine.timer.arm(args[0])
            cpu.charge(args[1])                   # the timer may expire right here
            self.nappers.append(cpu.current)
            self._block(cpu)
            return 0
        return super().on_trap(cpu, number, args)

    def on_interrupt(self, cpu: CPU, irq: int) -> None:
        self.irqs.append(cpu.clock.now)
        if irq == IRQ_TIMER:
            self.ready.extend(self.nappers)
            self.nappers.clear()
        super().on_interrupt(cpu, irq)


# -- construction -----------------------------------------------------------------

def test_bad_profile_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        Machine("vax780")
    assert "dec5000" in info.value.expected


@pytest.mark.parametrize("ncpus", [0, 2, 4])
def test_only_one_cpu_is_supported(ncpus: int) -> None:
    with pytest.raises(ConfigError) as info:
        Machine(ncpus=ncpus)
    assert info.value.ncpus == ncpus


def test_bad_memory_geometry_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Machine(frames=0)
    with pytest.raises(ConfigError):
        Machine(page_size=1000)


def test_a_machine_takes_a_profile_object_and_builds_its_tlb_from_it() -> None:
    m = Machine(SMALL)
    assert m.profile is SMALL
    assert (m.cpu.tlb.size, m.cpu.tlb.wired, m.cpu.tlb.asid_bits) == (8, 2, SMALL.asid_bits)
    assert m.cpus == [m.cpu] and m.timer.cpu is m.cpu


def test_a_million_frames_construct_instantly_and_touch_nothing() -> None:
    tracemalloc.start()
    m = Machine(frames=1_000_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1024 * 1024               # no per-frame state anywhere in the machine
    assert m.memory.touched() == 0
    assert m.statistics().memory.frames_touched == 0
    assert m.statistics().memory.frames == 1_000_000
    k = TinyKernel(m)
    t = k.spawn(lambda: (m.cpu.load(0x1000), m.cpu.store(0x2000, 1)))
    k.map(t, 1, 999_999)
    k.map(t, 2, 500_000)
    assert m.run().reason == "finished"
    assert m.memory.touched() == 1                # the store's frame, not the load's


def test_time_units() -> None:
    m = Machine("athlon64")
    assert m.cycles == 0
    assert m.us(1800) == pytest.approx(1.0)


# -- run results ------------------------------------------------------------------

def test_no_threads_finishes_at_once() -> None:
    m = Machine()
    TinyKernel(m)
    assert m.run() == RunResult("finished", 0, 0)


def test_finished_when_every_thread_ends() -> None:
    m = Machine()
    k = TinyKernel(m)
    k.spawn(lambda: m.cpu.charge(10))
    res = m.run()
    assert res.reason == "finished" and res.live_threads == 0 and res.cycles == m.cycles > 10


def test_deadlock_when_a_thread_waits_forever() -> None:
    m = Machine()
    k = Sleepy(m)
    after: list[int] = []
    k.spawn(lambda: after.append(m.cpu.trap(SYS_SLEEP)))
    k.spawn(lambda: m.cpu.charge(5))
    res = m.run()
    assert res.reason == "deadlock" and res.live_threads == 1
    assert after == []


def test_an_interrupt_raised_while_the_kernel_ran_wakes_an_idle_machine() -> None:
    """The timer expires during the kernel's own work, before the caller sleeps."""
    m = Machine()
    k = Sleepy(m)
    woke: list[int] = []

    def napper() -> None:
        m.cpu.trap(SYS_NAP, 1, 100)
        woke.append(m.cycles)

    k.spawn(napper)
    res = m.run()
    assert res.reason == "finished"
    assert len(woke) == 1 and len(k.irqs) == 1


def test_a_timer_nap_idles_until_the_expiry() -> None:
    m = Machine()
    k = Sleepy(m)
    woke: list[int] = []
    k.spawn(lambda: (m.cpu.trap(SYS_NAP, 5000, 0), woke.append(m.cycles)))
    assert m.run().reason == "finished"
    assert woke and woke[0] > 5000
    assert m.statistics().cpus[0].idle_cycles > 4900


def test_halt_stops_at_the_next_return_to_the_idle_loop_and_run_continues() -> None:
    m = Machine()
    k = Sleepy(m)
    log: list[str] = []

    def halter() -> None:
        m.cpu.trap(SYS_HALT)
        log.append("halter goes on")

    k.spawn(halter)
    k.spawn(lambda: log.append("second"))
    res = m.run()
    assert res.reason == "halted" and res.live_threads == 1
    assert log == ["halter goes on"]
    assert m.run().reason == "finished"
    assert log == ["halter goes on", "second"]


# -- kernel panics ----------------------------------------------------------------

def test_broken_invariant_in_a_system_call_surfaces_from_run() -> None:
    m = Machine()
    k = Sleepy(m)
    after: list[str] = []
    k.spawn(lambda: (m.cpu.trap(SYS_PANIC), after.append("resumed")))
    with pytest.raises(KernelPanic) as info:
        m.run()
    assert info.value.message == "test: broken invariant"
    assert after == []


def test_broken_invariant_in_the_idle_path_surfaces_from_run() -> None:
    m = Machine()

    class Broken(TinyKernel):
        def on_idle(self, cpu: CPU) -> bool:
            raise KernelPanic("on_idle broke")

    Broken(m)
    with pytest.raises(KernelPanic, match="on_idle broke"):
        m.run()


def test_broken_invariant_in_an_interrupt_handler_surfaces_from_run() -> None:
    m = Machine()

    class Broken(TinyKernel):
        def on_interrupt(self, cpu: CPU, irq: int) -> None:
            raise KernelPanic("irq broke", irq=irq)

    k = Broken(m)
    k.spawn(lambda: [m.cpu.charge(10) for _ in range(100)])
    m.timer.arm(200)
    with pytest.raises(KernelPanic) as info:
        m.run()
    assert info.value.irq == IRQ_TIMER


# -- statistics -------------------------------------------------------------------

def test_statistics_is_a_frozen_record_of_frozen_records() -> None:
    m = Machine(trace=False)
    k = TinyKernel(m)
    t = k.spawn(lambda: m.cpu.load(0x1000))
    k.map(t, 1, 1)
    m.run()
    s = m.statistics()
    assert isinstance(s, MachineStats)
    assert s.profile == "dec5000" and s.cycles == m.cycles
    assert s.microseconds == pytest.approx(m.cycles / m.profile.mhz)
    assert isinstance(s.cpus, tuple) and isinstance(s.tlbs, tuple)
    assert s.cpus[0].tlb_misses == 1 and s.tlbs[0].writes == 1
    assert s.threads.created == 1 and s.disks == () and s.nics == ()
    for rec in (s, s.clock, s.memory, s.cpus[0], s.tlbs[0], s.timer, s.threads):
        assert dataclasses.is_dataclass(rec)
        name = dataclasses.fields(rec)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(rec, name, None)


# -- pause / resume and determinism -----------------------------------------------

def _scenario(seed: int, trace: bool = True) -> tuple[Machine, TinyKernel]:
    """Three threads hammering six pages each through an 8-entry TLB, preempted."""
    m = Machine(SMALL, frames=32, seed=seed, trace=trace)
    k = TinyKernel(m, quantum=400)

    def worker(i: int) -> int:
        cpu = m.cpu
        acc = 0
        for r in range(10):
            for vpn in range(6):
                va = vpn * 4096 + 4 * ((r + i) % 16)
                cpu.store(va, (acc + vpn) & 0xFFFFFFFF)
                acc += cpu.load(va) + r
            cpu.charge(37)
            if r % 4 == 3:
                cpu.trap(SYS_YIELD)
        return acc

    for i in range(3):
        t = k.spawn(worker, i)
        for vpn in range(6):
            k.map(t, vpn, 1 + 6 * i + vpn)
    return m, k


def _final_state(m: Machine, k: TinyKernel) -> tuple[Any, ...]:
    tlb = [None if e is None else (e.vpn, e.asid, e.ppn, e.valid, e.writable, e.dirty)
           for e in m.cpu.tlb.slots]
    threads = [(t.tid, t.state, t.result, t.exit_status, t.fault)
               for t in m.threads._threads.values()]
    return (m.clock.now, threads, m.memory.read(0, 32 * 4096), tlb, m.cpu.statistics(),
            m.cpu.tlb.statistics(), m.timer.statistics(), m.memory.touched(), k.faults,
            m.cpu.asid, m.cpu.mode, m.tracer.events() if m.tracer else None)


@functools.lru_cache(maxsize=None)
def _unpaused(seed: int) -> tuple[Any, ...]:
    m, k = _scenario(seed)
    assert m.run().reason == "finished"
    return _final_state(m, k)


def test_the_scenario_exercises_what_it_should() -> None:
    m, k = _scenario(0)
    m.run()
    counts = m.tracer.counts()                    # type: ignore[union-attr]
    assert counts[Kind.TLB_REFILL] > 50           # random replacement under pressure
    assert counts[Kind.INTERRUPT] > 5             # timer preemption
    assert counts[Kind.CONTEXT_SWITCH] > 10
    assert k.faults == [] and not m.timer.armed
    assert m.cpu.tlb.statistics().evictions > 20


PAUSE_SLACK = 400        # a pause lands at the first charge point at or past the limit


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 5_000), min_size=1, max_size=5), st.integers(0, 3))
def test_paused_runs_resume_exactly(limits: list[int], seed: int) -> None:
    m, k = _scenario(seed)
    reasons = []
    for until in sorted(limits):
        res = m.run(until=until)
        reasons.append(res.reason)
        if res.reason == "finished":
            break
        assert res.reason == "paused"
        assert until <= res.cycles <= max(until, m.cycles) + PAUSE_SLACK
        assert res.cycles - until <= PAUSE_SLACK
    assert m.run().reason == "finished"
    assert _final_state(m, k) == _unpaused(seed)


def test_a_pause_anywhere_stops_promptly_and_resumes_exactly() -> None:
    """Limits falling inside the kernel's first dispatch, traps, refills, switches."""
    want = _unpaused(1)
    end = want[0]
    for until in list(range(1, 300)) + list(range(300, end, 7)):
        m, k = _scenario(1)
        res = m.run(until=until)
        assert res.reason == "paused", until
        assert until <= res.cycles <= until + PAUSE_SLACK, until
        assert m.run().reason == "finished"
        assert _final_state(m, k) == want, until


def test_paused_run_reports_live_threads_and_a_zero_limit_returns_at_once() -> None:
    m, _ = _scenario(0)
    start = m.cycles                              # the kernel armed its tick already
    assert m.run(until=0) == RunResult("paused", start, 3)
    res = m.run(until=2000)
    assert res.reason == "paused" and res.live_threads == 3


def test_same_seed_same_trace_different_seeds_differ() -> None:
    traces = {}
    results = {}
    for seed in range(4):
        m, _ = _scenario(seed)
        m.run()
        traces[seed] = m.tracer.events()          # type: ignore[union-attr]
        results[seed] = [t.result for t in m.threads._threads.values()]
    again, _ = _scenario(2)
    again.run()
    assert again.tracer.events() == traces[2]     # type: ignore[union-attr]
    assert len({tuple(tr) for tr in traces.values()}) > 1   # the seed matters...
    assert all(r == results[0] for r in results.values())   # ...but not to the program
