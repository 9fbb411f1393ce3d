"""Measurements of the Mach-style kernel's paths, for suites (importable).

Each function boots its own machine on ``profile``, runs a fixed program and
returns simulated cycles per operation: the program reads the cycle counter
(``os.time()``) around ``rounds`` operations after ``WARMUP`` untimed ones,
so boot, spawn and first-touch misses fall outside the window.

Interface::

    WARMUP
    ipc_cycles(nbytes, profile="dec5000", rounds=64) -> float
        one-way IPC of ``nbytes``: half a ping-pong round trip between two tasks
        (the client's mach_msg RPC, the server's reply-and-receive)
    ipc_anatomy(nbytes, profile="dec5000", rounds=32) -> {stage: cycles}
        where one such message's cycles go (stages from the path table, TLB misses
        and cache line fills counted, the rest measured; "tlb_misses", "line_fills",
        of them "text_fills" (code) and "copy_fills" (the copies' sources))
    rpc_cycles(profile="dec5000", rounds=64) -> float     a null RPC (call + reply)
    syscall_cycles(profile="dec5000", rounds=64) -> float a null Mach trap
    unix_call_cycles(profile="dec5000", rounds=64) -> float   getpid via the UX server
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError
from exolab.kernels.mach.kernel import MachKernel
from exolab.machine.costs import CostProfile
from exolab.machine.machine import Machine

__all__ = ["WARMUP", "ipc_cycles", "ipc_anatomy", "rpc_cycles", "syscall_cycles", "unix_call_cycles"]

WARMUP = 4
_SERVICE = "bench.echo"


def _echo_server(os: Any, rounds: int) -> int:
    """Receive requests and answer each with its own payload, ``rounds`` times."""
    port = os.port_allocate()
    os.port_register(_SERVICE, port)
    got = os.msg_receive(port)
    for _ in range(rounds - 1):
        got = os.msg_reply_receive(got[1], got[2], port)
    os.msg_reply(got[1], got[2])
    return 0


def _client(os: Any, nbytes: int, rounds: int, out: list[int]) -> int:
    """Spawn the echo server, then time ``rounds`` RPCs of ``nbytes`` each."""
    os.spawn(_echo_server, WARMUP + rounds, name="echo")
    while True:
        try:
            dest = os.port_lookup(_SERVICE)
            break
        except SyscallError:
            os.yield_()
    data = bytes(nbytes)
    for _ in range(WARMUP):
        os.msg_rpc(dest, data)
    t0 = os.time()
    for _ in range(rounds):
        os.msg_rpc(dest, data)
    out.append(os.time() - t0)
    os.wait()
    return 0


def _run(profile: str | CostProfile, program: Any, *args: Any) -> MachKernel:
    """Boot ``program`` on a fresh Mach machine and run it to the end."""
    k = MachKernel(Machine(profile))
    k.boot(program, *args)
    try:
        k.run()
    finally:
        k.machine.close()
    if k.faults:
        raise RuntimeError(f"mach measurement faulted: {k.faults!r}")
    return k


def ipc_anatomy(nbytes: int, profile: str | CostProfile = "dec5000", rounds: int = 32) -> dict[str, float]:
    """Where one one-way ``nbytes`` message's cycles go: the runs of ``rounds`` and
    ``2 * rounds`` round trips differ by exactly ``rounds`` of them (the machine is
    deterministic), and the per-stage rows are the path table's, counted per message."""
    runs = []
    for n in (rounds, 2 * rounds):
        out: list[int] = []
        k = _run(profile, _client, nbytes, n, out)
        fp = k.ipc.statistics().footprint
        runs.append((k.machine.cycles, fp.misses, fp.line_fills, fp.text_fills,
                     fp.copy_fills))
    per = 2 * rounds                                    # one-way messages in the difference
    cycles = (runs[1][0] - runs[0][0]) / per
    misses = (runs[1][1] - runs[0][1]) / per
    fills, text, copies = ((runs[1][i] - runs[0][i]) / per for i in (2, 3, 4))
    p, paths = k.machine.profile, k.paths
    c = {
        "kernel entry + exit (trap)": p.trap_entry + p.trap_exit,
        "Mach system-call path (the trap machinery)": paths["mach_syscall_path"],
        "mach_msg path (the calibrated row)": paths["mach_msg_path"],
        "header parse, name lookups, rights checks": paths["mach_header_parse"]
        + 2.5 * (paths["mach_name_lookup"] + paths["mach_right_check"]),   # dest,
        # the receive name, and a reply name on the request (every other message)
        "body item parse": paths["mach_item_parse"],
        "kmsg allocate + free": paths["mach_kmsg_alloc"] + paths["mach_kmsg_free"]
        + paths["mach_kmsg_page"] * (max(1, -(-(nbytes + 28) // 4096)) - 1),
        "copy in + copy out (two copies)": 2 * p.copy_cost(nbytes + 28),
        "queue + dequeue + header copyout + reply right": paths["mach_enqueue"]
        + paths["mach_dequeue"] + paths["mach_copyout_header"]
        + 0.5 * paths["mach_name_insert"],             # the reply right, on requests
        "thread switch (path, registers, address space)": paths["mach_switch"]
        + p.reg_save + p.reg_restore + p.asid_switch,
        "TLB misses of the footprint": misses * _miss_cycles(p, paths),
        "cache line fills (code, data, both copies)":
        fills * (p.cache.line_fill if p.cache is not None else 0),
    }
    c["other (measured minus the stages)"] = cycles - sum(c.values())
    c["total"] = cycles
    c["tlb_misses"] = misses
    c["line_fills"], c["text_fills"], c["copy_fills"] = fills, text, copies
    return c


def _miss_cycles(p: Any, paths: dict[str, int]) -> int:
    """Cycles of one footprint TLB miss on profile ``p`` (as footprint.Footprint)."""
    refill = paths["mach_refill"]
    return p.tlb_miss_entry + (refill + p.exception_exit + p.tlb_write if refill else 0)


def ipc_cycles(nbytes: int, profile: str | CostProfile = "dec5000", rounds: int = 64) -> float:
    """Cycles of one one-way ``nbytes`` message between two tasks."""
    out: list[int] = []
    _run(profile, _client, nbytes, rounds, out)
    return out[0] / rounds / 2


def rpc_cycles(profile: str | CostProfile = "dec5000", rounds: int = 64) -> float:
    """Cycles of a null RPC (a call and its reply, no payload)."""
    return 2 * ipc_cycles(0, profile, rounds)


def _loop(os: Any, call: str, rounds: int, out: list[int]) -> int:
    """Time ``rounds`` calls of ``call`` after a warm-up."""
    fn = getattr(os, call)
    for _ in range(WARMUP):
        fn()
    t0 = os.time()
    for _ in range(rounds):
        fn()
    out.append(os.time() - t0)
    return 0


def syscall_cycles(profile: str | CostProfile = "dec5000", rounds: int = 64) -> float:
    """Cycles of a null Mach kernel trap (thread_self)."""
    out: list[int] = []
    _run(profile, _loop, "thread_self", rounds, out)
    return out[0] / rounds


def unix_call_cycles(profile: str | CostProfile = "dec5000", rounds: int = 64) -> float:
    """Cycles of getpid, an RPC to the UX server."""
    out: list[int] = []
    _run(profile, _loop, "getpid", rounds, out)
    return out[0] / rounds
