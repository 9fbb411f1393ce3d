"""Singularity's accounting principals: what one SIP's spawning tree may hold.

Every SIP is a principal (:mod:`exolab.kernels.common.principals`): one the
kernel boots is a root, a spawned one is nested in its parent's, and what a
nested principal holds counts against every ancestor. Each principal's cap
is its parent's less 1/PRINCIPAL_SHARE of the global table, for live and
unreaped SIPs, kernel threads, exchange-heap pages, and the rpc connections
its tree holds to one service (of the server's MAX_ENDPOINTS - ENDPOINT_RESERVE
slots; counted per service by :mod:`.connections`). Past a cap: EAGAIN (SIPs,
threads, connections) or ENOMEM (pages), as the global limits answer; a
spawn that would nest past the last step is EAGAIN.

Interface::

    SIPS, THREADS, EXHEAP, CONNECTIONS      kinds (indexes of caps; the first three
                                            also of Principal.held)
    KINDS                                   the counted kinds' names
    make(sips, threads, exheap_pages, rpc_slots) -> Principals
"""
from __future__ import annotations

from exolab.kernels.common.principals import Principals
from exolab.kernels.singularity.limits import PRINCIPAL_SHARE

__all__ = ["SIPS", "THREADS", "EXHEAP", "CONNECTIONS", "KINDS", "make"]

SIPS, THREADS, EXHEAP, CONNECTIONS = 0, 1, 2, 3
KINDS = ("SIPs", "threads", "exchange-heap pages")


def make(sips: int, threads: int, exheap_pages: int, rpc_slots: int) -> Principals:
    """The factory of a kernel with these global tables."""
    return Principals((sips, threads, exheap_pages, rpc_slots), PRINCIPAL_SHARE,
                      len(KINDS), "EAGAIN")
