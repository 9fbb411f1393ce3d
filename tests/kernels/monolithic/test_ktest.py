"""Kernel-resident tests (ktest.py): a body built into the monolithic kernel runs
in it, its calls are procedure calls, its threads kernel threads; a program can
only name a built-in test, and a kernel built without them says ENOSYS."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exolab.errors import SyscallError
from exolab.kernels.monolithic import ktest
from exolab.kernels.monolithic.paths import resolve
from exolab.machine.costs import get_profile
from exolab.runner import run_program


def _getpids(os: Any, n: int) -> None:
    for _ in range(n):
        os.getpid()


def _fails(os: Any) -> None:
    raise ZeroDivisionError("a built-in test's own bug")


ktest.register("test.getpids", _getpids)
ktest.register("test.fails", _fails)


def _resident(os: Any, n: int) -> None:
    os.kernel_test("test.getpids", n)


def _run(program: Any, *args: Any, kernel: str = "monolithic") -> Any:
    run = run_program(program, *args, kernel=kernel, profile="alpha", trusted=True)
    assert run.faults == [], run.faults
    return run


def test_a_resident_body_calls_the_kernel_without_a_trap() -> None:
    a, b = _run(_resident, 10), _run(_resident, 20)
    assert a.machine.cpu.statistics().traps == b.machine.cpu.statistics().traps
    assert b.kernel.syscalls == a.kernel.syscalls       # no system-call path either
    assert b.result.cycles - a.result.cycles == 10 * resolve("alpha")["mono_proc_call"]
    user = _run(_getpids, 10)
    assert user.machine.cpu.statistics().traps >= 10


def _fork_join(os: Any, n: int) -> None:
    os.kernel_test("spin.fork_join", n)


def test_a_resident_thread_is_a_kernel_thread_made_and_switched_as_one() -> None:
    """Per fork-join: no trap, two switches, kernel_thread's life (no Mach RPCs) and
    two thread_sleep switches; a user program's thread would cost its RPC path."""
    import exolab.bench.spin  # noqa: F401 - builds spin.fork_join into the kernel
    r, p = resolve("alpha"), get_profile("alpha")
    a, b = _run(_fork_join, 10), _run(_fork_join, 20)
    per = (b.result.cycles - a.result.cycles) / 10
    assert a.machine.cpu.statistics().traps == b.machine.cpu.statistics().traps
    switches = b.kernel.sched.statistics().switches - a.kernel.sched.statistics().switches
    assert switches == 20
    floor = r["mono_kthread_path"] + 2 * (r["mono_kswitch_path"] + p.reg_save + p.reg_restore)
    assert floor <= per <= floor * 1.05
    assert per < r["mono_thread_path"]            # not a user program's thread


def _ask(os: Any, name: Any, *args: Any) -> None:
    try:
        os.kernel_test(name, *args)
    except SyscallError as e:
        os.print("refused", e.errno)
    os.print("alive", os.getpid())


@pytest.mark.parametrize("name", ["no.such.test", 7, None, b"test.getpids"])
def test_only_a_built_in_test_can_be_named(name: Any) -> None:
    run = _run(_ask, name, 3)
    assert run.console == ["refused ENOENT", "alive 1"]


def test_a_function_cannot_be_passed_in() -> None:
    run = _run(_ask, _getpids, 3)
    assert run.console == ["refused ENOENT", "alive 1"]


def test_a_failing_built_in_test_is_efault_and_the_kernel_runs_on() -> None:
    run = _run(_ask, "test.fails")
    assert run.console == ["refused EFAULT", "alive 1"]
    bad_args = _run(_ask, "test.getpids", "not a count")
    assert bad_args.console == ["refused EFAULT", "alive 1"]


@pytest.mark.parametrize("kernel", ["spin", "mach"])
def test_kernels_built_without_the_module_say_enosys(kernel: str) -> None:
    run = _run(_ask, "test.getpids", 3, kernel=kernel)
    assert run.console[0] == "refused ENOSYS"


def test_a_name_is_built_in_once() -> None:
    ktest.register("test.getpids", _getpids)          # the same body again: harmless
    with pytest.raises(ValueError):
        ktest.register("test.getpids", _fails)
    assert {"test.getpids", "test.fails"} <= set(ktest.tests())


@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=60))
def test_depth_counters_nest_per_thread(ops: list[tuple[int, bool]]) -> None:
    """enter/leave keep one depth per thread; a thread is inside exactly while its
    depth is positive, and leaving more than entering never goes below outside."""
    depths: dict[int, int] = {}
    model = {tid: 0 for tid in range(4)}
    for tid, going_in in ops:
        if going_in:
            ktest.enter(depths, tid)
            model[tid] += 1
        else:
            ktest.leave(depths, tid)
            model[tid] = max(0, model[tid] - 1)
        assert {t for t, d in model.items() if d} == set(depths)
        assert all(depths[t] == model[t] for t in depths)
