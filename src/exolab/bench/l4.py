"""Suite ``l4``: L4's IPC beside Mach's and a monolithic kernel's, on the 486-DX50.

Liedtke, "Improving IPC by Kernel Design" (SOSP'93), measured on a 486-DX50:

- ``null_ipc``   a short IPC with no payload, one direction (Table 3: 250
                 cycles achieved, 172 the lower bound); the note gives its
                 anatomy: kernel entry and exit, segment reloads, the cr3 load,
                 the TLB misses after the flush, the path's instructions
- ``ipc_<n>``    an IPC carrying n bytes, 8 to 4,096 (Table 7): 8 bytes travel
                 in registers; longer messages are copied once on L4, twice
                 (into a kernel buffer and out) on Mach
- ``null_rpc``   a call and its reply (Table 2)

Method (L3 section 6): two threads in different address spaces play
ping-pong (client ``call``, server ``reply_wait``); the time per IPC is the
round trip halved. Nothing on ``l4`` is calibrated: every cycle is a
profile row or an instruction of the path (kernels/l4/paths.py). The null
rows run one ABI program on every kernel (a word over the rpc service: on
L4 a native call and reply_wait; ``exolab explain null_ipc`` dissects it);
the sized rows send each microkernel's own messages (L4 strings, Mach
messages), and n bytes over a pair of pipes on the monolithic kernel.
Values in microseconds.

Interface::

    SIZES, BENCHMARKS
    l4_ipc(size, n, profile, seed=0) -> cycles per IPC       (native L4 programs)
    l4_anatomy(profile="i486", n=40) -> {part: cycles per IPC}
    run_l4(ctx) -> SuiteOutput                              (registered as ``l4``)
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from exolab.abi import ABI
from exolab.apps.microbench import report
from exolab.bench.papers import paper_rows, suite_profile
from exolab.bench.registry import SuiteContext, SuiteOutput, get_suite, run_benchmark, suite
from exolab.machine.costs import get_profile

__all__ = ["SIZES", "BENCHMARKS", "l4_ipc", "l4_anatomy", "run_l4"]

SIZES = (8, 12, 128, 512, 1024, 2048, 4096)
BENCHMARKS = ("null_ipc", *(f"ipc_{n}" for n in SIZES), "null_rpc")
_N = (200, 20)                      # round trips: full run, quick run
BUF_C, BUF_S = 0x100000, 0x200000   # client's and server's message buffers


# -- L4: native programs --------------------------------------------------------------

def _server(l4: Any, n: int, size: int) -> None:
    """Echo ``n`` messages of ``size`` bytes back (reply_wait: L3's server loop)."""
    l4.store_bytes(BUF_S, bytes(8192))              # fault the buffer in first
    s = (BUF_S, size) if size > 8 else None
    words = (0, 0) if size == 8 else ()
    m = l4.receive(buffer=(BUF_S, 8192, -1))
    for _ in range(n):
        m = l4.reply_wait(m.sender, words=words, string=s, buffer=(BUF_S, 8192, -1))


def _client(l4: Any, n: int, size: int, out: dict[str, Any]) -> None:
    """Ping-pong ``n`` round trips of ``size`` bytes; record cycles and counters."""
    l4.store_bytes(BUF_C, bytes(8192))
    srv = l4.thread_create(l4.space_create("server"), _server, n + 1, size, name="server")
    s = (BUF_C, size) if size > 8 else None
    words = (0, 0) if size == 8 else ()
    l4.call(srv, words=words, string=s, buffer=(BUF_C, 8192, -1))     # warm
    cpu = l4._cpu
    before = (l4.time(), cpu.tlb_misses, cpu.asid_loads, cpu.traps)
    for _ in range(n):
        l4.call(srv, words=words, string=s, buffer=(BUF_C, 8192, -1))
    after = (l4.time(), cpu.tlb_misses, cpu.asid_loads, cpu.traps)
    d = [(b - a) / (2 * n) for a, b in zip(before, after)]
    out.update(cycles=d[0], tlb_misses=d[1], cr3_loads=d[2], traps=d[3])


def _run_l4(size: int, n: int, profile: str, seed: int) -> dict[str, Any]:
    """Boot the ping-pong on a fresh machine; its per-IPC record."""
    from exolab.kernels.l4 import L4
    from exolab.machine import Machine
    k = L4(Machine(profile, seed=seed))
    out: dict[str, Any] = {}
    k.boot(_client, n, size, out)
    k.run()
    if "cycles" not in out:
        raise RuntimeError(f"l4 ping-pong did not finish: {k.faults[:3]}")
    return out


def l4_ipc(size: int, n: int, profile: str, seed: int = 0) -> float:
    """Cycles of one L4 IPC carrying ``size`` bytes (0: the null IPC)."""
    return float(_run_l4(size, n, profile, seed)["cycles"])


def l4_anatomy(profile: str = "i486", n: int = 40) -> dict[str, float]:
    """The null IPC split into its parts (cycles per IPC), from counters and rows."""
    from exolab.kernels.l4.paths import path_table
    p = get_profile(profile)
    rows = {r: c for r, (c, _s) in path_table(profile).items()}
    out = _run_l4(0, n, profile, 0)
    parts = {
        "kernel entry + exit (int, iret)": (p.trap_entry + p.trap_exit) * out["traps"],
        "segment-register reloads": rows["l4_segments"] * out["traps"],
        "address-space switch (ld + mov cr3)": (rows["l4_as_switch"] + p.asid_switch)
        * out["cr3_loads"],
        "TLB misses after the flush": out["tlb_misses"] * p.tlb_miss_entry,
    }
    parts["path instructions (kernel + user stubs)"] = out["cycles"] - sum(parts.values())
    parts["total"] = out["cycles"]
    parts["tlb_misses"] = out["tlb_misses"]
    return parts


# -- Mach: measured when the kernel is there --------------------------------------------

def _mach_ipc() -> Callable[..., float] | None:
    """The Mach kernel's one-way IPC measure (``exolab.kernels.mach.measure``), if present."""
    try:
        mod = importlib.import_module("exolab.kernels.mach.measure")
    except ImportError:
        return None
    fn = getattr(mod, "ipc_cycles", None)
    if not callable(fn):
        return None

    def measure(size: int, n: int, profile: str, seed: int) -> float:
        return float(fn(size, profile, n))
    return measure


# -- the monolithic kernel: ABI programs -------------------------------------------------

def _counter(os: ABI, word: int) -> int:
    return word


def _rpc_server(os: ABI, n: int) -> None:
    os.rpc_serve("l4-null", _counter, n)


def null_rpc(os: ABI, n: int) -> None:
    """A null call into another address space and back, over the rpc service."""
    pid = os.spawn(_rpc_server, n + 1, name="server")
    h = os.rpc_connect("l4-null")
    os.rpc_call(h, 0)
    t0 = os.time()
    for _ in range(n):
        os.rpc_call(h, 0)
    report(os, (os.time() - t0) / n)
    os.wait(pid)


def null_ipc(os: ABI, n: int) -> None:
    """Half a null RPC: one message transfer."""
    pid = os.spawn(_rpc_server, n + 1, name="server")
    h = os.rpc_connect("l4-null")
    os.rpc_call(h, 0)
    t0 = os.time()
    for _ in range(n):
        os.rpc_call(h, 0)
    report(os, (os.time() - t0) / n / 2)
    os.wait(pid)


def _echo(os: ABI, rd: int, wr: int, size: int, n: int) -> None:
    for _ in range(n + 1):
        data = b""
        while len(data) < size:
            data += os.read(rd, size - len(data))
        os.write(wr, data)


def _pipe_message(size: int) -> Callable[[ABI, int], None]:
    """One direction of an n-byte message over a pipe pair (write, the peer reads)."""
    def program(os: ABI, n: int) -> None:
        r1, w1 = os.pipe()
        r2, w2 = os.pipe()
        pid = os.fork(_echo, r1, w2, size, n)
        msg = bytes(size)
        t0 = 0
        for i in range(n + 1):
            if i == 1:
                t0 = os.time()
            os.write(w1, msg)
            got = b""
            while len(got) < size:
                got += os.read(r2, size - len(got))
        report(os, (os.time() - t0) / n / 2)
        os.wait(pid)
    program.__name__ = f"ipc_{size}"
    return program


PROGRAMS: dict[str, Callable[..., None]] = {
    "null_ipc": null_ipc, "null_rpc": null_rpc,
    **{f"ipc_{n}": _pipe_message(n) for n in SIZES},
}
ITERATION = {"null_ipc": "a call and its reply: two transfers (the row is half)",
             "null_rpc": "a call and its reply",
             **{f"ipc_{n}": "a message there and back (the row is half)" for n in SIZES}}
NEEDS = {f"ipc_{n}": frozenset({"fork"}) for n in SIZES}


def _size(bench: str) -> int:
    """The payload of a benchmark (null: 0)."""
    return 0 if bench.startswith("null") else int(bench.split("_")[1])


def _measure(ctx: SuiteContext, bench: str, kernel: str, n: int) -> float | None:
    """Cycles of one benchmark on one kernel (None: n/a). The null rows run the ABI
    program on every kernel (what ``exolab explain`` dissects); the sized rows
    run each microkernel's own messages (Table 7's), pipes on the monolithic one."""
    if bench in ("null_ipc", "null_rpc") and kernel in _registered():
        return run_benchmark(get_suite(ctx.suite), bench, kernel, ctx.profile, ctx.seed, n)
    if kernel == "l4":
        c = l4_ipc(_size(bench), n, ctx.profile, ctx.seed)
        return 2 * c if bench == "null_rpc" else c
    if kernel == "mach":
        fn = _mach_ipc()
        if fn is None:
            return None
        c = fn(_size(bench), n, ctx.profile, ctx.seed)
        return 2 * c if bench == "null_rpc" else c
    return run_benchmark(get_suite(ctx.suite), bench, kernel, ctx.profile, ctx.seed, n)


def _registered() -> list[str]:
    """The kernels of the registry (an unregistered kernel runs its own programs)."""
    from exolab.kernels import kernel_names
    return kernel_names()


def _anatomy_note(profile: str) -> str:
    """The null IPC's anatomy beside L3 Table 3's lower bound."""
    a = l4_anatomy(profile)
    parts = ", ".join(f"{k} {v:.0f}" for k, v in a.items() if k not in ("total",
                                                                      "tlb_misses"))
    return (f"a bare l4 null IPC = {a['total']:.0f} cycles: {parts} "
            f"({a['tlb_misses']:.0f} TLB misses; the row adds the rpc library's word and "
            f"handler); L3 Table 3: lower bound 172 = 127 execution (int 71 + iret 36 + "
            f"20 instructions) + 45 TLB (5 misses x 9), 250 achieved")


@suite("l4", kernels=("l4", "mach", "monolithic"), default_profile=suite_profile("l4"),
       description="l4: null IPC, IPC by message size, null RPC (L3 SOSP'93 T2, T3, T7)",
       programs=PROGRAMS, iteration=ITERATION, unit="us", sizes={}, default_size=_N,
       needs=NEEDS)
def run_l4(ctx: SuiteContext) -> SuiteOutput:
    """Measure every benchmark on every requested kernel, in microseconds."""
    mhz = get_profile(ctx.profile).mhz
    n = _N[1] if ctx.quick else _N[0]
    results = []
    notes: dict[str, str] = {}
    for bench in BENCHMARKS:
        for kernel in ctx.kernels:
            cycles = _measure(ctx, bench, kernel, n)
            if cycles is None:
                notes[bench] = "; ".join(x for x in (notes.get(bench, ""),
                                                     f"{kernel}: n/a") if x)
                continue
            results.append(ctx.result(bench, kernel, round(cycles / mhz, 3), "us"))
    if "l4" in ctx.kernels:
        notes["null_ipc"] = "; ".join(x for x in (notes.get("null_ipc", ""),
                                                  _anatomy_note(ctx.profile)) if x)
    for bench, text in _mach_over_l4(results).items():
        notes[bench] = "; ".join(x for x in (notes.get(bench, ""), text) if x)
    return SuiteOutput(results, paper_rows(ctx.suite), notes)


def _mach_over_l4(results: list[Any]) -> dict[str, str]:
    """mach / l4 per benchmark, measured beside the paper's Mach / L3 (Table 7)."""
    from exolab.bench.papers import figures
    got = {(r.benchmark, r.kernel): r.value for r in results}
    paper = {(f.benchmark, f.system): f.value for f in figures("l4")}
    out = {}
    for bench in BENCHMARKS:
        m, l = got.get((bench, "mach")), got.get((bench, "l4"))
        if m is None or not l:
            continue
        pm, pl = paper.get((bench, "Mach")), paper.get((bench, "L3"))
        published = f" (paper Mach/L3 {pm / pl:.1f})" if pm and pl else ""
        out[bench] = f"mach/l4 = {m / l:.1f}{published}"
    return out
