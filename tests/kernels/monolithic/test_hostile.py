"""A hostile program on the monolithic kernel gets typed errors and faults, and
another process on the same machine finishes normally.

The hostile program calls every ABI entry with garbage (wrong types, huge
lengths, non-callables), traps into the kernel with garbage call numbers and
arguments, and finally does something fatal: raises an arbitrary Python
exception (including exolab's own KernelPanic, SimulationError and
BaseExceptions such as SystemExit), breaks its fault handler, or touches memory
it does not have. Meanwhile a bystander ping-pongs through pipes with a
forked child. The bystander's output and exit status must be exactly right,
the hostile process must be recorded as one fault of its own, and every
physical frame must come back.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

import greenlet
import pytest

from exolab.abi import ABI, ERRNOS, PROT_NONE
from exolab.errors import KernelPanic, ProgramFault, SimulationError, SyscallError
from exolab.kernels.monolithic.syscall import TABLE, Sys
from exolab.machine.threads import ThreadExit

from ._support import PAGE, run_inspected

ROUNDS = 40


def _echo(os: ABI, rfd: int, wfd: int, unused: tuple[int, int]) -> None:
    """The bystander's child: send every byte back, plus one, until end of file."""
    for fd in unused:                   # the parent's ends, shared by fork
        os.close(fd)
    while data := os.read(rfd, 1):
        os.write(wfd, bytes([(data[0] + 1) % 256]))


def bystander(os: ABI) -> int:
    """Ping-pong ROUNDS bytes with a forked child; print the checksum."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork(_echo, a_r, b_w, (a_w, b_r))
    os.close(a_r)
    os.close(b_w)
    total = 0
    for i in range(ROUNDS):
        os.write(a_w, bytes([i]))
        total += os.read(b_r, 1)[0]
        os.compute(2_000)
    os.close(a_w)
    assert os.wait(pid) == (pid, 0)
    os.print("bystander", total)
    return 0


EXPECTED_TOTAL = sum(i + 1 for i in range(ROUNDS))

#: (ABI call, arguments) -> the errno it must fail with; "va" is a mapped page,
#: "rfd"/"wfd" an open pipe
GARBAGE: list[tuple[str, tuple[Any, ...], str]] = [
    ("read", (None, 1), "EBADF"), ("read", (10 ** 30, 1), "EBADF"),
    ("read", ("rfd", "many"), "EINVAL"), ("read", ("rfd", -5), "EINVAL"),
    ("write", (b"fd", b"x"), "EBADF"), ("write", ("wfd", "text"), "EFAULT"),
    ("write", ("wfd", None), "EFAULT"), ("write", ("wfd", [1, 2]), "EFAULT"),
    ("close", (3.0,), "EBADF"), ("close", ([],), "EBADF"),
    ("read_into", ("rfd", "va", 1 << 60), "EFAULT"),
    ("read_into", ("rfd", -PAGE, 4), "EFAULT"),
    ("write_from", ("wfd", "va", 1 << 60), "EFAULT"),
    ("write_from", ("wfd", object(), 4), "EFAULT"),
    ("mmap", (1 << 60,), "EINVAL"), ("mmap", (None,), "EINVAL"),
    ("mmap", (PAGE, "rw"), "EINVAL"),
    ("munmap", ("va", 1 << 60), "EINVAL"), ("munmap", ({}, PAGE), "EINVAL"),
    ("mprotect", ("va", PAGE, 1 << 60), "EINVAL"),
    ("mprotect", (1 << 62, PAGE, 0), "EFAULT"),
    ("dirty", (None,), "EFAULT"), ("dirty", (1 << 80,), "EFAULT"),
    ("set_fault_handler", ("not callable",), "EINVAL"),
    ("spawn", (None,), "EINVAL"), ("spawn", (b"code",), "EINVAL"),
    ("fork", (42,), "EINVAL"), ("thread_create", ([],), "EINVAL"),
    ("wait", ("child",), "ECHILD"), ("wait", (-1,), "ECHILD"),
    ("shm_create", (1 << 60,), "EINVAL"), ("shm_create", (b"",), "EINVAL"),
    ("shm_attach", ({},), "ESRCH"), ("shm_attach", (None,), "ESRCH"),
    ("shm_detach", ("va",), "EINVAL"),
    ("rpc_connect", (None,), "EINVAL"), ("rpc_connect", ("n" * 1000,), "EINVAL"),
    ("rpc_call", (None, 1), "EBADF"),
    ("compute", (-1,), "EINVAL"), ("compute", ("forever",), "EINVAL"),
    # a program can name a test the kernel was built with, never hand it code
    ("kernel_test", (None,), "ENOENT"), ("kernel_test", ("no.such.test",), "ENOENT"),
    ("kernel_test", (bystander,), "ENOENT"), ("kernel_test", ("x" * 10_000,), "ENOENT"),
]

#: garbage for raw traps (no strings: a string name would make rpc_connect wait)
RAW = [None, -1, 1 << 70, b"x", [], object(), 2.5, (1, 2)]


def _abuse(os: ABI, k: Any, log: dict[str, Any]) -> None:
    """Make every garbage call; record what came back."""
    rfd, wfd = os.pipe()
    va = os.mmap(PAGE)
    env = {"rfd": rfd, "wfd": wfd, "va": va}
    bad: list[Any] = []
    for name, args, want in GARBAGE:
        real = tuple(env.get(a, a) if isinstance(a, str) else a for a in args)
        try:
            getattr(os, name)(*real)
            bad.append((name, args, "returned"))
        except SyscallError as ex:
            if ex.errno != want:
                bad.append((name, args, ex.errno))
    os.write(wfd, b"abc")
    log["huge read"] = os.read(rfd, 1 << 60)        # returns what is there
    for number in (-1, 0, 999, "GETPID", None, 2.5, (1,)):
        try:
            k.machine.cpu.trap(number)
            bad.append(("trap", number, "returned"))
        except SyscallError as ex:
            if ex.errno != "ENOSYS":
                bad.append(("trap", number, ex.errno))
    raw = 0
    for number, (_, nargs) in TABLE.items():
        if number in (Sys.EXIT, Sys.SET_FAULT_HANDLER):
            continue
        if number == Sys.THREAD_PARK:       # its own token first: nobody else wakes it
            k.machine.cpu.trap(Sys.THREAD_UNPARK, os.thread_id())
        for args in itertools.product(RAW, repeat=nargs):
            raw += 1
            try:
                k.machine.cpu.trap(number, *args)
            except SyscallError as ex:
                if ex.errno not in ERRNOS:
                    bad.append((number, args, ex.errno))
        try:
            k.machine.cpu.trap(number, *([None] * (nargs + 1)))   # wrong arity
            bad.append((number, "arity", "returned"))
        except SyscallError as ex:
            if ex.errno != "EINVAL":
                bad.append((number, "arity", ex.errno))
    log["raw traps"] = raw
    log["bad"] = bad


class Custom(BaseException):
    """Not even an Exception."""


def _raise(exc: BaseException) -> Callable[[ABI], None]:
    def act(os: ABI) -> None:
        raise exc
    return act


def _handler_raises(exc: BaseException) -> Callable[[ABI], None]:
    def act(os: ABI) -> None:
        va = os.mmap(PAGE, PROT_NONE)

        def handler(os: ABI, vaddr: int, write: bool) -> None:
            raise exc
        os.set_fault_handler(handler)
        os.load(va)
    return act


def _stubborn_handler(os: ABI) -> None:
    va = os.mmap(PAGE, PROT_NONE)
    os.set_fault_handler(lambda os, vaddr, write: None)
    os.store(va, 1)


def _handler_with_wrong_signature(os: ABI) -> None:
    va = os.mmap(PAGE, PROT_NONE)
    os.set_fault_handler(lambda: None)          # type: ignore[arg-type, misc]
    os.load(va)


def _recurse(os: ABI) -> None:
    def f(n: int) -> int:
        return f(n + 1) + 1
    f(0)


def _undead(os: ABI) -> None:
    for _ in range(5):
        try:
            os.exit("undead")
        except BaseException:                   # noqa: BLE001 - swallowing is the attack
            pass
    os.print("still here")                      # the kernel stops it again here


FINAL_ACTS: dict[str, tuple[Callable[[ABI], Any], str]] = {
    "ValueError": (_raise(ValueError("boom")), "fault: ValueError: boom"),
    "KernelPanic": (_raise(KernelPanic("fake panic")), "fault: KernelPanic: fake panic"),
    "SimulationError": (_raise(SimulationError("fake")), "fault: SimulationError: fake"),
    "SyscallError": (_raise(SyscallError("EBADF", "fake")), "fault: SyscallError: fake"),
    "SystemExit": (_raise(SystemExit(3)), "fault: SystemExit: 3"),
    "GeneratorExit": (_raise(GeneratorExit()), "fault: GeneratorExit"),
    "GreenletExit": (_raise(greenlet.GreenletExit()), "fault: GreenletExit"),
    "BaseException": (_raise(Custom("odd")), "fault: Custom: odd"),
    "ThreadExit": (_raise(ThreadExit("as if exit")), "as if exit"),
    "recursion": (_recurse, "fault: RecursionError"),
    "handler raises": (_handler_raises(KeyError("h")), "fault: KeyError"),
    "handler raises KernelPanic": (_handler_raises(KernelPanic("in handler")),
                                   f"fault: {ProgramFault.__name__}"),
    "handler never fixes": (_stubborn_handler, "SIGSEGV"),
    "handler bad signature": (_handler_with_wrong_signature, "fault: TypeError"),
    "wild load": (lambda os: os.load(0x7FFF_F000), "SIGSEGV"),
    "unaligned": (lambda os: os.store(os.mmap(PAGE) + 3, 1), "SIGBUS"),
    "huge load_bytes": (lambda os: os.load_bytes(os.mmap(PAGE), 1 << 40), "SIGSEGV"),
    "swallows exit": (_undead, "undead"),
}


@pytest.mark.parametrize("act", list(FINAL_ACTS))
def test_a_hostile_process_is_contained(act: str) -> None:
    final, expected = FINAL_ACTS[act]
    log: dict[str, Any] = {}

    def hostile(os: ABI, k: Any) -> None:
        _abuse(os, k, log)
        os.compute(5_000)
        final(os)
        log["survived"] = True

    def init(os: ABI, k: Any) -> None:
        b = os.spawn(bystander)
        h = os.spawn(hostile, k)
        log["hostile pid"] = h
        log["hostile"] = os.wait(h)[1]
        log["bystander"] = os.wait(b)[1]

    k = run_inspected(init)
    assert k.console == [f"bystander {EXPECTED_TOTAL}"]
    assert log["bystander"] == 0
    assert log["bad"] == [] and log["raw traps"] > 2000
    assert log["huge read"] == b"abc"
    assert "survived" not in log
    status = log["hostile"]
    assert isinstance(status, str) and status.startswith(expected), status
    if expected.startswith(("fault", "SIG")):
        assert [(pid, what) for pid, what, _ in k.faults] == [(log["hostile pid"], status)]
    else:
        assert k.faults == []
    assert k.frames.in_use() == 0
    assert k.statistics().processes_live == 0


def test_a_hostile_argument_object_cannot_panic_the_kernel() -> None:
    class Evil:
        """Compares by raising a KernelPanic, from inside the kernel if it can."""

        def __eq__(self, other: object) -> bool:
            raise KernelPanic("raised from a user object")

        __hash__ = None                         # type: ignore[assignment]

    seen: list[Any] = []

    def main(os: ABI) -> None:
        os.spawn(lambda os: 0)
        for call, args in ((os.wait, (Evil(),)), (os.read, (Evil(), 1)),
                           (os.close, (Evil(),)), (os.shm_attach, (Evil(),)),
                           (os.dirty, (Evil(),)), (os.rpc_connect, (Evil(),))):
            try:
                call(*args)
            except SyscallError as ex:
                seen.append(ex.errno)
        os.wait()

    k = run_inspected(lambda os, k: main(os))
    assert seen == ["ECHILD", "EBADF", "EBADF", "ESRCH", "EFAULT", "EINVAL"]
    assert k.faults == []


def test_raw_process_calls_with_a_bad_argument_tuple_leave_nothing_half_made() -> None:
    seen: list[Any] = []

    def main(os: ABI, k: Any) -> None:
        created = k.statistics().processes_created
        for number, args in ((Sys.SPAWN, (bystander, 5, "x")), (Sys.FORK, (bystander, None)),
                             (Sys.THREAD_CREATE, (bystander, 2.5))):
            try:
                k.machine.cpu.trap(number, *args)
            except SyscallError as ex:
                seen.append(ex.errno)
        seen.append(k.statistics().processes_created - created)

    k = run_inspected(main)
    assert seen == ["EINVAL", "EINVAL", "EINVAL", 0]
    assert k.console == [] and k.frames.in_use() == 0
