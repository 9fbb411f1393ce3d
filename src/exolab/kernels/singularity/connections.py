"""The live rpc connections of one service, per client SIP and per principal, and
their bounds.

Each connection a client makes takes a slot of the server's endpoint table,
so one client may hold at most ``bound`` live ones to one service
(:data:`~exolab.kernels.singularity.limits.RPC_CONNECTIONS`), and the
spawning tree of one principal (:mod:`.accounts`) at most its cap
(``caps[CONNECTIONS]``: its parent's less 1/16 of the server's slots), so a
client that spawns helpers cannot take every slot either. A connect past
either is EAGAIN, however often it is retried. A connection stops counting
once either end is closed (``live`` says so; checked at every admission) or
either SIP exits (:meth:`Clients.drop` for a client; the whole record goes
with its service when the server exits).

Interface::

    Clients(live, bound)          live(ep) -> bool: a connection, by its client end,
                                  still open at both ends
      admit(client, principal)    EAGAIN once ``client`` holds ``bound`` live ones, or
                                  a principal on ``principal``'s chain its cap
      add(client, principal, ep)  count ``client``'s new connection (its end ``ep``)
      count(client) -> int        its live connections now
      held(principal) -> int      the live connections of that principal's tree
      drop(client, principal)     ``client`` exited: its connections count no more
      total() -> int              live connections of every client
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from exolab.errors import SyscallError
from exolab.kernels.common.principals import chain
from exolab.kernels.singularity.accounts import CONNECTIONS

__all__ = ["Clients"]


@dataclass(slots=True)
class Clients:
    """One service's connections, per client and per principal; see the module
    docstring."""

    live: Callable[[Any], bool]
    bound: int
    _by_client: dict[int, list[Any]] = field(default_factory=dict)
    _by_principal: dict[int, list[Any]] = field(default_factory=dict)   # subtree's

    def _prune_in(self, table: dict[int, list[Any]], key: int) -> list[Any]:
        """``table[key]``'s connections still open (the closed ones forgotten)."""
        eps = [ep for ep in table.get(key, ()) if self.live(ep)]
        if eps:
            table[key] = eps
        else:
            table.pop(key, None)
        return eps

    def admit(self, client: int, principal: Any) -> None:
        """EAGAIN if ``client`` already holds ``bound`` live connections, or a principal
        on ``principal``'s chain its cap."""
        if len(self._prune_in(self._by_client, client)) >= self.bound:
            raise SyscallError("EAGAIN", "too many connections to this service",
                               limit=self.bound)
        for p in chain(principal):
            cap = p.caps[CONNECTIONS]       # (pruned only when full: amortised O(1))
            if len(self._by_principal.get(p.pid, ())) >= cap and \
                    len(self._prune_in(self._by_principal, p.pid)) >= cap:
                raise SyscallError("EAGAIN", "the principal's share of this service's "
                                   "connections is used", principal=p.pid, limit=cap)

    def add(self, client: int, principal: Any, ep: Any) -> None:
        """Count a new connection of ``client`` (of ``principal``), by its end ``ep``."""
        self._by_client.setdefault(client, []).append(ep)
        for p in chain(principal):
            self._by_principal.setdefault(p.pid, []).append(ep)

    def count(self, client: int) -> int:
        """How many live connections ``client`` holds."""
        return len(self._prune_in(self._by_client, client))

    def held(self, principal: Any) -> int:
        """How many live connections ``principal``'s tree holds."""
        return len(self._prune_in(self._by_principal, principal.pid))

    def drop(self, client: int, principal: Any) -> None:
        """``client`` exited (its ends closed): forget its connections."""
        self._by_client.pop(client, None)
        for p in chain(principal):
            self._prune_in(self._by_principal, p.pid)

    def total(self) -> int:
        """How many live connections every client holds together."""
        return sum(self.count(c) for c in list(self._by_client))
