"""The exokernel: Aegis, protection without management (see :mod:`.kernel`).

Interface::

    Aegis, AegisStats           the kernel (Kernel protocol, name "exokernel")
    Sys                         the system-call numbers
    RIGHTS, rights_table()      capability rights, as data
    PATHS                       Aegis's software path lengths with their sources
"""
from exolab.kernels.exokernel.caps import RIGHTS, rights_table
from exolab.kernels.exokernel.kernel import Aegis, AegisStats
from exolab.kernels.exokernel.paths import PATHS
from exolab.kernels.exokernel.syscall import Sys

__all__ = ["Aegis", "AegisStats", "Sys", "RIGHTS", "rights_table", "PATHS"]
