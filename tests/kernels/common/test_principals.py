"""The shared principal ledger (kernels/common/principals.py): caps shrink one step a
level, charges count up the chain, a refused charge changes nothing, and a
hypothesis machine of trees that spawn, charge, move and exit checks every
principal's count against a model and its cap, and that a tree that exits gives
everything back."""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.common.principals import (Principals, chain, charge, check,
                                              check_move, move, uncharge)

TOTALS = (64, 32, 48)          # two counted kinds and one cap-only kind
SHARE = 16


def test_caps_shrink_by_one_step_a_level_and_stop_before_zero() -> None:
    book = Principals(TOTALS, SHARE, 2, "EAGAIN")
    p = book.root()
    assert p.caps == (60, 30, 45) and p.held == [0, 0] and p.depth == 0
    levels = [p]
    while True:
        try:
            levels.append(book.nested(levels[-1]))
        except SyscallError as ex:
            assert ex.errno == "EAGAIN"
            break
    assert len(levels) == 15 and levels[-1].caps == (4, 2, 3)
    assert [q.pid for q in chain(levels[2])] == [3, 2, 1]


def test_a_charge_counts_up_the_chain_and_a_refused_one_changes_nothing() -> None:
    book = Principals(TOTALS, SHARE, 2)
    root = book.root()
    a, b = book.nested(root), book.nested(root)
    charge(a, 0, 56, "ENOMEM", "things")            # a's cap: 56
    assert (a.held, root.held, b.held) == ([56, 0], [56, 0], [0, 0])
    with pytest.raises(SyscallError) as ex:
        charge(a, 0, 1, "ENOMEM", "things")
    assert ex.value.errno == "ENOMEM" and a.held == [56, 0]
    charge(b, 0, 4, "ENOMEM", "things")             # what a left under root
    with pytest.raises(SyscallError):
        check(b, 0, 1, "ENOMEM", "things")          # root's cap (60) stops b
    check_move(a, b, 0, 1, "ENOMEM", "things")      # a full root: a move keeps its count
    uncharge(a, 0, 56, "things")
    assert root.held == [4, 0]
    with pytest.raises(KernelPanic):
        uncharge(a, 0, 1, "things")
    assert a.held == [0, 0] and root.held == [4, 0]


def test_a_move_within_a_tree_checks_only_below_the_common_ancestor() -> None:
    book = Principals(TOTALS, SHARE, 1)
    root = book.root()
    a = book.nested(root)
    c = book.nested(a)                  # cap 52
    charge(a, 0, 56, "ENOMEM", "things")            # a full, root nearly
    check_move(a, c, 0, 52, "ENOMEM", "things")     # a and root do not change
    with pytest.raises(SyscallError):
        check_move(a, c, 0, 53, "ENOMEM", "things")  # c's own cap
    move(a, c, 0, 52, "things")
    assert (c.held, a.held, root.held) == ([52], [56], [56])


class Ledger(RuleBasedStateMachine):
    """Trees of principals charging two kinds; a model of every charge by principal."""

    def __init__(self) -> None:
        super().__init__()
        self.book = Principals(TOTALS, SHARE, 2)
        self.live: list = []
        self.own: dict[int, list[int]] = {}         # pid -> its own charges, by kind
        self.gone: list = []

    def _subtree(self, p: object) -> list:
        return [q for q in self.live if p in chain(q)]

    def _held(self, p: object, kind: int) -> int:
        return sum(self.own[q.pid][kind] for q in self._subtree(p))

    @rule(parent=st.integers(0, 40))
    def spawn(self, parent: int) -> None:
        above = self.live[parent % len(self.live)] if self.live and parent else None
        try:
            p = self.book.root() if above is None else self.book.nested(above)
        except SyscallError as ex:
            assert ex.errno == "ENOMEM" and above is not None and \
                min(a - s for a, s in zip(above.caps, self.book.step)) <= 0
            return
        if above is not None:
            assert p.caps == tuple(a - s for a, s in zip(above.caps, self.book.step))
        self.live.append(p)
        self.own[p.pid] = [0, 0]

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 40), kind=st.integers(0, 1), n=st.integers(1, 24))
    def charge(self, i: int, kind: int, n: int) -> None:
        p = self.live[i % len(self.live)]
        fits = all(self._held(q, kind) + n <= q.caps[kind] for q in chain(p))
        try:
            charge(p, kind, n, "ENOMEM", "things")
        except SyscallError:
            assert not fits
            return
        assert fits
        self.own[p.pid][kind] += n

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 40), j=st.integers(0, 40), kind=st.integers(0, 1),
          n=st.integers(1, 24))
    def move(self, i: int, j: int, kind: int, n: int) -> None:
        src, dst = self.live[i % len(self.live)], self.live[j % len(self.live)]
        n = min(n, self.own[src.pid][kind])
        if n == 0:
            return
        mine = chain(src)
        fits = all(self._held(q, kind) + n <= q.caps[kind] for q in chain(dst)
                   if q not in mine)
        try:
            check_move(src, dst, kind, n, "ENOMEM", "things")
        except SyscallError:
            assert not fits
            return
        assert fits
        move(src, dst, kind, n, "things")
        self.own[src.pid][kind] -= n
        self.own[dst.pid][kind] += n

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 40))
    def exit_tree(self, i: int) -> None:
        top = self.live[i % len(self.live)]
        tree = self._subtree(top)
        for q in tree:
            for kind in (0, 1):
                uncharge(q, kind, self.own[q.pid][kind], "things")
                self.own[q.pid][kind] = 0
        self.live = [q for q in self.live if q not in tree]
        self.gone += tree

    @invariant()
    def counts_match_and_stay_under_caps(self) -> None:
        for p in self.live:
            for kind in (0, 1):
                assert p.held[kind] == self._held(p, kind) <= p.caps[kind]

    @invariant()
    def an_exited_tree_holds_nothing(self) -> None:
        assert all(p.held == [0, 0] for p in self.gone)


Ledger.TestCase.settings = settings(max_examples=60, stateful_step_count=40,
                                    deadline=None)
test_ledger = Ledger.TestCase
