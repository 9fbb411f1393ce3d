"""Aegis at scale: ASIDs recycled by generation, destroy proportional to what an
environment holds, lazy boot allocation, limits, big forks, page size."""
from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from exolab.errors import ConfigError
from exolab.kernels.exokernel import Aegis, Sys
from exolab.kernels.exokernel.limits import MAX_ENV_THREADS, MAX_ENVS
from exolab.machine.machine import Machine
from exolab.runner import run_program

from ._support import PAGE, aegis, errno


def _children(os: Any, n: int, out: dict[str, Any]) -> None:
    """Fork ``n`` children that all stay alive until the last is forked; each
    checks that its own page keeps its own value, then returns its index."""
    def child(os: Any, i: int) -> int:
        va = os.mmap(PAGE)
        os.store(va, i)
        while "go" not in out:
            os.yield_()
            if os.load(va) != i:
                out["bad"] += 1
        return i
    pids = [os.fork(child, i) for i in range(n)]
    for _ in range(3 * n):                      # every child runs while all are alive
        os.yield_()
    out["go"] = True
    out["sum"] = sum(os.wait(p)[1] for p in pids)


def test_a_hundred_live_children_on_six_bit_asids() -> None:
    """ASIDs recycle by generation; no process ever sees another's page."""
    out: dict[str, Any] = {"bad": 0}
    r = run_program(_children, 100, out, kernel="exokernel", profile="dec5000")
    assert r.result.reason == "finished" and not r.faults, r.faults
    assert out["sum"] == sum(range(100)) and out["bad"] == 0
    assert r.kernel.asids.statistics().rollovers >= 1


def test_destroy_drops_exactly_the_environments_stlb_entries() -> None:
    k = aegis()
    a, b = k.new_env("a", None), k.new_env("b", None)
    for env in (a, b):
        for vpn in range(0x100, 0x140):
            cap = k.phys.alloc(env)
            k.current = env
            k.bind._install(env, vpn, cap.obj, cap, 1)
    k.destroy(a, 0, exited=True, unwind=False)
    asids = {e.asid for e in k.stlb.slots if e is not None}
    assert a.asid not in asids or a.asid == b.asid
    assert sum(1 for e in k.stlb.slots if e is not None and e.asid == b.asid) > 0
    assert a.cached == set()


@pytest.mark.parametrize("frames", [1 << 10, 1 << 20])
def test_boot_allocates_almost_nothing_per_frame(frames: int) -> None:
    m = Machine("dec5000", frames=frames)
    tracemalloc.start()
    try:
        Aegis(m)
        size, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size < 2 << 20


def test_other_page_sizes_are_refused_clearly() -> None:
    with pytest.raises(ConfigError):
        Aegis(Machine("dec5000", page_size=8192))


def test_environments_are_limited() -> None:
    k = aegis(frames=1 << 15)
    for i in range(MAX_ENVS):
        k.new_env(f"e{i}", None)
    with pytest.raises(Exception) as e:
        k.new_env("one too many", None)
    assert getattr(e.value, "errno", None) == "ENOMEM"


def test_threads_are_limited_and_the_bystander_finishes() -> None:
    out: dict[str, Any] = {}

    def spinner(os: Any) -> None:
        os.compute(10)

    def hog(os: Any) -> None:
        n = 0
        try:
            while n <= MAX_ENV_THREADS:
                os.thread_create(spinner)
                n += 1
        except Exception as ex:                 # (a SyscallError)
            out["errno"] = getattr(ex, "errno", None)
        out["made"] = n

    def main(os: Any) -> None:
        os.wait(os.spawn(hog))
        out["main"] = True

    r = run_program(main, kernel="exokernel")
    assert r.result.reason == "finished", r.faults
    assert out["errno"] == "EAGAIN" and out["made"] <= MAX_ENV_THREADS and out["main"]


def test_fork_of_a_big_process_works() -> None:
    out: dict[str, Any] = {}

    def child(os: Any, va: int, n: int) -> int:
        return sum(os.load(va + i * PAGE) for i in range(0, n, 97))

    def main(os: Any, n: int) -> None:
        va = os.mmap(n * PAGE)
        for i in range(n):
            os.store(va + i * PAGE, i)
        out["sum"] = os.wait(os.fork(child, va, n))[1]

    n = 3000
    r = run_program(main, n, kernel="exokernel", frames=16384)
    assert r.result.reason == "finished" and not r.faults, r.faults
    assert out["sum"] == sum(range(0, n, 97))


def test_munmap_far_beyond_user_space_is_einval() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        out["e"] = errno(os.munmap, 2 ** 200, PAGE)

    run_program(main, kernel="exokernel")
    assert out["e"] == "EINVAL"


def test_fork_when_every_slice_is_owned_still_works() -> None:
    def main(os: Any) -> None:
        os.aegis(Sys.SLICE_ALLOC, None, None, 63, False)     # take every free slice
        out["status"] = os.wait(os.fork(lambda os: 3))[1]

    out: dict[str, Any] = {}
    r = run_program(main, kernel="exokernel")
    assert r.result.reason == "finished" and not r.faults, r.faults
    assert out["status"] == 3


def test_a_sixteen_mib_segment_is_shared_whole() -> None:
    """docs/abi.md promises shm segments up to 16 MiB on every kernel."""
    out: dict[str, Any] = {}
    size = 16 << 20

    def child(os: Any, key: int) -> int:
        va = os.shm_attach(key)
        os.store(va + size - 8, 77)
        return os.load(va)

    def main(os: Any) -> None:
        key = os.shm_create(size)
        va = os.shm_attach(key)
        os.store(va, 5)
        out["child"] = os.wait(os.spawn(child, key))[1]
        out["last"] = os.load(va + size - 8)
        out["too_big"] = errno(os.shm_create, size + 1)

    r = run_program(main, kernel="exokernel", frames=16384)
    assert r.result.reason == "finished" and not r.faults, r.faults
    assert out == {"child": 5, "last": 77, "too_big": "EINVAL"}


def test_every_context_is_given_back() -> None:
    """The live-context count the limit uses returns to zero (exits, kills, faults)."""
    def worker(os: Any) -> None:
        os.thread_yield()

    def crasher(os: Any) -> None:
        os.thread_create(worker)
        raise ValueError("boom")

    def main(os: Any) -> None:
        for _ in range(5):
            os.thread_create(worker)
        os.wait(os.spawn(crasher))
        os.wait(os.fork(lambda os: os.thread_create(worker) and 0))

    r = run_program(main, kernel="exokernel")
    assert r.result.reason == "finished"
    assert r.kernel.threads_live == 0


# -- sleeping ExOS processes cost nothing per scheduling decision ------------------------

def _sleeper(os: Any) -> None:
    """An ExOS process blocked for ever reading a pipe only it holds."""
    r, _w = os.pipe()
    os.read(r, 1)


def _quick(os: Any) -> int:
    """A child that exits as soon as it runs."""
    return 7


def _decisions(live: int, rounds: int, any_child: bool) -> tuple[int, int, int]:
    """Scheduling work per fork/yield/wait round with ``live`` - 1 sleeping ExOS
    children: (switches, _next calls, environments the slice/guest scans tested)."""
    k = aegis(frames=1 << 15)
    sched, calls = k.sched, [0, 0]
    inner_next, inner_guest = sched._next, sched._guest

    def counted_next(exclude: Any) -> Any:
        calls[0] += 1
        return inner_next(exclude)

    def counted_guest(exclude: Any) -> Any:
        calls[1] += len(sched.guests)
        return inner_guest(exclude)

    sched._next, sched._guest = counted_next, counted_guest   # type: ignore[method-assign]
    out: list[int] = []

    def parent(os: Any) -> None:
        for _ in range(live - 1):
            os.fork(_sleeper)
        for _ in range(100 + 4 * live):         # every sleeper reaches its sleep
            os.yield_()
        s0, n0, g0 = sched.switches, calls[0], calls[1]
        for _ in range(rounds):
            pid = os.fork(_quick)
            os.yield_()
            assert os.wait(None if any_child else pid) == (pid, 7)
        out.extend((sched.switches - s0, calls[0] - n0, calls[1] - g0))

    k.boot(parent)
    k.run()                     # (ends with every sleeper asleep: the machine rests)
    assert len(out) == 3, k.faults
    return out[0] // rounds, out[1] // rounds, out[2] // rounds


@pytest.mark.parametrize("any_child", [False, True])
def test_wait_and_destroy_with_a_thousand_sleepers_make_constant_decisions(
        any_child: bool) -> None:
    """A parent's fork/exit/wait round makes the same few scheduling decisions with
    1,000 sleeping ExOS processes as with 100 (both past the 64 slices, so the new
    child is a slice-less guest either way) and as many switches as with 10:
    sleepers are never chosen and never left in the guest queue."""
    ten, few = _decisions(10, 5, any_child), _decisions(100, 5, any_child)
    many = _decisions(1000, 5, any_child)
    assert many == few and many[:2] == ten[:2], (ten, few, many)
    switches, nexts, guests = many
    assert switches <= 4 and nexts <= 4 and guests <= 4
