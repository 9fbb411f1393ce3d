"""contract_runtime: conformance at every send and receive, the two sides mirror,
argument checks; hypothesis walks both ends of a channel through the machine."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from exolab.errors import ContractError, ContractViolation
from exolab.kernels.singularity.contract import Catalogue, Conformance

CAT = Catalogue.shipped()
DEV = CAT["NicDevice"]
EXTRA = Catalogue.parse("""
  contract Nest {
    in message A(); in message B(); out message X(); out message Y(); out message Z();
    state S: one {
      A? -> (X! -> (Y! or Z! -> A?) or Y!) -> S;
      B? -> X! -> Y! -> T;
    }
    state T: one { A? -> S; B? -> (X! or Y!) -> T; }
  }""")
CONTRACTS = [DEV, CAT["NicEvents"], EXTRA["Nest"]]


def _violation(conf: Conformance, op: str, msg: object) -> ContractViolation:
    """The violation ``op`` of ``msg`` raises (which must not move the endpoint)."""
    before = conf.state
    with pytest.raises(ContractViolation) as info:
        getattr(conf, f"check_{op}")(msg)
    assert conf.state == before
    return info.value


def test_the_driver_scenario_conforms_on_both_ends() -> None:
    exp, imp = DEV.endpoint("Exp"), DEV.endpoint("Imp")
    script = [("exp", "DeviceInfo"), ("imp", "RegisterForEvents"),
              ("imp", "SetParameters"), ("exp", "InvalidParameters"),
              ("imp", "RegisterForEvents"), ("imp", "SetParameters"),
              ("exp", "Success"), ("imp", "StartIO"), ("imp", "PacketForReceive"),
              ("exp", "BadPacketSize"), ("imp", "GetReceivedPacket"),
              ("exp", "NoPacket"), ("imp", "PacketForReceive"), ("exp", "Success")]
    for who, msg in script:
        sender, receiver = (exp, imp) if who == "exp" else (imp, exp)
        sender.check_send(msg)
        receiver.check_receive(msg)
        assert sender.state == receiver.state
    assert exp.at("IO_RUNNING") and imp.state == "IO_RUNNING"


def test_a_message_out_of_state_is_refused_and_nothing_moves() -> None:
    exp, imp = DEV.endpoint("Exp"), DEV.endpoint("Imp")
    err = _violation(imp, "send", "StartIO")           # before DeviceInfo
    assert (err.contract, err.state, err.side, err.op) == ("NicDevice", "START", "Imp",
                                                          "send")
    assert err.msg == "StartIO" and err.fields["message"] == "StartIO"
    assert err.expected == ()
    assert isinstance(err, ContractError)
    assert _violation(exp, "receive", "DeviceInfo").expected == ()   # Exp sends it
    assert _violation(exp, "send", "Success").expected == ("DeviceInfo",)
    exp.check_send("DeviceInfo")
    exp.check_receive("RegisterForEvents")
    assert exp.state == "IO_CONFIGURE_BEGIN:RegisterForEvents?"
    assert _violation(exp, "receive", "RegisterForEvents").expected == ("SetParameters",)
    assert "may not receive RegisterForEvents" in str(
        _violation(exp, "receive", "RegisterForEvents"))


@pytest.mark.parametrize("msg", [None, 3, b"DeviceInfo", ["DeviceInfo"], "", "Nope"])
def test_non_names_are_refused_without_crashing(msg: object) -> None:
    exp = DEV.endpoint("Exp")
    assert not exp.can_send(msg) and not exp.can_receive(msg)  # type: ignore[arg-type]
    _violation(exp, "send", msg)
    _violation(exp, "receive", msg)


def test_expected_and_can() -> None:
    imp = DEV.endpoint("Imp", "IO_RUNNING")
    assert imp.expected_sends() == ("PacketForReceive", "GetReceivedPacket")
    assert imp.expected_receives() == ()
    imp.check_send("GetReceivedPacket")
    assert imp.expected_receives() == ("ReceivedPacket", "NoPacket")
    assert imp.can_receive("NoPacket") and not imp.can_send("NoPacket")
    assert repr(imp).startswith("<Conformance NicDevice.Imp:")


def test_endpoint_side_and_state_are_checked() -> None:
    with pytest.raises(ContractError):
        DEV.endpoint("Both")
    with pytest.raises(ContractError):
        DEV.endpoint("Exp", "NOWHERE")
    with pytest.raises(ContractError):
        DEV.endpoint("Exp", "IO_CONFIGURE_BEGIN:RegisterForEvents?")   # not declared
    assert DEV.endpoint("Exp", "IO_RUNNING").state == "IO_RUNNING"


def _is_block(value: object, param: object) -> bool:
    return type(value) is bytearray


def _is_endpoint(value: object, param: object) -> bool:
    return isinstance(value, Conformance) and value.contract == getattr(param, "contract")


def test_check_args() -> None:
    bad = DEV.messages["BadPacketSize"]
    assert bad.check_args([bytearray(2), 7], is_block=_is_block) == (bytearray(2), 7)
    for args in ((bytearray(2), True), (bytearray(2),), (b"xx", 7), "ab", None):
        with pytest.raises(ContractViolation) as info:
            bad.check_args(args, is_block=_is_block)
        assert info.value.op == "args" and info.value.contract == "NicDevice"
    with pytest.raises(ContractViolation):              # no predicate: no blocks
        bad.check_args((bytearray(2), 7))
    reg = DEV.messages["RegisterForEvents"]
    ep = CAT["NicEvents"].endpoint("Exp")
    assert reg.check_args((ep,), is_endpoint=_is_endpoint) == (ep,)
    with pytest.raises(ContractViolation):
        reg.check_args((DEV.endpoint("Exp"),), is_endpoint=_is_endpoint)
    ev = CAT["NicEvents"].messages["NicEvent"]
    assert ev.check_args((1,)) == (1,) and ev.check_args(("LinkEvent",))
    for wrong in (4, -1, "Nope", True, 1.0):
        with pytest.raises(ContractViolation):
            ev.check_args((wrong,))
    info_ = DEV.messages["DeviceInfo"]                  # (...): any channel values
    assert info_.check_args((1, True, bytearray(1)), is_block=_is_block)
    with pytest.raises(ContractViolation):
        info_.check_args((1, "text"))


def test_check_send_with_args_checks_them_before_moving() -> None:
    exp = DEV.endpoint("Exp", "IO_RUNNING")
    imp = DEV.endpoint("Imp", "IO_RUNNING")
    imp.check_send("PacketForReceive", (bytearray(4),), is_block=_is_block)
    exp.check_receive("PacketForReceive")
    with pytest.raises(ContractViolation):
        exp.check_send("BadPacketSize", (bytearray(4), "no"), is_block=_is_block)
    assert exp.state.startswith("IO_RUNNING:")
    assert exp.check_send("BadPacketSize", (bytearray(4), 1),
                          is_block=_is_block) == (bytearray(4), 1)
    assert exp.state == "IO_RUNNING"


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.name)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_walks_from_both_sides_agree(contract, data) -> None:
    """Lock-step walk: whatever one side may send, the other may receive then."""
    exp, imp = contract.endpoint("Exp"), contract.endpoint("Imp")
    for _ in range(40):
        assert exp.state == imp.state
        assert exp.expected_sends() == imp.expected_receives()
        assert imp.expected_sends() == exp.expected_receives()
        choices = [(exp, imp, m) for m in exp.expected_sends()] + \
                  [(imp, exp, m) for m in imp.expected_sends()]
        if not choices:
            return
        sender, receiver, msg = data.draw(st.sampled_from(choices))
        assert receiver.can_receive(msg)
        sender.check_send(msg)
        receiver.check_receive(msg)


class ChannelWalk(RuleBasedStateMachine):
    """Both ends of a NicDevice channel with a message queue in each direction:
    messages in flight never make a legal receive fail."""

    def __init__(self) -> None:
        super().__init__()
        self.ends = {"Exp": DEV.endpoint("Exp"), "Imp": DEV.endpoint("Imp")}
        self.queues: dict[str, list[str]] = {"Exp": [], "Imp": []}   # to that side

    @rule(side=st.sampled_from(["Exp", "Imp"]), pick=st.integers(0, 5))
    def send(self, side: str, pick: int) -> None:
        end = self.ends[side]
        allowed = end.expected_sends()
        if not allowed:
            return
        msg = allowed[pick % len(allowed)]
        end.check_send(msg)
        self.queues["Imp" if side == "Exp" else "Exp"].append(msg)

    @precondition(lambda self: self.queues["Exp"] or self.queues["Imp"])
    @rule(side=st.sampled_from(["Exp", "Imp"]))
    def receive(self, side: str) -> None:
        if self.queues[side]:
            self.ends[side].check_receive(self.queues[side].pop(0))

    @rule(side=st.sampled_from(["Exp", "Imp"]), msg=st.sampled_from(sorted(DEV.messages)))
    def illegal_send(self, side: str, msg: str) -> None:
        end = self.ends[side]
        if not end.can_send(msg):
            before = end.state
            with pytest.raises(ContractViolation):
                end.check_send(msg)
            assert end.state == before

    @invariant()
    def one_side_at_most_ahead(self) -> None:
        # a channel of this contract never has messages in flight both ways
        assert not (self.queues["Exp"] and self.queues["Imp"])


TestChannelWalk = ChannelWalk.TestCase
TestChannelWalk.settings = settings(max_examples=50, stateful_step_count=40,
                                    deadline=None)


_NAMES = ["A", "B", "C", "D"]


def _steps(depth: int, marks: dict[str, str] | None) -> st.SearchStrategy[str]:
    """A random step text: ``M?``/``M!`` (in M's direction unless ``marks`` is None)
    or, while ``depth`` lasts, a group of alternatives."""
    if marks is None:
        msg = st.tuples(st.sampled_from(_NAMES), st.sampled_from("?!")).map("".join)
    else:
        msg = st.sampled_from([n + marks[n] for n in _NAMES])
    if depth == 0:
        return msg
    branch = st.lists(_steps(depth - 1, marks), min_size=1, max_size=2).map(" -> ".join)
    group = st.lists(branch, min_size=1, max_size=3).map(
        lambda bs: "(" + " or ".join(bs) + ")")
    return st.one_of(msg, msg, group)


@st.composite
def _contracts(draw: st.DrawFn) -> str:
    """A syntactically valid contract over messages A-D and states S0-S2."""
    dirs = draw(st.lists(st.sampled_from(["in", "out"]), min_size=4, max_size=4))
    marks = {n: "?" if d == "in" else "!" for d, n in zip(dirs, _NAMES)}
    sloppy = draw(st.integers(0, 4)) == 0           # then marks are random
    states = []
    steps = st.lists(_steps(2, None if sloppy else marks), min_size=1, max_size=3)
    for i in range(draw(st.integers(1, 3))):
        ts = draw(st.lists(st.tuples(steps, st.integers(0, 2)), max_size=3))
        body = " ".join(" -> ".join(steps) + f" -> S{t};" for steps, t in ts)
        states.append(f"state S{i}: one {{ {body} }}")
    msgs = " ".join(f"{d} message {n}();" for d, n in zip(dirs, _NAMES))
    return f"contract R {{ {msgs} {' '.join(states)} }}"


@settings(max_examples=300, deadline=None)
@given(text=_contracts(), data=st.data())
def test_random_contracts_are_refused_cleanly_or_walk_in_agreement(text, data) -> None:
    try:
        contract = Catalogue.parse(text)["R"]
    except ContractError as ex:
        assert ex.line >= 1 and ex.file == "<contract>"
        return
    exp, imp = contract.endpoint("Exp"), contract.endpoint("Imp")
    for _ in range(20):
        assert exp.expected_sends() == imp.expected_receives()
        assert imp.expected_sends() == exp.expected_receives()
        choices = [(exp, imp, m) for m in exp.expected_sends()] + \
                  [(imp, exp, m) for m in imp.expected_sends()]
        if not choices:
            return
        sender, receiver, msg = data.draw(st.sampled_from(choices))
        sender.check_send(msg)
        receiver.check_receive(msg)
        assert sender.state == receiver.state
