"""Suite ``spin``: the SPIN paper's microbenchmarks (SOSP'95, section 5), on ``alpha``.

Each benchmark is one ABI program. Where the paper ran SPIN's side as a
kernel extension (the in-kernel call, kernel threads, every VM row: SPIN's
``PageFaultTest.m3`` is an extension), the program runs its body with
``os.spin_kernel(body, n)`` where the kernel offers it, so on SPIN the body's
calls are procedure calls and its fault handler an in-kernel handler on
``Translation.ProtectionFault``. The kernel-thread rows were measured inside
every kernel ("thread_sleep and thread_wakeup in DEC OSF/1", section 5.2): on
the monolithic kernel their bodies are built into the kernel
(``kernels/monolithic/ktest.py``) and run with ``os.kernel_test``; the VM rows
run at user level there, with signals and mprotect, as the paper's OSF/1 tests
did; a kernel with neither (Mach) runs every body at user level.
The system call and the cross-address-space call run at user level
everywhere. Values are microseconds per operation.

- ``inkernel_call``  a procedure call between two dynamically linked domains
                     (Create, Resolve; needs ``domain_create``)
- ``syscall``        enter the kernel, run a procedure, return (``api_call``)
- ``cross_as``       a call into another address space and back (``rpc_call``)
- ``fork_join``      create a kernel thread, run it, let it end, join it
- ``thread_ping_pong``  two kernel threads synchronise back and forth (a round trip)
- ``fork_join_user_layered``, ``..._integrated``  the same with user-level threads
                     (C-Threads, :mod:`exolab.apps.cthreads`): layered over the
                     kernel's threads through system calls, or SPIN's in-kernel
                     package on the Strand events (the monolithic kernel has only
                     the layered one: OSF/1's user threads, in both rows)
- ``ping_pong_user_layered``, ``..._integrated``  two cthreads synchronise with a
                     mutex and a condition (a round trip), placed the same ways
- ``vm_dirty``       the state of one virtual page
- ``vm_fault``       a store to a read-only page; the handler restores write access,
                     the store resumes (timed across the store)
- ``vm_trap``        a store to a read-only page until the handler is entered
- ``vm_prot1``       raise the protection of one page (read-only)
- ``vm_prot100``, ``vm_unprot100``   remove / restore write access on 100 pages
- ``vm_appel1``      touch a protected page; the handler unprotects it,
                     protects the one opened before and stops the timer (pages
                     in order; the return is not timed, as in SPIN's and OSF/1's tests)
- ``vm_appel2``      protect 100 pages, write each in order, the handler unprotects
                     it; per page

(The rows shared with the Exokernel table are prefixed ``vm_`` and ping-pong
``thread_``: these are SPIN's programs, in-kernel on SPIN, so ``exolab explain``
must find them and not the ``exos-vm``/``singularity`` ones.)

SPIN's own source touches pages in order (pointer plus one page) where Appel
& Li and the exokernel touch them in random order; these programs follow
SPIN. Kernels: every registered kernel of :data:`KERNELS` (``mach`` takes its
column once it is registered).

Interface::

    BENCHMARKS, PROGRAMS, ITERATION, NEEDS, KERNELS
    BUILT_IN                 kernel-thread body -> its name built into the monolithic kernel
    run_spin(ctx) -> SuiteOutput                (registered as ``spin``)
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.abi import ABI, PROT_READ, PROT_RW
from exolab.apps.cthreads import CThreads
from exolab.apps.microbench import (api_call, dirty, lrpc, prot_range, report,
                                     touch_pages)
from exolab.bench.papers import paper_rows, suite_profile
from exolab.bench.registry import (SuiteContext, SuiteOutput, microsecond_rows,
                                   suite)
from exolab.errors import SyscallError
from exolab.kernels import kernel_names
from exolab.kernels.monolithic import ktest

__all__ = ["BENCHMARKS", "PROGRAMS", "ITERATION", "NEEDS", "KERNELS", "BUILT_IN", "run_spin"]

PAGE = 4096
#: the comparison kernels, in table order (those registered run)
KERNELS = ("monolithic", "mach", "spin")
BENCHMARKS = ("inkernel_call", "syscall", "cross_as", "fork_join", "thread_ping_pong",
              "fork_join_user_layered", "fork_join_user_integrated",
              "ping_pong_user_layered", "ping_pong_user_integrated", "vm_dirty", "vm_fault", "vm_trap", "vm_prot1", "vm_prot100", "vm_unprot100",
              "vm_appel1", "vm_appel2")

NULL_SERVER = '''
INTERFACE = "Null"
EXPORTS = {"Null": 0}


def Null():
    return 0
'''

NULL_CLIENT = '''
INTERFACE = "Bench"
EXPORTS = {"Run": 1}
IMPORTS = {"Null.Null": 0, "Clock.Time": 0}


def Run(n):
    Null.Null()
    t0 = Clock.Time()
    for _ in range(n):
        Null.Null()
    return Clock.Time() - t0
'''


def _inside(os: Any, body: Callable[..., None], n: int) -> None:
    """Run ``body(os, n)`` as a kernel extension where the kernel can, else here."""
    if hasattr(os, "spin_kernel"):
        os.spin_kernel(body, n)
    else:
        body(os, n)


def _resident(os: Any, body: Callable[..., None], n: int) -> None:
    """A kernel-thread row: ``body(os, n)`` inside the kernel, with the kernel's own
    thread primitives, as the paper measured every kernel's (section 5.2): on SPIN
    an extension; on OSF/1 the test built into the kernel (``kernel_test``,
    kernels/monolithic/ktest.py); at user level where the kernel has neither."""
    if hasattr(os, "spin_kernel"):
        os.spin_kernel(body, n)
        return
    name = BUILT_IN.get(body)
    if name is not None:
        try:
            os.kernel_test(name, n)
            return
        except SyscallError as e:
            if e.errno != "ENOSYS":
                raise
    body(os, n)


def inkernel_call(os: Any, n: int) -> None:
    """A call between two dynamically linked domains (Create, Resolve, call)."""
    server = os.domain_create(NULL_SERVER)
    client = os.domain_create(NULL_CLIENT)
    os.domain_resolve(server, client)
    os.domain_resolve(os.domain_kernel(), client)
    report(os, os.domain_call(client, "Bench.Run", n) / n)


def _ended(os: ABI, done: list[int]) -> None:
    """A thread that ends at once, saying so."""
    done.append(1)


def _fork_join(os: ABI, n: int) -> None:
    """fork_join's body: create, run, end and join a thread ``n`` times."""
    done: list[int] = []
    os.thread_create(_ended, done)
    while not done:
        os.thread_yield()
    t0 = os.time()
    for i in range(n):
        os.thread_create(_ended, done)
        while len(done) <= i + 1:
            os.thread_yield()
    report(os, (os.time() - t0) / n)


def fork_join(os: Any, n: int) -> None:
    """Create, schedule and terminate a thread, then join with it."""
    _resident(os, _fork_join, n)


def _pong(os: ABI, turn: list[int], n: int) -> None:
    """ping_pong's second thread: answer each ping."""
    for _ in range(n):
        while turn[0] != 1:
            os.thread_yield()
        turn[0] = 0


def _ping_pong(os: ABI, n: int) -> None:
    """ping_pong's body: ``n`` round trips between two threads."""
    turn = [0]
    os.thread_create(_pong, turn, n + 1)
    turn[0] = 1
    while turn[0] != 0:
        os.thread_yield()
    t0 = os.time()
    for _ in range(n):
        turn[0] = 1
        while turn[0] != 0:
            os.thread_yield()
    report(os, (os.time() - t0) / n)


def _pong_mach(os: Any, port: int, n: int) -> None:
    """Mach's ping-pong partner: wake the other thread by a message, wait for one."""
    got = os.msg_receive(port)
    for _ in range(n - 1):
        got = os.msg_reply_receive(got[1], b"", port)
    os.msg_reply(got[1])


def _ping_pong_mach(os: Any, n: int) -> None:
    """Mach's kernel threads synchronise through the kernel, by messages (C-threads'
    kernel-thread mode blocks a thread in a receive and wakes it with a send)."""
    port = os.port_allocate()
    os.port_insert_send(port)
    os.thread_create(_pong_mach, port, n + 1)
    os.msg_rpc(port)
    t0 = os.time()
    for _ in range(n):
        os.msg_rpc(port)
    report(os, (os.time() - t0) / n)


def ping_pong(os: Any, n: int) -> None:
    """Two threads synchronise with each other; a round trip (on Mach, by messages)."""
    _resident(os, _ping_pong_mach if hasattr(os, "msg_rpc") else _ping_pong, n)


#: the kernel-thread bodies built into the monolithic kernel (its OSF/1 test), by name
BUILT_IN: dict[Callable[..., None], str] = {_fork_join: "spin.fork_join",
                                           _ping_pong: "spin.ping_pong"}
for _body, _name in BUILT_IN.items():
    ktest.register(_name, _body)


def _nothing(os: ABI) -> int:
    """A cthread that ends at once."""
    return 1


def _user_fork_join(os: Any, n: int, integrated: bool) -> None:
    """Fork a cthread, let it end, join it, ``n`` times (C-Threads)."""
    ct = CThreads(os, integrated)
    ct.join(ct.fork(_nothing))
    t0 = os.time()
    for _ in range(n):
        ct.join(ct.fork(_nothing))
    report(os, (os.time() - t0) / n)


def fork_join_user_layered(os: Any, n: int) -> None:
    """Fork-join with user-level threads layered on the kernel's threads."""
    _user_fork_join(os, n, False)


def fork_join_user_integrated(os: Any, n: int) -> None:
    """Fork-join with the kernel's integrated user-thread package (else layered)."""
    _user_fork_join(os, n, True)


def _user_pong(os: Any, ct: CThreads, m: Any, c: Any, turn: list[int], n: int) -> None:
    """The second cthread: answer each ping (turn 1 -> 0) under the mutex."""
    ct.lock(m)
    for _ in range(n):
        while turn[0] != 1:
            ct.wait(c, m)
        turn[0] = 0
        ct.signal(c)
    ct.unlock(m)


def _user_ping_pong(os: Any, n: int, integrated: bool) -> None:
    """``n`` round trips between two cthreads: a mutex, one condition, a turn."""
    ct = CThreads(os, integrated)
    m, c, turn = ct.mutex(), ct.condition(), [0]
    pong = ct.fork(_user_pong, ct, m, c, turn, n + 1)
    total = 0
    ct.lock(m)
    for i in range(n + 1):
        t0 = os.time()
        turn[0] = 1
        ct.signal(c)
        while turn[0] != 0:
            ct.wait(c, m)
        if i:
            total += os.time() - t0
    ct.unlock(m)
    ct.join(pong)
    report(os, total / n)


def ping_pong_user_layered(os: Any, n: int) -> None:
    """Ping-pong between user-level threads layered on the kernel's threads."""
    _user_ping_pong(os, n, False)


def ping_pong_user_integrated(os: Any, n: int) -> None:
    """Ping-pong with the kernel's integrated user-thread package (else layered)."""
    _user_ping_pong(os, n, True)


def _unprotect(os: ABI, vaddr: int, write: bool) -> None:
    """The fault handler of fault and appel2: restore write access to the page."""
    os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)


def _store_faults(os: ABI, n: int, handler: Any, entered: list[int] | None) -> None:
    """Protect a page read-only and store to it, ``n`` + 1 times (the first is the
    warm-up); report the time from the store to its end, or (``entered``: the times
    the handler was entered) to the handler's entry."""
    va = touch_pages(os, 1)
    os.set_fault_handler(handler)
    total = 0
    for i in range(n + 1):
        os.mprotect(va, PAGE, PROT_READ)
        t0 = os.time()
        os.store(va, i)
        if i:
            total += (os.time() if entered is None else entered[-1]) - t0
    report(os, total / n)


def _fault(os: ABI, n: int) -> None:
    _store_faults(os, n, _unprotect, None)


def _trap(os: ABI, n: int) -> None:
    entered: list[int] = []

    def handler(os: ABI, vaddr: int, write: bool) -> None:
        entered.append(os.time())
        os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)

    _store_faults(os, n, handler, entered)


def _prot1(os: ABI, n: int) -> None:
    va = touch_pages(os, 1)
    total = 0
    for _ in range(n):
        t0 = os.time()
        os.mprotect(va, PAGE, PROT_READ)
        total += os.time() - t0
        os.mprotect(va, PAGE, PROT_RW)
    report(os, total / n)


def _prot100(os: ABI, n: int) -> None:
    prot_range(os, n, True, PROT_READ)


def _unprot100(os: ABI, n: int) -> None:
    prot_range(os, n, False, PROT_READ)


def _appel1(os: ABI, n: int) -> None:
    """A store to a protected page; the handler unprotects it, protects the one it
    opened before, and stops the timer there (as SPIN's PageFaultTest and the OSF/1
    test do: the return and the resumed store are not timed); pages in order."""
    count = 100
    va = touch_pages(os, count)
    os.mprotect(va, count * PAGE, PROT_READ)
    opened = [-1]
    done: list[int] = []

    def handler(os: ABI, vaddr: int, write: bool) -> None:
        if opened[0] >= 0:
            os.mprotect(opened[0], PAGE, PROT_READ)
        page = vaddr & ~(PAGE - 1)
        os.mprotect(page, PAGE, PROT_RW)
        opened[0] = page
        done.append(os.time())

    os.set_fault_handler(handler)
    os.store(va, 0)
    total = 0
    for i in range(1, n + 1):
        t0 = os.time()
        os.store(va + (i % count) * PAGE, i)
        total += done[-1] - t0
    report(os, total / n)


def _appel2(os: ABI, n: int) -> None:
    count = 100
    va = touch_pages(os, count)
    os.set_fault_handler(_unprotect)
    rounds = max(1, n // count)
    total = 0
    for r in range(rounds):
        t0 = os.time()
        os.mprotect(va, count * PAGE, PROT_READ)
        for i in range(count):
            os.store(va + i * PAGE, r)
        total += os.time() - t0
    report(os, total / (rounds * count))


def _vm(body: Callable[[ABI, int], None], name: str) -> Callable[[Any, int], None]:
    """The program of a VM row: its body as an extension where the kernel can."""
    def program(os: Any, n: int) -> None:
        _inside(os, body, n)
    program.__name__ = program.__qualname__ = name
    program.__doc__ = body.__doc__
    return program


PROGRAMS: dict[str, Callable[..., None]] = {
    "inkernel_call": inkernel_call, "syscall": api_call, "cross_as": lrpc,
    "fork_join": fork_join, "thread_ping_pong": ping_pong,
    "fork_join_user_layered": fork_join_user_layered,
    "fork_join_user_integrated": fork_join_user_integrated,
    "ping_pong_user_layered": ping_pong_user_layered,
    "ping_pong_user_integrated": ping_pong_user_integrated,
    **{f"vm_{name}": _vm(body, f"vm_{name}") for name, body in (
        ("dirty", dirty), ("fault", _fault), ("trap", _trap), ("prot1", _prot1),
        ("prot100", _prot100), ("unprot100", _unprot100), ("appel1", _appel1),
        ("appel2", _appel2))},
}
#: what one loop iteration does where it is not one operation (``exolab explain``)
ITERATION = {"thread_ping_pong": "a round trip: two synchronisations",
             "ping_pong_user_layered": "a round trip: two condition signals and waits",
             "ping_pong_user_integrated": "a round trip: two condition signals and waits "
                                          "(layered where the kernel has no package)",
             "fork_join_user_integrated": "fork and join one cthread (layered where the "
                                          "kernel has no package)",
             "cross_as": "a call and its return",
             "vm_prot100": "protect 100 pages, then unprotect them (the protect is timed)",
             "vm_unprot100": "protect 100 pages, then unprotect them (the unprotect is "
                             "timed)",
             "vm_prot1": "protect a page (timed), then unprotect it",
             "vm_appel2": "one page: a hundredth of protecting 100, its fault and "
                          "unprotect"}
#: benchmark -> what it needs beyond the ABI (a kernel lacking it: n/a)
NEEDS = {"inkernel_call": frozenset({"domain_create"}),
         "cross_as": frozenset({"rpc_connect"}),
         **{b: frozenset({"mprotect"}) for b in ("vm_prot1", "vm_prot100", "vm_unprot100")},
         **{b: frozenset({"mprotect", "set_fault_handler"})
            for b in ("vm_fault", "vm_trap", "vm_appel1", "vm_appel2")},
         "vm_dirty": frozenset({"dirty"})}
#: iterations per benchmark (full, quick)
SIZES = {"vm_prot100": (100, 5), "vm_unprot100": (100, 5), "vm_appel2": (400, 100),
         "fork_join": (200, 10), "cross_as": (200, 10),
         "fork_join_user_layered": (200, 10), "fork_join_user_integrated": (200, 10),
         "ping_pong_user_layered": (200, 10), "ping_pong_user_integrated": (200, 10)}


@suite("spin", kernels=tuple(k for k in KERNELS if k in kernel_names()),
       default_profile=suite_profile("spin"),
       description="spin: SPIN's protected communication, threads and VM (SOSP'95 sec. 5)",
       programs=PROGRAMS, iteration=ITERATION, unit="us", sizes=SIZES,
       default_size=(1000, 20), needs=NEEDS)
def run_spin(ctx: SuiteContext) -> SuiteOutput:
    """Measure every row on every requested kernel, in microseconds."""
    results, notes = microsecond_rows(ctx, BENCHMARKS)
    return SuiteOutput(results, paper_rows(ctx.suite), notes)
