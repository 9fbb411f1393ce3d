"""Port name spaces: names are per task, rights are checked, death makes dead names."""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import pytest

from exolab.errors import SyscallError
from exolab.kernels.mach.ports import (DEAD, RECEIVE, SEND, Port, PortSpace, kill_port)


def test_send_and_receive_rights_merge_into_one_name() -> None:
    space = PortSpace("t")
    port = Port(1, "t")
    a = space.insert(port, RECEIVE)
    b = space.insert(port, SEND)
    assert a == b and space.entries[a].bits == RECEIVE | SEND


def test_a_name_means_nothing_in_another_space() -> None:
    s1, s2 = PortSpace("a"), PortSpace("b")
    name = s1.insert(Port(1, "a"), RECEIVE)
    with pytest.raises(SyscallError) as ex:
        s2.lookup(name, RECEIVE)
    assert ex.value.errno == "EBADF" and s2.statistics().invalid == 1


def test_the_right_needed_is_checked() -> None:
    space = PortSpace("a")
    name = space.insert(Port(1, "b"), SEND)
    with pytest.raises(SyscallError) as ex:
        space.lookup(name, RECEIVE)
    assert ex.value.errno == "EPERM"


def test_killing_a_port_turns_send_rights_into_dead_names() -> None:
    owner, other = PortSpace("a"), PortSpace("b")
    port = Port(1, "a")
    owner.insert(port, RECEIVE)
    name = other.insert(port, SEND)
    woken: list[list[object]] = []
    kill_port(port, woken.append)
    assert port.dead and other.entries[name].bits == DEAD and woken


class Spaces(RuleBasedStateMachine):
    """Names stay unique; lookups find exactly what was inserted and not removed."""

    def __init__(self) -> None:
        super().__init__()
        self.space = PortSpace("t")
        self.ports = [Port(i, "t") for i in range(4)]
        self.model: dict[int, Port] = {}

    @rule(i=st.integers(0, 3), bits=st.sampled_from([SEND, RECEIVE]))
    def insert(self, i: int, bits: int) -> None:
        name = self.space.insert(self.ports[i], bits)
        assert self.model.get(name, self.ports[i]) is self.ports[i]
        self.model[name] = self.ports[i]

    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        if self.model:
            name = data.draw(st.sampled_from(sorted(self.model)))
            self.space.remove(name)
            del self.model[name]

    @rule(name=st.integers(0, 0x200))
    def forged(self, name: int) -> None:
        if name not in self.model:
            with pytest.raises(SyscallError):
                self.space.lookup(name, SEND | RECEIVE)

    @invariant()
    def agrees(self) -> None:
        assert {n: e.obj for n, e in self.space.entries.items()} == self.model
        assert len(set(self.space.by_port.values())) == len(self.space.by_port)


TestSpaces = Spaces.TestCase


def test_a_name_space_holds_a_name_per_process_of_a_ten_thousand_process_system(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The UX server names one port per live process: 10,000+ names fit, and the
    declared bound still stops a space with a clean EAGAIN."""
    from exolab.kernels.mach import ports as ports_module
    from exolab.kernels.mach.limits import MAX_NAMES
    assert MAX_NAMES >= 10_000 + 100
    space = PortSpace("ux")
    names = {space.insert(Port(i, "ux"), RECEIVE) for i in range(10_100)}
    assert len(names) == 10_100
    small = PortSpace("small")
    monkeypatch.setattr(ports_module, "MAX_NAMES", 3)      # the bound, scaled down
    for i in range(3):
        small.insert(Port(20_000 + i, "small"), RECEIVE)
    with pytest.raises(SyscallError) as e:
        small.insert(Port(30_000, "small"), RECEIVE)
    assert e.value.errno == "EAGAIN"
