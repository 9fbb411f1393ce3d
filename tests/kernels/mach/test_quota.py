"""The kmsg quota ledger: charges balance with the kmsgs they pay for, per principal
(the task tree of one top-level program), and outlive the tasks that made them;
the zone's tiers (the reserve, the light reserve) hold in any order of use."""
from __future__ import annotations

from typing import Any

from hypothesis import given, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import pytest

from exolab.errors import SyscallError
from exolab.kernels.mach.limits import KMSG_LIGHT, KMSG_QUOTA
from exolab.kernels.mach.message import Kmsg, KmsgZone
from exolab.kernels.mach.quota import Quotas
from exolab.machine.machine import Machine


class Ledger(RuleBasedStateMachine):
    """Spawns, charges, releases and task exits in any order: each principal's pages
    are the sum of its live kmsgs' pages (whoever of its tasks sent them, alive or
    not) and never above the quota; a task spawned below a top-level program is in
    that program's principal; an exit never uncharges anything."""

    def __init__(self) -> None:
        super().__init__()
        self.q = Quotas(KMSG_QUOTA, KMSG_LIGHT)
        self.root = object()
        self.q.adopt(self.root, None)
        self.tasks: list[tuple[Any, int]] = [(self.root, 0)]   # live (task, principal)
        self.nprin = 1
        self.live: list[tuple[Kmsg, int, int]] = []     # (kmsg, principal, pages)

    def held(self, p: int) -> int:
        """The model's pages of principal ``p``."""
        return sum(n for _k, i, n in self.live if i == p)

    @rule(data=st.data())
    def spawn(self, data: st.DataObject) -> None:
        parent, p = self.tasks[data.draw(st.integers(0, len(self.tasks) - 1))]
        child = object()
        self.q.adopt(child, parent)
        if parent is self.root:             # a top-level program: a principal of its own
            p, self.nprin = self.nprin, self.nprin + 1
        self.tasks.append((child, p))

    @rule(data=st.data(), pages=st.integers(1, 3))
    def charge(self, data: st.DataObject, pages: int) -> None:
        task, p = self.tasks[data.draw(st.integers(0, len(self.tasks) - 1))]
        kmsg = Kmsg([], 0)
        assert self.q.light(task, pages) == (self.held(p) + pages <= KMSG_LIGHT)
        if self.held(p) + pages > KMSG_QUOTA:
            with pytest.raises(SyscallError) as ex:
                self.q.charge(task, kmsg, pages)
            assert ex.value.errno == "EAGAIN" and kmsg.payer is None
        else:
            self.q.charge(task, kmsg, pages)
            assert kmsg.payer is self.q.principal(task)
            self.live.append((kmsg, p, pages))

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        if self.live:
            i = data.draw(st.integers(0, len(self.live) - 1))
            kmsg, _p, _n = self.live.pop(i)
            self.q.release(kmsg)
            assert kmsg.payer is None

    @precondition(lambda self: len(self.tasks) > 1)
    @rule(data=st.data())
    def exit(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(1, len(self.tasks) - 1))
        task, _p = self.tasks.pop(i)
        before = self.q.statistics().pages
        self.q.task_ended(task)             # its kmsgs stay queued, still charged
        assert self.q.statistics().pages == before

    @invariant()
    def balances(self) -> None:
        for task, p in self.tasks:
            assert self.q.pages(task) == self.held(p) <= KMSG_QUOTA
        for kmsg, p, _n in self.live:
            assert kmsg.payer is not None and kmsg.payer.pages == self.held(p)
        st_ = self.q.statistics()
        assert st_.pages == sum(n for _k, _p, n in self.live)
        assert st_.principals == len({p for _k, p, _n in self.live})
        for acct in self.q.accounts.values():
            assert acct.pages == sum(n for _k, n in acct.kmsgs.values()) > 0


TestLedger = Ledger.TestCase


@given(st.lists(st.tuples(st.integers(1, 3), st.sampled_from(["user", "light", "priv"]),
                          st.booleans()), max_size=60))
def test_the_zone_keeps_its_reserves_in_any_order(ops: list[tuple[int, str, bool]]) -> None:
    """An allocation succeeds exactly when it leaves its tier's floor free: a send
    under pressure the reserve and the light reserve, a light send the reserve, a
    privileged one nothing; every page comes back."""
    m = Machine("dec5000")
    zone = KmsgZone(m.memory, range(16, 40), 3, 6)          # 24 pages, floors 9 and 3
    held: list[Kmsg] = []
    for pages, tier, free_one in ops:
        if free_one and held:
            zone.free(held.pop(0))
            continue
        free = len(zone.free_ppns)
        keep = {"user": 9, "light": 3, "priv": 0}[tier]
        try:
            held.append(zone.alloc(pages * zone.page, tier == "priv", tier == "light"))
            assert pages + keep <= free
        except SyscallError as ex:
            assert ex.errno == "ENOMEM" and pages + keep > free
    for kmsg in held:
        zone.free(kmsg)
    assert len(zone.free_ppns) == 24
    m.close()
