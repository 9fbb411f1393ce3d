"""The three-SIP I/O pipeline of OSR'07 Fig 5, under each isolation configuration.

A client SIP sends requests to a file-system SIP, which asks a disk-driver SIP
for the block (``rpc`` over channels: one byte each way). Each SIP does its
own work per request (:data:`WORK`): it touches pages of its heap (one load
per page: with paging on, each page needs a TLB entry), computes, and makes
kernel calls of its own. The client works on a working set of 24 pages and
makes 18 calls; the file system keeps 2 pages hot; the driver streams each
block through a new part of a 4 MiB buffer ring (12 pages a request, so
with paging on they always miss). The work is the workload's, chosen once
and the same in every configuration; what changes between configurations is
only what the kernel and the machine do (TLB misses, address-space loads and
the flushes they imply on the untagged Athlon 64 TLB, ring crossings). The
workload was chosen with the paper's percentages in view: it is a workload
in the papers' proportions, not a measurement of WebFiles.

Interface::

    WORK                        SIP -> (pages touched, ring pages, compute, calls)
    FIG5                        configuration -> the paper's slowdown (percent)
    client, fs, disk, init      the programs (``main(os, ...)``)
    measure(config, n=200, profile="athlon64") -> cycles per request
    slowdowns(n=200) -> {config: percent over base}
"""
from __future__ import annotations

from typing import Any

__all__ = ["WORK", "FIG5", "client", "fs", "disk", "init", "measure", "slowdowns"]

#: per request: (pages touched, pages of the ring they cycle through, compute cycles,
#: kernel calls of its own)
WORK = {"client": (24, 24, 16_000, 18), "fs": (2, 2, 6_000, 0),
        "disk": (12, 1_024, 6_000, 0)}
#: OSR'07 Fig 5 (WebFiles): slowdown against ring 0 with paging off, percent
FIG5 = {"paging": 6.3, "domain": 18.9, "ring3": 33.0, "hip": 37.7}
PAGE = 4096


def _worker(os: Any, work: tuple[int, int, int, int]) -> Any:
    """A SIP's per-request work: a closure over its buffer ring and its position."""
    touch, ring, cycles, calls = work
    va = os.mmap(ring * PAGE)
    at = [0]

    def step(os: Any) -> None:
        for i in range(touch):
            os.load(va + ((at[0] + i) % ring) * PAGE)
        at[0] = (at[0] + touch) % ring
        for _ in range(calls):
            os.api_call()
        os.compute(cycles)
    return step


def disk(os: Any, n: int, work: tuple[int, int, int, int]) -> None:
    """The disk driver: answers ``n`` block requests."""
    step = _worker(os, work)

    def block(os: Any, word: int) -> int:
        step(os)
        return word + 1

    os.rpc_serve("disk", block, n)


def fs(os: Any, n: int, work: tuple[int, int, int, int]) -> None:
    """The file system: each request is one block from the driver."""
    step = _worker(os, work)
    drv = os.rpc_connect("disk")

    def request(os: Any, word: int) -> int:
        got = os.rpc_call(drv, word)
        step(os)
        return got

    os.rpc_serve("fs", request, n)


def client(os: Any, n: int, work: tuple[int, int, int, int]) -> None:
    """The client: ``n`` requests (one warm-up), then the RESULT line."""
    step = _worker(os, work)
    srv = os.rpc_connect("fs")
    os.rpc_call(srv, 0)
    t0 = os.time()
    for i in range(n - 1):
        os.rpc_call(srv, i)
        step(os)
    os.print(f"RESULT {(os.time() - t0) / (n - 1):.3f}")


def init(os: Any, n: int, work: tuple[tuple[int, int, int, int], ...]) -> None:
    """Start the driver, the file system and the client; wait for all three."""
    dw, fw, cw = work
    pids = [os.spawn(disk, n, dw, name="disk"), os.spawn(fs, n, fw, name="fs"),
            os.spawn(client, n, cw, name="client")]
    for pid in pids:
        os.wait(pid)


def measure(config: str, n: int = 200, profile: str = "athlon64") -> float:
    """Cycles per client request under isolation configuration ``config``
    (the client is the SIP a "named" setting isolates)."""
    from exolab.kernels.singularity.kernel import Singularity
    from exolab.machine.machine import Machine
    from exolab.safe.load import load_function
    k = Singularity(Machine(profile), isolation=config, isolated=("client",))
    work = tuple(WORK[s] for s in ("disk", "fs", "client"))
    k.boot(load_function(init), n, work)
    k.run()
    line = next((x for x in k.console if x.startswith("RESULT ")), None)
    if line is None:
        from exolab.errors import ConfigError
        raise ConfigError("pipeline produced no result", config=config, faults=k.faults[:3])
    return float(line.split()[1])


def slowdowns(n: int = 200) -> dict[str, float]:
    """Percent slowdown of each Fig 5 configuration against the base."""
    base = measure("base", n)
    return {c: round(100 * (measure(c, n) / base - 1), 1) for c in FIG5}
