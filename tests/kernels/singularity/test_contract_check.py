"""contract / contract_check: the well-formedness checks (one test per error class),
type resolution across contracts and files, and the catalogue."""
from __future__ import annotations

from pathlib import Path

import pytest

from exolab.errors import ContractError
from exolab.kernels.singularity.contract import CONTRACTS_DIR, Catalogue, diagnose

REFERENCE = Path("/work/shared/reference/contracts")


def _error(text: str) -> ContractError:
    """The first error of checking ``text`` (it must fail)."""
    with pytest.raises(ContractError) as info:
        Catalogue.parse(text, "t.sg")
    return info.value


def test_the_shipped_contracts_verify() -> None:
    cat = Catalogue.shipped()
    assert list(cat) == ["DiskDevice", "FileService", "NicDevice", "NicEvents"]
    assert len(cat) == 4
    dev = cat["NicDevice"]
    assert dev.states == ("START", "IO_CONFIGURE_BEGIN", "IO_CONFIGURE_ACK",
                          "IO_CONFIGURED", "IO_RUNNING")
    assert dev.initial == "START" and len(dev.messages) == 12
    assert dev.machine_states == 8          # 5 declared + 3 points inside sequences
    reg = dev.messages["RegisterForEvents"]
    assert reg.direction == "in"
    (c,) = reg.params
    assert (c.kind, c.contract, c.side, c.state) == ("endpoint", "NicEvents", "Exp", "READY")
    bad = dev.messages["BadPacketSize"].params
    assert [(p.name, p.kind, p.in_exheap) for p in bad] == [
        ("p", "block", True), ("m", "int", False)]
    assert dev.messages["ReceivedPacket"].params[0].type_name == "Packet* in ExHeap"
    assert dev.messages["DeviceInfo"].elided
    ev = cat["NicEvents"]
    assert ev.enums == {"NicEventType": ("NoEvent", "ReceiveEvent", "TransmitEvent",
                                         "LinkEvent")}
    assert ev.messages["NicEvent"].params[0].kind == "enum"


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="no shared reference copy")
def test_the_reference_copies_verify_and_match_ours() -> None:
    ref = Catalogue.load([REFERENCE / "NicDevice.sg"])      # NicEvents found beside
    ours = Catalogue.shipped()
    assert list(ref) == ["NicDevice", "NicEvents"]
    for name in ref:
        assert ref[name].transitions() == ours[name].transitions()
        assert ref[name].signatures() == ours[name].signatures()


def test_endpoint_types_resolve_from_the_same_file() -> None:
    cat = Catalogue.parse("""
      contract A { in message Give(B.Imp:T e, B.K k); state S: Give? -> S; }
      contract B { enum K { P, Q } out message M(); state T: M! -> T; }""")
    (e, k) = cat["A"].messages["Give"].params
    assert (e.kind, e.contract, e.side, e.state) == ("endpoint", "B", "Imp", "T")
    assert (k.kind, k.members) == ("enum", ("P", "Q"))


def test_endpoint_without_a_state_means_the_initial_one() -> None:
    cat = Catalogue.parse("contract A { in message G(A.Exp e); state S: G? -> S; }")
    assert cat["A"].messages["G"].params[0].state == "S"


def test_endpoint_types_resolve_from_another_file_given_or_beside(tmp_path) -> None:
    (tmp_path / "Ev.sg").write_text("contract Ev { out message E(); state R: E! -> R; }")
    user = tmp_path / "sub" / "User.sg"
    user.parent.mkdir()
    user.write_text("contract User { in message Reg(Ev.Exp:R c); state S: Reg? -> S; }")
    assert list(Catalogue.load([user, tmp_path / "Ev.sg"])) == ["User", "Ev"]
    with pytest.raises(ContractError) as info:      # not beside User.sg
        Catalogue.load([user])
    assert "unknown contract Ev" in str(info.value)
    (user.parent / "Ev.sg").write_text((tmp_path / "Ev.sg").read_text())
    assert list(Catalogue.load(str(user))) == ["User", "Ev"]
    text = user.read_text()
    assert "Ev" in Catalogue.parse(text, "x.sg", beside=user.parent)


# -- one test per error class --------------------------------------------------------

def test_unknown_message() -> None:
    err = _error("contract C {\n in message A();\n state S: one { A? -> B? -> S; }\n}")
    assert "unknown message B" in str(err) and (err.line, err.col) == (3, 23)
    assert err.found == "B"


def test_unreachable_state() -> None:
    err = _error("contract C { in message A();\n state S: A? -> S;\n state U: A? -> S; }")
    assert "unreachable state U" in str(err) and err.line == 3


def test_a_state_reached_through_a_sequence_is_reachable() -> None:
    cat = Catalogue.parse("contract C { in message A(); out message B();\n"
                          "state S: A? -> (B! -> A? or A? -> B!) -> T; state T: one { } }")
    c = cat["C"]
    assert c.states == ("S", "T") and c.machine_states == 5


@pytest.mark.parametrize("body, found", [
    ("state S: one { A? -> S; A? -> S; }", "A"),                 # two transitions
    ("state S: A? -> (B! or B!) -> S;", "B"),                     # two branches
    ("state S: A? -> (B! -> A? or B!) -> S;", "B"),               # same first message
    ("state S: one { (A? or C?) -> S; C? -> S; }", "C"),          # group vs transition
])
def test_ambiguous_alternative(body: str, found: str) -> None:
    err = _error(f"contract C {{ in message A(); out message B(); in message C();\n"
                 f"{body} }}")
    assert "ambiguous" in str(err) and err.found == found and err.line == 2


def test_wrong_direction() -> None:
    err = _error("contract C { out message R();\n state S: R? -> S; }")
    assert "wrong direction" in str(err) and err.expected.startswith("R!")
    assert (err.line, err.col) == (2, 11)
    err = _error("contract C { in message Q(); state S: Q! -> S; }")
    assert err.expected.startswith("Q?")


@pytest.mark.parametrize("ptype, what", [
    ("Frob x", "unknown type Frob"),
    ("Other.E x", "unknown contract Other"),
    ("C.Nope x", "unknown type C.Nope"),
    ("C.Exp:NOPE e", "no state NOPE"),
])
def test_unknown_type(ptype: str, what: str) -> None:
    err = _error(f"contract C {{ in message A({ptype}); state S: A? -> S; }}")
    assert what in str(err) and err.line == 1


def test_unknown_target_state() -> None:
    err = _error("contract C { in message A(); state S: A? -> T; }")
    assert "unknown state T" in str(err) and err.col == 45


def test_syntax_error_with_line_and_column() -> None:
    err = _error("contract C {\n  in message A()\n  state S: A? -> S; }")
    assert (err.file, err.line, err.col) == ("t.sg", 3, 3) and err.expected == "';'"


@pytest.mark.parametrize("text, what", [
    ("contract C { in message A(); in message A(); state S: A? -> S; }", "message A"),
    ("contract C { in message A(); state S: A? -> S; state S: A? -> S; }", "state S"),
    ("contract C { in message A(int x, int x); state S: A? -> S; }", "parameter x"),
    ("contract C { enum E { X, X } in message A(); state S: A? -> S; }", "repeats"),
    ("contract C { in message A(); }", "no state"),
    ("contract C { in message A(); state S: A? -> S; }\n"
     "contract C { in message A(); state S: A? -> S; }", "duplicate contract C"),
])
def test_duplicates_and_missing_states(text: str, what: str) -> None:
    assert what in str(_error(text))


def test_diagnose_reports_every_error(tmp_path) -> None:
    bad = tmp_path / "bad.sg"
    bad.write_text("contract C { in message A(Frob f); state S: A! -> T; }")
    cat, errors = diagnose([bad, tmp_path / "missing.sg", CONTRACTS_DIR / "NicEvents.sg"])
    assert cat is None
    assert [e.fields["found"] for e in errors] == ["No such file or directory",
                                                   "Frob", "A!", "T"]


def test_catalogue_lookup() -> None:
    cat = Catalogue.shipped()
    assert "NicEvents" in cat and 3 not in cat and cat.get("Nope") is None
    with pytest.raises(ContractError):
        cat["Nope"]
    with pytest.raises(ContractError):
        cat[["x"]]          # type: ignore[index]


def test_the_slide_arrow_compiles_like_the_ascii_one() -> None:
    ascii_ = (CONTRACTS_DIR / "NicDevice.sg").read_text()
    slide = ascii_.replace("->", "\u2192")
    a = Catalogue.parse(ascii_, "a.sg", beside=CONTRACTS_DIR)["NicDevice"]
    b = Catalogue.parse(slide, "b.sg", beside=CONTRACTS_DIR)["NicDevice"]
    assert a.transitions() == b.transitions() and a.machine_states == b.machine_states


@pytest.mark.parametrize("module", ["contract", "contract_check", "contract_runtime",
                                    "contract_syntax", "contract_lexer"])
def test_each_module_exports_what_it_names(module: str) -> None:
    import importlib
    mod = importlib.import_module(f"exolab.kernels.singularity.{module}")
    assert mod.__all__ and all(hasattr(mod, name) for name in mod.__all__)
    assert "Interface::" in (mod.__doc__ or "")
