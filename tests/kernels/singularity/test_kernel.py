"""The Singularity kernel runs ABI programs: SIPs, threads, pipes on channels, rpc,
bounds-checked memory, and ENOSYS for what a sealed SIP cannot have."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.errors import SyscallError
from exolab.kernels import declaration
from exolab.kernels.common.contract import contract_errors
from exolab.kernels.singularity import Singularity
from exolab.machine.machine import Machine
from exolab.runner import run_program

PAGE = 4096


def errno(call: Any, *args: Any) -> str:
    try:
        call(*args)
    except SyscallError as ex:
        return str(ex.errno)
    return "ok"


def child(os: Any, x: int) -> int:
    os.print("child", x)
    return x * 2


def test_spawn_wait_threads_and_pipes() -> None:
    out: dict[str, Any] = {}

    def worker(os: Any, w: int) -> None:
        for i in range(3):
            os.write(w, bytes([65 + i]))
        os.close(w)

    def main(os: Any) -> None:
        pid = os.spawn(child, 21)
        out["wait"] = os.wait(pid)
        r, w = os.pipe()
        os.thread_create(worker, w)
        data = b""
        while True:
            chunk = os.read(r, 2)
            if not chunk:
                break
            data += chunk
        out["data"] = data
        out["echild"] = errno(os.wait)

    r = run_program(main, kernel="singularity", profile="athlon64")
    assert r.result.reason == "finished" and r.faults == []
    assert out == {"wait": (2, 42), "data": b"ABC", "echild": "ECHILD"}
    assert r.console == ["child 21"]


def test_rpc_is_a_channel_to_a_named_server() -> None:
    out: dict[str, Any] = {}

    def square(os: Any, w: int) -> int:
        return w * w

    def server(os: Any) -> None:
        os.rpc_serve("sq", square, 3)

    def main(os: Any) -> None:
        pid = os.spawn(server)
        h = os.rpc_connect("sq")
        out["r"] = [os.rpc_call(h, x) for x in (2, 3, 4)]
        out["ebadf"] = errno(os.rpc_call, h + 5, 1)
        os.wait(pid)
        out["esrch"] = errno(os.rpc_connect, "nobody")

    r = run_program(main, kernel="singularity", profile="athlon64")
    assert r.faults == [] and out == {"r": [4, 9, 16], "ebadf": "EBADF", "esrch": "ESRCH"}


def test_memory_is_the_sips_own_and_bounds_checked() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        va = os.mmap(2 * PAGE)
        os.store(va + 8, 0x1122334455, 8)
        out["v"] = os.load(va + 8, 8)
        os.store_bytes(va + PAGE, b"abc")
        out["b"] = os.load_bytes(va + PAGE, 3)
        os.load(va + 2 * PAGE + 8 * PAGE * 1000)       # someone else's memory: a fault

    r = run_program(main, kernel="singularity", profile="athlon64")
    assert out == {"v": 0x1122334455, "b": b"abc"}
    assert len(r.faults) == 1 and r.faults[0][1] == "SIGSEGV"    # outside the SIP's heap


def test_what_a_sealed_sip_cannot_have_is_enosys_and_declared() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        va = os.mmap(PAGE)
        out["r"] = [errno(os.fork, child, 1), errno(os.shm_create, PAGE),
                    errno(os.shm_attach, 1), errno(os.mprotect, va, PAGE, 0),
                    errno(os.dirty, va), errno(os.set_fault_handler, None),
                    errno(os.set_exception_handler, "overflow", None),
                    errno(os.trigger, "prot")]

    r = run_program(main, kernel="singularity", profile="athlon64")
    assert r.faults == [] and out["r"] == ["ENOSYS"] * 8
    refuses = declaration("singularity").refuses
    assert {"fork", "shm_create", "mprotect", "set_fault_handler"} <= refuses
    assert contract_errors(Singularity) == []


def test_no_page_tables_no_traps_no_tlb_flushes() -> None:
    def main(os: Any) -> None:
        for _ in range(10):
            os.wait(os.spawn(child, 1))
            os.thread_yield()

    r = run_program(main, kernel="singularity", profile="athlon64")
    cpu = r.machine.statistics().cpus[0]
    assert (cpu.traps, cpu.exceptions) == (0, 0)
    st = r.kernel.statistics()
    assert st.calls > 30 and st.processes_created == 11 and st.processes_live == 0
    assert st.frames_in_use == 0 and st.exheap.blocks_live == 0


def test_spawn_arguments_share_nothing() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        out["list"] = errno(os.spawn, child, [1])
        out["tuple"] = os.wait(os.spawn(child, 5))[1]

    r = run_program(main, kernel="singularity", profile="athlon64")
    assert out == {"list": "EINVAL", "tuple": 10} and r.faults == []


def test_the_kernel_refuses_a_machine_too_small() -> None:
    with pytest.raises(Exception):
        Singularity(Machine("athlon64", frames=32))


def test_an_endpoint_belongs_to_one_thread_and_thread_create_hands_it_over() -> None:
    out: dict[str, Any] = {}

    def borrower(os: Any, ep: Any) -> None:
        os.send(ep, "Hello", 1)                     # created by main: not this thread's

    def taker(os: Any, ep: Any) -> None:
        out["taker"] = os.receive(ep)               # handed over by thread_create

    def intruder(os: Any) -> None:
        a, b = os.channel()
        os.thread_create(borrower, a)               # moves a to the borrower...
        os.thread_yield()
        os.send(a, "Mine?", 2)                      # ... so this faults the SIP

    def main(os: Any) -> None:
        a, b = os.channel()
        os.thread_create(taker, b)
        os.send(a, "Ping", 7)
        os.thread_yield()
        out["intruder"] = os.wait(os.spawn(intruder))[1]

    r = run_program(main, kernel="singularity", profile="athlon64")
    assert out["taker"] == ("Ping", (7,))
    assert str(out["intruder"]).startswith("fault") and len(r.faults) == 1
    assert "not own" in str(r.faults[0][1])


def test_a_thread_using_another_threads_endpoint_faults_its_sip() -> None:
    def thief(os: Any) -> None:
        a, _b = os.channel()
        os.thread_create(lambda os: os.send(a, "Hi"))   # a closure: a is main's
        os.thread_yield()
        os.print("after")

    def parent(os: Any) -> None:
        os.print("status", os.wait(os.spawn(thief))[1].split(":")[0])

    r = run_program(parent, kernel="singularity", profile="athlon64", trusted=True)
    assert r.console == ["status fault"] and len(r.faults) == 1   # "after" never came
    assert "not own" in str(r.faults[0][1])


def test_pipes_block_like_pipes_elsewhere() -> None:
    """A writer to a full pipe sleeps until the reader drains it; a writer asleep
    when the last reader closes gets EPIPE; an empty write is not end of file."""
    out: dict[str, Any] = {"log": []}

    def writer(os: Any, w: int) -> None:
        out["log"].append("w start")
        os.write(w, b"a" * 4096)                    # fills the pipe: no sleep yet
        out["log"].append("w full")
        os.write(w, b"b" * 100)                     # sleeps until the reader drains
        out["log"].append("w resumed")
        os.write(w, b"")                            # nothing sent: not end of file
        os.close(w)

    def blocked(os: Any, w: int) -> None:
        os.write(w, b"c" * 4096)
        out["epipe"] = errno(os.write, w, b"d")     # asleep, then the reader closes

    def main(os: Any) -> None:
        r, w = os.pipe()
        os.thread_create(writer, w)
        os.thread_yield()
        out["log"].append("r reads")
        out["zero"] = os.read(r, 0)                 # n == 0: b"" at once
        got = b""
        while True:
            chunk = os.read(r, 1000)
            if not chunk:
                break
            got += chunk
        out["got"] = got
        r2, w2 = os.pipe()
        os.thread_create(blocked, w2)
        os.thread_yield()
        os.close(r2)
        os.thread_yield()

    r = run_program(main, kernel="singularity", profile="athlon64")
    assert r.faults == [] and out["zero"] == b""
    assert out["got"] == b"a" * 4096 + b"b" * 100
    assert out["log"] == ["w start", "w full", "r reads", "w resumed"]
    assert out["epipe"] == "EPIPE"
