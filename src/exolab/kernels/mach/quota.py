"""Per-task quotas on the kernel-message zone: who pays for each queued kmsg.

The kmsg zone (:class:`.message.KmsgZone`) is one pool for every task; its
reserve keeps the kernel's and the UX server's path alive, but without a
per-task bound one task that queues messages nobody receives takes every
other page, and a bystander's send fails ``ENOMEM``. A :class:`Quotas`
ledger charges each user kmsg's pages to one task — the sender, or for a
message sent on a send-once right (a reply) the task that made that right
(the RPC client pays for its own reply) — while it exists, and refuses a
charge past :data:`.limits.KMSG_QUOTA` with ``EAGAIN`` (a bound, as a full
port queue is; ``ENOMEM`` stays the zone's own exhaustion). The charge is
released when the kmsg is freed (received, consumed by the kernel, or
destroyed with its port); a task's exit drops its account, and the kmsgs it
still has queued (deliverable yet) are charged to no one from then on.

Interface::

    Account                          one task's charge: pages, its kmsgs (slotted)
    Quotas(limit)
      check(task, pages) -> None     EAGAIN unless ``task`` may take ``pages`` more
      charge(task, kmsg, pages)      charge a kmsg's pages to ``task`` (checked)
      release(kmsg) -> None          the kmsg is freed: its pages are its payer's again
      drop(task) -> int              ``task`` ended: forget its account (pages it held)
      pages(task) -> int             pages charged to ``task`` now
      statistics() -> QuotaStats
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from exolab.errors import KernelPanic, SyscallError

__all__ = ["Account", "Quotas", "QuotaStats"]


@dataclass(slots=True, eq=False)
class Account:
    """One task's charge: the pages of the kmsgs it pays for, and those kmsgs."""

    task: Any
    pages: int = 0
    kmsgs: dict[int, tuple[Any, int]] = field(default_factory=dict)  # id -> (kmsg, pages)


@dataclass(frozen=True, slots=True)
class QuotaStats:
    """Quota use: tasks charged now, pages charged now, sends refused so far."""

    tasks: int
    pages: int
    refused: int
    peak: int                           # most pages one task held at once


class Quotas:
    """The ledger of kmsg pages charged per task, each task bounded by ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.accounts: dict[int, Account] = {}      # id(task) -> its account
        self.refused = self.peak = 0

    def pages(self, task: Any) -> int:
        """Return the pages charged to ``task`` now (0 if none)."""
        acct = self.accounts.get(id(task))
        return acct.pages if acct is not None else 0

    def check(self, task: Any, pages: int) -> None:
        """Raise EAGAIN (nothing changed) unless ``task`` may be charged ``pages`` more."""
        held = self.pages(task)
        if held + pages > self.limit:
            self.refused += 1
            raise SyscallError("EAGAIN", "the task's kernel message quota is full",
                               limit=self.limit, held=held, pages=pages)

    def charge(self, task: Any, kmsg: Any, pages: int) -> None:
        """Charge ``kmsg``'s ``pages`` to ``task`` (checked first: EAGAIN past quota)."""
        self.check(task, pages)
        acct = self.accounts.get(id(task))
        if acct is None:
            acct = self.accounts[id(task)] = Account(task)
        acct.pages += pages
        acct.kmsgs[id(kmsg)] = (kmsg, pages)
        kmsg.payer = task
        self.peak = max(self.peak, acct.pages)

    def release(self, kmsg: Any) -> None:
        """Give ``kmsg``'s pages back to the task charged for it (no-op if uncharged)."""
        task, kmsg.payer = kmsg.payer, None
        if task is None:
            return
        acct = self.accounts.get(id(task))
        if acct is None or id(kmsg) not in acct.kmsgs:
            raise KernelPanic("quota: a kmsg released that its payer was not charged")
        acct.pages -= acct.kmsgs.pop(id(kmsg))[1]
        if not acct.kmsgs:
            if acct.pages:
                raise KernelPanic("quota: an account's pages disagree with its kmsgs")
            del self.accounts[id(task)]

    def drop(self, task: Any) -> int:
        """``task`` ended: clear the payer of every kmsg it paid for and forget its
        account; return the pages it held."""
        acct = self.accounts.pop(id(task), None)
        if acct is None:
            return 0
        for kmsg, _pages in acct.kmsgs.values():
            kmsg.payer = None
        return acct.pages

    def statistics(self) -> QuotaStats:
        """Return a frozen snapshot of the ledger."""
        return QuotaStats(len(self.accounts), sum(a.pages for a in self.accounts.values()),
                          self.refused, self.peak)
