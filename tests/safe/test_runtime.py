"""Fuel bounds loops that make no progress; the depth count leaves kernel headroom;
neither changes a cycle count."""
from __future__ import annotations

import gc
import sys
from typing import Any

import greenlet

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.apps.microbench import PROGRAMS
from exolab.errors import ProgramFault
from exolab.kernels import kernel_names
from exolab.runner import run_program
from exolab.safe import guards, runtime
from exolab.safe.load import load_program_source
from tests.kernels.common import beside_bystander

KERNELS = kernel_names()      # every registered kernel


@pytest.fixture
def little_fuel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "FUEL", 1000)


def _faults(run: Any) -> list[str]:
    return [f[1] for f in run.faults]


def spinner(os: Any) -> int:
    while True:
        pass


def catcher(os: Any) -> int:
    try:
        while True:
            pass
    except Exception:
        os.print("caught")
    return 0


def spinning_child_parent(os: Any) -> None:
    pid = os.spawn(spinner)
    os.print("status", os.wait(pid)[0] == pid)


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_loop_without_progress_ends_that_program_only(kernel: str, little_fuel: None) -> None:
    run = run_program(spinning_child_parent, kernel=kernel)
    assert run.result.reason == "finished" and run.console == ["status True"]
    assert len(run.faults) == 1 and "no progress in simulated time" in run.faults[0][1]


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_fuel_fault_cannot_be_caught_by_the_program(kernel: str, little_fuel: None) -> None:
    run = run_program(catcher, kernel=kernel)
    assert run.console == [] and "no progress" in _faults(run)[0]


def progressing(os: Any, n: int) -> int:
    for _ in range(n):
        os.getpid()
    return 0


def comprehending(os: Any) -> int:
    return sum(1 for _ in range(10 ** 9))


def test_loops_that_charge_cycles_never_run_out(little_fuel: None) -> None:
    assert run_program(progressing, 5000).faults == []


def test_comprehensions_are_fuelled_too(little_fuel: None) -> None:
    assert "no progress" in _faults(run_program(comprehending))[0]


def test_unverified_code_has_no_fuel(little_fuel: None) -> None:
    def bounded_spin(os: Any) -> int:
        n = 0
        for _ in range(20_000):
            n += 1
        return n
    assert run_program(bounded_spin).faults != []
    assert run_program(bounded_spin, trusted=True).faults == []


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("name", ["pipe", "prot1", "lrpc", "api_call"])
def test_instrumentation_changes_no_cycle_count(kernel: str, name: str) -> None:
    plain = run_program(PROGRAMS[name], 20, kernel=kernel, trusted=True)
    checked = run_program(PROGRAMS[name], 20, kernel=kernel)
    assert checked.verified and not plain.verified
    assert checked.machine.cycles == plain.machine.cycles
    assert checked.console == plain.console and checked.faults == plain.faults


def recurse(os: Any, n: int) -> int:
    return recurse(os, n + 1)


def deep_then_kernel(os: Any, depth: int) -> int:
    if depth > 0:
        return deep_then_kernel(os, depth - 1)
    pid = os.spawn(progressing, 10)
    os.wait(pid)
    os.print("kernel ok")
    return 0


@pytest.mark.parametrize("kernel", KERNELS)
def test_program_recursion_stops_at_program_depth(kernel: str) -> None:
    run = run_program(recurse, 0, kernel=kernel)
    assert f"deeper than {runtime.PROGRAM_DEPTH}" in _faults(run)[0]


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernel_paths_have_headroom_at_the_programs_deepest(kernel: str) -> None:
    run = run_program(deep_then_kernel, runtime.PROGRAM_DEPTH - 5, kernel=kernel)
    assert run.faults == [] and run.console == ["kernel ok"]


def _nest(os: Any, n: int) -> int:
    if n == 0:
        os.thread_yield()
        return 0
    return _nest(os, n - 1)


def two_deep_threads(os: Any) -> int:
    os.thread_create(_nest, 200)
    _nest(os, 200)
    os.thread_yield()
    os.print("both done")
    return 0


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_depth_count_is_per_simulated_thread(kernel: str) -> None:
    run = run_program(two_deep_threads, kernel=kernel)
    assert run.faults == [] and run.console == ["both done"]


def test_the_interpreter_limit_is_raised_only_during_a_run() -> None:
    before = sys.getrecursionlimit()
    seen: list[int] = []

    def probe(os: Any) -> None:
        seen.append(0)
    run_program(probe)
    assert sys.getrecursionlimit() == before and seen == [0]


TWICE_DEPTH = runtime.PROGRAM_DEPTH * 2
DEPTH = runtime.PROGRAM_DEPTH


def test_a_generator_is_not_counted_while_suspended() -> None:
    def gen(n: int) -> Any:
        for i in range(n):
            yield i

    def many(os: Any) -> int:
        gs = [gen(3) for _ in range(TWICE_DEPTH)]
        os.print(sum(next(g) + next(g) for g in gs))
        return 0
    assert run_program(many).console == [str(TWICE_DEPTH)]


def huge_values(os: Any, base: int, exp: int) -> None:
    for what in ("pow", "shl", "rep", "builtin pow", "augmented"):
        try:
            if what == "pow":
                base ** exp
            elif what == "shl":
                base << exp
            elif what == "rep":
                b"x" * exp
            elif what == "builtin pow":
                pow(base, exp)
            else:
                n = base
                n **= exp
            os.print(what, "built")
        except ProgramFault:
            os.print(what, "refused")


@pytest.fixture
def small_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guards, "MAX_BITS", 64)
    monkeypatch.setattr(guards, "MAX_ITEMS", 64)


def test_one_operation_cannot_build_a_huge_value(small_values: None) -> None:
    run = run_program(huge_values, 3, 100)
    assert run.console == ["pow refused", "shl refused", "rep refused",
                           "builtin pow refused", "augmented refused"]
    small = run_program(huge_values, 3, 10)
    assert small.console == ["pow built", "shl built", "rep built", "builtin pow built",
                             "augmented built"]


def test_unverified_code_has_no_size_guards(small_values: None) -> None:
    run = run_program(huge_values, 3, 100, trusted=True)
    assert run.console == ["pow built", "shl built", "rep built", "builtin pow built",
                           "augmented built"]


# -- recursion through C: lambdas and running generators count -----------------

def _recurse_through_sorted(os: Any) -> None:
    f = lambda x: sorted([x], key=f)        # noqa: E731  (each level: C, then f)
    f(1)


def _recurse_through_next(os: Any) -> None:
    def g() -> Any:
        yield sorted([g()], key=next)
    next(g())


@pytest.mark.parametrize("offender", [_recurse_through_sorted, _recurse_through_next])
def test_a_recursion_through_c_stops_at_the_program_depth(offender: Any) -> None:
    run = run_program(beside_bystander(offender, 20))
    assert run.result.reason == "finished" and run.machine.panic is None
    assert "offender True bystander 190" in run.console
    assert _faults(run) == [f"fault: Exhausted: program stack deeper than "
                            f"{runtime.PROGRAM_DEPTH} frames"]


def balanced(os: Any, depth: int) -> None:
    def gen() -> Any:
        while True:
            got = yield 1
            if got == "stop":
                return

    class Holder:
        double = lambda self, x: 2 * x      # noqa: E731  (binds as a method)
    bad = lambda: 1 // 0                    # noqa: E731
    for _ in range(3 * TWICE_DEPTH):        # every way out of a counted frame
        g = gen()
        next(g)
        try:
            g.throw(ValueError("in"))
        except ValueError:
            pass
        g = gen()
        next(g)
        g.close()
        g = gen()
        next(g)
        try:
            g.send("stop")
        except StopIteration:
            pass
        try:
            bad()
        except ZeroDivisionError:
            pass

    def deep(n: int) -> int:
        return 0 if n == 0 else 1 + deep(n - 1)
    os.print(deep(depth), Holder().double(4), bad.__name__)


def test_counts_balance_on_every_way_out_of_a_generator_or_lambda() -> None:
    run = run_program(balanced, DEPTH - 10)         # no frame left counted up...
    assert run.console == [f"{DEPTH - 10} 8 <lambda>"] and not run.faults
    run = run_program(balanced, DEPTH + 10)         # ...nor counted down
    assert run.console == [] and _faults(run) == [
        f"fault: Exhausted: program stack deeper than {DEPTH} frames"]


def test_a_generator_with_an_expression_yield_still_runs() -> None:
    def main(os: Any) -> None:
        def gen() -> Any:
            v = (yield 1) + 1
            yield v * 10
        g = gen()
        os.print(next(g), g.send(4))
    assert run_program(main).console == ["1 50"]


GENERATORS = load_program_source('''
def inner(n):
    for i in range(n):
        got = yield i
        if got == "raise":
            raise ValueError("asked")

def outer(n):
    yield from inner(n)
    yield "end"

def main(os):
    return 0
''', func="outer")


class GeneratorDepths(RuleBasedStateMachine):
    """Whatever is done to verified generators (resume, send, throw, close, drop),
    no frame stays counted once control is back in host code."""

    def __init__(self) -> None:
        super().__init__()
        self.gens: list[Any] = []

    @rule(n=st.integers(0, 4))
    def make(self, n: int) -> None:
        self.gens.append(GENERATORS(n))

    @precondition(lambda self: self.gens)
    @rule(i=st.integers(0, 50), how=st.sampled_from(["next", "send", "raise", "throw",
                                                     "close", "drop"]))
    def act(self, i: int, how: str) -> None:
        g = self.gens[i % len(self.gens)]
        try:
            if how == "next":
                next(g)
            elif how in ("send", "raise"):
                g.send(how)
            elif how == "throw":
                g.throw(KeyError("in"))
            elif how == "close":
                g.close()
            else:
                self.gens.remove(g)
                del g
                gc.collect()
        except (StopIteration, ValueError, KeyError, TypeError):
            pass

    @invariant()
    def nothing_counted(self) -> None:
        assert runtime._depths.get(greenlet.getcurrent(), 0) == 0


TestGeneratorDepths = GeneratorDepths.TestCase
TestGeneratorDepths.settings = settings(max_examples=60, stateful_step_count=30,
                                        deadline=None)
