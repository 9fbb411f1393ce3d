"""The ABI on L4 (kernels/l4/ux.py, personality.py, system.py): processes, pipes and
memory through the user-level UNIX server; fork copy-on-write by the pager."""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError
from exolab.kernels import make_kernel
from exolab.machine import Machine

PAGE = 4096


def _run(program: Any, *args: Any, profile: str = "i486") -> Any:
    k = make_kernel("l4", Machine(profile, frames=4096))
    k.boot(program, *args)
    assert k.run().reason == "finished", (k.console, k.faults)
    return k


def test_a_unix_call_is_a_call_to_the_server_and_its_reply() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        os.getpid()
        cpu = os._mcpu
        t0, a0 = cpu.traps, cpu.asid_loads
        for _ in range(10):
            os.getpid()
        out["traps"] = (cpu.traps - t0) / 10
        out["cr3"] = (cpu.asid_loads - a0) / 10
    k = _run(main)
    assert out == {"traps": 2, "cr3": 2}        # the call and the reply_wait: 2 IPCs
    assert k.ux.calls > 10


def test_fork_shares_pages_until_a_write_copies_one() -> None:
    out: dict[str, Any] = {}

    def child(os: Any, va: int) -> int:
        out["child reads"] = [os.load(va + i * PAGE) for i in range(3)]
        os.store(va, 9)                          # one copy
        return 0

    def main(os: Any, box: list[Any]) -> None:
        va = os.mmap(3 * PAGE)
        for i in range(3):
            os.store(va + i * PAGE, i + 1)
        k = box[0]
        before = k.statistics().frames_in_use
        pid = os.fork(child, va)
        os.wait(pid)
        out["parent reads"] = [os.load(va + i * PAGE) for i in range(3)]
        out["frames taken"] = k.statistics().frames_in_use - before
    box: list[Any] = []
    k = make_kernel("l4", Machine("i486", frames=4096))
    box.append(k)
    k.boot(main, box)
    assert k.run().reason == "finished", k.faults
    assert out["child reads"] == [1, 2, 3] and out["parent reads"] == [1, 2, 3]
    assert out["frames taken"] == 0              # the child's copy came back at its exit
    assert k.mapdb.statistics().flushes >= 3     # write rights flushed at the fork


def test_pipes_block_and_wake_through_deferred_replies() -> None:
    out: dict[str, Any] = {}

    def writer(os: Any, w: int) -> None:
        os.write(w, b"x" * 10_000)               # more than the server's ring: waits
        os.close(w)

    def main(os: Any) -> None:
        r, w = os.pipe()
        os.thread_create(writer, w)
        data = b""
        while chunk := os.read(r, 3000):
            data += chunk
        out["n"] = len(data)
        try:
            os.read(99, 1)
        except SyscallError as e:
            out["ebadf"] = e.errno
    _run(main)
    assert out == {"n": 10_000, "ebadf": "EBADF"}


def test_a_touch_outside_every_region_ends_only_that_process() -> None:
    def bad(os: Any) -> None:
        os.load(0x7000_0000)

    def main(os: Any) -> None:
        os.print("status", os.wait(os.spawn(bad))[1])
    k = _run(main)
    assert k.console == ["status SIGSEGV"]
    assert [f[:2] for f in k.faults] == [(2, "SIGSEGV")]


def test_every_frame_comes_back_when_the_processes_are_gone() -> None:
    def child(os: Any) -> int:
        va = os.mmap(4 * PAGE)
        for i in range(4):
            os.store(va + i * PAGE, i)
        return 0

    def main(os: Any) -> None:
        for _ in range(3):
            os.wait(os.spawn(child))
    k = _run(main)
    st = k.statistics()
    assert (st.processes_live, st.process_slots, st.frames_in_use) == (0, 0, 0)
