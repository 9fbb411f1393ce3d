"""ABI behaviour that must hold on every kernel (the kit runs it on each registered one)."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.abi import PROT_NONE, PROT_READ, PROT_RW
from exolab.errors import SyscallError
from exolab.kernels import make_kernel
from exolab.machine.machine import Machine

from .kit import declared, needs

PAGE = 4096


def run_on(kernel: str, program: Any, *args: Any) -> Any:
    """Boot ``program`` on ``kernel`` (fresh machine); run to the end."""
    k = make_kernel(kernel, Machine("dec5000", frames=4096))
    k.boot(program, *args)
    res = k.run()
    assert res.reason == "finished", (res, k.console, k.faults)
    return k


def err(call: Any, *args: Any) -> str:
    """The errno of a call that must fail."""
    with pytest.raises(SyscallError) as e:
        call(*args)
    return str(e.value.errno)


def test_pipe_order_eof_and_epipe(kernel: str) -> None:
    """Order, a write larger than the ring, EOF when every write end is closed, EPIPE.

    The writer is a fork child (which shares the descriptors and closes its own
    read end) or, where the kernel declares fork refused, a thread of the same
    process (a spawned child inherits no descriptors).
    """
    writer = "thread_create" if "fork" in declared(kernel).refuses else "fork"
    out: dict[str, Any] = {}

    def child(os: Any, r: int, w: int) -> None:
        if writer == "fork":
            os.close(r)
        for i in range(50):
            os.write(w, f"{i:03d}".encode())
        os.write(w, b"x" * 9000)                 # more than one ring: blocks, resumes
        os.close(w)

    def main(os: Any) -> None:
        r, w = os.pipe()
        pid = getattr(os, writer)(child, r, w)
        if writer == "fork":
            os.close(w)
        data = b""
        while True:
            chunk = os.read(r, 1000)
            if not chunk:
                break
            data += chunk
        out["data"] = data
        if writer == "fork":
            os.wait(pid)
        r2, w2 = os.pipe()
        os.close(r2)
        out["epipe"] = err(os.write, w2, b"z")
        out["ebadf"] = err(os.read, 77, 1)
        out["closed"] = err(os.close, r2)

    run_on(kernel, main)
    assert out["data"] == b"".join(f"{i:03d}".encode() for i in range(50)) + b"x" * 9000
    assert (out["epipe"], out["ebadf"], out["closed"]) == ("EPIPE", "EBADF", "EBADF")


def test_cow_fork_isolation(kernel: str) -> None:
    needs(kernel, "fork")
    out: dict[str, Any] = {}

    def child(os: Any, va: int, r: int, w: int) -> int:
        out["child_sees"] = os.load(va)
        os.store(va, 222)
        os.store(va + PAGE, 333)
        os.write(w, b"!")
        return 7

    def main(os: Any) -> None:
        va = os.mmap(2 * PAGE)
        os.store(va, 111)
        os.store(va + PAGE, 112)
        r, w = os.pipe()
        pid = os.fork(child, va, r, w)
        os.read(r, 1)
        out["parent_after"] = (os.load(va), os.load(va + PAGE))
        os.store(va, 444)
        out["wait"] = os.wait(pid)
        out["echild"] = err(os.wait, pid)

    run_on(kernel, main)
    assert out["child_sees"] == 111
    assert out["parent_after"] == (111, 112)
    assert out["wait"][1] == 7 and out["echild"] == "ECHILD"


def test_mprotect_and_fault_handler(kernel: str) -> None:
    needs(kernel, "mprotect", "set_fault_handler", "dirty")
    out: dict[str, Any] = {"faults": []}

    def main(os: Any) -> None:
        va = os.mmap(4 * PAGE)
        for i in range(4):
            os.store(va + i * PAGE, i + 10)

        def handler(os: Any, vaddr: int, write: bool) -> None:
            out["faults"].append((vaddr - va, write))
            os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)

        os.set_fault_handler(handler)
        os.mprotect(va, 4 * PAGE, PROT_NONE)
        out["v2"] = os.load(va + 2 * PAGE + 8)
        os.mprotect(va + PAGE, PAGE, PROT_READ)
        out["v1"] = os.load(va + PAGE)
        os.store(va + PAGE + 4, 99)               # write fault on a read-only page
        out["w"] = os.load(va + PAGE + 4)
        out["dirty"] = os.dirty(va + PAGE)
        out["efault"] = err(os.mprotect, 0x0F00_0000, PAGE, PROT_RW)
        out["einval"] = err(os.mprotect, va + 1, PAGE, PROT_RW)

    run_on(kernel, main)
    assert out["faults"] == [(2 * PAGE + 8, False), (PAGE + 4, True)]
    assert (out["v2"], out["v1"], out["w"], out["dirty"]) == (0, 11, 99, True)
    assert (out["efault"], out["einval"]) == ("EFAULT", "EINVAL")


def test_unhandled_fault_is_sigsegv_and_others_run_on(kernel: str) -> None:
    needs(kernel, "mprotect", "set_fault_handler")
    out: dict[str, Any] = {}

    def bad(os: Any) -> None:
        va = os.mmap(PAGE)
        os.mprotect(va, PAGE, PROT_NONE)
        os.load(va)

    def lazy(os: Any, va: int, w: bool) -> None:
        pass                                      # returns without fixing anything

    def bad2(os: Any) -> None:
        va = os.mmap(PAGE)
        os.set_fault_handler(lazy)
        os.mprotect(va, PAGE, PROT_NONE)
        os.load(va)

    def main(os: Any) -> None:
        out["a"] = os.wait(os.spawn(bad))[1]
        out["b"] = os.wait(os.spawn(bad2))[1]
        out["alive"] = True

    k = run_on(kernel, main)
    assert out == {"a": "SIGSEGV", "b": "SIGSEGV", "alive": True}
    assert sum(1 for f in k.faults if f[1] == "SIGSEGV") == 2


def test_shared_memory_between_processes(kernel: str) -> None:
    needs(kernel, "shm_create", "shm_attach", "shm_detach")
    out: dict[str, Any] = {}

    def child(os: Any, key: int) -> None:
        va = os.shm_attach(key)
        while os.load(va) != 1:
            os.yield_()
        os.store(va + 4, 42)
        os.store(va, 2)
        os.shm_detach(va)

    def main(os: Any) -> None:
        key = os.shm_create(2 * PAGE)
        va = os.shm_attach(key)
        pid = os.spawn(child, key)
        os.store(va, 1)
        while os.load(va) != 2:
            os.yield_()
        out["got"] = os.load(va + 4)
        os.wait(pid)
        out["esrch"] = err(os.shm_attach, 123456789)
        out["einval"] = err(os.shm_detach, va + PAGE)

    run_on(kernel, main)
    assert out == {"got": 42, "esrch": "ESRCH", "einval": "EINVAL"}


def test_rpc_and_threads(kernel: str) -> None:
    out: dict[str, Any] = {"t": []}

    def server(os: Any) -> None:
        os.rpc_serve("sq", lambda os, w: w * w, 3)

    def worker(os: Any, tag: int) -> None:
        for i in range(3):
            out["t"].append((tag, i))
            os.thread_yield()

    def main(os: Any) -> None:
        pid = os.spawn(server)
        h = os.rpc_connect("sq")
        out["r"] = [os.rpc_call(h, x) for x in (2, 3, 4)]
        os.wait(pid)
        out["ebadf"] = err(os.rpc_call, h + 5, 1)
        os.thread_create(worker, 1)
        worker(os, 0)

    run_on(kernel, main)
    assert out["r"] == [4, 9, 16] and out["ebadf"] == "EBADF"
    assert sorted(out["t"]) == [(t, i) for t in (0, 1) for i in range(3)]
    assert out["t"][:2] == [(0, 0), (1, 0)]       # yields alternate the threads


def test_munmap_and_bad_arguments(kernel: str) -> None:
    probe = "dirty" not in declared(kernel).refuses     # unmapped: EFAULT, if it has dirty
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        va = os.mmap(3 * PAGE)
        os.store(va, 1)
        os.munmap(va, 3 * PAGE)
        out["mmap"] = err(os.mmap, -5)
        if probe:
            out["unmapped"] = err(os.dirty, va)
        out["pid"] = os.getpid() > 0

    run_on(kernel, main)
    assert out == {"mmap": "EINVAL", "pid": True} | ({"unmapped": "EFAULT"} if probe else {})


def test_exception_abi(kernel: str) -> None:
    needs(kernel, "exception:overflow")
    out: dict[str, Any] = {"seen": []}

    def main(os: Any) -> None:
        out["bad"] = err(os.set_exception_handler, "meteor", None)
        os.set_exception_handler("overflow", lambda os, kind: out["seen"].append(kind))
        os.trigger("overflow")
        os.trigger("overflow")
        out["after"] = True

    run_on(kernel, main)
    assert out == {"bad": "EINVAL", "seen": ["overflow", "overflow"], "after": True}
