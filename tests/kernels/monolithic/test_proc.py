"""Tests of exolab.kernels.monolithic.proc: spawn, fork (COW), exit, wait, threads."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from exolab.abi import ABI, PROT_READ, PROT_RW

from ._support import PAGE, errno, run, run_inspected


def _returns(value: Any) -> Callable[[ABI], Any]:
    """A program that returns ``value`` at once."""
    def prog(os: ABI) -> Any:
        return value
    return prog


def test_spawn_and_wait_report_return_values_and_exit_statuses() -> None:
    seen: list[Any] = []

    def exits(os: ABI, status: Any) -> None:
        os.exit(status)
        seen.append("exit returned")            # never reached

    def main(os: ABI) -> None:
        a = os.spawn(_returns(7))
        b = os.spawn(exits, "bye")
        c = os.spawn(_returns(None))
        seen.append(len({a, b, c, os.getpid()}))
        seen.append(os.wait(b))
        seen.append(os.wait(a))
        seen.append(os.wait())

    r = run(main)
    pids = sorted(p for p in (seen[1][0], seen[2][0], seen[3][0]))
    assert seen[0] == 4                         # four distinct pids
    assert seen[1][1] == "bye" and seen[2][1] == 7
    assert seen[3][1] == 0                      # returning None is status 0
    assert len(pids) == 3 and min(pids) > 1
    assert "exit returned" not in seen
    assert r.kernel.statistics().processes_live == 0


def test_wait_for_any_child_returns_them_in_the_order_they_exit() -> None:
    order: list[int] = []

    def slow(os: ABI, cycles: int, tag: int) -> int:
        os.compute(cycles)
        return tag

    def main(os: ABI) -> None:
        os.spawn(slow, 300_000, 3)
        os.spawn(slow, 1_000, 1)
        os.spawn(slow, 100_000, 2)
        for _ in range(3):
            order.append(os.wait()[1])

    run(main)
    assert order == [1, 2, 3]


def test_wait_without_such_a_child_is_echild() -> None:
    seen: list[str] = []

    def grandchild_maker(os: ABI) -> int:
        return os.spawn(_returns(0))

    def main(os: ABI) -> None:
        seen.append(errno(os.wait))             # no children at all
        seen.append(errno(os.wait, 12345))
        pid = os.spawn(grandchild_maker)
        _, grandchild = os.wait(pid)
        seen.append(errno(os.wait, grandchild))  # not *our* child
        seen.append(errno(os.wait, pid))         # already reaped
        seen.append(errno(os.wait, os.getpid()))

    run(main)
    assert seen == ["ECHILD"] * 5


def test_spawn_and_fork_refuse_what_is_not_a_program() -> None:
    seen: list[str] = []

    def bad_image(os: ABI) -> None:
        pass
    bad_image.image_pages = -1                  # type: ignore[attr-defined]

    def main(os: ABI) -> None:
        seen.append(errno(os.spawn, 42))
        seen.append(errno(os.fork, "main"))
        seen.append(errno(os.thread_create, None))
        seen.append(errno(os.spawn, bad_image))

    r = run(main)
    assert seen == ["EINVAL"] * 4
    assert r.kernel.statistics().processes_created == 1     # nothing half-made


def test_getpid_and_the_pid_fork_returns_agree() -> None:
    seen: dict[str, int] = {}

    def child(os: ABI) -> None:
        seen["child getpid"] = os.getpid()

    def main(os: ABI) -> None:
        seen["parent getpid"] = os.getpid()
        seen["fork returned"] = os.fork(child)
        os.wait()

    run(main)
    assert seen["fork returned"] == seen["child getpid"] != seen["parent getpid"]


# -- fork: copy-on-write -----------------------------------------------------------

def test_fork_is_copy_on_write_in_both_directions() -> None:
    seen: dict[str, Any] = {}

    def child(os: ABI, va: int, go_r: int, done_w: int) -> None:
        seen["child at fork"] = os.load(va)
        os.store(va, 222)                       # must not reach the parent
        seen["child after own store"] = os.load(va)
        os.read(go_r, 1)                        # wait for the parent's store
        seen["child after parent store"] = os.load(va)
        seen["child page 2"] = os.load(va + PAGE)   # untouched before fork: zero
        os.store(va + PAGE, 7)
        os.write(done_w, b"!")

    def main(os: ABI) -> None:
        va = os.mmap(2 * PAGE)
        os.store(va, 111)
        go_r, go_w = os.pipe()
        done_r, done_w = os.pipe()
        pid = os.fork(child, va, go_r, done_w)
        os.yield_()                             # the child stores first
        seen["parent after child store"] = os.load(va)
        os.store(va, 333)
        os.write(go_w, b"!")
        os.read(done_r, 1)
        seen["parent after child end"] = os.load(va)
        seen["parent page 2"] = os.load(va + PAGE)
        os.wait(pid)

    r = run(main)
    assert seen == {
        "child at fork": 111, "child after own store": 222,
        "parent after child store": 111, "child after parent store": 222,
        "child page 2": 0, "parent after child end": 333, "parent page 2": 0}
    assert r.kernel.statistics().frames_in_use == 0


def test_fork_copies_a_page_only_when_it_is_first_written() -> None:
    counts: dict[str, int] = {}

    def child(os: ABI, va: int, k: Any) -> None:
        counts["after fork"] = k.frames.in_use()
        os.load(va)
        counts["after child load"] = k.frames.in_use()
        os.store(va, 1)
        counts["after child store"] = k.frames.in_use()
        os.store(va, 2)
        counts["after second store"] = k.frames.in_use()

    def main(os: ABI, k: Any) -> None:
        va = os.mmap(PAGE)
        os.store(va, 5)
        counts["before fork"] = k.frames.in_use()
        os.wait(os.fork(child, va, k))

    run_inspected(main)
    assert counts["after fork"] == counts["before fork"]            # shared
    assert counts["after child load"] == counts["before fork"]      # reads share
    assert counts["after child store"] == counts["before fork"] + 1  # one copy
    assert counts["after second store"] == counts["after child store"]


def test_a_read_only_page_made_writable_after_fork_is_still_copied() -> None:
    seen: dict[str, int] = {}

    def child(os: ABI, va: int, go_r: int) -> None:
        os.read(go_r, 1)
        seen["child"] = os.load(va)

    def main(os: ABI) -> None:
        va = os.mmap(PAGE)
        os.store(va, 1)
        os.mprotect(va, PAGE, PROT_READ)
        go_r, go_w = os.pipe()
        pid = os.fork(child, va, go_r)
        os.mprotect(va, PAGE, PROT_RW)
        os.store(va, 2)
        seen["parent"] = os.load(va)
        os.write(go_w, b"!")
        os.wait(pid)

    run(main)
    assert seen == {"parent": 2, "child": 1}


def test_fork_shares_descriptors_and_each_side_closes_its_own_copy() -> None:
    seen: list[Any] = []

    def child(os: ABI, rfd: int, wfd: int) -> None:
        os.write(wfd, b"from child")
        os.close(wfd)                           # the parent's copy stays open
        os.close(rfd)

    def main(os: ABI) -> None:
        rfd, wfd = os.pipe()
        pid = os.fork(child, rfd, wfd)
        os.wait(pid)
        seen.append(os.read(rfd, 100))
        os.write(wfd, b"still open")
        seen.append(os.read(rfd, 100))

    run(main)
    assert seen == [b"from child", b"still open"]


def test_spawn_inherits_only_the_console() -> None:
    seen: list[str] = []

    def child(os: ABI, rfd: int, wfd: int) -> None:
        seen.append(errno(os.read, rfd, 1))
        seen.append(errno(os.write, wfd, b"x"))
        os.write(1, b"console works\n")

    def main(os: ABI) -> None:
        rfd, wfd = os.pipe()
        os.wait(os.spawn(child, rfd, wfd))

    r = run(main)
    assert seen == ["EBADF", "EBADF"] and r.console == ["console works"]


def test_fork_child_inherits_the_fault_handler() -> None:
    hits: list[int] = []

    def child(os: ABI, va: int) -> int:
        return os.load(va)

    def main(os: ABI) -> None:
        va = os.mmap(PAGE)
        os.store(va, 9)
        os.mprotect(va, PAGE, 0)

        def handler(os: ABI, vaddr: int, write: bool) -> None:
            hits.append(os.getpid())
            os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)

        os.set_fault_handler(handler)
        pid = os.fork(child, va)
        assert os.wait(pid) == (pid, 9)
        hits.append(-1)
        os.load(va)                             # the parent's page is still protected

    r = run(main)
    assert len(hits) == 3 and hits[1] == -1 and hits[0] != hits[2]
    assert r.faults == []


# -- death by fault, orphans -------------------------------------------------------

def test_a_process_killed_by_a_memory_fault_exits_sigsegv() -> None:
    seen: list[Any] = []

    def crasher(os: ABI) -> None:
        os.print("about to crash")
        os.load(0x7000_0000)                    # never mapped
        os.print("not reached")

    def main(os: ABI) -> None:
        pid = os.spawn(crasher)
        seen.append((pid, os.wait(pid)))
        os.print("parent fine")

    r = run(main)
    pid, (wpid, status) = seen[0]
    assert (wpid, status) == (pid, "SIGSEGV")
    assert r.faults == [(pid, "SIGSEGV", 0x7000_0000)]
    assert r.console == ["about to crash", "parent fine"]


@pytest.mark.parametrize("exc, word", [(ValueError("boom"), "ValueError: boom"),
                                       (ZeroDivisionError("x"), "ZeroDivisionError")])
def test_a_python_exception_in_a_program_is_a_fault_of_that_process(
        exc: Exception, word: str) -> None:
    seen: list[Any] = []

    def crasher(os: ABI) -> None:
        raise exc

    def main(os: ABI) -> None:
        seen.append(os.wait(os.spawn(crasher)))

    r = run(main)
    status = seen[0][1]
    assert isinstance(status, str) and status.startswith("fault:") and word in status
    assert len(r.faults) == 1 and r.faults[0][1] == status


def test_unaligned_access_is_sigbus() -> None:
    seen: list[Any] = []

    def crasher(os: ABI) -> None:
        va = os.mmap(PAGE)
        os.load(va + 2, 4)

    def main(os: ABI) -> None:
        seen.append(os.wait(os.spawn(crasher))[1])

    run(main)
    assert seen == ["SIGBUS"]


def test_orphans_and_unwaited_zombies_are_reaped() -> None:
    def grandchild(os: ABI) -> int:
        os.compute(200_000)                     # outlives its parent
        os.print("grandchild done")
        return 3

    def parent(os: ABI) -> None:
        os.spawn(grandchild)
        os.spawn(_returns(1))                   # exits first, never waited for
        os.compute(50_000)
        os.print("parent exits")

    def main(os: ABI) -> None:
        os.wait(os.spawn(parent))
        os.compute(500_000)

    r = run(main)
    assert r.console == ["parent exits", "grandchild done"]
    assert r.kernel.processes == {}             # type: ignore[attr-defined] # init too
    stats = r.kernel.statistics()
    assert (stats.processes_created, stats.processes_live) == (4, 0)
    assert r.kernel.statistics().frames_in_use == 0


def test_exit_in_one_thread_ends_the_process_and_wakes_a_blocked_sibling() -> None:
    seen: list[Any] = []

    def blocked(os: ABI, rfd: int) -> None:
        os.read(rfd, 1)                         # sleeps forever: no one writes
        seen.append("sibling woke normally")

    def prog(os: ABI) -> None:
        rfd, wfd = os.pipe()
        os.thread_create(blocked, rfd)
        os.yield_()                             # the sibling blocks
        os.exit(5)

    def main(os: ABI) -> None:
        seen.append(os.wait(os.spawn(prog))[1])

    r = run(main)
    assert seen == [5]
    assert r.result.live_threads == 0


def test_a_thread_of_a_dead_process_never_runs_user_code() -> None:
    ran: list[str] = []

    def late(os: ABI) -> None:
        ran.append("late thread ran")

    def prog(os: ABI) -> None:
        os.thread_create(late)
        os.exit(0)                              # before the new thread first runs

    def main(os: ABI) -> None:
        os.wait(os.spawn(prog))

    run(main)
    assert ran == []


def test_the_main_threads_return_value_is_the_status_even_if_a_thread_ends_later() -> None:
    seen: list[Any] = []

    def prog(os: ABI) -> int:
        os.thread_create(lambda os: os.compute(100_000))
        return 7

    def main(os: ABI) -> None:
        seen.append(os.wait(os.spawn(prog))[1])

    run(main)
    assert seen == [7]


def test_spawn_maps_an_image_and_exit_frees_it() -> None:
    seen: list[int] = []

    def big(os: ABI, k: Any) -> None:
        seen.append(k.frames.in_use())
    big.image_pages = 40                        # type: ignore[attr-defined]

    def main(os: ABI, k: Any) -> None:
        before = k.frames.in_use()
        os.wait(os.spawn(big, k))
        seen.append(before)
        seen.append(k.frames.in_use())

    run_inspected(main)
    assert seen[0] - seen[1] == 40 and seen[2] == seen[1]


def test_a_fork_child_keeps_the_asid_it_was_created_with() -> None:
    """A fork child runs under the ASID fork gave it (not a second one at dispatch)."""
    seen: list[tuple[int, int]] = []

    def child(os: ABI) -> int:
        return 0

    def main(os: ABI, k: Any) -> None:
        for _ in range(3):
            pid = os.fork(child)
            given = k.processes[pid].space.asid
            os.yield_()                                 # the child runs, and exits
            seen.append((given, k.processes[pid].space.asid))
            os.wait(pid)

    run_inspected(main)
    assert seen and all(given == ran for given, ran in seen), seen
