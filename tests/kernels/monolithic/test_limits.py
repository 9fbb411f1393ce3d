"""Host limits of the monolithic kernel (limits.py; issue 9 §2.6, §2.8, §2.9).

A process and a thread cost frames, so a fork or thread bomb ends in ENOMEM
(or EAGAIN at a count limit) while a bystander's result stays exact; kernel
paths finish or do nothing whatever the caller's stack depth; out-of-range
munmap is EINVAL; the program's ``os`` hands out nothing but the ABI.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from exolab.errors import SyscallError
from exolab.kernels.monolithic import limits, proc
from exolab.kernels.monolithic.limits import PROC_FRAMES, THREAD_FRAMES

from ._support import PAGE, errno, run


def _bomb(os: Any, errors: list[str]) -> None:
    """The classic: fork until refused, each child doing the same; then wait."""
    kids = 0
    while True:
        try:
            os.fork(_bomb, errors)
            kids += 1
        except SyscallError as e:
            errors.append(e.errno)
            break
    for _ in range(kids):
        os.wait()


def _bystander(os: Any) -> int:
    """A program whose answer must not change: a sum computed with yields."""
    total = 0
    for i in range(200):
        total += i * i
        os.yield_()
    os.print("bystander", total)
    return 0


def test_a_fork_bomb_ends_in_enomem_and_a_bystander_stays_exact() -> None:
    errors: list[str] = []

    def watch(os: Any) -> None:
        os.spawn(_bystander)
        os.fork(_bomb, errors)
        os.wait()
        os.wait()

    r = run(watch, frames=1024)
    k = r.kernel
    assert "bystander 2646700" in r.console
    assert errors and set(errors) <= {"ENOMEM", "EAGAIN"}
    assert r.faults == []
    assert k.frames.wired() == 0 and k.frames.in_use() == 0 and k.processes == {}
    stats = k.statistics()
    # every process cost frames: far fewer than a thousand could ever coexist
    assert stats.processes_created > 100


def test_a_thread_bomb_ends_in_enomem() -> None:
    seen: dict[str, Any] = {}

    def sleeper(os: Any, rfd: int) -> None:
        os.read(rfd, 1)

    def main(os: Any) -> None:
        r, w = os.pipe()
        n = 0
        while True:
            try:
                os.thread_create(sleeper, r)
                n += 1
            except SyscallError as e:
                seen["errno"], seen["threads"] = e.errno, n
                break
        os.close(w)

    r = run(main, frames=512)
    free = 512 - limits.KERNEL_FRAMES - PROC_FRAMES - THREAD_FRAMES - 1   # the pipe
    assert seen == {"errno": "ENOMEM", "threads": free // THREAD_FRAMES}
    assert r.kernel.frames.wired() == 0


def test_each_limit_answers_eagain_and_creates_nothing(monkeypatch: pytest.MonkeyPatch
                                                       ) -> None:
    monkeypatch.setattr(proc, "MAX_PROCESSES", 3)
    monkeypatch.setattr(proc, "MAX_THREADS_PER_PROC", 2)
    seen: dict[str, Any] = {}

    def idle(os: Any, rfd: int, wfd: int | None = None) -> None:
        if wfd is not None:
            os.close(wfd)
        os.read(rfd, 1)

    def main(os: Any) -> None:
        r, w = os.pipe()
        pids = [os.fork(idle, r, w), os.fork(idle, r, w)]     # three processes now
        seen["fork"] = errno(os.fork, idle, r, w)
        seen["spawn"] = errno(os.spawn, idle, r, w)
        os.thread_create(idle, r)                       # main's second thread
        seen["thread"] = errno(os.thread_create, idle, r)
        os.close(w)
        seen["reaped"] = sorted(os.wait(p)[0] for p in pids)
        seen["after"] = type(os.fork(idle, r)) is int   # a slot is free again

    r = run(main)
    assert seen == {"fork": "EAGAIN", "spawn": "EAGAIN", "thread": "EAGAIN",
                    "reaped": [2, 3], "after": True}
    assert r.kernel.frames.wired() == 0


def _near_limit(os: Any, depth: int, action: Callable[[Any], Any], out: list[str]) -> None:
    """Recurse to the recursion limit, come back ``depth`` frames, run ``action``."""
    def f() -> int:
        try:
            n = f()
        except RecursionError:
            return depth
        if n == 0:
            try:
                action(os)
                out.append("ok")
            except RecursionError:
                out.append("recursion")     # refused before anything changed
            return -1
        return n - 1 if n > 0 else -1
    f()


def _kid(os: Any) -> int:
    return 5


ACTIONS: dict[str, Callable[[Any], Any]] = {
    "fork+wait": lambda os: os.wait(os.fork(_kid)),
    "spawn": lambda os: os.spawn(_kid),
    "pipe+close": lambda os: os.close(os.pipe()[0]),
    "mmap+munmap": lambda os: os.munmap(os.mmap(2 * PAGE), 2 * PAGE),
    "thread_create": lambda os: os.thread_create(_kid),
    "exit": lambda os: os.exit(7),
}


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_kernel_paths_finish_or_do_nothing_at_any_stack_depth(name: str) -> None:
    outcomes = set()
    for depth in range(48):           # the guard refuses below about 22 frames
        out: list[str] = []

        def main(os: Any) -> None:
            os.print("status", os.wait(os.fork(_near_limit, depth, ACTIONS[name], out))[1])

        r = run(main, trusted=True)     # recursing to the host's limit: unverified only
        k = r.kernel
        assert k.frames.wired() == 0 and k.frames.in_use() == 0 and k.processes == {}, \
            (name, depth)
        outcomes.add(out[0] if out else "exited")
        if name == "exit" and out != ["recursion"] or out == []:
            assert r.console == ["status 7"], (depth, r.console)
    assert "recursion" in outcomes and outcomes - {"recursion"}   # both sides were hit


def test_munmap_outside_user_space_is_einval() -> None:
    seen: dict[str, str | None] = {}

    def main(os: Any) -> None:
        seen["munmap huge"] = errno(os.munmap, 2 ** 200, PAGE)
        seen["munmap top"] = errno(os.munmap, 0x7FFF_0000, PAGE)
        seen["munmap length huge"] = errno(os.munmap, 0x10_0000, 2 ** 200)

    run(main)
    assert set(seen.values()) == {"EINVAL"}, seen


def test_public_attributes_of_os_lead_only_to_the_abi() -> None:
    seen: dict[str, Any] = {}

    def main(os: Any) -> None:
        seen.update({n: getattr(os, n) for n in dir(os) if not n.startswith("_")})

    run(main, trusted=True)     # dir() and computed names: host powers
    from exolab.machine.cpu import CPU
    from exolab.kernels.monolithic.kernel import MonolithicKernel
    from exolab.kernels.monolithic.proc import Process
    for name, value in seen.items():
        if callable(value):
            owner = getattr(value, "__self__", None)
            assert owner is None or type(owner).__name__ == "Libc", name
        else:
            assert type(value) in (str, int, bool, type(None)), (name, type(value))
        assert not isinstance(value, (CPU, MonolithicKernel, Process)), name
