"""Suite ``speed``: how fast the simulator itself runs on the host.

Each benchmark runs one hot path with tracing off and reports simulated
events per wall-clock second, counted from the components' ``statistics()``:
the machine's under TinyKernel (kernel ``none``), and an ABI program's on
every kernel of the kernel registry whose declaration provides what the case
needs (no kernel list here: a new kernel gets its column). This suite
measures the *host*, so it alone reads the wall clock (``time.perf_counter``);
the simulation inside stays deterministic. Each row is the best of
:data:`REPEATS` runs. After them come the scale rows of :mod:`.scale`
(fork/wait/destroy growth, boot allocation, memory over many runs).

Benchmarks (what is counted):

- ``trap``            null system calls (SYS_NULL) entered and returned
- ``tlb_hit_load``    loads that hit in the TLB (one mapped page)
- ``tlb_miss_refill`` TLB misses refilled by the kernel: loads round-robin
                      over 4x as many pages as the TLB has entries
- ``context_switch``  switches between two threads yielding to each other
- ``disk_read``       block reads completed by the disk (image in a tempdir)
- ``syscall``         (every kernel) getpid: its null system-call path
- ``pipe_round_trip`` (every kernel with ``fork``) 4-byte ping-pong between two processes
- ``process_yield``   (every kernel) yields between two processes, each a switch to the
                      other (the note: the exokernel's host time per yield over the
                      monolithic kernel's; issue 8's goal is at most 2x)
- ``stlb_refill``     (every kernel with paging: ``dirty``) TLB misses the kernel refills itself, with
                      no upcall to user level (Aegis: from its STLB; a
                      monolithic kernel: from its page table): loads
                      round-robin over 4x the TLB's reach, every page touched once
- ``pct_round_trip``  (kernels with the ``pct_call`` extension) bare synchronous
                      PCTs to another environment and back (ExOS ``pct_call``)

Interface::

    CASES                       the benchmarks (name, n, quick_n, run, on, needs)
    TARGETS                     (benchmark, kernel) -> events/s it should reach
    RATIO_GOALS                 (benchmark, kernel, baseline, at most): host-time ratios
    case_kernels(case, kernels) -> kernels of ``kernels`` the case runs on
    measure(case, profile, seed, quick, kernel="none") -> float    best events/s
    run_speed(ctx) -> SuiteOutput                   (registered as ``speed``)
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

from exolab.abi import ABI
from exolab.errors import ConfigError, safe_str
from exolab.bench.results import Result
from exolab.bench.registry import ALL_KERNELS, SuiteContext, SuiteOutput, suite
from exolab.bench.scale import scale_rows
from exolab.kernels import declaration, kernel_names, make_kernel
from exolab.kernels.tiny import SYS_DISK_READ, SYS_NULL, SYS_YIELD, TinyKernel
from exolab.machine.machine import Machine

__all__ = ["CASES", "TARGETS", "RATIO_GOALS", "SpeedCase", "case_kernels", "measure", "run_speed",
           "REPEATS"]

REPEATS = 3
MAX_RUN_SECONDS = 1.0       # an ABI case whose full run would take longer on a kernel...
RUN_SECONDS = 0.5           # ...is cut to about this
UNIT = "events/s"
KERNEL = "none"
VBASE = 0x100               # first virtual page of the benchmark threads
DISK_BLOCKS = 256           # size of the disk_read image, in blocks

#: events/s a (benchmark, kernel) row should reach on the development machine
TARGETS: dict[tuple[str, str], float] = {
    ("trap", KERNEL): 1_000_000, ("tlb_hit_load", KERNEL): 2_000_000,
    ("context_switch", KERNEL): 500_000, ("syscall", "monolithic"): 500_000,
    ("pipe_round_trip", "monolithic"): 100_000, ("stlb_refill", "exokernel"): 500_000,
    ("pct_round_trip", "exokernel"): 300_000}
#: (benchmark, kernel, baseline kernel, at most): host time per event of ``kernel`` over
#: ``baseline``'s that a row should stay within (an ExOS yield against a monolithic switch)
RATIO_GOALS: tuple[tuple[str, str, str, float], ...] = (
    ("process_yield", "exokernel", "monolithic", 2.0),)

Timed = tuple[int, float]   # (events counted, seconds)


@dataclass(frozen=True, slots=True)
class SpeedCase:
    """One benchmark: sizes, the function that times it, and where it runs."""

    name: str
    n: int                                   # operations, default run (~0.3-1 s)
    quick_n: int                             # operations with quick=True
    run: Callable[[str, int, int], Timed]    # (profile, seed, n) -> Timed, on "none"
    on: str = KERNEL                         # "none", or ALL_KERNELS: an ABI program
    needs: frozenset[str] = frozenset()      # features beyond the ABI it needs
    run_on: Callable[[str, str, int, int], Timed] | None = None   # (kernel, ...)


def _timed_run(m: Machine) -> float:
    """Run the machine to completion and return the wall-clock seconds it took."""
    t0 = time.perf_counter()
    m.run()
    return time.perf_counter() - t0


def _trap(profile: str, seed: int, n: int) -> Timed:
    """Null system calls through TinyKernel."""
    m = Machine(profile, frames=64, seed=seed)
    k = TinyKernel(m)

    def body() -> None:
        trap = m.cpu.trap
        for _ in range(n):
            trap(SYS_NULL)
    k.spawn(body, name="trap")
    secs = _timed_run(m)
    return m.cpu.statistics().traps, secs


def _tlb_hit_load(profile: str, seed: int, n: int) -> Timed:
    """Loads from one mapped page, after one warming miss: n TLB hits."""
    m = Machine(profile, frames=64, seed=seed)
    k = TinyKernel(m)
    va = VBASE << m.memory.page_shift

    def body() -> None:
        load = m.cpu.load
        load(va)                    # the one miss
        for _ in range(n):
            load(va)
    k.map(k.spawn(body, name="load"), VBASE, 1)
    secs = _timed_run(m)
    st = m.cpu.statistics()
    return st.accesses - st.tlb_misses, secs


def _tlb_miss_refill(profile: str, seed: int, n: int) -> Timed:
    """Loads round-robin over 4x the TLB's reach: (almost) every load misses."""
    m = Machine(profile, frames=1024, seed=seed)
    k = TinyKernel(m)
    pages = 4 * m.profile.tlb_entries
    shift = m.memory.page_shift

    def body() -> None:
        load = m.cpu.load
        for i in range(n):
            load((VBASE + i % pages) << shift)
    t = k.spawn(body, name="miss")
    for i in range(pages):
        k.map(t, VBASE + i, 1 + i)
    secs = _timed_run(m)
    return m.cpu.statistics().tlb_misses, secs


def _context_switch(profile: str, seed: int, n: int) -> Timed:
    """Two threads yielding to each other; n switches in all."""
    m = Machine(profile, frames=64, seed=seed)
    k = TinyKernel(m)

    def body() -> None:
        trap = m.cpu.trap
        for _ in range(n // 2):
            trap(SYS_YIELD)
    k.spawn(body, name="a")
    k.spawn(body, name="b")
    secs = _timed_run(m)
    return m.cpu.statistics().context_switches, secs


def _disk_read(profile: str, seed: int, n: int) -> Timed:
    """Block reads through the disk, one outstanding, blocking on the interrupt."""
    with tempfile.TemporaryDirectory(prefix="exolab-speed-") as tmp:
        m = Machine(profile, frames=64, seed=seed)
        disk = m.attach_disk(os.path.join(tmp, "disk.img"), blocks=DISK_BLOCKS,
                             create=True)
        k = TinyKernel(m)
        paddr = 1 << m.memory.page_shift

        def body() -> None:
            trap = m.cpu.trap
            for i in range(n):
                trap(SYS_DISK_READ, (i * 37) % DISK_BLOCKS, paddr)
        k.spawn(body, name="reader")
        try:
            secs = _timed_run(m)
        finally:
            disk.close()
        return disk.statistics().reads, secs


def _on_kernel(kernel: str, profile: str, seed: int, program: Callable[..., None],
               *args: object) -> tuple[Machine, float]:
    """Boot ``program`` on ``kernel`` and time the run (a fault is an error: a run
    that stopped early is not a measurement)."""
    m = Machine(profile, seed=seed)
    k = make_kernel(kernel, m)
    k.boot(program, *args)
    secs = _timed_run(m)
    if k.faults:
        raise ConfigError("a speed program faulted", kernel=kernel,
                          fault=safe_str(k.faults[0][1]))
    return m, secs


def _getpids(os: ABI, n: int) -> None:
    """n null system calls."""
    for _ in range(n):
        os.getpid()


def _syscall(kernel: str, profile: str, seed: int, n: int) -> Timed:
    """Null calls (getpid) through ``kernel``'s path (a trap, or a library call)."""
    _, secs = _on_kernel(kernel, profile, seed, _getpids, n)
    return n, secs


def _echo(os: ABI, rfd: int, wfd: int, n: int) -> None:
    """Pipe peer: send back what arrives."""
    for _ in range(n):
        os.write(wfd, os.read(rfd, 4))


def _pingpong(os: ABI, n: int) -> None:
    """n pipe round trips with a forked peer."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    os.fork(_echo, a_r, b_w, n)
    for _ in range(n):
        os.write(a_w, b"ping")
        os.read(b_r, 4)


def _pipe_round_trip(kernel: str, profile: str, seed: int, n: int) -> Timed:
    """n pipe round trips on ``kernel``."""
    _, secs = _on_kernel(kernel, profile, seed, _pingpong, n)
    return n, secs


def _yielder(os: ABI, n: int) -> None:
    """Yield n times."""
    for _ in range(n):
        os.yield_()


def _yields(os: ABI, n: int) -> None:
    """n yields in all, half here and half in a spawned peer (each turns to the other)."""
    pid = os.spawn(_yielder, n // 2)
    _yielder(os, n - n // 2)
    os.wait(pid)


def _process_yield(kernel: str, profile: str, seed: int, n: int) -> Timed:
    """n yields between two processes on ``kernel``."""
    _, secs = _on_kernel(kernel, profile, seed, _yields, n)
    return n, secs


def _round_robin_loads(os: ABI, pages: int, page: int, n: int) -> None:
    """Touch ``pages`` fresh pages once, then n loads round-robin over them."""
    va = os.mmap(pages * page)
    for i in range(pages):
        os.load(va + i * page)
    load = os.load
    for i in range(n):
        load(va + (i % pages) * page)


def _stlb_refill(kernel: str, profile: str, seed: int, n: int) -> Timed:
    """TLB misses ``kernel`` refills itself (no user-level upcall: Aegis's STLB hits)."""
    m = Machine(profile, seed=seed)
    k = make_kernel(kernel, m)
    k.boot(_round_robin_loads, 4 * m.profile.tlb_entries, m.memory.page_size, n)
    secs = _timed_run(m)
    st = m.cpu.statistics()
    return st.tlb_misses - st.upcalls, secs


def _null_server(os: ABI, n: int) -> None:
    """Serve n bare PCTs (ExOS: a null entry that bumps a counter)."""
    os.rpc_serve("speed-null", None, n)  # type: ignore[arg-type]


def _pcts(os: ABI, n: int) -> None:
    """n bare synchronous PCTs to a spawned server and back, after one warming call."""
    pid = os.spawn(_null_server, n + 1, name="null-server")
    h = os.rpc_connect("speed-null")
    call = os.pct_call  # type: ignore[attr-defined]
    call(h)
    for _ in range(n):
        call(h)
    os.wait(pid)


def _pct_round_trip(kernel: str, profile: str, seed: int, n: int) -> Timed:
    """Bare PCT round trips between two environments (the ``pct_call`` extension)."""
    _, secs = _on_kernel(kernel, profile, seed, _pcts, n)
    return n, secs


def _abi(name: str, n: int, quick_n: int, fn: Callable[[str, str, int, int], Timed],
         needs: frozenset[str] = frozenset()) -> SpeedCase:
    """A case that runs an ABI program on every kernel providing ``needs``."""
    def unbound(profile: str, seed: int, n: int) -> Timed:
        raise TypeError("an ABI speed case runs on a kernel")
    return SpeedCase(name, n, quick_n, unbound, ALL_KERNELS, needs, fn)


CASES: tuple[SpeedCase, ...] = (
    SpeedCase("trap", 1_000_000, 2_000, _trap),
    SpeedCase("tlb_hit_load", 1_000_000, 2_000, _tlb_hit_load),
    SpeedCase("tlb_miss_refill", 100_000, 1_000, _tlb_miss_refill),
    SpeedCase("context_switch", 300_000, 1_000, _context_switch),
    SpeedCase("disk_read", 20_000, 200, _disk_read),
    _abi("syscall", 300_000, 2_000, _syscall),
    _abi("pipe_round_trip", 30_000, 500, _pipe_round_trip, frozenset({"fork"})),
    _abi("process_yield", 200_000, 2_000, _process_yield),
    # a kernel with page translation ("dirty": the TLB's dirty bit); one that declares
    # dirty refused runs with paging off and has no TLB misses to refill
    _abi("stlb_refill", 100_000, 1_000, _stlb_refill, frozenset({"dirty"})),
    _abi("pct_round_trip", 30_000, 500, _pct_round_trip, frozenset({"pct_call"})),
)


def case_kernels(case: SpeedCase, kernels: tuple[str, ...]) -> tuple[str, ...]:
    """The kernels of ``kernels`` that ``case`` runs on (from their declarations)."""
    if case.on == KERNEL:
        return tuple(k for k in kernels if k == KERNEL)
    return tuple(k for k in kernels
                 if k != KERNEL and declaration(k).provides(case.needs))


def _once(case: SpeedCase, kernel: str, profile: str, seed: int, n: int) -> Timed:
    """One timed run of ``case`` with ``n`` operations."""
    if case.run_on is None:
        return case.run(profile, seed, n)
    return case.run_on(kernel, profile, seed, n)


def _size(case: SpeedCase, kernel: str, profile: str, seed: int, quick: bool) -> int:
    """Operations per run: the case's own, unless an ABI case's run would take more
    than :data:`MAX_RUN_SECONDS` on this kernel: then about :data:`RUN_SECONDS`'
    worth. The per-operation time comes from two short runs (their difference:
    booting is the same in both)."""
    if quick or case.run_on is None:
        return case.quick_n if quick else case.n
    q = case.quick_n
    short, long_ = (_once(case, kernel, profile, seed, k)[1] for k in (q, 4 * q))
    per_op = (long_ - short) / (3 * q)
    if per_op * case.n <= MAX_RUN_SECONDS:
        return case.n
    return max(q, int(RUN_SECONDS / per_op))


def measure(case: SpeedCase, profile: str, seed: int, quick: bool,
            kernel: str = KERNEL) -> float:
    """Return the best events/s of :data:`REPEATS` runs of ``case`` (on ``kernel``)."""
    n = _size(case, kernel, profile, seed, quick)
    best = 0.0
    for _ in range(REPEATS):
        events, secs = _once(case, kernel, profile, seed, n)
        best = max(best, events / secs if secs > 0 else 0.0)
    return best


def _target_notes(results: list[Result]) -> dict[str, str]:
    """benchmark -> its rows' targets and whether each is met (kernel named if shared)."""
    notes: dict[str, str] = {}
    for r in results:
        target = TARGETS.get((r.benchmark, r.kernel))
        if target is None:
            continue
        shared = sum(1 for x in results if x.benchmark == r.benchmark) > 1
        verdict = "met" if r.value >= target else "BELOW"
        text = f"{r.kernel + ' ' if shared else ''}target >= {target:,.0f} {UNIT}: {verdict}"
        notes[r.benchmark] = "; ".join(x for x in (notes.get(r.benchmark, ""), text) if x)
    return notes


def _ratio_notes(results: list[Result]) -> dict[str, str]:
    """benchmark -> how its kernel's host time per event compares with the baseline
    kernel's, against :data:`RATIO_GOALS` (rows missing on either side: no note)."""
    rate = {(r.benchmark, r.kernel): r.value for r in results}
    notes: dict[str, str] = {}
    for name, kernel, base, most in RATIO_GOALS:
        mine, theirs = rate.get((name, kernel)), rate.get((name, base))
        if not mine or not theirs:
            continue
        ratio = theirs / mine                   # events/s: the inverse of time per event
        verdict = "met" if ratio <= most else "ABOVE"
        notes[name] = (f"{kernel} / {base} host time: {ratio:.2f}x, goal at most "
                       f"{most:g}x: {verdict}")
    return notes


@suite("speed", kernels=(KERNEL, ALL_KERNELS),
       description="simulator speed on this host: simulated events per wall-clock second")
def run_speed(ctx: SuiteContext) -> SuiteOutput:
    """Measure every speed case on each kernel it runs on, then the scale rows."""
    results: list[Result] = []
    for case in CASES:
        for kernel in case_kernels(case, ctx.kernels):
            value = measure(case, ctx.profile, ctx.seed, ctx.quick, kernel)
            results.append(ctx.result(case.name, kernel, value, UNIT))
    notes = _target_notes(results)
    for name, text in _ratio_notes(results).items():
        notes[name] = "; ".join(x for x in (notes.get(name, ""), text) if x)
    abi_kernels = tuple(k for k in ctx.kernels if k in kernel_names())
    scale, scale_notes = scale_rows(ctx, abi_kernels)
    results += scale
    notes.update(scale_notes)
    if ctx.quick:
        notes[""] = "quick run: small N, figures are noisy"
    return SuiteOutput(results, [], notes)
