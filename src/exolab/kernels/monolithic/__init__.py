"""The monolithic baseline kernel (BSD/Ultrix structure).

See :mod:`exolab.kernels.monolithic.kernel` for the composition and the
sibling modules for each mechanism (``fs`` and ``bcache``: services/ext2 in
the kernel over a write-back buffer cache, docs/files.md).
"""
from exolab.kernels.monolithic.kernel import MonolithicKernel, MonoStats
from exolab.kernels.monolithic.libc import Libc

__all__ = ["MonolithicKernel", "MonoStats", "Libc"]
