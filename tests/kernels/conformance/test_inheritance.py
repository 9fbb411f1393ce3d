"""What a fork child and a spawned program inherit, the same on every kernel."""
from __future__ import annotations

from typing import Any

from exolab.abi import PROT_NONE, PROT_RW
from exolab.runner import run_program

from .kit import needs

PAGE = 4096


def _on_overflow(os: Any, kind: str) -> None:
    os.print("handled", kind)


def _on_fault(os: Any, vaddr: int, write: bool) -> None:
    os.print("fault handler")
    os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)


def _child(os: Any, va: int) -> int:
    os.trigger("overflow")                  # the parent's handler, inherited
    os.store(va, 7)                         # the parent's fault handler, inherited
    return os.load(va)


def _spawned(os: Any) -> int:
    os.trigger("overflow")                  # no handler: the process ends
    os.print("not reached")
    return 0


def _main(os: Any) -> None:
    os.set_exception_handler("overflow", _on_overflow)
    os.set_fault_handler(_on_fault)
    va = os.mmap(PAGE)
    os.mprotect(va, PAGE, PROT_NONE)
    pid = os.fork(_child, va)
    os.print("child status", os.wait(pid)[1])
    pid = os.spawn(_spawned)
    status = os.wait(pid)[1]
    os.print("spawned ended", type(status) is str and status != "0", status)


def test_fork_inherits_handlers_and_spawn_does_not(kernel: str) -> None:
    needs(kernel, "fork", "mprotect", "set_fault_handler", "exception:overflow")
    run = run_program(_main, kernel=kernel)
    assert run.result.reason == "finished", run.faults
    assert run.console[:3] == ["handled overflow", "fault handler", "child status 7"]
    assert run.console[3].startswith("spawned ended True ")    # ended by its exception
    assert "not reached" not in run.console
