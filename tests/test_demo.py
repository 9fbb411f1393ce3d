"""The built-in demo scenario: what it shows happens, deterministically."""
from __future__ import annotations

from exolab.demo import SCENARIOS, run_demo
from exolab.trace.events import Kind


def test_demo_runs_to_completion() -> None:
    run = run_demo("dec5000", seed=0)
    m, k = run.machine, run.kernel
    assert run.result.reason == "finished" and run.result.live_threads == 0
    threads = {t.name: t for t in (m.threads.get(i) for i in range(1, 5))}
    assert threads["faulter"].exit_status == "TLB_LOAD"
    assert k.faults == [(threads["faulter"].tid, "TLB_LOAD", 0x7FFF_0000)]
    assert threads["ping"].result == sum(1000 + r for r in range(6)) * 3
    assert threads["pong"].result == sum(2000 + r for r in range(6)) * 3
    assert threads["spinner"].exit_status is None
    counts = m.tracer.counts()
    assert counts[Kind.INTERRUPT] >= 1 and counts[Kind.TLB_MISS] >= 7
    assert counts[Kind.EXCEPTION] == counts[Kind.FAULT] == 1
    assert counts[Kind.TRAP] == counts[Kind.TRAP_RETURN]


def test_demo_is_deterministic_and_untraced_runs() -> None:
    a, b = run_demo(seed=5), run_demo(seed=5)
    assert a.machine.tracer.events() == b.machine.tracer.events()
    quiet = SCENARIOS["demo"]("athlon64", 5, False)
    assert quiet.machine.tracer is None and quiet.result.reason == "finished"
