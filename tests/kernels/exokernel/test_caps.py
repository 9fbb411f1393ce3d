"""Capabilities: rights as data, unforgeable handles, derivation, revocation."""
from __future__ import annotations

import random

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, consumes, invariant,
                                 rule)

from exolab.errors import SyscallError
from exolab.kernels.exokernel.caps import SLOT_BITS, RIGHTS, CapTable, rights_table


def test_rights_are_data() -> None:
    rows = rights_table()
    assert ("page", "write", RIGHTS["page"]["write"]) in rows
    assert {k for k, _r, _m in rows} == {"page", "env"}
    assert all(meaning for _k, _r, meaning in rows)


def test_handles_are_random_64_bit_and_deterministic() -> None:
    a, b = CapTable(random.Random(1)), CapTable(random.Random(1))
    ha = [a.mint("page", i, ["read"]).handle for i in range(5)]
    hb = [b.mint("page", i, ["read"]).handle for i in range(5)]
    assert ha == hb and len(set(ha)) == 5
    assert all(0 < h < 1 << 64 for h in ha)


def test_a_slot_is_reused_last_freed_first_and_its_old_handle_stays_dead() -> None:
    t = CapTable(random.Random(3))
    a, b, c = (t.mint("page", i, ["read"]) for i in range(3))
    assert [x.handle & ((1 << SLOT_BITS) - 1) for x in (a, b, c)] == [0, 1, 2]
    t.revoke(a)
    t.revoke(c)
    d = t.mint("page", 9, ["read"])             # c's slot: the last freed
    e = t.mint("page", 9, ["read"])             # then a's
    slot = (1 << SLOT_BITS) - 1
    assert (d.handle & slot, e.handle & slot) == (2, 0)
    assert d.handle != c.handle and e.handle != a.handle     # a fresh check each time
    for dead in (a.handle, c.handle):
        with pytest.raises(SyscallError) as err:
            t.lookup(dead)
        assert err.value.errno == "EBADF"
    assert t.lookup(d.handle) is d and t.live() == 3
    t.audit()


def test_a_full_table_refuses_with_enomem_and_keeps_working() -> None:
    t = CapTable(random.Random(4), capacity=2)
    root = t.mint("page", 1, ["read", "share"])
    t.derive(root.handle, ["read"])
    with pytest.raises(SyscallError) as err:
        t.mint("page", 2, ["read"])
    assert err.value.errno == "ENOMEM"
    with pytest.raises(SyscallError) as err:
        t.derive(root.handle, ["read"])
    assert err.value.errno == "ENOMEM" and t.live() == 2
    t.revoke(root)                              # frees both slots
    assert t.live() == 0 and t.lookup(t.mint("page", 3, ["read"]).handle)
    t.audit()


def test_rights_sets_are_shared() -> None:
    t = CapTable(random.Random(5))
    a, b = t.mint("page", 1, ["read", "write"]), t.mint("page", 2, ("write", "read"))
    assert a.rights is b.rights and a.rights == frozenset(("read", "write"))


def test_forged_wrong_kind_and_missing_right() -> None:
    t = CapTable(random.Random(0))
    c = t.mint("page", 7, ["read"])
    with pytest.raises(SyscallError) as e:
        t.lookup(c.handle ^ 1)
    assert e.value.errno == "EBADF"
    with pytest.raises(SyscallError) as e:
        t.lookup("not a handle")
    assert e.value.errno == "EBADF"
    with pytest.raises(SyscallError) as e:
        t.lookup(c.handle, "env")
    assert e.value.errno == "EINVAL"
    with pytest.raises(SyscallError) as e:
        t.lookup(c.handle, "page", ("write",))
    assert e.value.errno == "EPERM"
    assert t.statistics().refused == 4


def test_derive_only_fewer_rights_and_revoke_the_subtree() -> None:
    t = CapTable(random.Random(0))
    root = t.mint("page", 1, RIGHTS["page"])
    child = t.derive(root.handle, ["read", "write"])
    grand = t.derive(child.handle, ["read"])
    with pytest.raises(SyscallError) as e:
        t.derive(grand.handle, ["write"])
    assert e.value.errno == "EPERM"
    with pytest.raises(SyscallError) as e:
        t.derive(root.handle, ["fly"])
    assert e.value.errno == "EINVAL"
    gone = t.revoke(child)
    assert {c.handle for c in gone} == {child.handle, grand.handle}
    for h in (child.handle, grand.handle):
        with pytest.raises(SyscallError):
            t.lookup(h)
    assert t.lookup(root.handle) is root and not root.children
    t.audit()


class CapMachine(RuleBasedStateMachine):
    """Model: a set of live handles with their rights and parent."""

    caps = Bundle("caps")

    def __init__(self) -> None:
        super().__init__()
        self.t = CapTable(random.Random(42))
        self.model: dict[int, tuple[frozenset[str], int | None]] = {}
        self.dead: set[int] = set()

    @rule(target=caps, rights=st.sets(st.sampled_from(sorted(RIGHTS["page"])), min_size=1))
    def mint(self, rights: set[str]) -> int:
        c = self.t.mint("page", len(self.model), rights)
        self.model[c.handle] = (frozenset(rights), None)
        return c.handle

    @rule(target=caps, h=caps, rights=st.sets(st.sampled_from(sorted(RIGHTS["page"]))))
    def derive(self, h: int, rights: set[str]) -> int:
        if h not in self.model:
            with pytest.raises(SyscallError):
                self.t.derive(h, rights)
            return h
        held = self.model[h][0]
        if not rights <= held:
            with pytest.raises(SyscallError):
                self.t.derive(h, rights)
            return h
        c = self.t.derive(h, rights)
        self.model[c.handle] = (frozenset(rights), h)
        return c.handle

    @rule(h=consumes(caps))
    def revoke(self, h: int) -> None:
        if h not in self.model:
            return
        doomed = {h}
        changed = True
        while changed:
            changed = False
            for k, (_r, p) in self.model.items():
                if p in doomed and k not in doomed:
                    doomed.add(k)
                    changed = True
        self.t.revoke(self.t.lookup(h))
        for k in doomed:
            del self.model[k]
        self.dead |= doomed

    @rule(forged=st.integers(min_value=0, max_value=(1 << 64) - 1))
    def forge(self, forged: int) -> None:
        if forged not in self.model:
            with pytest.raises(SyscallError):
                self.t.lookup(forged)

    @invariant()
    def agrees(self) -> None:
        assert self.t.live() == len(self.model)
        for h, (rights, _p) in self.model.items():
            assert self.t.lookup(h).rights == rights
        for h in self.dead:
            with pytest.raises(SyscallError):
                self.t.lookup(h)
        self.t.audit()


TestCapMachine = CapMachine.TestCase
TestCapMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
