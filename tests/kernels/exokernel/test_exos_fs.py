"""ExOS's file system over XN (libos/exos/fs.py, fs_xn.py): one file's fsync
writes that file's blocks back through XN and leaves another file's dirty
blocks dirty in XN's registry (unless the two share an inode-table block: XN
writes whole blocks, and its rule 1 writes a block's dirty children first);
the file survives a crash of XN's cache."""
from __future__ import annotations

from exolab.libos.exos.fs_xn import XNBlocks
from exolab.services.ext2 import Ext2, MemoryDevice
from exolab.services.ext2 import O_CREAT, O_RDWR

from tests.kernels.exokernel.xn.test_ext2_on_xn import _over_xn


def _data_blocks(fs: Ext2, ino: int) -> list[int]:
    """The data blocks of open file ``ino``."""
    node = fs._call(fs._iget, ino)
    return fs._call(fs.bmap.blocks_of, node)[1]  # type: ignore[no-any-return]


def test_fsync_of_one_file_leaves_another_files_blocks_dirty() -> None:
    dev, xn, fs, blk = _over_xn(1024, 4096)
    assert isinstance(blk, XNBlocks)
    fs.sync()
    a = fs.open("/a", O_CREAT | O_RDWR)
    for i in range(8):              # b's record in another inode-table block: XN
        fs.close(fs.open(f"/pad{i}", O_CREAT | O_RDWR))   # writes whole blocks
    b = fs.open("/b", O_CREAT | O_RDWR)
    assert fs.itab._where(a)[0] != fs.itab._where(b)[0]
    fs.write(a, 0, b"A" * 5000)
    fs.write(b, 0, b"B" * 5000)
    dirty = {e.block for e in xn.reg.dirty()}
    assert set(_data_blocks(fs, a)) <= dirty and set(_data_blocks(fs, b)) <= dirty
    fs.fsync(a)
    dirty = {e.block for e in xn.reg.dirty()}
    assert not set(_data_blocks(fs, a)) & dirty             # written back
    assert set(_data_blocks(fs, b)) <= dirty                # still dirty
    xn.crash()                                              # the registry is lost
    img = MemoryDevice(1024, dev.blocks, bytes(dev.data))
    after = Ext2.mount(img, check_tree=False)
    assert after.read(after.open("/a"), 0, 6000) == b"A" * 5000
