"""Tests of exolab.machine.machine: a machine's lifetime (close, freeing) and its cycle budget.

A suspended greenlet's frame is invisible to the garbage collector, so a machine
whose threads or launcher stay parked is never freed. These tests check that a
machine is collectable once a run is over, on both kernels and however the run
ended, and that memory stays flat over many runs in one process.
"""
from __future__ import annotations

import gc
import tracemalloc
import weakref
from typing import Any, Callable

import pytest

from exolab.errors import ConfigError
from exolab.kernels import kernel_names
from exolab.kernels.tiny import SYS_YIELD, TinyKernel
from exolab.machine import Machine
from exolab.machine.threads import DEAD
from exolab.runner import run_program

KERNELS = kernel_names()      # every registered kernel


def _finishes(os: Any) -> None:
    rfd, wfd = os.pipe()
    pid = os.fork(_child, wfd)
    os.print(os.read(rfd, 5))
    os.wait(pid)


def _child(os: Any, wfd: int) -> None:
    os.write(wfd, b"hello")


def _faults(os: Any) -> int:
    os.fork(_child, 1)
    return 1 // 0


def _loops(os: Any) -> None:
    while True:
        os.yield_()


def _blocks(os: Any) -> None:
    rfd, _wfd = os.pipe()          # it holds the write end itself: the read never ends
    os.read(rfd, 1)


PROGRAMS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "finished": (_finishes, {}),
    "fault": (_faults, {}),
    "budget": (_loops, {"max_cycles": 300_000}),
    "deadlock": (_blocks, {}),
}


def _collected(ref: "weakref.ref[Any]") -> bool:
    gc.collect()
    return ref() is None


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("how", sorted(PROGRAMS))
def test_a_machine_is_collectable_after_run_program(kernel: str, how: str) -> None:
    program, kw = PROGRAMS[how]
    run = run_program(program, kernel=kernel, **kw)
    assert run.result.reason == ("finished" if how == "fault" else how)
    assert bool(run.faults) == (how == "fault")
    ref = weakref.ref(run.machine)
    del run
    assert _collected(ref)


def _spin(m: Machine) -> None:
    while True:
        m.cpu.trap(SYS_YIELD)


def _yield_once(m: Machine) -> None:
    m.cpu.trap(SYS_YIELD)


def test_a_finished_machine_is_collectable_without_close() -> None:
    m = Machine()
    k = TinyKernel(m)
    k.spawn(_yield_once, m)
    k.spawn(_yield_once, m)
    assert m.run().reason == "finished"
    ref = weakref.ref(m)
    del m, k
    assert _collected(ref)


def _counters(m: Machine, k: TinyKernel) -> Any:
    st = m.statistics()
    return (m.cycles, st.cpus, st.clock, st.tlbs, st.threads.faulted,
            m.tracer.statistics(), list(k.faults))          # type: ignore[union-attr]


def test_a_paused_machine_leaks_until_closed_and_close_changes_no_counter() -> None:
    m = Machine(trace=True)
    k = TinyKernel(m)
    threads = [k.spawn(_spin, m), k.spawn(_spin, m)]
    assert m.run(until=5_000).reason == "paused"
    before = _counters(m, k)
    m.close()
    assert _counters(m, k) == before            # closing is invisible to the figures
    assert m.statistics().threads.live == 0
    assert all(t.state == DEAD and t.glet.dead for t in threads)
    ref = weakref.ref(m)
    del m, k, threads, before
    assert _collected(ref)


def test_close_is_idempotent_and_a_closed_machine_has_nothing_left_to_run() -> None:
    m = Machine()
    k = TinyKernel(m)
    k.spawn(_spin, m)
    m.run(until=2_000)
    m.close()
    m.close()
    assert m.threads.live() == []
    assert m.run().reason == "finished"


@pytest.mark.parametrize("kernel", KERNELS)
def test_memory_is_flat_over_many_runs(kernel: str) -> None:
    def runs(n: int) -> None:
        for i in range(n):
            program, kw = PROGRAMS[("finished", "fault", "budget")[i % 3]]
            run_program(program, kernel=kernel, **kw)
    runs(6)                                         # warm caches, interned strings
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        runs(30)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 1 << 20, f"{grown:,} bytes kept by 30 runs"   # a machine is >= 1 MiB


# -- the cycle budget --------------------------------------------------------------

def test_a_budget_stops_every_run_for_good() -> None:
    m = Machine(max_cycles=10_000)
    k = TinyKernel(m)
    k.spawn(_spin, m)
    first = m.run()
    assert first.reason == "budget" and 10_000 <= first.cycles < 10_100
    again = m.run()
    assert again.reason == "budget" and again.cycles == first.cycles


def test_a_limit_below_the_budget_pauses_and_the_run_resumes_to_the_budget() -> None:
    m = Machine(max_cycles=10_000)
    k = TinyKernel(m)
    k.spawn(_spin, m)
    assert m.run(until=4_000).reason == "paused"
    assert m.run(until=50_000).reason == "budget"
    assert 10_000 <= m.cycles < 10_100


def test_a_run_that_ends_below_its_budget_finishes() -> None:
    m = Machine(max_cycles=10_000)
    k = TinyKernel(m)
    k.spawn(_yield_once, m)
    assert m.run().reason == "finished"


@pytest.mark.parametrize("bad", [0, -5, True, 1.5, "9"])
def test_a_budget_is_a_positive_int(bad: Any) -> None:
    with pytest.raises(ConfigError):
        Machine(max_cycles=bad)


@pytest.mark.parametrize("kernel", KERNELS)
def test_run_program_stops_a_loop_at_its_budget_and_keeps_the_output(kernel: str) -> None:
    def chatty(os: Any) -> None:
        os.print("before")
        _loops(os)
    run = run_program(chatty, kernel=kernel, max_cycles=400_000, trace=True)
    assert run.result.reason == "budget"
    assert 400_000 <= run.machine.cycles < 401_000
    assert run.console == ["before"] and run.faults == []
    assert run.machine.tracer is not None and run.machine.tracer.statistics().recorded
