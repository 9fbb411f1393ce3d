"""Tests of exolab.kernels.monolithic.sched: preemption, fairness, yield, threads."""
from __future__ import annotations

from typing import Any

from exolab.abi import ABI

from ._support import PAGE, errno, run, run_inspected

STEP = 1_000                    # cycles per unit of work


def _spin(os: ABI, deadline: int, slices: list[tuple[int, int]]) -> int:
    """Compute in STEP units until ``deadline``; log each uninterrupted stretch."""
    me = os.getpid()
    done = 0
    start = os.time()
    while (t0 := os.time()) < deadline:
        os.compute(STEP)
        t1 = os.time()
        done += 1
        if t1 - t0 > 2 * STEP:                  # preempted: someone else ran meanwhile
            slices.append((me, t0 - start))
            start = t1
    slices.append((me, t0 - start))
    return done


def test_timer_preemption_shares_the_cpu_fairly_between_two_cpu_bound_processes() -> None:
    slices: list[tuple[int, int]] = []
    done: dict[int, int] = {}

    def main(os: ABI, k: Any) -> None:
        deadline = os.time() + 30 * k.quantum
        a = os.spawn(_spin, deadline, slices)
        b = os.spawn(_spin, deadline, slices)
        for _ in range(2):
            pid, n = os.wait()
            done[pid] = n
        assert set(done) == {a, b}

    k = run_inspected(main)
    n1, n2 = done.values()
    assert min(n1, n2) > 0.8 * max(n1, n2)                # comparable progress
    stats = k.statistics().sched
    assert stats.preemptions >= 20
    per_pid = {pid: [d for p, d in slices if p == pid] for pid in done}
    for stretches in per_pid.values():
        assert len(stretches) >= 10                       # each was preempted often
        assert max(stretches) <= k.quantum + 10 * STEP    # never much past a slice


def test_without_competition_a_cpu_bound_process_is_not_preempted() -> None:
    slices: list[tuple[int, int]] = []

    def main(os: ABI, k: Any) -> None:
        _spin(os, os.time() + 5 * k.quantum, slices)

    k = run_inspected(main)
    assert len(slices) == 1 and k.statistics().sched.preemptions == 0


def test_yield_alternates_between_processes() -> None:
    def ping(os: ABI, tag: str) -> None:
        for i in range(3):
            os.print(f"{tag}{i}")
            os.yield_()

    def main(os: ABI) -> None:
        a = os.spawn(ping, "a")
        b = os.spawn(ping, "b")
        os.wait(a)
        os.wait(b)

    r = run(main)
    assert r.console == ["a0", "b0", "a1", "b1", "a2", "b2"]


def test_yield_with_nothing_else_ready_returns_at_once() -> None:
    def main(os: ABI) -> None:
        for _ in range(3):
            os.yield_()
            os.thread_yield()

    r = run(main)
    assert r.kernel.statistics().sched.switches == 1      # just the first dispatch


def test_threads_share_the_address_space_and_alternate_on_thread_yield() -> None:
    log: list[str] = []
    tids: list[int] = []

    def worker(os: ABI, va: int, tag: str) -> str:
        for i in range(3):
            log.append(f"{tag}{i}:{os.load(va)}")
            os.store(va, os.load(va) + 1)
            os.thread_yield()
        return tag

    def main(os: ABI) -> None:
        va = os.mmap(PAGE)
        tids.append(os.thread_create(worker, va, "t"))
        tids.append(os.thread_create(worker, va, "u"))
        os.thread_yield()                       # let them start
        while os.load(va) < 6:
            os.thread_yield()
        log.append(f"main:{os.load(va)}")

    r = run(main)
    assert log == ["t0:0", "u0:1", "t1:2", "u1:3", "t2:4", "u2:5", "main:6"]
    assert len(set(tids)) == 2 and r.faults == []


def test_thread_create_refuses_non_callables_and_threads_see_their_args() -> None:
    seen: list[Any] = []

    def main(os: ABI) -> None:
        seen.append(errno(os.thread_create, "nope"))
        os.thread_create(lambda os, a, b: seen.append(a + b), 2, 3)
        os.thread_yield()

    run(main)
    assert seen == ["EINVAL", 5]


def test_the_tick_stops_when_nothing_is_ready_so_the_run_finishes() -> None:
    def sleeper(os: ABI, rfd: int) -> None:
        os.read(rfd, 1)                         # nobody ever writes

    def main(os: ABI) -> None:
        rfd, _ = os.pipe()
        os.fork(sleeper, rfd)
        os.wait()

    r = run(main, reason="deadlock")            # both asleep for ever: detected
    assert r.result.live_threads == 2


def _pair(os: ABI, deadline: int, out: list[int]) -> None:
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork(_bounce, a_r, b_w, deadline)
    n = 0
    while os.time() < deadline:
        os.write(a_w, b"x")
        os.read(b_r, 1)
        n += 1
    os.write(a_w, b"q")
    os.wait(pid)
    out.append(n)


def _bounce(os: ABI, rfd: int, wfd: int, deadline: int) -> None:
    while os.read(rfd, 1) == b"x":
        os.write(wfd, b"y")


def test_a_ping_pong_pair_gets_its_turns_and_not_the_cpu() -> None:
    """Two processes waking each other through pipes cannot keep the processor from
    a CPU-bound one beside them: it still gets at least a quarter of it."""
    out: list[int] = []
    done: list[int] = []

    def main(os: ABI, k: Any) -> None:
        deadline = os.time() + 60 * k.quantum
        os.spawn(_pair, deadline, out)
        hog = os.spawn(_spin, deadline, [])
        while True:
            pid, n = os.wait()
            if pid == hog:
                done.append(n)
                break
        os.wait()

    k = run_inspected(main)
    work = done[0] * STEP
    assert work > 60 * k.quantum // 4           # at least a quarter of the CPU
    assert out[0] > 0                           # and the pair made progress too
