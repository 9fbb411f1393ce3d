"""exolab.kernels.l4: the L4 microkernel (grant/map/flush, fast synchronous IPC,
user-level pagers, interrupts as IPC, seL4-style endpoints and notifications).

Interface::

    L4, L4Stats, SIGMA0_ID      the kernel (kernel.py), its statistics, sigma0's id
    L4Lib                       the user-level library a thread's body gets
    ANY, IRQ_BASE, NTFN_BADGE, Received
    MappingDB                   the mapping database (mapdb.py)
"""
from __future__ import annotations

from exolab.kernels.l4.kernel import L4, SIGMA0_ID, L4Stats
from exolab.kernels.l4.mapdb import MappingDB
from exolab.kernels.l4.objects import ANY, IRQ_BASE, NTFN_BADGE, Received
from exolab.kernels.l4.user import L4Lib

__all__ = ["L4", "L4Stats", "SIGMA0_ID", "L4Lib", "ANY", "IRQ_BASE", "NTFN_BADGE", "Received",
           "MappingDB"]
