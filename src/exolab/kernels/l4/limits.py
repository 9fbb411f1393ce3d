"""L4's limits for accounting principals (:mod:`.accounts`), with their reasons.

Interface::

    PRINCIPAL_SHARE     each nesting step keeps 1/PRINCIPAL_SHARE of a table back
    KERNEL_RESERVE      kernel frames the principals' totals leave out at the start
"""
from __future__ import annotations

__all__ = ["PRINCIPAL_SHARE", "KERNEL_RESERVE"]

#: 1/16 of each global table is left under every principal for its other members
#: (the share the exokernel and Singularity use: a spawning tree 15 deep)
PRINCIPAL_SHARE = 16
#: kernel frames nobody's principal pays for but the system takes later: the
#: virtual TCB array's page tables not made at boot (12 of 16) and the UNIX
#: server's page tables for its pool (one per 1,024 frames of 12,288 at most),
#: with a margin; the principals' totals are the free frames less these
KERNEL_RESERVE = 32
