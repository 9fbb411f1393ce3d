"""The monolithic baseline kernel (BSD/Ultrix structure).

See :mod:`exolab.kernels.monolithic.kernel` for the composition and the
sibling modules for each mechanism.
"""
from exolab.kernels.monolithic.kernel import MonolithicKernel, MonoStats
from exolab.kernels.monolithic.libc import Libc

__all__ = ["MonolithicKernel", "MonoStats", "Libc"]
