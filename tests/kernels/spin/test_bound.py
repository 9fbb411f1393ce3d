"""In-kernel code that overruns its cycle bound is ended; a bystander stays exact.

Kernel mode takes no interrupt, and a loop that charges cycles (``Clock.Time()``,
``os.compute``) makes simulated progress, so fuel never ends it: without the bound
each of these held the CPU to the run's budget and the bystander never printed
(``bound.py``). Each hostile body runs next to a bystander that ping-pongs numbers
through pipes and prints their exact sum. The meter itself is checked against a
model: an invocation's cycles are the strand's own, never the time it was away.

The tests lower the bound to ``SMALL_BOUND`` (the mechanism does not depend on its
size; at the real one, 2**27 cycles, each overrun takes the host ~20 s of
interpreted ``Clock.Time()`` calls).
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.abi import PROT_READ, PROT_RW
from exolab.errors import SyscallError
from exolab.kernels.spin.bound import Meter, Overrun
from exolab.runner import run_program

from ..common import pipe_bystander

PAGE = 4096
SMALL_BOUND = 2_000_000                 # cycles: 15 ms at the alpha's 133 MHz
BUDGET = 6 * SMALL_BOUND                # the bystander needs about 1.5 M of it


@pytest.fixture(autouse=True)
def _small_bound(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every kernel these tests boot bounds an invocation at SMALL_BOUND cycles."""
    monkeypatch.setattr("exolab.kernels.spin.kernel.MAX_INVOCATION_CYCLES", SMALL_BOUND)
    yield

CLOCK_LOOP = '''
INTERFACE = "Evil"
EXPORTS = {"Run": 0}
IMPORTS = {"Clock.Time": 0}


def Run():
    while True:
        Clock.Time()
'''
HELPER = '''
INTERFACE = "Helper"
EXPORTS = {"Spin": 0}
IMPORTS = {"Clock.Time": 0}


def Spin():
    while True:
        Clock.Time()
'''
CALLER = '''
INTERFACE = "Caller"
EXPORTS = {"Run": 0}
IMPORTS = {"Helper.Spin": 0}


def Run():
    return Helper.Spin()
'''


_bystander = pipe_bystander


def _errno(ex: SyscallError) -> tuple[str, Any]:
    return ex.errno, ex.fields.get("error") or ex.fields.get("symbol")


def _call_twice(os: Any, d: int, symbol: str, log: list[Any]) -> None:
    for _ in range(2):
        try:
            log.append(("ok", os.domain_call(d, symbol)))
        except SyscallError as ex:
            log.append(_errno(ex))


def _extension_main(os: Any, log: list[Any]) -> None:
    b = os.spawn(_bystander, name="bystander")
    d = os.domain_create(CLOCK_LOOP)
    os.domain_resolve(os.domain_kernel(), d)
    _call_twice(os, d, "Evil.Run", log)
    os.wait(b)
    os.print("kernel runs on")


def test_an_extension_that_overruns_its_bound_is_unloaded() -> None:
    log: list[Any] = []
    run = run_program(_extension_main, log, kernel="spin", profile="alpha",
                      max_cycles=BUDGET)
    assert log == [("EFAULT", "Overrun"), ("ENOENT", "Evil.Run")]
    assert sorted(run.console) == ["bystander 1275", "kernel runs on"]
    k: Any = run.kernel
    s = k.statistics()
    assert s.bound.overruns == 1 and s.unloaded == 1
    assert SMALL_BOUND < s.bound.longest < SMALL_BOUND + 10_000
    assert run.machine.panic is None and run.faults == []


def _nested_main(os: Any, log: list[Any]) -> None:
    b = os.spawn(_bystander, name="bystander")
    helper = os.domain_create(HELPER)
    os.domain_resolve(os.domain_kernel(), helper)
    caller = os.domain_create(CALLER)
    os.domain_resolve(helper, caller)
    _call_twice(os, caller, "Caller.Run", log)
    _call_twice(os, helper, "Helper.Spin", log)
    os.wait(b)


def test_the_callee_that_ran_past_the_bound_is_the_one_unloaded() -> None:
    log: list[Any] = []
    run = run_program(_nested_main, log, kernel="spin", profile="alpha",
                      max_cycles=BUDGET)
    # the helper's loop overran inside the caller's call: the helper goes, and the
    # caller, whose import is now unlinked, faults on its second call
    assert log[0] == ("EFAULT", "Overrun")
    assert log[2:] == [("ENOENT", "Helper.Spin")] * 2
    assert run.console == ["bystander 1275"]
    k: Any = run.kernel
    by_name = {o.name: o.loaded for o in k.extensions}
    assert by_name["Helper"] is False
    assert k.statistics().bound.overruns == 1


def _spin_compute(os: Any) -> None:
    while True:
        os.compute(5_000)


def _short(os: Any) -> int:
    return os.getpid()


def _kernel_body_main(os: Any, log: list[Any]) -> None:
    b = os.spawn(_bystander, name="bystander")
    try:
        os.spin_kernel(_spin_compute)
    except SyscallError as ex:
        log.append(_errno(ex))
    log.append(os.spin_kernel(_short) == os.getpid())   # the kernel path still works
    os.wait(b)


def test_program_code_run_in_the_kernel_is_bounded_too() -> None:
    log: list[Any] = []
    run = run_program(_kernel_body_main, log, kernel="spin", profile="alpha",
                      max_cycles=BUDGET)
    assert log == [("EFAULT", "Overrun"), True]
    assert run.console == ["bystander 1275"] and run.faults == []


def _looping_handler(os: Any) -> None:
    va = os.mmap(PAGE, PROT_RW)
    os.store(va, 7)

    def on_fault(ctx: Any, vaddr: int, write: bool) -> bool:
        while True:
            os.time()

    os.event_install("Translation.ProtectionFault", os.context_self(), on_fault, None)
    os.mprotect(va, PAGE, PROT_READ)
    os.store(va, 8)                     # the handler never returns
    os.print("unreachable")


def _handler_main(os: Any) -> None:
    b = os.spawn(_bystander, name="bystander")
    h = os.spawn(_looping_handler, name="looper")
    _, status = os.wait(h)
    os.print("looper ended", status != 0)
    os.wait(b)


def test_a_fault_handler_that_never_returns_is_unloaded_and_the_default_runs() -> None:
    run = run_program(_handler_main, kernel="spin", profile="alpha", max_cycles=BUDGET)
    assert sorted(run.console) == ["bystander 1275", "looper ended True"]
    k: Any = run.kernel
    assert k.statistics().bound.overruns == 1
    assert run.machine.panic is None


def _looping_program_handler(os: Any) -> None:
    def on_fault(o: Any, vaddr: int, write: bool) -> None:
        while True:
            o.compute(1_000)

    va = os.mmap(PAGE, PROT_READ)
    os.set_fault_handler(on_fault)
    os.store(va, 1)
    os.print("unreachable")


def _program_handler_main(os: Any) -> None:
    b = os.spawn(_bystander, name="bystander")
    _, status = os.wait(os.spawn(_looping_program_handler, name="looper"))
    os.print("looper status", status)
    os.wait(b)


def test_an_in_kernel_sigsegv_handler_that_never_returns_ends_its_program() -> None:
    run = run_program(_program_handler_main, kernel="spin", profile="alpha",
                      max_cycles=BUDGET)
    assert "bystander 1275" in run.console
    (status,) = [line for line in run.console if line.startswith("looper status")]
    assert "Overrun" in status
    assert run.machine.panic is None


def _strand_hog(os: Any, log: list[Any]) -> None:
    def on_block(s: Any) -> None:
        while True:
            os.compute(2_000)

    os.event_install("Strand.Block", os.strand_self(), on_block)
    r, w = os.pipe()
    pid = os.fork(_late_writer, w)
    log.append(os.read(r, 1))           # blocks: Strand.Block is raised
    os.wait(pid)
    log.append(os.read(r, 1))           # the handler was unloaded: no overrun now


def _late_writer(os: Any, w: int) -> None:
    os.compute(50_000)
    os.write(w, b"ab")


def _strand_main(os: Any, log: list[Any]) -> None:
    b = os.spawn(_bystander, name="bystander")
    _, status = os.wait(os.spawn(_strand_hog, log, name="hog"))
    log.append(status)
    os.wait(b)


def test_a_strand_handler_that_never_returns_is_unloaded_and_the_switch_goes_on() -> None:
    log: list[Any] = []
    run = run_program(_strand_main, log, kernel="spin", profile="alpha",
                      max_cycles=BUDGET)
    assert log == [b"a", b"b", 0]
    assert run.console == ["bystander 1275"] and run.faults == []
    assert run.kernel.statistics().bound.overruns == 1  # type: ignore[attr-defined]


def _slow_writer(os: Any, w: int) -> None:
    for _ in range(4):
        os.compute(SMALL_BOUND // 2)  # user mode: preemptible, not the reader's
        os.yield_()
    os.write(w, b"x")


def _blocked_body(os: Any, r: int) -> bytes:
    return os.read(r, 1)


def _away_main(os: Any, log: list[Any]) -> None:
    r, w = os.pipe()
    pid = os.fork(_slow_writer, w)
    log.append(os.spin_kernel(_blocked_body, r))
    os.wait(pid)


def test_time_spent_blocked_is_not_the_invocations_own() -> None:
    log: list[Any] = []
    run = run_program(_away_main, log, kernel="spin", profile="alpha", max_cycles=BUDGET)
    assert log == [b"x"] and run.faults == []
    s = run.kernel.statistics().bound   # type: ignore[attr-defined]
    assert s.overruns == 0 and s.longest < SMALL_BOUND // 100
    assert run.machine.cycles > 2 * SMALL_BOUND   # it waited that long


# -- the meter against a model --------------------------------------------------------


class _Clock:
    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0


class _Thread:
    __slots__ = ("tid",)

    def __init__(self, tid: int) -> None:
        self.tid = tid


class _CPU:
    __slots__ = ("clock", "current")

    def __init__(self) -> None:
        self.clock = _Clock()
        self.current: _Thread | None = None

    def charge(self, cycles: int) -> None:
        self.clock.now += cycles


BOUND = 1_000
TIDS = (1, 2, 3)


class MeterMachine(RuleBasedStateMachine):
    """Strands enter and leave invocations, run and switch; the meter's cycles for
    each open invocation are the strand's own since its outermost entry."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu = _CPU()
        self.unloaded: list[Any] = []
        self.meter = Meter(self.cpu, BOUND, self.unloaded.append)
        self.depth = {t: 0 for t in TIDS}
        self.own = {t: 0 for t in TIDS}         # model: cycles run since entry
        self.away: dict[int, bool] = {}         # tids the switch marked off

    @rule(tid=st.sampled_from(TIDS))
    def switch_to(self, tid: int) -> None:
        cur = self.cpu.current
        if cur is not None and cur.tid == tid:
            return
        if cur is not None and self.meter.off(cur.tid):
            self.away[cur.tid] = True
        self.cpu.current = _Thread(tid)
        if self.away.pop(tid, False):
            self.meter.on(tid)

    @precondition(lambda self: self.cpu.current is not None)
    @rule()
    def enter(self) -> None:
        tid = self.cpu.current.tid  # type: ignore[union-attr]
        self.meter.enter(tid)
        if self.depth[tid] == 0:
            self.own[tid] = 0
        self.depth[tid] += 1

    @precondition(lambda self: self.cpu.current is not None)
    @rule()
    def exit(self) -> None:
        tid = self.cpu.current.tid  # type: ignore[union-attr]
        self.meter.exit(tid)
        self.depth[tid] = max(0, self.depth[tid] - 1)

    @precondition(lambda self: self.cpu.current is not None)
    @rule(cycles=st.integers(0, 700))
    def run(self, cycles: int) -> None:
        tid = self.cpu.current.tid  # type: ignore[union-attr]
        own = self.own[tid] + cycles if self.depth[tid] else None
        try:
            self.meter.charge(cycles)
        except Overrun as ex:
            assert own is not None and own > BOUND and ex.used == own
            self.meter.exit(tid)            # the invocation unwinds to its outermost
            self.meter.forget(tid)
            self.depth[tid] = 0
            return
        assert own is None or own <= BOUND
        if own is not None:
            self.own[tid] = own

    @invariant()
    def cycles_are_the_strands_own(self) -> None:
        for tid in TIDS:
            assert self.meter.depth(tid) == self.depth[tid]
            if self.depth[tid]:
                assert self.meter.used(tid) == self.own[tid]
            else:
                assert self.meter.used(tid) == 0


MeterMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40,
                                          deadline=None)
TestMeter = MeterMachine.TestCase
