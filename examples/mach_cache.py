"""Why a Mach message grows faster than two copies: the 486's cache, line by line.

Covers: the machine's data cache as a hardware option the profile selects
(``machine/cache.py``; the ``i486`` profile: 8 KB, 4-way, 16-byte lines,
write-through, no write allocation), the Mach kernel's footprint through it
(its code, its port, space and thread lines, both copies through the kmsg:
``kernels/mach/footprint.py``), ``kernels.mach.measure.ipc_anatomy`` (where a
one-way message's cycles go, the cache line fills split into code and the
copies' sources), and L4's single copy on the same cache.

Scenario: a client and an echo server play ping-pong with messages of 8 bytes
to 4 KB on Mach, and the same with L4's strings; for each size the example
prints the one-way time and the line fills of one message. A second pair of
rows runs the cache by hand: a 4 KB copy into a buffer nobody reads (the
kmsg: written, so never filled) read back by a second copy misses every line.

Run it: ``python examples/mach_cache.py``.
"""
from __future__ import annotations

if __name__ == "__main__":     # host code: it boots machines and reads their counters
    from exolab.bench.l4 import _client, _run_l4
    from exolab.kernels.l4 import L4
    from exolab.kernels.mach import measure
    from exolab.machine import Machine
    from exolab.machine.cache import Cache
    from exolab.machine.costs import get_profile

    SIZES = (8, 512, 1024, 2048, 4096)

    def l4_fills(size: int) -> float:
        """Line fills of one L4 IPC of ``size`` bytes (two runs, differenced)."""
        got = []
        for n in (8, 16):
            k = L4(Machine("i486"))
            k.boot(_client, n, size, {})
            k.run()
            got.append(k.machine.statistics().cache.read_misses)
        return (got[1] - got[0]) / 16

    def main() -> None:
        p = get_profile("i486")
        print(f"i486 cache: {p.cache.size} bytes, {p.cache.ways}-way, {p.cache.line}-byte "
              f"lines, a fill {p.cache.line_fill} cycles")
        print(f"{'bytes':>6} {'mach us':>8} {'fills':>6} {'code':>5} {'copies':>6} "
              f"{'l4 us':>6} {'fills':>6}")
        for size in SIZES:
            a = measure.ipc_anatomy(size, "i486", 8)
            l4 = _run_l4(size, 8, "i486", 0)["cycles"]
            print(f"{size:>6} {a['total'] / p.mhz:>8.1f} {a['line_fills']:>6.0f} "
                  f"{a['text_fills']:>5.0f} {a['copy_fills']:>6.0f} {l4 / p.mhz:>6.1f} "
                  f"{l4_fills(size):>6.0f}")
        c = Cache(p.cache)
        print("copy in, 4 KB, the user buffer cold:", c.copy(0x10000, 0x40000, 4096), "fills")
        print("copy out of the kmsg it wrote:      ", c.copy(0x50000, 0x10000, 4096), "fills")
        print("copy in again (the source cached):  ", c.copy(0x10000, 0x40000, 4096), "fills")

    main()
