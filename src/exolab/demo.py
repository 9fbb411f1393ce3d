"""Built-in demo scenarios: small, deterministic runs to trace and look at.

``demo`` runs four TinyKernel threads on one machine with a periodic timer:

- ``ping`` and ``pong`` store to and load from their own pages (the first
  touch of each page is a TLB miss the kernel refills) and yield to each
  other with ``SYS_YIELD``;
- ``spinner`` computes without ever yielding; the timer interrupt preempts it;
- ``faulter`` touches a mapped page, then loads from an unmapped address: the
  refill finds no page-table entry, the kernel raises the TLB-load exception,
  records the fault and kills the thread while the others keep running.

The demo kernel is TinyKernel plus two things a trace viewer wants: a miss on
an unmapped page goes through the general exception vector (as on the R3000,
where the refill handler loads an invalid PTE and the retry faults), and the
kill is recorded as a FAULT event. TinyKernel stops the timer when the last
thread exits, so the run finishes.

Interface::

    SCENARIOS                               name -> scenario function
    Scenario(profile, seed, trace) -> ScenarioRun
    ScenarioRun(machine, kernel, result)    what a scenario leaves behind
    run_demo(profile="dec5000", seed=0, trace=True) -> ScenarioRun
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from exolab.kernels.tiny import SYS_YIELD, TinyKernel
from exolab.machine.cpu import CPU, Cause
from exolab.machine.machine import Machine, RunResult
from exolab.trace.events import Kind

__all__ = ["SCENARIOS", "Scenario", "ScenarioRun", "DemoKernel", "run_demo"]

QUANTUM = 2_000          # cycles between timer interrupts
ROUNDS = 6               # ping/pong iterations
PAGES = 3                # pages each of ping/pong touches
SPIN = 400               # spinner iterations of 10 instructions
BAD_VADDR = 0x7FFF_0000  # never mapped


@dataclass(frozen=True, slots=True)
class ScenarioRun:
    """The machine and kernel a scenario ran on, and how the run ended."""

    machine: Machine
    kernel: Any
    result: RunResult


Scenario = Callable[[str, int, bool], ScenarioRun]


class DemoKernel(TinyKernel):
    """TinyKernel whose unmapped-page misses fault through the exception vector."""

    def on_tlb_miss(self, cpu: CPU, vaddr: int, write: bool) -> None:
        """Refill from the page table; an unmapped page raises a TLB exception."""
        t = cpu.current
        vpn = vaddr >> self.machine.memory.page_shift
        if t is not None and vpn not in self.tables.get(t.tid, {}):
            cpu.fault(Cause.TLB_STORE if write else Cause.TLB_LOAD, vaddr)
            return
        super().on_tlb_miss(cpu, vaddr, write)

    def on_exception(self, cpu: CPU, cause: Cause, vaddr: int, info: Any) -> None:
        """Record the fault in the trace, then kill the thread (TinyKernel)."""
        tr = self.machine.tracer
        t = cpu.current
        if tr is not None and t is not None:
            tr.emit(cpu.clock.now, Kind.FAULT, cpu.index, t.tid, cause.name, vaddr)
        super().on_exception(cpu, cause, vaddr, info)


def _pingpong(m: Machine, base_vpn: int, tag: int) -> int:
    """Store/load a word on each of our pages, then yield; ROUNDS times."""
    cpu, shift = m.cpu, m.memory.page_shift
    total = 0
    for r in range(ROUNDS):
        for i in range(PAGES):
            va = ((base_vpn + i) << shift) + 4 * r
            cpu.store(va, tag * 1000 + r)
            total += cpu.load(va)
        cpu.trap(SYS_YIELD)
    return total


def _spinner(m: Machine) -> int:
    """Compute without yielding: only the timer takes the CPU away."""
    cpu, cost = m.cpu, 10 * m.profile.instruction
    acc = 0
    for i in range(SPIN):
        cpu.charge(cost)
        acc = (acc * 31 + i) & 0xFFFF
    return acc


def _faulter(m: Machine, vpn: int) -> int:
    """Touch a mapped page, then load from an unmapped address (and die)."""
    cpu = m.cpu
    cpu.store(vpn << m.memory.page_shift, 42)
    return cpu.load(BAD_VADDR)


def run_demo(profile: str = "dec5000", seed: int = 0, trace: bool = True) -> ScenarioRun:
    """Build the demo machine, run it to completion and return the run."""
    m = Machine(profile, frames=256, seed=seed, trace=trace)
    k = DemoKernel(m, quantum=QUANTUM)
    ping = k.spawn(_pingpong, m, 0x100, 1, name="ping")
    pong = k.spawn(_pingpong, m, 0x200, 2, name="pong")
    k.spawn(_spinner, m, name="spinner")
    bad = k.spawn(_faulter, m, 0x300, name="faulter")
    ppn = 16
    for t, base in ((ping, 0x100), (pong, 0x200)):
        for i in range(PAGES):
            k.map(t, base + i, ppn)
            ppn += 1
    k.map(bad, 0x300, ppn)
    return ScenarioRun(m, k, m.run())


#: built-in scenarios by name (``exolab trace NAME``)
SCENARIOS: dict[str, Scenario] = {"demo": run_demo}
