"""A hypothesis state machine of XN: allocate, free, write, write back, flush, crash, reboot.

A flat tree (a root directory of files, files of data blocks) is changed at
random through XN's protocol on a disk with a volatile write cache; a crash
loses a random part of what was not flushed, and XN rebuilds its free map
from the disk. Checked after every step: the free map agrees with the cached
tree. After every crash: no block is claimed twice on disk, every file block a
directory entry reaches on disk carries the generation the entry names
(ordering rule 1: a pointer never reached the disk before its target), every
reachable data block carries its own number; after a sync then a crash, the
disk holds exactly the model. XN is persistent: a *reboot* is a power cut and
a new XN over the same device, which must find its catalogues on the disk,
rebuild the same free map from them (and, after a sync, find the stored map
equal to it), and go on.

A *stranger* (another principal, with flat templates of its own) tries to
adopt blocks the owner freed, as a tree of its own, and reads what it got:
invariant, no block is readable by a principal with contents another
principal wrote and freed (XN refuses the adopt once a tree is known).
"""
from __future__ import annotations

import random
import struct

from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import SyscallError
from exolab.kernels.exokernel.xn import FREE, PENDING, USED, XN, HostPages
from exolab.libos.flatfs.templates import MAGIC
from exolab.libos.flatfs.templates import templates as flat_templates
from tests.kernels.exokernel.xn._flat import OWNER, dir_entry, flat_xn, ptr

SLOTS, DSLOTS = 6, 3
STRANGER = 77


class XNMachine(RuleBasedStateMachine):
    """Model: slot -> (file block, gen, {data slot: (block, token)})."""

    def __init__(self) -> None:
        super().__init__()
        self.xn = flat_xn(96, persist=True)
        for name, src in flat_templates(1024, STRANGER, prefix="s").items():
            self.xn.install_type(name, src)
        self.xn.sync()                      # the catalogues reach the disk
        self.dev = self.xn.dev
        lay = self.xn.layout
        assert lay is not None and self.xn.labelled
        self.region = set(range(lay.start, lay.blocks))
        self.extra: dict[str, int] = {}         # more roots (empty dirs): name -> block
        self.synced_extra: dict[str, int] = {}  # those in the catalogue on disk
        self.files: dict[int, tuple[int, int, dict[int, tuple[int, int]]]] = {}
        self.gen = 0
        self.rng = random.Random(0)
        self.freed: dict[int, str] = {}         # blocks the owner freed -> their type
        self.stranger_read: dict[int, bytes] = {}   # what the stranger was let read

    def _free_block(self) -> int | None:
        got = self.xn.free_blocks(2, 1)
        return got[0] if got else None

    @rule(slot=st.integers(0, SLOTS - 1))
    def create(self, slot: int) -> None:
        b = self._free_block()
        if slot in self.files or b is None:
            return
        self.gen += 1
        self.xn.alloc(OWNER, 1, [dir_entry(slot, b"f%d" % self.gen, b)], b, "flat file")
        self.xn.write(OWNER, b, [(0, struct.pack("<I", self.gen))])
        self.files[slot] = (b, self.gen, {})

    @rule(slot=st.integers(0, SLOTS - 1), ds=st.integers(0, DSLOTS - 1))
    def add_data(self, slot: int, ds: int) -> None:
        b = self._free_block()
        if slot not in self.files or ds in self.files[slot][2] or b is None:
            return
        fb, _g, data = self.files[slot]
        self.xn.alloc(OWNER, fb, [ptr(ds, b)], b, "flat data")
        self.gen += 1
        self.xn.write(OWNER, b, [(0, struct.pack("<II", b, self.gen))])
        data[ds] = (b, self.gen)

    @rule(slot=st.integers(0, SLOTS - 1), ds=st.integers(0, DSLOTS - 1))
    def rewrite(self, slot: int, ds: int) -> None:
        if slot not in self.files or ds not in self.files[slot][2]:
            return
        b, _ = self.files[slot][2][ds]
        self.gen += 1
        self.xn.write(OWNER, b, [(0, struct.pack("<II", b, self.gen))])
        self.files[slot][2][ds] = (b, self.gen)

    @rule(slot=st.integers(0, SLOTS - 1), ds=st.integers(0, DSLOTS - 1))
    def free_data(self, slot: int, ds: int) -> None:
        if slot not in self.files or ds not in self.files[slot][2]:
            return
        fb, _g, data = self.files[slot]
        b, _ = data.pop(ds)
        self.xn.free(OWNER, fb, [ptr(ds, 0)], b)
        self.freed[b] = "s data"

    @rule(slot=st.integers(0, SLOTS - 1))
    def delete(self, slot: int) -> None:
        if slot not in self.files:
            return
        fb, _g, d = self.files.pop(slot)
        self.xn.free(OWNER, 1, [dir_entry(slot, b"", 0)], fb)
        self.freed[fb] = "s file"
        self.freed.update((b, "s data") for b, _t in d.values())

    @rule(pick=st.integers(0, 1000))
    def stranger_adopts_freed_blocks(self, pick: int) -> None:
        self.sync()                             # (anyone may: pending frees settle)
        fm = self.xn.free_map
        cands = sorted(b for b in self.freed if fm.state(b) == FREE)
        if not cands:
            return
        b = cands[pick % len(cands)]
        before = fm.snapshot()
        try:
            self.xn.adopt_root(STRANGER, f"stolen{b}", b, self.freed[b])
        except SyscallError as ex:
            assert ex.errno in ("EPERM", "EBUSY", "EINVAL")
            assert fm.snapshot() == before      # refused: nothing changed
            return
        self.xn.load_root(STRANGER, f"stolen{b}")   # (what the stranger now maps)
        e = self.xn.reg.get(b)
        self.stranger_read[b] = self.xn.reg.data(e)
        for c in list(e.children):
            self.xn.read(STRANGER, c, b)
            self.stranger_read[c] = self.xn.reg.data(self.xn.reg.get(c))

    @rule(pick=st.integers(0, 1000))
    def writeback(self, pick: int) -> None:
        dirty = self.xn.reg.dirty()
        if not dirty:
            return
        e = dirty[pick % len(dirty)]
        try:
            self.xn.writeback(OWNER, e.block)
        except SyscallError as ex:
            assert ex.errno == "EAGAIN" and self.xn.reg.blocker(e) is not None

    @rule()
    def flush(self) -> None:
        self.xn.flush()

    @rule()
    def crash(self) -> None:
        self.dev.power_cut(self.rng)
        self.xn.crash()                     # (persistent: a reboot in place)
        self.xn.recover()
        self._catalogues_back()
        self._check_disk(exact=False)
        self._reload_model()

    @precondition(lambda self: self.files)
    @rule()
    def sync_then_crash(self) -> None:
        self.sync()
        self.dev.power_cut(self.rng)
        self.xn.crash()
        self.xn.recover()
        self._catalogues_back()
        self._check_disk(exact=True)
        self._reload_model()

    @precondition(lambda self: len(self.extra) < 3)
    @rule()
    def new_root(self) -> None:
        b = self._free_block()
        if b is None:
            return
        name = f"extra{len(self.extra)}"
        self.xn.register_root(OWNER, name, b, "flat dir")
        self.xn.write(OWNER, b, [(0, MAGIC)])
        self.extra[name] = b

    @rule()
    def sync(self) -> None:
        self.xn.sync()
        self.synced_extra = dict(self.extra)

    @rule()
    def reboot(self) -> None:
        self.dev.power_cut(self.rng)
        self._boot()
        self._check_disk(exact=False)
        self._reload_model()

    @precondition(lambda self: self.files)
    @rule()
    def sync_then_reboot(self) -> None:
        self.sync()
        self.dev.power_cut(self.rng)
        self._boot()
        assert self.xn.n_map_diffs == 0     # the stored map is the rebuilt one
        self._check_disk(exact=True)
        self._reload_model()

    def _boot(self) -> None:
        """A new XN on the same disk: its catalogues and free map come back."""
        self.xn = XN(self.dev, HostPages(), persist=True)
        self._catalogues_back()

    def _catalogues_back(self) -> None:
        """The roots are those of the last sync, each root block initialised on disk."""
        roots = {r.name: r.block for r in self.xn.roots.roots()}
        assert self.xn.labelled and roots == {"flat": 1, **self.synced_extra}
        assert self.xn.statistics().types == 6 and self.xn.n_conflicts == 0
        for b in self.synced_extra.values():    # rule 1 for the root catalogue
            assert self.dev.read_block(b)[:4] == MAGIC
        self.extra = dict(self.synced_extra)

    def _disk_tree(self) -> dict[int, tuple[int, int, dict[int, tuple[int, int]]]]:
        root = self.dev.read_block(1)
        out = {}
        for s in range(SLOTS):
            off = 32 + 32 * s
            fb = struct.unpack_from("<I", root, off + 28)[0]
            if not fb:
                continue
            gen = int(root[off:off + 28].rstrip(b"\0")[1:])
            fdata = self.dev.read_block(fb)
            assert struct.unpack_from("<I", fdata, 0)[0] == gen, "file block not initialised"
            data = {}
            for ds in range(DSLOTS):
                b = struct.unpack_from("<I", fdata, 4 + 4 * ds)[0]
                if b:
                    tb, tok = struct.unpack_from("<II", self.dev.read_block(b), 0)
                    assert tb == b, "data block reached before it was written"
                    data[ds] = (b, tok)
            out[s] = (fb, gen, data)
        return out

    def _check_disk(self, exact: bool) -> None:
        tree = self._disk_tree()
        if exact:
            assert tree == self.files
        used = {1} | self.region | set(self.extra.values()) | {fb for fb, _g, _d in tree.values()} | {
            b for _fb, _g, d in tree.values() for b, _t in d.values()}
        fm = self.xn.free_map
        assert {b for b in range(fm.blocks) if fm.state(b) == USED} == used

    def _reload_model(self) -> None:
        """After a crash the disk is the truth: re-read the tree into the registry."""
        self.files = self._disk_tree()
        self.xn.load_root(OWNER, "flat")
        if self.dev.read_block(1)[:4] != MAGIC:     # the root's first write was lost
            self.xn.write(OWNER, 1, [(0, MAGIC)])
        for fb, _g, d in self.files.values():
            self.xn.read(OWNER, fb, 1)
            for b, _t in d.values():
                self.xn.read(OWNER, b, fb)

    @invariant()
    def no_block_reads_bytes_another_principal_wrote_and_freed(self) -> None:
        for b, data in self.stranger_read.items():
            assert data == bytes(len(data)), f"stranger reads the owner's freed block {b}"

    @invariant()
    def free_map_covers_the_cached_tree(self) -> None:
        fm = self.xn.free_map
        for fb, _g, d in self.files.values():
            assert fm.state(fb) == USED
            for b, _t in d.values():
                assert fm.state(b) == USED
        live = {fb for fb, _g, _d in self.files.values()} | {
            b for _fb, _g, d in self.files.values() for b, _t in d.values()} | {1} | self.region | set(
            self.extra.values())
        for b in range(fm.blocks):
            if b not in live:
                assert fm.state(b) in (FREE, PENDING)


TestXNMachine = XNMachine.TestCase
TestXNMachine.settings = settings(max_examples=20, stateful_step_count=30, deadline=None)


def test_a_stranger_cannot_adopt_a_block_the_owner_wrote_and_freed() -> None:
    """The invariant's shortest counterexample, run directly (the prober's F2): a
    data block written, synced and freed, then adopted by a stranger."""
    m = XNMachine()
    m.create(0)
    m.add_data(0, 0)
    m.sync()
    m.free_data(0, 0)
    m.stranger_adopts_freed_blocks(0)
    m.no_block_reads_bytes_another_principal_wrote_and_freed()
    m.free_map_covers_the_cached_tree()
    assert m.stranger_read == {} and m.freed
