"""Mach's thread_park / thread_unpark: a wait port per thread (kernels/mach/threads.py).

A park is one mach_msg receive on the thread's wait port, an unpark one one-way
send to it (no kernel RPC, no reply); the port holds at most one wake (the
ABI's token); the port is a real right of the task, reclaimed when its thread
ends."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.kernels.mach.threads import WAKE_QLIMIT

from exolab.errors import SyscallError
from exolab.kernels.mach import MachKernel
from exolab.machine.machine import Machine


def _run(main: Any, holder: dict[str, Any]) -> MachKernel:
    """Run ``main`` on a fresh kernel that ``holder["k"]`` names while it runs."""
    k = holder["k"] = MachKernel(Machine("dec5000"))
    k.boot(main)
    k.run()
    k.machine.close()
    return k


def _counts(k: Any) -> tuple[int, int, int]:
    """Messages sent, received, and kernel-server RPCs so far."""
    ipc = k.ipc.statistics()
    return ipc.sent, ipc.received, k.kserver.statistics().calls


def test_a_wake_is_one_message_and_no_kernel_rpc() -> None:
    marks: dict[str, Any] = {}
    holder: dict[str, Any] = {}

    def child(os: Any, turn: list[int]) -> int:
        os.thread_park()                        # wires its port, sleeps
        turn[0] = 1
        return 0

    def main(os: Any) -> int:
        turn = [0]
        t = os.thread_create(child, turn)
        for _ in range(3):
            os.thread_yield()
        marks["before"] = _counts(holder["k"])
        os.thread_unpark(t)
        while not turn[0]:
            os.thread_yield()
        marks["after"] = _counts(holder["k"])
        return 0

    k = _run(main, holder)
    sent, received, rpcs = (a - b for a, b in zip(marks["after"], marks["before"]))
    assert (sent, received, rpcs) == (1, 1, 0)
    w = k.statistics().wait_ports
    assert w.ports == 1 and w.slept == 1 and w.sent == 1 and w.live == 0
    assert not k.faults


@settings(max_examples=15, deadline=None, derandomize=True, database=None)
@given(ops=st.lists(st.sampled_from(["unpark", "yield"]), max_size=30),
       parks=st.integers(1, 5))
def test_a_wait_port_never_holds_more_than_one_wake(ops: list[str], parks: int) -> None:
    seen: list[int] = []
    holder: dict[str, Any] = {}

    def child(os: Any) -> int:
        for _ in range(parks):
            os.thread_park()
        return 0

    def main(os: Any) -> int:
        t = os.thread_create(child)
        k = holder["k"]
        for op in ops:
            if op == "unpark":
                try:
                    os.thread_unpark(t)
                except SyscallError:
                    pass                        # ESRCH: it has ended already
            else:
                os.thread_yield()
            held = k.wait_ports._ports.get(t)
            if held is not None:
                seen.append(len(held[2].queue))
        while True:
            try:
                os.thread_unpark(t)
            except SyscallError:
                return 0                        # ESRCH: it has ended
            os.thread_yield()

    k = _run(main, holder)
    assert all(n <= WAKE_QLIMIT for n in seen)
    w = k.statistics().wait_ports
    assert w.slept + w.early == parks and w.live == 0
    z = k.ipc.statistics().zone
    assert z.allocated == z.freed and not k.faults


def test_park_costs_are_the_mach_msg_rows() -> None:
    """A park that takes a queued wake costs the mach_msg trap and the receive
    path, an unpark the trap and the send path: no row of their own."""
    from exolab.kernels.mach import paths
    assert not any("park" in row or "wake" in row for row in paths.ROWS)


def test_a_sleeper_whose_wait_port_a_sibling_destroys_just_wakes() -> None:
    holder: dict[str, Any] = {}
    log: list[str] = []

    def child(os: Any) -> int:
        os.thread_park()                        # its port destroyed under it
        log.append("woke")
        os.thread_park()                        # a fresh port: the unpark's token
        log.append("again")
        return 0

    def main(os: Any) -> int:
        before = {n for n, _r in os.port_names()}
        t = os.thread_create(child)
        for _ in range(3):
            os.thread_yield()
        wait = [n for n, _r in os.port_names() if n not in before]
        os.port_destroy(wait[0])
        while not log:
            os.thread_yield()
        os.thread_unpark(t)
        while len(log) < 2:
            os.thread_yield()
        return 0

    k = _run(main, holder)
    assert log == ["woke", "again"] and not k.faults
    w = k.statistics().wait_ports
    assert w.ports == 2 and w.live == 0 and w.reclaimed == 2
