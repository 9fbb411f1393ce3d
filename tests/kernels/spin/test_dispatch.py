"""Events, guards and the dispatcher."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.errors import SyscallError
from exolab.kernels.spin.dispatch import Dispatcher, Owner


K = Owner("kernel", trusted=True)       # the kernel's own bindings name it


def _dispatcher() -> tuple[Dispatcher, list[int]]:
    spent: list[int] = []
    return Dispatcher(spent.append, 17, 30), spent


def test_default_runs_when_no_guard_holds_and_costs_are_procedure_calls() -> None:
    d, spent = _dispatcher()
    ev = d.declare("Net.Packet", lambda p: "dropped")
    d.install(ev, lambda p: "udp", guard=lambda p: p == 17, owner=K)
    assert d.raise_(ev, 6) == "dropped"
    assert spent == [30, 17, 17]            # raise, the guard, the default
    spent.clear()
    assert d.raise_(ev, 17) == "udp"
    assert spent == [30, 17, 17]            # raise, the guard, the handler


def test_one_to_many_with_a_combiner_and_many_to_one() -> None:
    d, _ = _dispatcher()
    ev = d.declare("E", lambda x: 0, combine=sum)
    other = d.declare("F", lambda x: 0)
    seen: list[tuple[str, int]] = []

    def handler(x: int) -> int:
        seen.append(("h", x))
        return x

    d.install(ev, handler, owner=K)
    d.install(ev, lambda x: 10 * x, owner=K)
    d.install(other, handler, owner=K)                # many-to-one: one handler, two events
    assert d.raise_(ev, 2) == 22
    assert d.raise_(other, 5) == 5
    assert seen == [("h", 2), ("h", 5)]


def test_installing_needs_the_owners_capability() -> None:
    d, _ = _dispatcher()
    cap = object()
    ev = d.declare("Owned", lambda: None, cap=cap)
    with pytest.raises(SyscallError) as ex:
        d.install(ev, lambda: 1, cap=object(), owner=K)
    assert ex.value.errno == "EPERM"
    d.install(ev, lambda: 1, cap=cap, owner=K)
    assert d.raise_(ev) == 1


def test_a_faulting_handler_is_unloaded_and_the_others_still_run() -> None:
    d, _ = _dispatcher()
    ev = d.declare("E", lambda: "default", combine=list)
    bad, good = Owner("bad"), Owner("good")

    def boom() -> Any:
        raise ZeroDivisionError("hostile")

    other = d.declare("G", lambda: "g-default")
    d.install(ev, boom, owner=bad)
    d.install(other, lambda: "bad's other", owner=bad)
    d.install(ev, lambda: "ok", owner=good)
    assert d.raise_(ev) == ["ok"]
    assert not bad.loaded and good.loaded and "ZeroDivisionError" in bad.faults[0]
    assert d.raise_(other) == "g-default"     # every binding of bad went with it
    assert d.statistics().unloaded == 1


def test_a_guard_that_faults_unloads_its_owner_too() -> None:
    d, _ = _dispatcher()
    ev = d.declare("E", lambda: "default")
    o = Owner("g")
    d.install(ev, lambda: "never", guard=lambda: 1 // 0, owner=o)
    assert d.raise_(ev) == "default"
    assert not o.loaded


def test_declaring_twice_is_refused() -> None:
    d, _ = _dispatcher()
    d.declare("E", lambda: None)
    with pytest.raises(SyscallError):
        d.declare("E", lambda: None)


def test_when_every_handler_that_ran_faulted_the_default_answers() -> None:
    d, _ = _dispatcher()
    ev = d.declare("E", lambda: "default")
    o = Owner("only")
    d.install(ev, lambda: 1 // 0, owner=o)
    assert d.raise_(ev) == "default"
    assert not o.loaded
