"""A hypothesis state machine over Aegis's exposed page allocator (phys.py).

Model: which environments own which physical pages. The allocator must agree
with it after every step: owners per page, the free count, each environment's
root capabilities, and the capability table (a dropped root no longer looks
up). Pages come back zeroed, a taken page cannot be allocated again, and a full
machine says ENOMEM.
"""
from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import SyscallError
from exolab.kernels.exokernel.kernel import KERNEL_FRAMES

from ._support import aegis

FRAMES = KERNEL_FRAMES + 65            # the smallest machine Aegis boots on
ENVS = 3


class PhysModel(RuleBasedStateMachine):
    """Random alloc / share / free / take / release_all against a set model."""

    def __init__(self) -> None:
        super().__init__()
        self.k = aegis(frames=FRAMES)
        self.phys = self.k.phys
        self.envs = [self.k.new_env(f"e{i}", None) for i in range(ENVS)]
        self.model: dict[int, set[int]] = {}            # ppn -> env indices owning it
        self.dropped: list[int] = []                    # handles of dropped roots

    def _owned(self, i: int) -> list[int]:
        """Pages environment ``i`` owns in the model, ascending."""
        return sorted(p for p, who in self.model.items() if i in who)

    def _drop(self, i: int, ppn: int) -> None:
        """Record in the model that environment ``i`` gave up ``ppn``."""
        self.dropped.append(self.envs[i].roots[ppn].handle)
        self.model[ppn].discard(i)
        if not self.model[ppn]:
            del self.model[ppn]

    @rule(i=st.integers(0, ENVS - 1), offset=st.none() | st.integers(-2, 70),
          scribble=st.binary(min_size=1, max_size=8))
    def alloc(self, i: int, offset: int | None, scribble: bytes) -> None:
        ppn = None if offset is None else self.phys.first + offset
        in_range = ppn is None or self.phys.first <= ppn < self.phys.first + self.phys.count
        try:
            cap = self.phys.alloc(self.envs[i], ppn)
        except SyscallError as e:
            if not in_range:
                assert e.errno == "EINVAL"
            elif ppn is None:
                assert e.errno == "ENOMEM" and len(self.model) == self.phys.count
            else:
                assert e.errno == "EAGAIN" and ppn in self.model
            return
        assert in_range and cap.obj not in self.model
        assert ppn is None or cap.obj == ppn
        if ppn is None:                                 # the lowest free page
            assert all(p in self.model for p in range(self.phys.first, cap.obj))
        memory = self.k.machine.memory
        assert memory.read(cap.obj * memory.page_size, 64) == bytes(64)    # zeroed
        memory.write(cap.obj * memory.page_size, scribble)  # the next owner must not see it
        self.model[cap.obj] = {i}

    @precondition(lambda self: self.model)
    @rule(data=st.data(), j=st.integers(0, ENVS - 1))
    def share(self, data: st.DataObject, j: int) -> None:
        ppn = data.draw(st.sampled_from(sorted(self.model)))
        owner = min(self.model[ppn])
        root = self.phys.share(self.envs[owner].roots[ppn], self.envs[j])
        assert self.envs[j].roots[ppn] is root and root.obj == ppn
        self.model[ppn].add(j)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), j=st.integers(0, ENVS - 1))
    def share_read_only(self, data: st.DataObject, j: int) -> None:
        ppn = data.draw(st.sampled_from(sorted(self.model)))
        owner = min(self.model[ppn])
        fresh = j not in self.model[ppn]
        root = self.phys.share(self.envs[owner].roots[ppn], self.envs[j],
                               frozenset(("read", "share")))
        assert self.envs[j].roots[ppn] is root
        if fresh:                       # a new co-owner gets what it was given, and free
            assert "write" not in root.rights and "free" in root.rights
        self.model[ppn].add(j)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def free(self, data: st.DataObject) -> None:
        ppn = data.draw(st.sampled_from(sorted(self.model)))
        i = data.draw(st.sampled_from(sorted(self.model[ppn])))
        self._drop(i, ppn)
        self.phys.free(self.envs[i], self.envs[i].roots[ppn])

    @precondition(lambda self: self.model)
    @rule(data=st.data(), j=st.integers(0, ENVS - 1))
    def free_someone_elses(self, data: st.DataObject, j: int) -> None:
        ppn = data.draw(st.sampled_from(sorted(self.model)))
        i = min(self.model[ppn])
        if j == i:
            return
        with pytest.raises(SyscallError) as e:
            self.phys.free(self.envs[j], self.envs[i].roots[ppn])
        assert e.value.errno == "EPERM"

    @rule(i=st.integers(0, ENVS - 1), offset=st.integers(0, 64))
    def take(self, i: int, offset: int) -> None:
        ppn = self.phys.first + offset
        owned = i in self.model.get(ppn, ())
        before = len(self.envs[i].repossessed)
        if owned:
            self._drop(i, ppn)
        rec = self.phys.take(self.envs[i], ppn, "test")
        assert (rec is not None) == owned
        assert len(self.envs[i].repossessed) == before + owned
        if rec is not None:
            assert rec.ppn == ppn and self.envs[i].repossessed[-1] is rec

    @rule(i=st.integers(0, ENVS - 1))
    def release_all(self, i: int) -> None:
        for ppn in self._owned(i):
            self._drop(i, ppn)
        self.phys.release_all(self.envs[i])
        assert self.envs[i].roots == {}

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.phys.free_count() == self.phys.count - len(self.model)
        for ppn in range(self.phys.first, self.phys.first + self.phys.count):
            assert self.phys.owners(ppn) == len(self.model.get(ppn, ()))
        for i, env in enumerate(self.envs):
            assert sorted(env.roots) == self._owned(i)
            for ppn, root in env.roots.items():
                assert self.k.caps.lookup(root.handle, "page", ("free",)) is root
                assert root.obj == ppn and root.holder is env
                if len(self.model[ppn]) == 1:     # a sole owner holds every right
                    assert root.rights == frozenset(("read", "write", "share", "free"))
        for handle in self.dropped[-8:]:
            with pytest.raises(SyscallError):
                self.k.caps.lookup(handle)
        for ppn, who in self.model.items():     # a one-owner frame keeps its root alone
            held = self.phys._roots[ppn]
            if len(who) == 1:
                assert held is self.envs[next(iter(who))].roots[ppn]
            else:
                assert type(held) is list and all(r.pos == i for i, r in enumerate(held))
                assert sorted(id(r) for r in held) == sorted(
                    id(self.envs[i].roots[ppn]) for i in who)
        stats = self.phys.statistics()
        assert stats.allocated + stats.free == stats.pages


TestPhysModel = PhysModel.TestCase
TestPhysModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
