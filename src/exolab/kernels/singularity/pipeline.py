"""The three-SIP I/O pipeline of OSR'07 Fig 5, under each isolation configuration.

A WebFiles-shaped workload (OSR'07 §4: a client SIP reading files through a
file-system SIP from a disk-driver SIP). The disk is the machine's simulated
disk, holding a file set shaped like SPECweb96's (four classes of nine sizes,
0.1 KB to 900 KB) and a directory in block 0. The client reads files picked
from a fixed trace (SPECweb96's class mix, 35/50/14/1 %), block by block, over
a ``FileService`` channel; it copies each block into its own file buffer and
checks the block's tag. The file system keeps a FIFO block cache in its heap:
a hit is copied out of the cache into a new exchange-heap block; a miss asks
the driver over ``DiskDevice``, which reads the block by DMA into its heap,
puts it into an exchange-heap block and sends it; the file system copies it
into its cache and forwards the very block to the client (ownership moves,
nothing is copied on a send). Every choice above is the workload's and the
same in every configuration; no count in it was tuned to a figure.

What a configuration changes is only what the kernel and the machine then do:
with paging on, every access of a SIP's heap goes through the TLB (64 entries
on the untagged Athlon 64); a switch into or out of an own domain loads an
address space, which flushes the TLB, and the refills follow as accesses
happen; a ring-3 SIP's every kernel call is a trap.

A run's cost is the CPU's busy cycles (elapsed minus idle: the drive's seek
and rotation are not CPU work, and the paper counts cycles). Boot, start-up
and teardown cancel by subtraction: the same trace is run with ``n`` and
``2n`` files on fresh machines, and the difference is divided by the blocks
read in between.

Interface::

    FIG5                          configuration -> the paper's slowdown (percent)
    FILES                         the file set: (class, size in bytes) per file
    trace(n, seed=SEED) -> bytes  the files the client reads (one byte each)
    image(path, block_size=4096)  write the disk image (directory + tagged blocks)
    driver, fs, client, init      the programs (``main(os, ...)``)
    run(config, wanted, profile, cache_pages, seed) -> (busy cycles, blocks, stats)
    run_kernel(...)  as run, and the kernel's statistics: (busy, blocks, stats, kstats)
    measure(config, n=120, profile, seed) -> busy cycles per block read
    slowdowns(n=120) -> {config: percent over base}
    anatomies(config, n=30, profile, seed) -> [Anatomy of base, of config]: what one
                                  block read does (``exolab explain fig5_<config>``)
"""
from __future__ import annotations

import os as host_os
import random
import tempfile
from typing import Any

__all__ = ["FIG5", "FILES", "SEED", "CACHE_PAGES", "ITERATION", "trace", "image",
           "driver", "fs", "client", "init", "run", "run_kernel", "measure", "slowdowns",
           "anatomies"]

#: OSR'07 Fig 5 (WebFiles): slowdown against ring 0 with paging off, percent
FIG5 = {"paging": 6.3, "domain": 18.9, "ring3": 33.0, "hip": 37.7}
#: SPECweb96's file set for one directory: class c holds nine files of k * base bytes
_CLASS_BASE = (102, 1_024, 10_240, 102_400)
_CLASS_MIX = (35, 50, 14, 1)            # percent of requests per class (SPECweb96)
FILES = tuple((c, k * base) for c, base in enumerate(_CLASS_BASE) for k in range(1, 10))
SEED = 2007
ITERATION = "one block read (client <- file system <- disk driver)"
CACHE_PAGES = 256                       # the file system's block cache: 1 MiB
BLOCK = 4096
_WORD = 4


def trace(n: int, seed: int = SEED) -> bytes:
    """``n`` file numbers in SPECweb96's class mix (uniform within a class), made by
    the harness outside every simulation, so each configuration reads the same."""
    rng = random.Random(seed)
    out = bytearray()
    for _ in range(n):
        c = rng.choices(range(4), weights=_CLASS_MIX)[0]
        out.append(9 * c + rng.randrange(9))
    return bytes(out)


def _layout(block_size: int) -> list[tuple[int, int]]:
    """(first block, blocks) of every file: one after another after the directory."""
    out, at = [], 1
    for _c, size in FILES:
        blocks = -(-size // block_size)
        out.append((at, blocks))
        at += blocks
    return out


def image(path: str, block_size: int = BLOCK) -> int:
    """Write the image: block 0 the directory (count, then (first, blocks) per file),
    each file block tagged with (file, index) in its first two words; blocks."""
    layout = _layout(block_size)
    total = max(16, layout[-1][0] + layout[-1][1])
    with open(path, "wb") as f:
        f.truncate(total * block_size)
        words = [len(layout)] + [w for entry in layout for w in entry]
        f.write(b"".join(w.to_bytes(_WORD, "little") for w in words))
        for number, (first, blocks) in enumerate(layout):
            for i in range(blocks):
                f.seek((first + i) * block_size)
                f.write(number.to_bytes(_WORD, "little") + i.to_bytes(_WORD, "little"))
    return total


def driver(os: Any, dev: Any) -> None:
    """The disk driver: serves DiskDevice on ``dev`` (Exp) until the channel closes."""
    size, blocks = os.disk_info()
    buf = os.mmap(size)
    while True:
        msg = os.receive(dev)
        if msg is None:
            return
        block = msg[1][0]
        if block >= blocks:
            os.send(dev, "Failed", block)
            continue
        os.disk_read(block, buf)                        # DMA into its own heap
        os.send(dev, "Data", os.exheap_new(os.load_bytes(buf, size)))


driver.manifest = ("disk-driver", (("dev", "DiskDevice", "Exp"),),  # type: ignore[attr-defined]
                   (), (("disk", 1),))


def _fetch(os: Any, dev: Any, block: int) -> Any:
    """Block ``block`` from the driver, as the exchange-heap block it sent."""
    os.send(dev, "Read", block)
    name, args = os.receive(dev)
    return args[0] if name == "Data" else None


def fs(os: Any, dev: Any, svc: Any, cache_pages: int) -> None:
    """The file system: the directory from block 0, then FileService on ``svc``
    (Exp) with a FIFO cache of ``cache_pages`` blocks in its heap."""
    first = os.exheap_read(_fetch(os, dev, 0))
    size = len(first)
    meta = os.mmap(size)
    os.store_bytes(meta, first)
    files = [(os.load(meta + 4 + 8 * i), os.load(meta + 8 + 8 * i))
             for i in range(os.load(meta))]
    cache = os.mmap(cache_pages * size)
    slot_of: dict[int, int] = {}
    held = [-1] * cache_pages
    hand = 0
    while True:
        msg = os.receive(svc)
        if msg is None:
            os.close_endpoint(dev)
            return
        number, index = msg[1]
        if number >= len(files) or index >= files[number][1]:
            os.send(svc, "NoBlock")
            continue
        block = files[number][0] + index
        more = index + 1 < files[number][1]
        slot = slot_of.get(block)
        if slot is not None:                            # a hit: out of the cache
            data = os.load_bytes(cache + slot * size, size)
            os.send(svc, "Block", os.exheap_new(data), more)
            continue
        got = _fetch(os, dev, block)
        if held[hand] >= 0:
            del slot_of[held[hand]]
        held[hand], slot_of[block] = block, hand
        os.store_bytes(cache + hand * size, os.exheap_read(got))
        hand = (hand + 1) % cache_pages
        os.send(svc, "Block", got, more)                # forwarded: nothing copied


fs.manifest = ("fs", (("dev", "DiskDevice", "Imp"),       # type: ignore[attr-defined]
                      ("files", "FileService", "Exp")), (), (("heap_pages", 16),))


def client(os: Any, files: Any, wanted: bytes) -> None:
    """The client: reads each file of ``wanted`` into its buffer, block by block,
    checking every block's tag; prints the blocks read and the bad ones."""
    buf = os.mmap(1 << 20)
    blocks = bad = 0
    for number in wanted:
        index, more = 0, True
        while more:
            os.send(files, "ReadBlock", number, index)
            name, args = os.receive(files)
            if name != "Block":
                bad += 1
                break
            block, more = args
            data = os.exheap_read(block)
            os.exheap_free(block)
            at = buf + index * len(data)
            os.store_bytes(at, data)
            if os.load(at) != number or os.load(at + 4) != index:
                bad += 1
            index += 1
            blocks += 1
    os.close_endpoint(files)
    os.print(f"BLOCKS {blocks} BAD {bad}")


client.manifest = ("client", (("files", "FileService", "Imp"),), (), ())  # type: ignore[attr-defined]


def init(os: Any, wanted: bytes, cache_pages: int) -> None:
    """Make the two channels, start the three SIPs with their ends; wait for them."""
    d_exp, d_imp = os.channel("DiskDevice")
    f_exp, f_imp = os.channel("FileService")
    pids = [os.spawn(driver, d_exp, name="disk-driver"),
            os.spawn(fs, d_imp, f_exp, cache_pages, name="fs"),
            os.spawn(client, f_imp, wanted, name="client")]
    for pid in pids:
        os.wait(pid)


init.manifest = ("init", (), (), (), ("DiskDevice", "FileService"))  # type: ignore[attr-defined]


def run(config: str, wanted: bytes, profile: str = "athlon64",
        cache_pages: int = CACHE_PAGES, seed: int = 0) -> tuple[int, int, Any]:
    """Run the pipeline reading ``wanted`` under ``config`` (the client is the SIP
    a "named" setting isolates): (busy cycles, blocks read, machine statistics)."""
    return run_kernel(config, wanted, profile, cache_pages, seed)[:3]


def run_kernel(config: str, wanted: bytes, profile: str = "athlon64",
               cache_pages: int = CACHE_PAGES, seed: int = 0) -> tuple[int, int, Any, Any]:
    """As :func:`run`, with the kernel's statistics record last."""
    from exolab.errors import ConfigError
    from exolab.kernels.singularity.kernel import Singularity
    from exolab.machine.machine import Machine
    from exolab.safe.load import load_function
    fd, path = tempfile.mkstemp(prefix="exolab-webfiles-", suffix=".img")
    host_os.close(fd)
    try:
        image(path)
        m = Machine(profile, seed=seed)
        m.attach_disk(path)
        k = Singularity(m, isolation=config,
                        isolated=("client",))
        k.boot(load_function(init), wanted, cache_pages)
        k.run()
        for d in m.disks:
            d.close()
    finally:
        host_os.unlink(path)
    line = next((x for x in k.console if x.startswith("BLOCKS ")), None)
    if line is None or k.faults or line.split()[3] != "0":
        raise ConfigError("pipeline failed", config=config, line=str(line),
                          faults=k.faults[:3])
    stats = m.statistics()
    return (m.clock.now - stats.cpus[0].idle_cycles, int(line.split()[1]), stats,
            k.statistics())


def measure(config: str, n: int = 120, profile: str = "athlon64", seed: int = 0) -> float:
    """Busy cycles per block read under ``config``: files n+1..2n of the trace
    (runs of 2n and n files subtracted, so start-up and teardown cancel)."""
    long = trace(2 * n)
    busy2, blocks2, _ = run(config, long, profile, seed=seed)
    busy1, blocks1, _ = run(config, long[:n], profile, seed=seed)
    return (busy2 - busy1) / (blocks2 - blocks1)


def slowdowns(n: int = 120) -> dict[str, float]:
    """Percent slowdown of each Fig 5 configuration against the base."""
    base = measure("base", n)
    return {c: round(100 * (measure(c, n) / base - 1), 1) for c in FIG5}


def _counts(run: tuple[int, int, Any, Any]) -> dict[str, int]:
    """Every event counter of a finished run: busy cycles, the machine's, the kernel's."""
    from exolab.bench.anatomy import kernel_counters
    from exolab.records import flatten
    busy, _blocks, stats, kstats = run
    out: dict[str, int] = {"cycles": busy}
    for group, records in (("cpu", stats.cpus), ("tlb", stats.tlbs)):
        for rec in records:
            for name, value in flatten(rec):
                out[f"{group}.{name}"] = out.get(f"{group}.{name}", 0) + value
    for name, value in flatten(stats.memory):
        out[f"memory.{name}"] = value
    for name, value in kernel_counters(kstats):
        out[f"kernel.{name}"] = value
    return out


def anatomies(config: str, n: int = 30, profile: str = "athlon64",
              seed: int = 0) -> list[Any]:
    """What one block read does under the base and under ``config``: the runs of
    ``2n`` and ``n`` files subtracted, divided by the blocks read in between."""
    from exolab.bench.anatomy import MACHINE_COUNTERS, Anatomy
    from exolab.errors import ConfigError
    if config not in FIG5:
        raise ConfigError("not a Fig 5 configuration", config=config,
                          expected=sorted(FIG5))
    long = trace(2 * n)
    out = []
    for c in ("base", config):
        small, large = (run_kernel(c, w, profile, seed=seed) for w in (long[:n], long))
        blocks = large[1] - small[1]
        a, b = _counts(small), _counts(large)
        counts = {"cycles": (b["cycles"] - a["cycles"]) / blocks}
        for label, key in MACHINE_COUNTERS:
            counts[label] = (b.get(key, 0) - a.get(key, 0)) / blocks
        for key in b:
            if key.startswith("kernel.") and b[key] != a.get(key, 0):
                counts[f"singularity: {key[len('kernel.'):]}"] = \
                    (b[key] - a.get(key, 0)) / blocks
        out.append(Anatomy(f"fig5_{config}", c, profile, ITERATION, counts["cycles"],
                           counts))
    return out
