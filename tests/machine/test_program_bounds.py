"""The CPU's bounds end the offending program, on every kernel, and nobody else.

A livelocked access (a fault handler that keeps undoing its own fix) and
upcalls nested without end (a handler that re-raises its own exception) are
the program's fault: its process ends, a bystander's result stays exact, and
the run finishes (no panic, no deadlock, nothing half destroyed).
"""
from __future__ import annotations

from typing import Any

import pytest

from exolab.abi import PROT_READ, PROT_RW
from exolab.kernels import declaration, kernel_names
from exolab.machine.cpu import MAX_UPCALL_DEPTH
from exolab.machine.threads import SWEEP_MIN
from exolab.runner import run_program
from tests.kernels.common import beside_bystander

KERNELS = kernel_names()      # every registered kernel
ROUNDS = 40


def _toggler(os: Any) -> None:
    page = os.mmap(4096)
    os.store(page, 1)
    os.mprotect(page, 4096, PROT_READ)
    state = {"rw": False}

    def handler(os: Any, vaddr: int, write: bool) -> None:
        state["rw"] = not state["rw"]          # undo the previous fix on every fault
        os.mprotect(page, 4096, PROT_RW if state["rw"] else PROT_READ)
        os.mprotect(page, 4096, PROT_READ)
    os.set_fault_handler(handler)
    os.store(page, 2)
    os.print("toggler survived")


def _reraiser(os: Any) -> None:
    def handler(os: Any, kind: str) -> None:
        os.trigger("overflow")                 # its own exception, from its handler
    os.set_exception_handler("overflow", handler)
    os.trigger("overflow")
    os.print("reraiser survived")


def _pair(offender: Any) -> Any:
    return beside_bystander(offender, ROUNDS)


def _check(run: Any) -> None:
    assert run.result.reason == "finished" and run.machine.panic is None
    assert f"bystander {sum(range(ROUNDS))}" in run.console
    assert f"offender True bystander {sum(range(ROUNDS))}" in run.console
    assert len(run.faults) == 1


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_handler_that_keeps_undoing_its_fix_ends_only_its_process(kernel: str) -> None:
    run = run_program(_pair(_toggler), kernel=kernel)
    _check(run)
    assert "toggler survived" not in run.console


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_handler_that_reraises_its_exception_ends_only_its_process(kernel: str) -> None:
    if declaration(kernel).refuses_exception("overflow"):   # the kit proves the ENOSYS
        pytest.skip(f"{kernel} declares it refuses exception:overflow (ENOSYS)")
    run = run_program(_pair(_reraiser), kernel=kernel)
    _check(run)
    assert "reraiser survived" not in run.console
    why = run.faults[0][1]
    # the CPU's bound, or a kernel's own tighter one (Aegis: MAX_EXC_DEPTH)
    assert ("upcall nesting too deep" in why and f"depth={MAX_UPCALL_DEPTH}" in why) \
        or "exceptions nested too deep" in why, why


CHURN = 3000


def _churner(os: Any) -> None:
    def quick(os: Any, i: int) -> int:
        return i
    for i in range(CHURN):
        os.thread_create(quick, i)
        os.thread_yield()
    os.print("churned")


@pytest.mark.parametrize("kernel", KERNELS)
def test_threads_made_and_ended_for_ever_leave_only_the_live_ones_held(kernel: str) -> None:
    """The machine's thread table and a library OS's thread list forget threads that
    are over (their stacks too: ExOS's retired user-level threads are unwound), so a
    program that makes and ends threads holds what is live, not what it ever made."""
    if not declaration(kernel).provides(["thread_create", "thread_yield"]):
        pytest.skip(f"{kernel} declares it refuses thread_create (ENOSYS)")
    run = run_program(_pair(_churner), kernel=kernel)
    assert run.result.reason == "finished" and run.machine.panic is None, run.result
    assert f"offender False bystander {sum(range(ROUNDS))}" in run.console
    table = run.machine.threads
    assert table.statistics().created > CHURN
    assert len(table.all()) <= 2 * SWEEP_MIN
    assert sum(t.glet is not None and not t.glet.dead for t in table.all()) < 64
