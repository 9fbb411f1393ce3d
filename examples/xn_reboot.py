"""XN, the walk-through's last step: the power goes, a new machine boots on the disk.

Covers: XN's persistent state (docs/xn.md, "On the disk"): the type catalogue
(each template's verified UDF source), the root catalogue and the free map
kept in a region at the disk's tail; the commit at sync (the libraries'
blocks durable first, then the other catalogue slot's payload, a flush, its
header, the changed free-map blocks, a flush); the boot sequence (the newest
valid slot, every template verified again, the free map rebuilt from the
roots by running their ownership functions and checked against the stored
one); a power cut with torn writes on the drive's volatile cache; a
damaged catalogue refused with nothing changed.

Scenario: on machine 1 a tiny flat library file system (the walk-through's
three templates) takes a principal, installs its types, registers root
"walk", allocates a file block and a data block, writes "hello, disk" and
syncs; it then writes a second data block without syncing, and the drive's
power is cut. Machine 2 boots on the same image file: its XN finds the
catalogues, the library looks its root up in the root catalogue (no setup),
reads the synced data back through the registry, and sees the unsynced
block gone. Last, both catalogue headers are damaged: machine 3's XN refuses
the disk (EIO) and the image is unchanged.

Run it: ``python examples/xn_reboot.py``.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from struct import pack, unpack_from
from typing import Any, Callable

from exolab.errors import SyscallError
from exolab.kernels import make_kernel
from exolab.kernels.exokernel import Sys
from exolab.kernels.exokernel.xn.store import layout
from exolab.machine.machine import Machine
from xn_walkthrough import ACL, DIR, FILE   # the walk-through's UDFs (examples/ is on sys.path)

BS, BLOCKS = 1024, 2048


def _install(os: Any) -> None:
    """Take the principal and (re)install the three templates (same source: reused)."""
    me = os.aegis(Sys.XN_PRINCIPAL, True)
    acl = ACL.replace("OWNER", str(me))
    for name, src in (("walk dir", DIR + acl), ("walk file", FILE + acl),
                      ("walk data", acl)):
        os.aegis(Sys.XN_INSTALL, name, src)


def first_boot(os: Any) -> None:
    _install(os)
    os.aegis(Sys.XN_REGISTER, "walk", 1, "walk dir")
    os.aegis(Sys.XN_WRITE, 1, [(0, b"FLAT")])
    os.aegis(Sys.XN_LOAD_ROOT, "walk")
    f, d1, d2 = os.aegis(Sys.XN_FREE_LIST, 2, 3)
    os.aegis(Sys.XN_ALLOC, 1, [(32, b"hello".ljust(28, b"\0") + pack("<I", f))], f, "walk file")
    os.aegis(Sys.XN_ALLOC, f, [(4, pack("<I", d1))], d1, "walk data")
    os.aegis(Sys.XN_WRITE, d1, [(0, b"hello, disk")])
    os.aegis(Sys.XN_WRITE, f, [(0, pack("<I", 11))])
    os.aegis(Sys.XN_SYNC)
    st = os.aegis(Sys.XN_STATS)
    os.print(f"  sync: catalogue generation {st.generation} on disk, "
             f"region of {st.reserved} blocks at the tail")
    os.aegis(Sys.XN_ALLOC, f, [(8, pack("<I", d2))], d2, "walk data")
    os.aegis(Sys.XN_WRITE, d2, [(0, b"never synced")])
    os.print(f"  a second data block {d2} written, not synced; the power is cut")


def second_boot(os: Any) -> None:
    st = os.aegis(Sys.XN_STATS)
    os.print(f"  XN booted: {st.types} types verified again, {st.roots} root, "
             f"generation {st.generation}, {st.used} blocks in use "
             f"(rebuilt from the roots; {st.map_diffs} differ from the stored map)")
    _install(os)
    root, ty = os.aegis(Sys.XN_ROOT, "walk")
    os.print(f"  root catalogue: 'walk' -> block {root}, type {ty!r} (no setup this time)")
    ppn, cap = os.aegis(Sys.XN_LOAD_ROOT, "walk")
    os.aegis(Sys.GUARANTEE, 0x60000, ppn, cap, False)
    f = unpack_from("<I", os.load_bytes(0x60000 << 12, 64), 32 + 28)[0]
    ppn, cap = os.aegis(Sys.XN_READ, f, root)
    os.aegis(Sys.GUARANTEE, 0x60001, ppn, cap, False)
    size, d1, d2 = unpack_from("<III", os.load_bytes(0x60001 << 12, 12), 0)
    ppn, cap = os.aegis(Sys.XN_READ, d1, f)
    os.aegis(Sys.GUARANTEE, 0x60002, ppn, cap, False)
    os.print(f"  file block {f} -> data block {d1}: "
             f"{os.load_bytes(0x60002 << 12, size)!r}")
    os.print(f"  the unsynced pointer: {d2} (0: it never reached the disk)")


def third_boot(os: Any) -> None:
    try:
        os.aegis(Sys.XN_STATS)
    except SyscallError as ex:
        os.print(f"  XN refuses the disk: {ex.errno} ({ex.message})")


def _boot(image: Path, program: Callable[[Any], None], cut: bool = False) -> None:
    m = Machine("dec5000", frames=4096)
    create = not image.exists()
    m.attach_disk(str(image), block_size=BS, **({"blocks": BLOCKS, "create": True}
                                                if create else {}))
    k = make_kernel("exokernel", m)
    k.boot(program)
    r = k.run()
    if cut:
        m.disks[0].power_cut("tear")
    m.disks[0].close()
    for line in k.console:
        print(line)
    print(f"  run: {r.reason}; faults: {k.faults}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="xn-reboot-") as tmp:
        image = Path(tmp) / "disk.img"
        print("MACHINE 1: setup, allocate, write, sync; then a power cut")
        _boot(image, first_boot, cut=True)
        print("MACHINE 2: boot on the same image (REBOOT)")
        _boot(image, second_boot)
        lay = layout(BS, BLOCKS)
        assert lay is not None
        raw = bytearray(image.read_bytes())
        for s in (0, 1):
            raw[lay.slot(s)[0] * BS + 12] ^= 0xFF
        image.write_bytes(bytes(raw))
        print(f"MACHINE 3: both catalogue headers damaged (blocks {lay.slot(0)[0]}, "
              f"{lay.slot(1)[0]})")
        _boot(image, third_boot)
        print(f"  image unchanged: {image.read_bytes() == bytes(raw)}")


if __name__ == "__main__":
    main()
