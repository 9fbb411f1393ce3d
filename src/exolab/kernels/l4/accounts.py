"""L4's accounting principals: what one program tree may hold of the global tables.

Every ABI program is a principal (:mod:`exolab.kernels.common.principals`): the
first process is a root, a spawned program nests a new principal in its
spawner's, a forked child joins its parent's. Each principal's cap is its
parent's less 1/PRINCIPAL_SHARE of the global table, for kernel frames (page
tables, code and stack pages, TCBs, UTCBs: charged by the kernel to the
space's principal), user frames (image pages, demand-zero and copy-on-write
pages, segments: charged by the UNIX server), address spaces (ASIDs) and
threads (TCB numbers). Past a cap: ENOMEM, EAGAIN for threads.

Interface::

    KFRAMES, UFRAMES, SPACES, THREADS      kinds (indexes of caps and held)
    KINDS, ERRNOS                          their names, the errno past a cap
    make(kframes, uframes, spaces, threads) -> Principals
    check(p, kind, n=1)   charge(p, kind, n=1)   add(p, kind, n=1)   uncharge(p, kind, n=1)
"""
from __future__ import annotations

from typing import Any

from exolab.kernels.common import principals as ledger
from exolab.kernels.common.principals import Principals
from exolab.kernels.l4.limits import PRINCIPAL_SHARE

__all__ = ["KFRAMES", "UFRAMES", "SPACES", "THREADS", "KINDS", "ERRNOS", "make",
           "check", "charge", "add", "uncharge"]

KFRAMES, UFRAMES, SPACES, THREADS = 0, 1, 2, 3
KINDS = ("kernel frames", "user frames", "address spaces", "threads")
ERRNOS = ("ENOMEM", "ENOMEM", "ENOMEM", "EAGAIN")


def make(kframes: int, uframes: int, spaces: int, threads: int) -> Principals:
    """The factory of principals for a system with these free global tables."""
    return Principals((kframes, uframes, spaces, threads), PRINCIPAL_SHARE, len(KINDS))


def check(p: Any, kind: int, n: int = 1) -> None:
    """The kind's errno if ``n`` more would put a principal on ``p``'s chain past its cap."""
    ledger.check(p, kind, n, ERRNOS[kind], KINDS[kind])


def charge(p: Any, kind: int, n: int = 1) -> None:
    """Charge ``n`` of ``kind`` up ``p``'s chain (the kind's errno past a cap)."""
    ledger.charge(p, kind, n, ERRNOS[kind], KINDS[kind])


def add(p: Any, kind: int, n: int = 1) -> None:
    """Count ``n`` of ``kind`` up ``p``'s chain, unchecked (after :func:`check`)."""
    ledger.add(p, kind, n)


def uncharge(p: Any, kind: int, n: int = 1) -> None:
    """Give back ``n`` of ``kind`` charged to ``p`` (a panic below zero)."""
    ledger.uncharge(p, kind, n, KINDS[kind])
