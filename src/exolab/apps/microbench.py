"""Microbenchmark programs of the papers' tables, written once against the ABI.

Each program takes ``n`` (iterations), warms up once, times the measured
operation with ``os.time()`` (simulated cycles) and prints one line
``RESULT <cycles per operation>``; the harness parses it. Definitions follow
the papers (see ``docs/benchmarks.md``):

- Singularity (Hunt & Larus OSR'07, Table 1; Aiken et al. MSPC'06 §4):
  ``api_call``, ``thread_yield``, ``ping_pong`` (1 byte there and back
  between two processes; ``ping_pong_rpc`` is the same where a process cannot
  fork: a spawned server, rpc), ``process_creation`` (create, start, wait).
- Exokernel IPC (Engler et al. SOSP'95, Table 8): ``pipe`` (ping-pong a
  word counter through two pipes; one way), ``pipe'`` (the same with the
  library's ring code inlined in the caller -- an ExOS extension, n/a where
  the library OS cannot inline it), ``shm`` (ping-pong a shared
  counter, yielding; one way), ``lrpc`` (call another address space that
  increments a counter and returns it; call + return).
- Exokernel VM (Table 10, after Appel & Li ASPLOS'91): ``dirty``, ``prot1``,
  ``prot100``, ``unprot100``, ``trap`` (fault until the handler is entered),
  ``appel1`` (prot1+trap+unprot), ``appel2`` (protN+trap+unprot, per page).

Interface::

    PROGRAMS: dict[str, Program]     benchmark name -> main(os, n)
    VARIANTS                         benchmark -> (calls, program where one is refused)
    ITERATION                        benchmark -> what one loop iteration does
    LCG                              the programs' own deterministic random order
    report(os, cycles)               print the RESULT line the harness parses
    touch_pages(os, count) -> vaddr  map ``count`` pages and write each (VM programs)
    prot_range(os, n, timed_protect, prot=PROT_NONE)   prot100/unprot100's loop
"""
from __future__ import annotations

from typing import Any

from exolab.abi import ABI, PROT_NONE, PROT_READ, PROT_RW
from exolab.errors import SyscallError

__all__ = ["PROGRAMS", "ITERATION", "VARIANTS", "LCG", "report", "touch_pages",
           "prot_range"]

PAGE = 4096


class LCG:
    """A tiny linear congruential generator: the programs' deterministic "random"."""

    __slots__ = ("state",)

    def __init__(self, seed: int = 12345) -> None:
        self.state = seed

    def below(self, n: int) -> int:
        """Return a pseudo-random integer in [0, n)."""
        self.state = (self.state * 1103515245 + 12345) & 0x7FFFFFFF
        return self.state % n


def report(os: ABI, cycles: float) -> None:
    """Print the result line the harness parses."""
    os.print(f"RESULT {cycles:.3f}")


# -- Singularity table ---------------------------------------------------------------

def api_call(os: ABI, n: int) -> None:
    """Cheapest kernel call reading a kernel structure (clock_getres)."""
    os.api_call()
    t0 = os.time()
    for _ in range(n):
        os.api_call()
    report(os, (os.time() - t0) / n)


def _yielder(os: ABI, n: int) -> None:
    """Second thread of thread_yield: yield back ``n`` times."""
    for _ in range(n):
        os.thread_yield()


def thread_yield(os: ABI, n: int) -> None:
    """Two threads of one process yield to each other; cost per yield."""
    os.thread_create(_yielder, n + 2)
    os.thread_yield()
    t0 = os.time()
    for _ in range(n):
        os.thread_yield()
    report(os, (os.time() - t0) / (2 * n))


def _echo(os: ABI, rfd: int, wfd: int, n: int, width: int) -> None:
    """Peer of ping_pong and pipe: read a value, send back value + 1."""
    for _ in range(n):
        v = int.from_bytes(os.read(rfd, width), "little")
        os.write(wfd, ((v + 1) & ((1 << (8 * width)) - 1)).to_bytes(width, "little"))


def _ping(os: ABI, n: int, width: int) -> float:
    """Ping-pong ``width`` bytes with a forked peer ``n`` times; cycles per round trip."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork(_echo, a_r, b_w, n + 1, width)
    value = 0
    os.write(a_w, value.to_bytes(width, "little"))
    value = int.from_bytes(os.read(b_r, width), "little")
    t0 = os.time()
    for _ in range(n):
        os.write(a_w, value.to_bytes(width, "little"))
        value = int.from_bytes(os.read(b_r, width), "little")
    dt = os.time() - t0
    os.wait(pid)
    return dt / n


def ping_pong(os: ABI, n: int) -> None:
    """Send 1 byte to another process and get it back."""
    report(os, _ping(os, n, 1))


def _nothing(os: ABI) -> int:
    """A process that exits at once."""
    return 0


def process_creation(os: ABI, n: int) -> None:
    """Create and start a process, and wait for it to finish."""
    os.wait(os.spawn(_nothing))
    t0 = os.time()
    for _ in range(n):
        os.wait(os.spawn(_nothing))
    report(os, (os.time() - t0) / n)


def _byte_echo(os: ABI, word: int) -> int:
    """The echo server's handler: the byte back, plus one."""
    return (word + 1) & 0xFF


def _echo_server(os: ABI, n: int) -> None:
    """Peer of ping_pong_rpc: answer ``n`` calls."""
    os.rpc_serve("echo", _byte_echo, n)


def ping_pong_rpc(os: ABI, n: int) -> None:
    """ping_pong where a process cannot fork: 1 byte to a spawned server and back,
    over the kernel's rpc name service (on Singularity: a channel)."""
    pid = os.spawn(_echo_server, n + 1, name="echo")
    handle = os.rpc_connect("echo")
    value = os.rpc_call(handle, 0)
    t0 = os.time()
    for _ in range(n):
        value = os.rpc_call(handle, value)
    report(os, (os.time() - t0) / n)
    os.wait(pid)


# -- Exokernel IPC table -------------------------------------------------------------

def pipe(os: ABI, n: int) -> None:
    """Ping-pong a word-sized counter through pipes; one-way time."""
    report(os, _ping(os, n, 4) / 2)


def _shm_peer(os: ABI, key: int, n: int) -> None:
    """Peer of shm: wait for an odd counter, make it even, yield."""
    va = os.shm_attach(key)
    for _ in range(n):
        while os.load(va) % 2 == 0:
            os.yield_()
        os.store(va, os.load(va) + 1)


def shm(os: ABI, n: int) -> None:
    """Ping-pong a counter in shared memory, yielding between turns; one-way time."""
    key = os.shm_create(PAGE)
    va = os.shm_attach(key)
    pid = os.fork(_shm_peer, key, n + 1)
    rounds = [0]

    def turn() -> None:
        os.store(va, os.load(va) + 1)
        while os.load(va) % 2 == 1:
            os.yield_()
        rounds[0] += 1

    turn()
    t0 = os.time()
    for _ in range(n):
        turn()
    dt = os.time() - t0
    os.wait(pid)
    report(os, dt / (2 * n))


def _counter_server(os: ABI, n: int) -> None:
    """lrpc server: increment a counter and return its value."""
    count = [0]

    def handler(os: ABI, word: int) -> int:
        count[0] += 1
        return count[0]

    os.rpc_serve("counter", handler, n)


def lrpc(os: ABI, n: int) -> None:
    """Call into another address space, increment a counter, return its value."""
    pid = os.spawn(_counter_server, n + 1, name="server")
    handle = os.rpc_connect("counter")
    os.rpc_call(handle, 0)
    t0 = os.time()
    for _ in range(n):
        os.rpc_call(handle, 0)
    report(os, (os.time() - t0) / n)
    os.wait(pid)


# -- Exokernel VM table (Appel & Li) -----------------------------------------------

def touch_pages(os: ABI, count: int) -> int:
    """Map ``count`` pages and touch each; return the base address."""
    va = os.mmap(count * PAGE, PROT_RW)
    for i in range(count):
        os.store(va + i * PAGE, i)
    return va


def dirty(os: ABI, n: int) -> None:
    """Look up one page's dirty state."""
    va = touch_pages(os, 1)
    os.dirty(va)
    t0 = os.time()
    for _ in range(n):
        os.dirty(va)
    report(os, (os.time() - t0) / n)


def prot1(os: ABI, n: int) -> None:
    """Change one page's protection (read-only and back, both timed)."""
    va = touch_pages(os, 1)
    t0 = os.time()
    for i in range(n):
        os.mprotect(va, PAGE, PROT_READ if i % 2 == 0 else PROT_RW)
    report(os, (os.time() - t0) / n)


def prot_range(os: ABI, n: int, timed_protect: bool, prot: int = PROT_NONE) -> None:
    """Protect 100 pages to ``prot`` and unprotect them, ``n`` times; report one of
    the two directions."""
    va = touch_pages(os, 100)
    total = 0
    for _ in range(n):
        t0 = os.time()
        os.mprotect(va, 100 * PAGE, prot)
        t1 = os.time()
        os.mprotect(va, 100 * PAGE, PROT_RW)
        t2 = os.time()
        total += (t1 - t0) if timed_protect else (t2 - t1)
    report(os, total / n)


def prot100(os: ABI, n: int) -> None:
    """Read-protect 100 pages."""
    prot_range(os, n, True)


def unprot100(os: ABI, n: int) -> None:
    """Unprotect 100 pages."""
    prot_range(os, n, False)


def trap(os: ABI, n: int) -> None:
    """Touch a protected page; time until the user-level handler is entered."""
    va = touch_pages(os, 1)
    entered: list[int] = []

    def handler(os: ABI, vaddr: int, write: bool) -> None:
        entered.append(os.time())
        os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)

    os.set_fault_handler(handler)
    total = 0
    for _ in range(n + 1):
        os.mprotect(va, PAGE, PROT_NONE)
        t0 = os.time()
        os.load(va)
        total += entered[-1] - t0
        if len(entered) == 1:
            total = 0           # the first fault was the warm-up
    report(os, total / n)


def appel1(os: ABI, n: int) -> None:
    """Touch a random protected page; the handler protects another, unprotects it."""
    count = 100
    va = touch_pages(os, count)
    os.mprotect(va, count * PAGE, PROT_NONE)
    state: dict[str, Any] = {"open": None}

    def handler(os: ABI, vaddr: int, write: bool) -> None:
        if state["open"] is not None:
            os.mprotect(state["open"], PAGE, PROT_NONE)
        page = vaddr & ~(PAGE - 1)
        os.mprotect(page, PAGE, PROT_RW)
        state["open"] = page

    os.set_fault_handler(handler)
    rng = LCG()
    os.load(va)
    t0 = os.time()
    done = 0
    while done < n:
        page = va + rng.below(count) * PAGE
        if page == state["open"]:
            continue
        os.load(page)
        done += 1
    report(os, (os.time() - t0) / n)


def appel2(os: ABI, n: int) -> None:
    """Protect 100 pages, touch each in random order, unprotect in the handler."""
    count = 100
    va = touch_pages(os, count)

    def handler(os: ABI, vaddr: int, write: bool) -> None:
        os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)

    os.set_fault_handler(handler)
    rng = LCG()
    rounds = max(1, n // count)
    total = 0
    for _ in range(rounds):
        order = list(range(count))
        for i in range(count - 1, 0, -1):
            j = rng.below(i + 1)
            order[i], order[j] = order[j], order[i]
        t0 = os.time()
        os.mprotect(va, count * PAGE, PROT_NONE)
        for i in order:
            os.load(va + i * PAGE)
        total += os.time() - t0
    report(os, total / (rounds * count))


def _inline_echo(os: Any, rfd: int, wfd: int, n: int) -> None:
    """Peer of pipe': read a word, send back word + 1 (inlined ring code)."""
    for _ in range(n):
        v = int.from_bytes(os.read_inline(rfd, 4), "little")
        os.write_inline(wfd, ((v + 1) & 0xFFFFFFFF).to_bytes(4, "little"))


def pipe_prime(os: Any, n: int) -> None:
    """pipe' (Table 8): the pipe ping-pong with read and write inlined; one way."""
    if not hasattr(os, "read_inline"):
        raise SyscallError("ENOSYS", "no inlined pipe operations")
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork(_inline_echo, a_r, b_w, n + 1)
    v = 0
    os.write_inline(a_w, v.to_bytes(4, "little"))
    v = int.from_bytes(os.read_inline(b_r, 4), "little")
    t0 = os.time()
    for _ in range(n):
        os.write_inline(a_w, v.to_bytes(4, "little"))
        v = int.from_bytes(os.read_inline(b_r, 4), "little")
    dt = os.time() - t0
    os.wait(pid)
    report(os, dt / n / 2)


#: what one iteration of a program's loop does (``exolab explain``), where it is not
#: simply one operation; the table may time a part of it, or divide it
ITERATION = {
    "thread_yield": "two yields, one by each thread",
    "pipe": "a round trip: two one-way transfers",
    "pipe'": "a round trip: two one-way transfers",
    "shm": "a round trip: two one-way transfers",
    "prot100": "protect 100 pages, then unprotect them (the table times the protect)",
    "unprot100": "protect 100 pages, then unprotect them (the table times the unprotect)",
    "trap": "protect a page, touch it, the handler unprotects it "
            "(the table times the touch until the handler runs)",
    "appel2": "one page: a hundredth of protecting 100, its fault and its unprotect",
}

#: benchmark -> (ABI calls it needs, the program a kernel refusing one of them runs)
VARIANTS = {"ping_pong": (frozenset({"fork"}), ping_pong_rpc)}

PROGRAMS = {
    "api_call": api_call, "thread_yield": thread_yield, "ping_pong": ping_pong,
    "process_creation": process_creation, "pipe": pipe, "pipe'": pipe_prime,
    "shm": shm, "lrpc": lrpc,
    "dirty": dirty, "prot1": prot1, "prot100": prot100, "unprot100": unprot100,
    "trap": trap, "appel1": appel1, "appel2": appel2,
}
