"""Bad input to the ABI is a typed error and loses nothing, on every kernel.

Each test pins one defect that once let a program crash itself with a raw
Python error, confuse the kernel, or leak resources: huge or non-int
``compute``, bad ``load``/``store`` operands, ``thread_yield`` running other
processes, ``rpc_connect`` to a name nobody serves, bad rpc words, ``spawn``
out of memory, and int/bytes subclasses that lie to the checks.
"""
from __future__ import annotations

import math
from typing import Any


from exolab.abi import MAX_COMPUTE, WORD_MAX, WORD_MIN
from exolab.errors import SyscallError
from exolab.kernels import make_kernel
from exolab.machine.machine import Machine
from exolab.runner import run_program

from ..hostile import LyingBytes, LyingInt, NoRepr, Unprintable
from .kit import declared, leftovers

PAGE = 4096


def run(kernel: str, program: Any, *args: Any, frames: int = 4096,
        trusted: bool = False) -> Any:
    """Run ``program`` on ``kernel``; it must finish; return the run."""
    r = run_program(program, *args, kernel=kernel, frames=frames, trusted=trusted)
    assert r.result.reason == "finished", (r.result, r.console, r.faults)
    return r


def errno(call: Any, *args: Any, **kw: Any) -> str:
    """The errno of a call that must fail with a SyscallError."""
    try:
        call(*args, **kw)
    except SyscallError as ex:
        return str(ex.errno)
    return "returned"


def test_compute_takes_an_int_in_range_only(kernel: str) -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        t0 = os.time()
        out["bad"] = [errno(os.compute, c) for c in
                      (10 ** 30, MAX_COMPUTE + 1, -1, math.nan, math.inf, 1.5, "9", None,
                       True, LyingInt(3))]
        out["spent"] = os.time() - t0
        os.compute(1000)
        out["ok"] = os.time() - t0 >= 1000

    r = run(kernel, main)
    assert out["bad"] == ["EINVAL"] * 10
    assert out["spent"] < 100_000 and out["ok"] and r.faults == []


def test_load_and_store_operands_are_decoded(kernel: str) -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        va = os.mmap(PAGE)
        os.store(va, 0x11223344)
        sizes = (0, 3, 16, -1, 2.0, "4", None, True, LyingInt(4))
        out["load"] = [errno(os.load, va, s) for s in sizes]
        out["store"] = [errno(os.store, va, 7, s) for s in sizes]
        out["vaddr"] = [errno(os.load, v) for v in (1.5, "x", None, LyingInt(va))]
        out["value"] = [errno(os.store, va, v) for v in (1.5, "x", None, LyingInt(1))]
        out["load_bytes"] = [errno(os.load_bytes, va, n) for n in (-1, 1.5, None)]
        out["store_bytes"] = [errno(os.store_bytes, va, d) for d in ("s", None, 5, [1])]
        out["kept"] = os.load(va)
        os.store_bytes(va + 8, LyingBytes(b"ab"))   # its real bytes, whatever it says
        out["real"] = os.load_bytes(va + 8, 3)

    r = run(kernel, main)
    assert out["load"] == out["store"] == ["EINVAL"] * 9
    assert out["vaddr"] == out["value"] == ["EINVAL"] * 4
    assert out["load_bytes"] == ["EINVAL"] * 3 and out["store_bytes"] == ["EFAULT"] * 4
    assert out["kept"] == 0x11223344 and out["real"] == b"ab\0"
    assert r.faults == []


def test_thread_yield_runs_only_threads_of_the_caller(kernel: str) -> None:
    log: list[str] = []

    def other(os: Any) -> None:
        log.append("other process")

    def sibling(os: Any) -> None:
        log.append("sibling")

    def main(os: Any) -> None:
        pid = os.spawn(other)                   # ready before the sibling exists
        os.thread_yield()                       # no sibling: returns at once
        log.append("alone")
        os.thread_create(sibling)
        os.thread_yield()                       # the sibling, never the other process
        log.append("back")
        os.wait(pid)

    run(kernel, main)
    assert log[:2] == ["alone", "sibling"]    # (then whoever the scheduler picks)
    assert sorted(log[2:]) == ["back", "other process"]


def test_connect_to_a_name_nobody_serves_is_esrch(kernel: str) -> None:
    out: dict[str, Any] = {}

    def worker(os: Any) -> int:
        r, w = os.pipe()
        for i in range(20):
            os.write(w, bytes([i]))
            assert os.read(r, 1) == bytes([i])
            os.compute(5_000)
        out["worker"] = "done"
        return 3

    def main(os: Any) -> None:
        out["alone"] = errno(os.rpc_connect, "nobody")
        pid = os.spawn(worker)
        out["later"] = errno(os.rpc_connect, "nobody-either")   # waits for the worker
        out["worker then"] = out.get("worker")
        out["wait"] = os.wait(pid)

    r = run(kernel, main)
    assert out["alone"] == out["later"] == "ESRCH"
    assert out["worker then"] == "done" and out["wait"][1] == 3 and r.faults == []


def test_rpc_words_are_signed_64_bit_ints(kernel: str) -> None:
    out: dict[str, Any] = {}

    def server(os: Any) -> None:
        os.rpc_serve("sq", lambda os, w: w * w, 2)

    def main(os: Any) -> None:
        pid = os.spawn(server)
        h = os.rpc_connect("sq")
        out["bad"] = [errno(os.rpc_call, h, w) for w in
                      ("x", 1.5, None, WORD_MAX + 1, WORD_MIN - 1, True, LyingInt(2))]
        out["big"] = os.rpc_call(h, 1 << 62)    # the square wraps like a register
        out["ok"] = os.rpc_call(h, -3)
        out["status"] = os.wait(pid)[1]

    r = run(kernel, main)
    assert out["bad"] == ["EINVAL"] * 7
    assert out["big"] == 0 and out["ok"] == 9 and out["status"] == 0 and r.faults == []


def _holder(os: Any, key: int | str) -> int:
    """A spawned process that holds its image until the flag in segment ``key`` is
    set, or (``key`` a name: where shared memory is refused) until its parent
    answers one call to that name."""
    if type(key) is str:
        os.rpc_call(os.rpc_connect(key), 0)
        return 7
    va = os.shm_attach(key)
    while os.load(va) == 0:
        os.yield_()
    return 7


class _Gate:
    """What holds the holders: a shared-memory flag, or an rpc name where the
    kernel refuses shared memory (the point is only that they stay alive)."""

    def __init__(self, os: Any, shm: bool) -> None:
        self.os, self.shm = os, shm
        self.key: int | str = os.shm_create(PAGE) if self.shm else "hold"
        self.va = os.shm_attach(self.key) if self.shm else 0

    def release(self, n: int) -> None:
        """Let the ``n`` holders end."""
        if self.shm:
            self.os.store(self.va, 1)
        elif n:
            self.os.rpc_serve(self.key, _answer, n)


def _answer(os: Any, word: int) -> int:
    return word


_holder.image_pages = 40  # type: ignore[attr-defined]


def test_spawn_out_of_memory_is_enomem_and_leaves_nothing(kernel: str) -> None:
    shm = "shm_create" not in declared(kernel).refuses
    out: dict[str, Any] = {"pids": []}

    def main(os: Any) -> None:
        gate = _Gate(os, shm)
        for _ in range(64):
            try:
                out["pids"].append(os.spawn(_holder, gate.key))
            except SyscallError as ex:
                out["error"] = ex.errno
                break
        gate.release(len(out["pids"]))
        out["statuses"] = [os.wait(p)[1] for p in out["pids"]]
        out["more"] = errno(os.wait)

    k = make_kernel(kernel, Machine("dec5000", frames=600))
    k.boot(main)
    assert k.run().reason == "finished", (k.console, k.faults)
    assert out["error"] == "ENOMEM" and 3 <= len(out["pids"]) < 64
    assert out["statuses"] == [7] * len(out["pids"]) and out["more"] == "ECHILD"
    assert k.faults == []
    assert leftovers(k) == {"processes": 0, "live": 0, "frames": 0}
    assert k.statistics().frames_retained in (0, 1)   # a kernel may keep the segment


def test_lying_subclasses_are_refused_not_believed(kernel: str) -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        r, w = os.pipe()
        liar = LyingInt(w)
        out["int"] = [errno(os.write, liar, b"x"), errno(os.close, liar),
                      errno(os.read, r, LyingInt(1)), errno(os.mmap, LyingInt(PAGE)),
                      errno(os.munmap, LyingInt(0), PAGE),
                      errno(os.shm_create, LyingInt(PAGE)), errno(os.wait, LyingInt(1)),
                      errno(os.rpc_serve, "n", lambda o, x: x, LyingInt(1))]
        os.write(w, LyingBytes(b"hello"))       # the real five bytes go in
        out["bytes"] = os.read(r, 100)
        out["norepr"] = errno(os.close, NoRepr())

    r = run(kernel, main)
    assert out["int"] == ["EBADF", "EBADF", "EINVAL", "EINVAL", "EINVAL", "EINVAL",
                          "ECHILD", "EINVAL"]
    assert out["bytes"] == b"hello" and out["norepr"] == "EBADF" and r.faults == []


def test_an_exception_that_cannot_print_is_still_just_a_fault(kernel: str) -> None:
    def crasher(os: Any) -> None:
        raise Unprintable()

    def bad_arg(os: Any) -> None:
        os.close(NoRepr())                      # the EBADF escapes, naming the argument

    def main(os: Any) -> None:
        a, b = os.spawn(crasher), os.spawn(bad_arg)
        os.print(os.wait(a)[1])
        os.print(os.wait(b)[1])

    r = run(kernel, main)
    assert r.console == ["fault: Unprintable: <unprintable Unprintable>",
                         "fault: SyscallError: bad file descriptor "
                         "(errno='EBADF', fd=<NoRepr>)"]   # its __repr__ never runs
    assert len(r.faults) == 2


def test_a_reply_that_is_not_a_word_ends_the_server_and_the_client_sees_epipe(
        kernel: str) -> None:
    out: dict[str, Any] = {}

    def server(os: Any) -> None:
        os.rpc_serve("bad", lambda os, w: "not a word", 2)

    def main(os: Any) -> None:
        pid = os.spawn(server)
        h = os.rpc_connect("bad")
        out["call"] = errno(os.rpc_call, h, 1)
        out["status"] = os.wait(pid)[1]

    r = run(kernel, main)
    assert out["call"] == "EPIPE"
    assert "EINVAL" in out["status"] and [f[0] for f in r.faults] == [2]


def _yielding_holder(os: Any, key: int | str) -> int:
    """Yield until the flag in segment ``key`` is set (or hold as _holder does)."""
    if type(key) is str:
        return _holder(os, key)
    va = os.shm_attach(key)
    while os.load(va) == 0:
        os.yield_()
    return 7


_yielding_holder.image_pages = 0  # type: ignore[attr-defined]


def test_hundreds_of_threads_started_by_each_other_run_to_the_end(kernel: str) -> None:
    """Each new thread is first switched to by the one started before it (a greenlet
    inherits its starter's Python recursion depth): the simulator must not run out."""
    flag: list[int] = []
    shm = "shm_create" not in declared(kernel).refuses

    def worker(os: Any) -> None:
        while not flag:
            os.thread_yield()

    def procs(os: Any, n: int) -> list[Any]:
        gate = _Gate(os, shm)
        pids = [os.spawn(_yielding_holder, gate.key) for _ in range(n)]
        gate.release(n)
        return [os.wait(p)[1] for p in pids]

    n = min(150, declared(kernel).limits.get("live_processes", 150) - 12)

    def main(os: Any) -> None:
        for _ in range(300):
            os.thread_create(worker)
        os.thread_yield()
        flag.append(1)
        os.print("threads", procs(os, n) == [7] * n)

    r = run(kernel, main, frames=8192)
    assert r.console == ["threads True"] and r.faults == []


def test_processes_waiting_on_each_other_come_to_rest(kernel: str) -> None:
    """A reader of a pipe nobody writes and its parent waiting for it: a deadlock the
    run reports, not two waiters yielding to each other for ever."""
    def reader(os: Any) -> None:
        r, _w = os.pipe()
        os.read(r, 1)

    def main(os: Any) -> None:
        os.wait(os.spawn(reader))

    r = run_program(main, kernel=kernel, until=20_000_000)
    assert r.result.reason == "deadlock" and r.faults == []


def _squares(os: Any, n: int) -> int:
    """The bystander: a fixed computation whose result is exact."""
    total = 0
    for i in range(n):
        total += i * i
        os.compute(10)
    return total % 256


def _long_burst(os: Any, n: int) -> int:
    """Computes ``n`` bursts and never yields, blocks or calls anything else."""
    for _ in range(n):
        os.compute(10_000)
    return 3


def test_threads_that_never_yield_do_not_starve_their_process(kernel: str) -> None:
    """Three threads that only compute: the waiting main thread still gets the CPU
    back when its child ends (the kernel's, or the library's, timer preempts)."""
    stop: list[int] = []

    def spinner(os: Any) -> None:
        while not stop:
            os.compute(1000)

    def main(os: Any) -> None:
        for _ in range(3):
            os.thread_create(spinner)
        child = os.spawn(_squares, 30)
        os.print("child", os.wait(child)[1])
        stop.append(1)

    r = run_program(main, kernel=kernel, max_cycles=400_000_000)
    assert r.result.reason == "finished", (r.result, r.console, r.faults)
    assert r.console == ["child 107"] and r.faults == []


def test_processes_that_never_yield_do_not_starve_a_bystander(kernel: str) -> None:
    """Three processes that compute 10M cycles each without yielding: a bystander
    started after them ends long before they do, with its exact result."""
    def main(os: Any) -> None:
        hogs = [os.spawn(_long_burst, 1000) for _ in range(3)]
        b = os.spawn(_squares, 30)
        result = os.wait(b)[1]
        t_bystander = os.time()
        ends = [os.wait(p)[1] for p in hogs]
        os.print("bystander", result, "hogs", ends,
                 "early", 4 * t_bystander < os.time())

    r = run(kernel, main)
    assert r.console == ["bystander 107 hogs [3, 3, 3] early True"] and r.faults == []
