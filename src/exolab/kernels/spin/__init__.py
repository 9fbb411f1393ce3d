"""exolab.kernels.spin — SPIN: extensions in a safe language, logical protection
domains, events and guards, the core services (Bershad et al., SOSP'95).

Interface::

    Spin            the kernel (registered as ``spin``)
    SpinStats       its statistics record
    SpinLibc        the personality programs get as ``os``
"""
from exolab.kernels.spin.kernel import Spin, SpinStats
from exolab.kernels.spin.personality import SpinLibc

__all__ = ["Spin", "SpinStats", "SpinLibc"]
