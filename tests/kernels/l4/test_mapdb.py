"""Tests of the L4 mapping database (kernels/l4/mapdb.py): grant, map, flush."""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import SyscallError
from exolab.kernels.common.stats import counters, level_names
from exolab.kernels.l4.mapdb import MappingDB

SIGMA0, SPACES, FRAMES, VPNS = 0, (1, 2, 3), range(8), range(6)


class View:
    """Replays on_change into per-space page tables, as the kernel's hook does."""

    def __init__(self) -> None:
        self.tables: dict[tuple[int, int], tuple[int, bool]] = {}

    def __call__(self, space: int, vpn: int, ppn: int | None, writable: bool) -> None:
        if ppn is None:
            self.tables.pop((space, vpn), None)
        else:
            self.tables[(space, vpn)] = (ppn, writable)


def _db() -> tuple[MappingDB, View]:
    view = View()
    return MappingDB(SIGMA0, FRAMES, view), view


def test_map_shares_grant_moves_flush_revokes_the_subtree() -> None:
    db, view = _db()
    assert db.lookup(SIGMA0, 3) == (3, True)
    db.map(SIGMA0, 3, 1, 10, True)                  # sigma0 -> pager 1
    db.map(1, 10, 2, 20, False)                     # pager -> client 2, read-only
    db.map(2, 20, 3, 30, True)                      # asks for W, gets no more than R
    assert db.lookup(3, 30) == (3, False)
    assert db.derived(1, 10) == [(2, 20), (3, 30)]
    db.grant(2, 20, 1, 11, False)                   # client hands its page on
    assert db.lookup(2, 20) is None and db.lookup(1, 11) == (3, False)
    assert db.lookup(3, 30) == (3, False)           # what 2 mapped moved with the node
    assert db.flush(1, 10) == 2                     # the pager takes it all back
    assert db.lookup(1, 10) == (3, True)            # ... and keeps its own
    assert db.lookup(1, 11) is None and db.lookup(3, 30) is None
    assert view.tables == {(1, 10): (3, True)}
    db.check()


def test_nodes_is_a_level_the_operations_are_counters() -> None:
    db, _view = _db()
    db.map(SIGMA0, 3, 1, 10, True)
    db.map(1, 10, 2, 20, True)
    db.flush(1, 10)
    st = db.statistics()
    assert level_names(st) == {"nodes"} and st.nodes == 1      # what is held now
    assert dict(counters(st)) == {"maps": 2, "grants": 0, "flushes": 1, "removed": 1,
                                  "walked": st.walked}


def test_refusals_change_nothing() -> None:
    db, view = _db()
    db.map(SIGMA0, 1, 1, 5, True)
    db.map(1, 5, 2, 6, True)
    before = dict(view.tables)
    with pytest.raises(SyscallError) as e:
        db.map(3, 7, 1, 5, True)                    # a page 3 does not hold
    assert e.value.errno == "EFAULT"
    with pytest.raises(SyscallError):
        db.map(2, 6, 1, 5, True)                    # onto its own origin: a cycle
    with pytest.raises(SyscallError):
        db.map(1, 5, SIGMA0, 1, True)               # nothing goes into sigma0
    with pytest.raises(SyscallError):
        db.unmap(SIGMA0, 1)                         # sigma0 keeps its frames
    with pytest.raises(SyscallError):
        db.map(1, 5, 2, -1, True)
    assert view.tables == before
    db.check()


def test_drop_space_returns_a_granted_frame_to_sigma0() -> None:
    db, _ = _db()
    db.grant(SIGMA0, 4, 1, 9, True)
    assert db.lookup(SIGMA0, 4) is None
    db.map(1, 9, 2, 9, True)
    assert db.drop_space(1) == 2
    assert db.lookup(2, 9) is None and db.lookup(SIGMA0, 4) == (4, True)
    db.check()


def _chain(n: int) -> MappingDB:
    """sigma0's frame 5 mapped to space 1, which maps it to 2, ... to space n."""
    db, _ = _db()
    db.map(SIGMA0, 5, 1, 0, True)
    for i in range(1, n):
        db.map(i, 0, i + 1, 0, True)
    return db


@pytest.mark.parametrize("n", [100, 400])
def test_a_map_walks_no_nodes_however_deep_the_chain(n: int) -> None:
    """Structure, not time: a map into an empty page touches the mapper's node only,
    so the cycle check's node count stays 0 from a chain of 100 to one of 400."""
    db = _chain(n)
    assert db.statistics().walked == 0 and db.statistics().nodes == n
    before = db.statistics()
    db.map(n, 0, n + 1, 0, True)                    # one more, at depth n + 1
    db.map(n, 0, n + 1, 0, True)                    # over a page of its own child
    assert db.lookup(n + 1, 0) == (5, True) and db.derived(n, 0) == [(n + 1, 0)]
    assert db.statistics().walked == before.walked == 0
    assert db.unmap(n + 1, 0) == 1 and db.statistics().removed == before.removed + 2
    db.check()


@pytest.mark.parametrize("n", [100, 400])
def test_the_cycle_check_walks_the_gap_not_the_chain(n: int) -> None:
    """Mapping onto a page of the same frame from higher up is the one case decode
    walks: a refusal (an ancestor) costs the depth gap, a replacement elsewhere in
    the tree at most the subtree it removes, whatever the chain's length."""
    db = _chain(n)
    with pytest.raises(SyscallError) as e:          # 3 levels up: its own origin
        db.map(n, 0, n - 3, 0, True)
    assert e.value.errno == "EINVAL"
    assert db.statistics().walked <= 2 * 3
    db.map(SIGMA0, 5, n + 1, 7, True)               # a sibling branch, a leaf at depth 1
    walked = db.statistics().walked
    db.map(n, 0, n + 1, 7, True)                    # replaced from depth n: not an origin
    assert db.statistics().walked - walked <= 2
    assert db.lookup(n + 1, 7) == (5, True) and (n + 1, 7) in db.derived(1, 0)
    db.check()


@pytest.mark.parametrize("n", [100, 400])
def test_a_wide_fan_maps_and_unmaps_without_walking(n: int) -> None:
    """One page mapped to n spaces: unmapping any child removes exactly it (no walk
    of its siblings is counted), a flush removes exactly the n."""
    db, view = _db()
    db.map(SIGMA0, 5, 1, 0, True)
    for i in range(n):
        db.map(1, 0, 2 + i, 0, i % 2 == 0)
    assert db.statistics().walked == 0 and db.statistics().nodes == n + 1
    assert db.unmap(1 + n, 0) == 1 and db.unmap(2, 0) == 1     # last, then first
    assert db.derived(1, 0) == [(2 + i, 0) for i in range(1, n - 1)]  # order kept
    db.check()
    assert db.flush(1, 0) == n - 2 and db.statistics().nodes == 1
    assert view.tables == {(1, 0): (5, True)}
    db.check()


Key = tuple[int, int]


class MapDBMachine(RuleBasedStateMachine):
    """Random grant/map/flush/unmap/drop: the tree stays sound, flush removes exactly
    the subtree, and the hook's view always equals the database's. A model of every
    node's parent, kept by the rules, must give the database's subtree at every node
    (a child hung under the wrong node, or a grant that loses its children, fails)."""

    def __init__(self) -> None:
        super().__init__()
        self.db, self.view = _db()
        self.parent: dict[Key, Key | None] = {}     # the model: node -> its mapper

    def _model_below(self, key: Key) -> set[Key]:
        out: set[Key] = set()
        todo = [key]
        while todo:
            k = todo.pop()
            kids = [c for c, p in self.parent.items() if p == k]
            out.update(kids)
            todo += kids
        return out

    def _model_remove(self, key: Key) -> None:
        for k in self._model_below(key) | {key}:
            self.parent.pop(k, None)

    def _held(self, space: int) -> list[int]:
        return [v for v in (FRAMES if space == SIGMA0 else VPNS)
                if self.db.lookup(space, v) is not None]

    @rule(src=st.sampled_from((SIGMA0, *SPACES)), i=st.integers(0, 7),
          dst=st.sampled_from(SPACES), dvpn=st.sampled_from(VPNS), w=st.booleans(),
          grant=st.booleans())
    def give(self, src: int, i: int, dst: int, dvpn: int, w: bool, grant: bool) -> None:
        held = self._held(src)
        if not held:
            return
        svpn = held[i % len(held)]
        ppn, sw = self.db.lookup(src, svpn)  # type: ignore[misc]
        before = dict(self.view.tables)
        try:
            (self.db.grant if grant else self.db.map)(src, svpn, dst, dvpn, w)
        except SyscallError:
            assert self.view.tables == before       # a refusal changes nothing
            return
        s, d = (src, svpn), (dst, dvpn)
        self._model_remove(d)                       # what the page replaced
        if grant:                                   # the node moves; links stay
            self.parent[d] = self.parent.pop(s, None)
            for k, p in self.parent.items():
                if p == s:
                    self.parent[k] = d
        else:
            self.parent[d] = s
        assert self.db.lookup(dst, dvpn) == (ppn, w and sw)
        if grant and (src, svpn) != (dst, dvpn):
            assert self.db.lookup(src, svpn) is None

    @rule(space=st.sampled_from((SIGMA0, *SPACES)), i=st.integers(0, 7),
          write_only=st.booleans())
    def flush(self, space: int, i: int, write_only: bool) -> None:
        held = self._held(space)
        if not held:
            return
        vpn = held[i % len(held)]
        sub = set(self.db.derived(space, vpn))
        before = dict(self.view.tables)
        self.db.flush(space, vpn, write_only)
        if not write_only:
            for k in self._model_below((space, vpn)):
                self.parent.pop(k, None)
        after = self.view.tables
        for key, (ppn, w) in before.items():
            if key in sub and not write_only:
                assert key not in after             # exactly the subtree goes
            elif key in sub:
                assert after[key] == (ppn, False)
            else:
                assert after.get(key) == (ppn, w)   # nothing else changes
        assert self.db.lookup(space, vpn) is not None

    @rule(space=st.sampled_from(SPACES), i=st.integers(0, 7))
    def unmap(self, space: int, i: int) -> None:
        held = self._held(space)
        if not held:
            return
        vpn = held[i % len(held)]
        sub = set(self.db.derived(space, vpn)) | {(space, vpn)}
        try:
            assert self.db.unmap(space, vpn) == len(sub)
        except SyscallError:
            assert self.parent.get((space, vpn), "?") is None   # only a root refuses
            return
        assert not sub & set(self.view.tables)
        self._model_remove((space, vpn))

    @precondition(lambda self: True)
    @rule(space=st.sampled_from(SPACES))
    def drop(self, space: int) -> None:
        self.db.drop_space(space)
        for k in [k for k in self.parent if k[0] == space]:
            self._model_remove(k)
        assert self.db.pages(space) == []
        assert not any(s == space for s, _ in self.view.tables)

    @invariant()
    def links_match_the_model(self) -> None:
        held = {(s, v) for s in SPACES for v in VPNS if self.db.lookup(s, v) is not None}
        assert held == {k for k in self.parent if k[0] != SIGMA0}
        for key in held | {(SIGMA0, f) for f in FRAMES}:
            if self.db.lookup(*key) is not None:
                assert set(self.db.derived(*key)) == self._model_below(key), key

    @invariant()
    def sound(self) -> None:
        self.db.check()
        for space in SPACES:                        # the hook's view is the db's
            for vpn in VPNS:
                assert self.view.tables.get((space, vpn)) == self.db.lookup(space, vpn)


TestMapDB = MapDBMachine.TestCase
TestMapDB.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
