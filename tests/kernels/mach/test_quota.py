"""The per-task kmsg quota ledger: charges balance with the kmsgs they pay for."""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import pytest

from exolab.errors import SyscallError
from exolab.kernels.mach.limits import KMSG_QUOTA
from exolab.kernels.mach.message import Kmsg
from exolab.kernels.mach.quota import Quotas


class Ledger(RuleBasedStateMachine):
    """Charges, releases and task exits in any order: the pages charged to each
    task are the sum of its live kmsgs' pages and never above the quota."""

    def __init__(self) -> None:
        super().__init__()
        self.q = Quotas(KMSG_QUOTA)
        self.tasks = [object() for _ in range(3)]
        self.live: list[tuple[Kmsg, int, int]] = []     # (kmsg, task index, pages)

    @rule(t=st.integers(0, 2), pages=st.integers(1, 3))
    def charge(self, t: int, pages: int) -> None:
        kmsg = Kmsg([], 0)
        held = sum(p for _k, i, p in self.live if i == t)
        if held + pages > KMSG_QUOTA:
            with pytest.raises(SyscallError) as ex:
                self.q.charge(self.tasks[t], kmsg, pages)
            assert ex.value.errno == "EAGAIN" and kmsg.payer is None
        else:
            self.q.charge(self.tasks[t], kmsg, pages)
            self.live.append((kmsg, t, pages))

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        if self.live:
            i = data.draw(st.integers(0, len(self.live) - 1))
            kmsg, _t, _p = self.live.pop(i)
            self.q.release(kmsg)
            assert kmsg.payer is None

    @rule(t=st.integers(0, 2))
    def exit(self, t: int) -> None:
        mine = [k for k, i, _p in self.live if i == t]
        held = sum(p for _k, i, p in self.live if i == t)
        assert self.q.drop(self.tasks[t]) == held
        self.live = [e for e in self.live if e[1] != t]
        for kmsg in mine:           # still queued somewhere: freed later, uncharged
            assert kmsg.payer is None
            self.q.release(kmsg)
        self.tasks[t] = object()    # a new task in its place

    @invariant()
    def balances(self) -> None:
        for t, task in enumerate(self.tasks):
            pages = sum(p for _k, i, p in self.live if i == t)
            assert self.q.pages(task) == pages <= KMSG_QUOTA
            acct = self.q.accounts.get(id(task))
            assert (acct is None) == (pages == 0)
            if acct is not None:
                assert acct.pages == sum(p for _k, p in acct.kmsgs.values())
        assert self.q.statistics().pages == sum(p for _k, _i, p in self.live)


TestLedger = Ledger.TestCase
