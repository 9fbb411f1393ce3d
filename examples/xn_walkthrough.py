"""XN, step by step: the seed's walk-through (setup, startup, allocate, read, write).

Covers: XN's templates (ownership, access and size functions, verified as
deterministic and terminating before XN runs them), the type and root
catalogues, the allocation protocol (owns(m) lacks b; apply; owns(m') is
owns(m) plus exactly b; else revert and refuse), the buffer-cache registry
(a read needs the parent cached and owning the block, and the parent's
access function's consent), the two ordering rules, XN's free map and its
rebuild after a crash.

Scenario: a library file system (the flat one in ``libos/flatfs``, principal
7) installs its three templates and registers its root; it starts up by
loading the root from the root catalogue; it allocates a file block and a
data block, each by naming the block, the parent and the bytes that make the
parent point to it; a forged allocation (bytes that point to two blocks)
is refused and changes nothing; another principal is refused a read; a
write-back of a parent before its new child is refused (rule 1), sync writes
in a safe order; a freed block stays unusable until the pointer's removal is
durable (rule 2); a crash loses the cache and XN rebuilds its free map from
the disk.

Run it: ``python examples/xn_walkthrough.py``.
"""
from __future__ import annotations

import struct

from exolab.errors import SyscallError
from exolab.kernels.exokernel.xn import XN, HostPages
from exolab.libos.flatfs.templates import ENTRY, MAGIC, NAME_MAX, templates
from exolab.services.ext2 import MemoryDevice

BS, ME, OTHER = 1024, 7, 8


def refused(what: str, fn: object, *args: object) -> None:
    """Call ``fn``; print the errno it is refused with."""
    try:
        fn(*args)  # type: ignore[operator]
    except SyscallError as ex:
        print(f"  {what}: refused {ex.errno} ({ex.message})")
        return
    raise AssertionError(f"{what} was not refused")


def main() -> None:
    xn = XN(MemoryDevice(BS, 64), HostPages())

    print("SETUP")
    for name, source in templates(BS, ME).items():
        print(f"  install template {xn.install_type(name, source)!r}")
    xn.register_root(ME, "flat", 1, "flat dir")
    xn.write(ME, 1, [(0, MAGIC)])
    print(f"  root catalogue: 'flat' -> block {xn.root('flat').block}, "
          f"type {xn.root('flat').type!r}")

    print("STARTUP")
    ppn, handle = xn.load_root(ME, "flat")
    print(f"  load root 'flat': registry page {ppn} (read capability {handle})")

    print("ALLOCATE")
    f = xn.free_blocks(2, 1)[0]
    entry = b"hello".ljust(NAME_MAX, b"\0") + struct.pack("<I", f)
    xn.alloc(ME, 1, [(ENTRY, entry)], f, "flat file")
    print(f"  file block {f}: owns(root) lacked it, owns(root') = owns(root) + {{{f}}}")
    d1, d2 = xn.free_blocks(3, 2)
    forged = [(4, struct.pack("<II", d1, d2))]
    refused(f"forged: name {d1}, point to {d1} and {d2}", xn.alloc, ME, f, forged, d1,
            "flat data")
    xn.alloc(ME, f, [(4, struct.pack("<I", d1))], d1, "flat data")
    print(f"  data block {d1} under file block {f}")

    print("READ")
    print(f"  read {d1} under {f}: page {xn.read(ME, d1, f)[0]}")
    refused(f"principal {OTHER} reads {d1}", xn.read, OTHER, d1, f)
    refused(f"read {d1} under the root (which does not own it)", xn.read, ME, d1, 1)

    print("WRITE")
    xn.write(ME, d1, [(0, b"hello, disk")])
    xn.write(ME, f, [(0, struct.pack("<I", 11))])
    refused("write back the file block first (rule 1)", xn.writeback, ME, f)
    print(f"  sync: {xn.sync()} blocks written, children first, then a flush")
    xn.free(ME, f, [(4, bytes(4))], d1)
    refused(f"reuse freed {d1} before the cleared pointer is durable (rule 2)",
            xn.alloc, ME, f, [(8, struct.pack("<I", d1))], d1, "flat data")
    xn.sync()
    print(f"  after sync: block {d1} is free again: {d1 in xn.free_blocks(d1, 1)}")

    print("CRASH")
    xn.crash()
    print(f"  registry after the crash: {xn.statistics().cached} blocks")
    print(f"  free map rebuilt from the roots: {xn.recover()} blocks in use "
          f"(root, file), {xn.n_conflicts} conflicts")
    s = xn.statistics()
    print(f"  counters: {s.allocs} allocations, {s.frees} free, {s.refused} refused, "
          f"{s.udf_runs} function runs, {s.disk_writes} disk writes")


if __name__ == "__main__":
    main()
