"""ext2, written once, placed by each kernel: revision 1, 1/2/4 KiB blocks.

The file system talks only to a block device (:class:`BlockIO`), a clock and
a cost hook (see :mod:`.interfaces`); the monolithic kernel places it over
its buffer cache, ExOS over XN. docs/ext2.md describes it.

Modules, one mechanism each::

    interfaces   BlockIO, Clock, charge kinds; memory/file/machine-disk adapters
    layout       superblock and group descriptors: decode (validate), encode
    buffers      per-operation block buffers and the write order at commit
    alloc        block and inode bitmaps; free counts and used dirs kept exact
    inode        inode records; block maps (direct, indirect, double, triple)
    directory    directory entries: scan, lookup, add, remove
    frame        mount, the operation frame, inodes of an operation, path lookup
    core         open, close, read, write, truncate, fsync
    fsync        what one file's fsync must make durable (its set)
    order        the phases of an ordered write-back (all, or one file's set)
    fs           Ext2: unlink, link, rename, mkdir, rmdir, listdir, stat
    mkfs         a fresh file system
    check        recompute bitmaps, counts, links and i_blocks from the tree
"""
from exolab.services.ext2.check import verify
from exolab.services.ext2.core import (O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR,
                                       O_TRUNC, O_WRONLY)
from exolab.services.ext2.frame import Ext2Stats, Stat
from exolab.services.ext2.fs import Ext2
from exolab.services.ext2.interfaces import (EPOCH, BlockIO, Clock, FileDevice,
                                             MachineDiskAdapter, ManualClock,
                                             MemoryDevice, Reblocked, SimClock, no_charge)
from exolab.services.ext2.mkfs import mkfs

__all__ = ["Ext2", "Stat", "Ext2Stats", "mkfs", "verify", "BlockIO", "Clock",
           "MemoryDevice", "FileDevice", "Reblocked", "MachineDiskAdapter", "ManualClock",
           "SimClock", "no_charge", "EPOCH", "O_RDONLY", "O_WRONLY", "O_RDWR", "O_CREAT",
           "O_EXCL", "O_TRUNC", "O_DIRECTORY"]
