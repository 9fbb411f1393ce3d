"""Externalized references: a per-application table checked at every use."""
from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.errors import SyscallError
from exolab.kernels.spin.refs import RefTable


class A:
    pass


class B:
    pass


def test_a_reference_is_checked_for_liveness_and_kind() -> None:
    t = RefTable(4)
    a = A()
    r = t.externalize(a)
    assert t.internalize(r, A) is a
    with pytest.raises(SyscallError) as ex:
        t.internalize(r, B)
    assert ex.value.errno == "EPERM"
    t.release(r)
    for bad in (r, -1, 99, True, 1.0, "0"):
        with pytest.raises(SyscallError) as ex:
            t.internalize(bad, A)
        assert ex.value.errno == "EBADF"


def test_the_table_is_bounded() -> None:
    t = RefTable(2)
    t.externalize(A())
    t.externalize(A())
    with pytest.raises(SyscallError) as ex:
        t.externalize(A())
    assert ex.value.errno == "EAGAIN"


class RefMachine(RuleBasedStateMachine):
    """The table agrees with a model dict at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.t = RefTable(8)
        self.model: dict[int, object] = {}

    @rule(kind=st.sampled_from([A, B]))
    def add(self, kind: type) -> None:
        obj = kind()
        try:
            r = self.t.externalize(obj)
        except SyscallError:
            assert len(self.model) == 8
            return
        assert r not in self.model
        self.model[r] = obj

    @rule(ref=st.integers(-2, 10))
    def drop(self, ref: int) -> None:
        if ref in self.model:
            self.t.release(ref)
            del self.model[ref]
        else:
            with pytest.raises(SyscallError):
                self.t.release(ref)

    @rule(ref=st.integers(-2, 10), kind=st.sampled_from([A, B]))
    def use(self, ref: int, kind: type) -> None:
        obj = self.model.get(ref)
        if obj is not None and type(obj) is kind:
            assert self.t.internalize(ref, kind) is obj
        else:
            with pytest.raises(SyscallError):
                self.t.internalize(ref, kind)

    @invariant()
    def sizes(self) -> None:
        assert len(self.t) == len(self.model)


TestRefMachine = RefMachine.TestCase
