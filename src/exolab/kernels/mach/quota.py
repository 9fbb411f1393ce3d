"""Per-principal quotas on the kernel-message zone: who pays for each queued kmsg.

The kmsg zone (:class:`.message.KmsgZone`) is one pool for every task; its
reserve keeps the kernel's and the UX server's path alive, but without a
bound one task that queues messages nobody receives takes every other page,
and a bystander's send fails ``ENOMEM``. A :class:`Quotas` ledger charges
each user kmsg's pages to one *principal* — the task tree under one program
the top-level program spawned: the boot task is a principal, so is each task
it spawns, and every other task belongs to its creator's principal for good
(fixed at creation, so no reparenting moves it) — while the kmsg exists, and
refuses a charge past :data:`.limits.KMSG_QUOTA` pages with ``EAGAIN`` (a
bound, as a full port queue is; ``ENOMEM`` stays the zone's own exhaustion).
The task a message is charged through is the sender, or for a message sent
on a send-once right (a reply) the task that made that right (the RPC client
pays for its own reply). So N colluding tasks under one program share one
quota; and since a principal outlives its tasks, a message queued by a task
that then exits stays charged to its principal until it is freed (received,
consumed by the kernel, or destroyed with its port): no exit escapes it.

A principal is *light* while it holds few pages (:data:`.limits.KMSG_LIGHT`
with the new kmsg): only a light principal may take the zone's light reserve
(:data:`.limits.KMSG_LIGHT_RESERVE`), which keeps a task under no pressure
able to send (an rpc, the server's reply charged to it) when heavy
principals have filled the rest.

Interface::

    Principal                        one principal: its pages and kmsgs (slotted)
    Quotas(limit, light=limit)
      adopt(task, parent)            a new task joins a principal (parent None: the root)
      principal(task) -> Principal   the task's principal (its own if never adopted)
      task_ended(task)               forget the task (its principal's charges stay)
      check(task, pages) -> None     EAGAIN unless ``task``'s principal may take ``pages``
      light(task, pages) -> bool     whether the principal holds at most ``light`` after
      charge(task, kmsg, pages)      charge a kmsg's pages to ``task``'s principal (checked)
      release(kmsg) -> None          the kmsg is freed: its pages are its payer's again
      pages(task) -> int             pages charged to ``task``'s principal now
      statistics() -> QuotaStats
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exolab.errors import KernelPanic, SyscallError

__all__ = ["Principal", "Quotas", "QuotaStats"]


@dataclass(slots=True, eq=False)
class Principal:
    """One principal's charge: the pages of the kmsgs it pays for, and those kmsgs."""

    serial: int
    pages: int = 0
    kmsgs: dict[int, tuple[Any, int]] = field(default_factory=dict)  # id -> (kmsg, pages)


@dataclass(slots=True, eq=False)
class _Member:
    """A live task's membership: the task, its principal, whether it is the root."""

    task: Any
    principal: Principal
    root: bool


@dataclass(frozen=True, slots=True)
class QuotaStats:
    """Quota use: principals charged now, pages charged now, sends refused so far."""

    principals: int
    pages: int
    refused: int
    peak: int                           # most pages one principal held at once


class Quotas:
    """The ledger of kmsg pages charged per principal, each bounded by ``limit``."""

    def __init__(self, limit: int, light: int | None = None) -> None:
        self.limit = limit
        self.light_pages = limit if light is None else light
        self.members: dict[int, _Member] = {}       # id(task) -> its membership
        self.accounts: dict[int, Principal] = {}    # serial -> a principal charged now
        self.refused = self.peak = self._serial = 0

    def _new(self) -> Principal:
        """A fresh principal, numbered in creation order."""
        self._serial += 1
        return Principal(self._serial)

    def adopt(self, task: Any, parent: Any) -> None:
        """``task`` was created by ``parent`` (None: it is the root): it is a principal
        of its own if its parent is the root or None, else in its parent's."""
        up = self.members.get(id(parent)) if parent is not None else None
        if up is not None and up.task is not parent:
            up = None
        if parent is None or up is None or up.root:
            self.members[id(task)] = _Member(task, self._new(), parent is None)
        else:
            self.members[id(task)] = _Member(task, up.principal, False)

    def principal(self, task: Any) -> Principal:
        """The principal ``task`` belongs to (a task never adopted: its own)."""
        m = self.members.get(id(task))
        if m is None or m.task is not task:
            m = self.members[id(task)] = _Member(task, self._new(), False)
        return m.principal

    def task_ended(self, task: Any) -> None:
        """``task`` ended: forget it; what its principal is charged stays charged."""
        m = self.members.get(id(task))
        if m is not None and m.task is task:
            del self.members[id(task)]

    def pages(self, task: Any) -> int:
        """Return the pages charged to ``task``'s principal now."""
        return self.principal(task).pages

    def check(self, task: Any, pages: int) -> None:
        """Raise EAGAIN (nothing changed) unless ``task``'s principal may be charged
        ``pages`` more."""
        held = self.pages(task)
        if held + pages > self.limit:
            self.refused += 1
            raise SyscallError("EAGAIN", "the principal's kernel message quota is full",
                               limit=self.limit, held=held, pages=pages)

    def light(self, task: Any, pages: int) -> bool:
        """Whether ``task``'s principal holds at most the light bound with ``pages`` more."""
        return self.pages(task) + pages <= self.light_pages

    def charge(self, task: Any, kmsg: Any, pages: int) -> None:
        """Charge ``kmsg``'s ``pages`` to ``task``'s principal (checked: EAGAIN past quota)."""
        self.check(task, pages)
        p = self.principal(task)
        p.pages += pages
        p.kmsgs[id(kmsg)] = (kmsg, pages)
        self.accounts[p.serial] = p
        kmsg.payer = p
        self.peak = max(self.peak, p.pages)

    def release(self, kmsg: Any) -> None:
        """Give ``kmsg``'s pages back to the principal charged for it (no-op if uncharged)."""
        p: Principal | None = kmsg.payer
        if p is None:
            return
        kmsg.payer = None
        if self.accounts.get(p.serial) is not p or id(kmsg) not in p.kmsgs:
            raise KernelPanic("quota: a kmsg released that its payer was not charged")
        p.pages -= p.kmsgs.pop(id(kmsg))[1]
        if not p.kmsgs:
            if p.pages:
                raise KernelPanic("quota: a principal's pages disagree with its kmsgs")
            del self.accounts[p.serial]

    def statistics(self) -> QuotaStats:
        """Return a frozen snapshot of the ledger."""
        return QuotaStats(len(self.accounts), sum(p.pages for p in self.accounts.values()),
                          self.refused, self.peak)
