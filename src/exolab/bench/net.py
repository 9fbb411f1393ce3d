"""Suite ``net``: UDP round trips between two machines on a 10 Mb/s Ethernet (SOSP'95 §7).

Every benchmark runs a client on machine A and its peer on machine B, two
``dec5000`` machines on the era's Ethernet (:func:`exolab.machine.wire.ethernet`),
both running the kernel under test, run in lock step
(:func:`~exolab.machine.wire.run_together`). The programs are ABI programs
like every suite's; their :func:`harness` builds the pair, so ``exolab
explain`` counts what one round trip costs *machine A* (one send and one
receive: each machine does the same per round trip).

- ``udp60``       Table 11: a 60-byte UDP datagram there and back (the client
                  sends, the peer echoes it from user level), per round trip;
                  Ultrix is the monolithic kernel (its socket path is the
                  calibrated row), ExOS the library stack over DPF
- ``udp60-ash``   the same with the peer's echo done by an application-specific
                  handler in Aegis (needs dpf's ASH: n/a until it is there)
- ``load-K``      Fig 2: ``udp60`` with K = 1..10 compute-bound processes on the
                  receiver; latency grows with K where the echo waits to be
                  scheduled, stays flat with an ASH
- the *Ethernet lower bound* (two frames on the wire, no software) is a note,
  with the gap of each row above it; the ratio ExOS / ExOS+ASH against the
  paper's; Fig 2's slope per kernel; and dpf's Table 7 rows (bench/classify.py)

Interface::

    PROGRAMS, BENCHMARKS, PAYLOAD, LOADS
    harness(program, n, kernel=, profile=, seed=) -> ProgramRun   (machine A's)
    round_trip(kernel, n, load=0, profile="dec5000", seed=0) -> cycles
    floor_us(profile) -> float                         the Ethernet lower bound
    slope(results, kernel, suffix="") -> (us per process, intercept) | None   Fig 2
    run_net(ctx) -> SuiteOutput                        (registered as ``net``)
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.abi import ABI, SOCKET_CALLS
from exolab.apps.microbench import report
from exolab.bench.papers import paper_rows, suite_profile
from exolab.bench.registry import (ALL_KERNELS, SuiteContext, SuiteOutput, get_suite,
                                   microsecond_rows, run_benchmark, suite)
from exolab.errors import ConfigError
from exolab.machine.costs import get_profile

__all__ = ["PROGRAMS", "BENCHMARKS", "PAYLOAD", "LOADS", "CLIENT", "SERVER", "harness",
           "round_trip", "floor_us", "run_net", "slope", "ASH_PINGPONG"]

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
PORT = 7
DONE_PORT = 9               # the client's last datagram goes here
PAYLOAD = 60                # bytes of UDP data (Table 11's 60-byte packet)
LOADS = tuple(range(1, 11))  # Fig 2: compute-bound processes on the receiver
HOG_BURST = 1_000           # cycles a hog computes between looks at its stop flag (40 us:
                            # an interrupt is taken at the end of a burst, so bursts stay short)
_N = (64, 8)                # round trips: full run, quick run
_LOAD_N = (8, 3)


def echo(os: ABI, n: int, hogs: int = 0) -> None:
    """The peer: bind the port (first: a datagram to an unbound port is dropped), start
    ``hogs`` compute-bound processes, echo ``n + 1`` datagrams, stop the hogs."""
    s = os.socket("udp")
    os.bind(s, PORT)
    key = os.shm_create(4096) if hogs else 0
    pids = [os.spawn(hog, key, name="hog") for _ in range(hogs)]
    for _ in range(n + 1):
        data, (addr, port) = os.recvfrom(s, 2048)
        os.sendto(s, data, addr, port)
    if hogs:
        os.store(os.shm_attach(key), 1)
        for pid in pids:
            os.wait(pid)


def hog(os: ABI, key: int) -> None:
    """A compute-bound process: burn cycles until the peer raises the stop flag."""
    flag = os.shm_attach(key)
    while os.load(flag) == 0:
        os.compute(HOG_BURST)


def udp60(os: ABI, n: int) -> None:
    """Table 11's client: ``n`` 60-byte round trips to the peer's echo, after one warm;
    then a datagram to DONE_PORT (a peer that waits for it may end)."""
    s = os.socket("udp")
    os.bind(s, 0)
    msg = bytes(PAYLOAD)
    os.sendto(s, msg, SERVER, PORT)                 # warm: ARP, filters, caches
    os.recvfrom(s, 2048)
    t0 = os.time()
    for _ in range(n):
        os.sendto(s, msg, SERVER, PORT)
        os.recvfrom(s, 2048)
    report(os, (os.time() - t0) / n)
    os.sendto(s, b"done", SERVER, DONE_PORT)


#: the ASH both ends download for ``udp60-ash`` (SOSP'95: two processes ping-pong a
#: counter): the payload's first word counts the hops left. The handler checks the
#: datagram's checksum as it copies it (the sum integrated into the copy), and with
#: hops left answers from the interrupt: the request with the Ethernet, IP and UDP
#: addresses swapped (sums, so the IP checksum stays right), the count one less and
#: the UDP checksum updated for it; at zero it delivers the frame to the socket.
ASH_PINGPONG = """
def handler(msg):
    n = msg.length
    if n < 46:
        return
    ulen = msg.load(38, 2)
    if ulen < 12 or 34 + ulen > n:
        return
    ck = msg.load(40, 2)
    count = msg.load(42, 4)
    msg.copy(6, 0, 6)
    msg.copy(0, 6, 6)
    msg.copy(12, 12, 14)
    s = msg.copy(30, 26, 4) + msg.copy(26, 30, 4)
    s = s + msg.copy(36, 34, 2) + msg.copy(34, 36, 2) + msg.copy(38, 38, 4)
    s = s + msg.copy(42, 42, ulen - 8) + 17 + ulen
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    if ck != 0 and s != 0xFFFF:
        return
    if count == 0:
        msg.deliver()
        return
    new = count - 1
    t = s + (0xFFFF - ck) + (0xFFFF - (count >> 16)) + (0xFFFF - (count & 0xFFFF))
    t = t + (new >> 16) + (new & 0xFFFF)
    t = (t & 0xFFFF) + (t >> 16)
    t = (t & 0xFFFF) + (t >> 16)
    t = (t & 0xFFFF) + (t >> 16)
    c = 0xFFFF - t
    if c == 0:
        c = 0xFFFF
    msg.store(42, 4, new)
    msg.store(40, 2, c)
    msg.send(0, 34 + ulen)
"""


def ash_echo(os: Any, n: int, hogs: int = 0) -> None:
    """The ASH peer: ASH_PINGPONG answers PORT in Aegis (with ``hogs`` compute-bound
    processes beside it); the process waits on a socket (answering ARP meanwhile)
    for the client's last datagram."""
    done = os.socket("udp")
    os.bind(done, DONE_PORT)
    s = os.socket("udp")
    os.bind(s, PORT)
    os.bind_handler(s, ASH_PINGPONG)
    key = os.shm_create(4096) if hogs else 0
    pids = [os.spawn(hog, key, name="hog") for _ in range(hogs)]
    os.recvfrom(done, 16)
    if hogs:
        os.store(os.shm_attach(key), 1)
        for pid in pids:
            os.wait(pid)


def ash_pingpong(os: Any, n: int) -> None:
    """``udp60-ash``'s client: one warm round trip through the peer's ASH, then a
    counter of 2n hops ping-pongs between the two ASHs; the last hop wakes us."""
    s = os.socket("udp")
    os.bind(s, 0)
    os.bind_handler(s, ASH_PINGPONG)
    msg = bytes(PAYLOAD - 4)
    os.sendto(s, (1).to_bytes(4, "big") + msg, SERVER, PORT)    # warm: ARP, caches
    os.recvfrom(s, 2048)
    t0 = os.time()
    os.sendto(s, (2 * n - 1).to_bytes(4, "big") + msg, SERVER, PORT)
    os.recvfrom(s, 2048)
    report(os, (os.time() - t0) / n)
    os.sendto(s, b"done", SERVER, DONE_PORT)


def _client(name: str, peer: str, *peer_args: int,
            ash: bool = False) -> Callable[..., None]:
    """``udp60`` (``ash``: ``ash_pingpong``) under another name, run against this
    module's ``peer(os, n, *peer_args)``. The attributes are data (names, ints):
    the verifier copies them with the program and the harness resolves them."""
    if ash:
        def program(os: ABI, n: int) -> None:
            ash_pingpong(os, n)
    else:
        def program(os: ABI, n: int) -> None:   # type: ignore[misc]
            udp60(os, n)
    program.__name__ = name
    program.peer = peer                             # type: ignore[attr-defined]
    program.peer_args = peer_args                   # type: ignore[attr-defined]
    program.harness = "exolab.bench.net:harness"    # type: ignore[attr-defined]
    return program


def harness(program: Any, n: int, *, kernel: str, profile: str, seed: int) -> Any:
    """Run ``program`` on machine A against its ``peer`` on B (verified both); A's run."""
    from exolab.kernels import make_kernel
    from exolab.machine.machine import Machine
    from exolab.machine.wire import ethernet, run_together
    from exolab.runner import ProgramRun
    from exolab.safe.load import load_function
    client, peer = load_function(program), load_function(globals()[program.peer])
    wire = ethernet()
    ma, mb = Machine(profile, seed=seed), Machine(profile, seed=seed + 1)
    ma.attach_nic(wire.a)
    mb.attach_nic(wire.b)
    ka, kb = make_kernel(kernel, ma, ip=CLIENT), make_kernel(kernel, mb, ip=SERVER)
    kb.boot(peer, n, *program.peer_args, name="peer")
    ka.boot(client, n, name=program.__name__)
    try:
        result = run_together([ma, mb])[0]
    finally:
        ma.close()
        mb.close()
    return ProgramRun(ma, ka, result, list(ka.console), list(ka.faults) + list(kb.faults))


PROGRAMS: dict[str, Callable[..., None]] = {
    "udp60": _client("udp60", "echo"),
    "udp60-ash": _client("udp60-ash", "ash_echo", ash=True),
    **{f"load-{k}": _client(f"load-{k}", "echo", k) for k in LOADS},
    **{f"load-{k}-ash": _client(f"load-{k}-ash", "ash_echo", k, ash=True) for k in LOADS},
}
BENCHMARKS = tuple(PROGRAMS)
ITERATION = {b: "a round trip (machine A's share: one send, one receive)"
             for b in BENCHMARKS}
_SOCKETS = frozenset(SOCKET_CALLS)
NEEDS = {"udp60": _SOCKETS, "udp60-ash": _SOCKETS | {"bind_handler"},
         **{f"load-{k}": _SOCKETS | {"shm_create"} for k in LOADS},
         **{f"load-{k}-ash": _SOCKETS | {"shm_create", "bind_handler"} for k in LOADS}}
SIZES = {**{f"load-{k}": _LOAD_N for k in LOADS},
         **{f"load-{k}-ash": _LOAD_N for k in LOADS}}


def round_trip(kernel: str, n: int, load: int = 0, profile: str = "dec5000",
               seed: int = 0) -> float:
    """Cycles of one round trip of ``udp60`` (with ``load`` hogs on the peer)."""
    bench = "udp60" if load == 0 else f"load-{load}"
    value = run_benchmark(get_suite("net"), bench, kernel, profile, seed, n)
    if value is None:
        raise ConfigError("benchmark is n/a on this kernel", benchmark=bench,
                          kernel=kernel)
    return value


def floor_us(profile: str) -> float:
    """The Ethernet lower bound of a ``udp60`` round trip on ``profile``, in us."""
    from exolab.machine.wire import round_trip_floor_us
    return round_trip_floor_us(get_profile(profile), 14 + 20 + 8 + PAYLOAD)


@suite("net", kernels=(ALL_KERNELS,), default_profile=suite_profile("net"),
       description="net: UDP round trips between two machines (SOSP'95 Table 11, Fig 2)",
       programs=PROGRAMS, iteration=ITERATION, unit="us", sizes=SIZES, default_size=_N,
       needs=NEEDS)
def run_net(ctx: SuiteContext) -> SuiteOutput:
    """Measure every round trip on every requested kernel, in microseconds."""
    floor = floor_us(ctx.profile)
    results, notes = microsecond_rows(ctx, BENCHMARKS)
    notes.update(_notes(results, floor))
    if "exokernel" in ctx.kernels:
        from exolab.bench.classify import classification_rows
        rows, more = classification_rows(ctx)      # Table 7 (helper dpf's bench/classify)
        results += rows
        notes.update(more)
    return SuiteOutput(results, paper_rows(ctx.suite), notes)


def _value(results: list[Any], bench: str, kernel: str) -> float | None:
    """The measured value of (``bench``, ``kernel``), or None."""
    return next((r.value for r in results if r.benchmark == bench and r.kernel == kernel),
                None)


def slope(results: list[Any], kernel: str, suffix: str = "") -> tuple[float, float] | None:
    """Least-squares (us per added process, intercept) of ``load-K{suffix}`` on
    ``kernel``, or None without two points."""
    pts = [(k, v) for k in LOADS
           if (v := _value(results, f"load-{k}{suffix}", kernel)) is not None]
    if len(pts) < 2:
        return None
    n = len(pts)
    mx, my = sum(k for k, _ in pts) / n, sum(v for _, v in pts) / n
    sxx = sum((k - mx) ** 2 for k, _ in pts)
    b = sum((k - mx) * (v - my) for k, v in pts) / sxx
    return b, my - b * mx


def _notes(results: list[Any], floor: float) -> dict[str, str]:
    """The lower bound, ExOS/ASH against the paper, and Fig 2's slopes."""
    notes: dict[str, str] = {}
    udp = {k: v for k in ("monolithic", "exokernel")
           if (v := _value(results, "udp60", k)) is not None}
    notes["udp60"] = (f"Ethernet lower bound {floor:.1f} us (two 102-byte frames, no "
                      "software); above it: " + ", ".join(f"{k} {v - floor:.1f} us"
                                                          for k, v in udp.items()))
    ash = _value(results, "udp60-ash", "exokernel")
    if ash is not None and "exokernel" in udp:
        ratio = udp["exokernel"] / ash
        ok = "ok" if ratio > 1 and 1 / 1.5 <= ratio / (320 / 259) <= 1.5 else "OFF"
        notes["udp60-ash"] = (f"ExOS/ExOS+ASH {ratio:.2f} (paper {320 / 259:.2f}) {ok}; "
                              f"{ash - floor:.1f} us above the lower bound (paper 6 us)")
    for kernel, suffix in (("monolithic", ""), ("exokernel", ""), ("exokernel", "-ash")):
        fit = slope(results, kernel, suffix)
        if fit is not None:
            shape = "flat" if abs(fit[0]) < 0.02 * max(fit[1], 1.0) else "grows linearly"
            notes[f"load-1{suffix}"] = "; ".join(x for x in (
                notes.get(f"load-1{suffix}", ""),
                f"Fig 2 {kernel}: {fit[0]:+,.1f} us per process ({shape})") if x)
    return notes
