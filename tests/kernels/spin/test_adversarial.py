"""Hostile extensions are contained; a bystander's result stays exact.

Each hostile extension runs in the kernel next to a bystander process that
ping-pongs numbers through pipes and prints their exact sum. The hostile
ones: name an interface outside their domain, import one no domain exports,
forge a reference (at user level: a guessed index or one of the wrong kind;
in the kernel: a copy of a capability built with ``type(x)(...)``), loop
for ever, fault. Each is refused or unloaded; the kernel runs on. The
integrated thread package is abused too: a process exits with a hundred of its
strands blocked in the package, or joins a cthread that faults; a later process
uses the package as if nothing happened.
"""
from __future__ import annotations

from typing import Any

import pytest

from exolab.apps.cthreads import CThreads
from exolab.errors import SyscallError
from exolab.runner import run_program

from ..common import pipe_bystander

OUTSIDE = '''
INTERFACE = "Evil"
EXPORTS = {"Run": 0}
IMPORTS = {"Clock.Time": 0}


def Run():
    return Translation.Create()
'''
UNEXPORTED = '''
INTERFACE = "Evil"
EXPORTS = {"Run": 0}
IMPORTS = {"Secret.Read": 0}


def Run():
    return Secret.Read()
'''
FORGE = '''
INTERFACE = "Evil"
EXPORTS = {"Run": 0}
IMPORTS = {"PhysAddr.Allocate": 1, "VirtAddr.Allocate": 1, "Translation.Create": 0,
           "Translation.AddMapping": 4}


def Run():
    mine = PhysAddr.Allocate(1)
    fake = type(mine)([0, 1, 2, 3], None)
    Translation.AddMapping(Translation.Create(), VirtAddr.Allocate(4), fake, 3)
    return "mapped kernel frames"
'''
LOOP = '''
INTERFACE = "Evil"
EXPORTS = {"Run": 0}


def Run():
    while True:
        pass
'''
FAULT = '''
INTERFACE = "Evil"
EXPORTS = {"Run": 0}


def Run():
    return 1 // 0
'''


_bystander = pipe_bystander


def _hostile(os: Any, source: str, log: list[Any]) -> None:
    d = os.domain_create(source)
    os.domain_resolve(os.domain_kernel(), d)
    for attempt in range(2):
        try:
            log.append(("ok", os.domain_call(d, "Evil.Run")))
        except SyscallError as ex:
            log.append((ex.errno, ex.fields.get("symbol") or ex.fields.get("error")))


def _main(os: Any, source: str, log: list[Any]) -> None:
    pid = os.spawn(_bystander, name="bystander")
    _hostile(os, source, log)
    os.wait(pid)
    os.print("kernel runs on", os.getpid())


@pytest.mark.parametrize("source, first, second", [
    (OUTSIDE, ("EFAULT", "NameError"), ("ENOENT", "Evil.Run")),
    (UNEXPORTED, ("ENOENT", "Secret.Read"), ("ENOENT", "Secret.Read")),
    (FORGE, ("EINVAL", None), ("EINVAL", None)),
    (FAULT, ("EFAULT", "ZeroDivisionError"), ("ENOENT", "Evil.Run")),
], ids=["outside-domain", "unexported-import", "forged-capability", "fault"])
def test_a_hostile_extension_is_contained(source: str, first: Any, second: Any) -> None:
    log: list[Any] = []
    run = run_program(_main, source, log, kernel="spin", profile="alpha")
    assert log == [first, second]
    assert sorted(run.console) == ["bystander 1275", "kernel runs on 1"]
    assert run.machine.panic is None and run.faults == []


def test_a_looping_extension_runs_out_of_fuel_and_is_unloaded() -> None:
    log: list[Any] = []
    run = run_program(_main, LOOP, log, kernel="spin", profile="alpha")
    assert log[0] == ("EFAULT", "Exhausted") and log[1] == ("ENOENT", "Evil.Run")
    assert sorted(run.console) == ["bystander 1275", "kernel runs on 1"]


def test_forged_and_foreign_references_are_refused_at_user_level() -> None:
    def main(os: Any, log: list[Any]) -> None:
        strand = os.strand_self()
        for ref in (999, -3, strand, True):
            try:
                os.domain_call(ref, "Evil.Run")
            except SyscallError as ex:
                log.append(ex.errno)

    log: list[Any] = []
    run_program(main, log, kernel="spin", profile="alpha")
    assert log == ["EBADF", "EBADF", "EPERM", "EBADF"]


BAD_ARGS = '''
INTERFACE = "Evil"
EXPORTS = {"Run": 0}
IMPORTS = {"Console.Print": 1, "Clock.Time": 0, "Translation.ExamineMapping": 2}


def Run():
    Translation.ExamineMapping(None, None)
'''


def test_bad_arguments_to_a_kernel_procedure_never_unload_the_kernel() -> None:
    log: list[Any] = []
    run = run_program(_main, BAD_ARGS, log, kernel="spin", profile="alpha")
    assert log == [("EINVAL", None), ("EINVAL", None)]
    assert sorted(run.console) == ["bystander 1275", "kernel runs on 1"]
    assert run.kernel.statistics().unloaded == 0  # type: ignore[attr-defined]


def _wait_forever(os: Any, cond: int) -> None:
    os.cthread_wait(cond)


def _crash(os: Any) -> int:
    return 1 // 0


def _thread_abuser(os: Any, how: str) -> None:
    """Abuse the integrated thread package: strands left blocked at exit, or a
    cthread that faults while its joiner waits."""
    if how == "blocked":
        cond = os.cthread_condition()
        for _ in range(100):
            os.cthread_fork(_wait_forever, (cond,))
        os.thread_yield()
        os.exit(1)                      # with 100 strands blocked in the package
    os.cthread_join(os.cthread_fork(_crash, ()))


def _package_user(os: Any) -> None:
    ct = CThreads(os, True)
    os.print("after", ct.join(ct.fork(_add_one, 41)))


def _add_one(os: Any, x: int) -> int:
    return x + 1


def _threads_main(os: Any, how: str) -> None:
    pid = os.spawn(_bystander, name="bystander")
    abuser = os.spawn(_thread_abuser, how, name="abuser")
    _, status = os.wait(abuser)
    os.print("abuser ended", status != 0)
    os.wait(pid)
    os.wait(os.spawn(_package_user, name="user"))


@pytest.mark.parametrize("how", ["blocked", "fault"])
def test_an_abused_thread_package_is_contained(how: str) -> None:
    run = run_program(_threads_main, how, kernel="spin", profile="alpha")
    assert run.machine.panic is None
    assert "bystander 1275" in run.console and "after 42" in run.console
    assert "abuser ended True" in run.console
    pkg = run.kernel.cthreads.statistics()  # type: ignore[attr-defined]
    assert pkg.forked == (101 if how == "blocked" else 2)
    assert not run.kernel.cthreads._threads  # type: ignore[attr-defined]  # all ended
