"""C-Threads' idle kernel threads on Mach (kernels/mach/cprocs.py): a thread that
ends while its task goes on retires onto the task's wait port; the next
thread_create wakes it with one message instead of three kernel RPCs; retired
kernel threads hold their stack frame until reused or their task ends."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.errors import SyscallError
from exolab.kernels.mach import MachKernel
from exolab.machine.machine import Machine

from tests.kernels.common import errno


def _run(main: Any, holder: dict[str, Any]) -> MachKernel:
    """Run ``main`` on a fresh kernel that ``holder["k"]`` names while it runs."""
    k = holder["k"] = MachKernel(Machine("dec5000"))
    k.boot(main)
    k.run()
    k.machine.close()
    return k


def _ended(os: Any, done: list[int]) -> int:
    done.append(1)
    return 0


def _fork_and_wait(os: Any, done: list[int]) -> int:
    """thread_create one thread and yield until it has ended; its tid."""
    n = len(done)
    t = os.thread_create(_ended, done)
    while len(done) == n:
        os.thread_yield()
    for _ in range(2):
        os.thread_yield()                       # let it finish ending
    return t


def test_a_fork_after_a_thread_ended_is_one_message_and_no_kernel_rpc() -> None:
    holder: dict[str, Any] = {}
    marks: dict[str, Any] = {}

    def main(os: Any) -> int:
        done: list[int] = []
        k = holder["k"]
        first = _fork_and_wait(os, done)
        marks["idle"] = k.idle.statistics().idle
        rpcs, sent = k.kserver.statistics().calls, k.ipc.statistics().sent
        second = _fork_and_wait(os, done)
        marks["delta"] = (k.kserver.statistics().calls - rpcs,
                          k.ipc.statistics().sent - sent)
        marks["tids"] = (first, second)
        marks["ended"] = errno(os.thread_unpark, first)
        return 0

    k = _run(main, holder)
    assert marks["idle"] == 1
    assert marks["delta"] == (0, 1)             # the wakeup message, no RPC
    assert marks["tids"][0] != marks["tids"][1] and marks["ended"] == "ESRCH"
    st_ = k.statistics()
    assert st_.idle_threads.reused == 1 and st_.idle_threads.idle == 0
    assert st_.frames_in_use - st_.frames_retained == 0 and not k.faults
    z = k.ipc.statistics().zone
    assert z.allocated == z.freed


def test_a_retired_kernel_thread_keeps_its_stack_frame() -> None:
    holder: dict[str, Any] = {}
    marks: dict[str, int] = {}

    def main(os: Any) -> int:
        k = holder["k"]
        done: list[int] = []
        base = k.frames.available()
        _fork_and_wait(os, done)
        marks["held"] = base - k.frames.available()
        return 0

    _run(main, holder)
    assert marks["held"] == 1                   # THREAD_FRAMES, still wired


def test_hostile_use_of_the_wait_port_falls_back_to_creating_threads() -> None:
    holder: dict[str, Any] = {}
    marks: dict[str, Any] = {}

    def main(os: Any) -> int:
        k = holder["k"]
        done: list[int] = []
        before = {n for n, _r in os.port_names()}
        _fork_and_wait(os, done)
        wait = [n for n, _r in os.port_names() if n not in before]
        marks["wait"] = len(wait)
        for _ in range(40):                     # stuff it by hand: full queue
            try:
                os.msg_send(wait[0], b"x")
            except SyscallError as ex:
                marks["full"] = ex.errno
                break
        rpcs = k.kserver.statistics().calls
        _fork_and_wait(os, done)                # no room for the wakeup: RPCs
        marks["rpcs"] = k.kserver.statistics().calls - rpcs
        os.port_destroy(wait[0])                # and without the port at all
        _fork_and_wait(os, done)
        _fork_and_wait(os, done)
        marks["done"] = len(done)
        return 0

    k = _run(main, holder)
    assert marks["wait"] == 1 and marks["full"] == "EAGAIN" and marks["rpcs"] == 3
    assert marks["done"] == 4 and not k.faults
    st_ = k.statistics()
    assert st_.frames_in_use - st_.frames_retained == 0
    z = k.ipc.statistics().zone
    assert z.allocated == z.freed


@settings(max_examples=10, deadline=None, derandomize=True, database=None)
@given(widths=st.lists(st.integers(1, 5), min_size=1, max_size=6))
def test_bursts_of_forks_reuse_at_most_what_retired(widths: list[int]) -> None:
    holder: dict[str, Any] = {}
    out: list[int] = []

    def main(os: Any) -> int:
        done: list[int] = []
        for w in widths:                        # w threads at once, then all end
            n = len(done)
            for _ in range(w):
                os.thread_create(_ended, done)
            while len(done) < n + w:
                os.thread_yield()
            for _ in range(w + 1):
                os.thread_yield()
        out.append(len(done))
        return 0

    k = _run(main, holder)
    s = k.statistics().idle_threads
    assert out == [sum(widths)] and not k.faults
    assert s.reused + s.created == sum(widths)
    assert s.reused <= s.retired and s.created == max(widths)    # the pool: the peak
    assert k.statistics().frames_in_use - k.statistics().frames_retained == 0
