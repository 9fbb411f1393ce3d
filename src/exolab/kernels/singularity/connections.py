"""The live rpc connections of one service, per client SIP, and their bound.

Each connection a client makes takes a slot of the server's endpoint table,
so one client may hold at most ``bound`` live ones to one service
(:data:`~exolab.kernels.singularity.limits.RPC_CONNECTIONS`); a connect past
that is EAGAIN, however often it is retried. A connection stops counting once
either end is closed (``live`` says so; checked at every admission) or either
SIP exits (:meth:`Clients.drop` for a client; the whole record goes with its
service when the server exits).

Interface::

    Clients(live, bound)          live(ep) -> bool: a connection, by its client end,
                                  still open at both ends
      admit(client)               EAGAIN once ``client`` holds ``bound`` live ones
      add(client, ep)             count ``client``'s new connection (its end ``ep``)
      count(client) -> int        its live connections now
      drop(client)                ``client`` exited: its connections count no more
      total() -> int              live connections of every client
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from exolab.errors import SyscallError

__all__ = ["Clients"]


@dataclass(slots=True)
class Clients:
    """One service's connections, per client; see the module docstring."""

    live: Callable[[Any], bool]
    bound: int
    _by_client: dict[int, list[Any]] = field(default_factory=dict)

    def _prune(self, client: int) -> list[Any]:
        """``client``'s connections still open (the closed ones forgotten)."""
        eps = [ep for ep in self._by_client.get(client, ()) if self.live(ep)]
        if eps:
            self._by_client[client] = eps
        else:
            self._by_client.pop(client, None)
        return eps

    def admit(self, client: int) -> None:
        """EAGAIN if ``client`` already holds ``bound`` live connections."""
        if len(self._prune(client)) >= self.bound:
            raise SyscallError("EAGAIN", "too many connections to this service",
                               limit=self.bound)

    def add(self, client: int, ep: Any) -> None:
        """Count a new connection of ``client``, by its end ``ep``."""
        self._by_client.setdefault(client, []).append(ep)

    def count(self, client: int) -> int:
        """How many live connections ``client`` holds."""
        return len(self._prune(client))

    def drop(self, client: int) -> None:
        """``client`` exited: forget its connections."""
        self._by_client.pop(client, None)

    def total(self) -> int:
        """How many live connections every client holds together."""
        return sum(self.count(c) for c in list(self._by_client))
