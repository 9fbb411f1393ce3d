"""contract_lexer / contract_syntax: tokens, the grammar, and syntax errors with
their line and column; no input crashes the parser (only ContractError)."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.errors import ContractError
from exolab.kernels.singularity.contract import CONTRACTS_DIR
from exolab.kernels.singularity.contract_lexer import tokens
from exolab.kernels.singularity.contract_syntax import MAX_DEPTH, AltStep, MsgStep, parse

REFERENCE = Path("/work/shared/reference/contracts")
SHIPPED = sorted(CONTRACTS_DIR.glob("*.sg"))
REFERENCES = sorted(REFERENCE.glob("*.sg")) if REFERENCE.is_dir() else []


@pytest.mark.parametrize("path", SHIPPED + REFERENCES, ids=str)
def test_the_seed_contracts_parse(path: Path) -> None:
    (decl,) = parse(path.read_text(), str(path))
    assert decl.name == path.stem and decl.file == str(path)
    assert decl.messages and decl.states


def test_the_shipped_contracts_are_there() -> None:
    assert [p.name for p in SHIPPED] == ["DiskDevice.sg", "FileService.sg",
                                         "NicDevice.sg", "NicEvents.sg"]


def test_tokens_positions_arrows_and_comments() -> None:
    toks = tokens("a -> b\u2192c // x\n/* y\n z */ (...)")
    assert [(t.kind, t.text, t.line, t.col) for t in toks] == [
        ("name", "a", 1, 1), ("arrow", "->", 1, 3), ("name", "b", 1, 6),
        ("arrow", "\u2192", 1, 7), ("name", "c", 1, 8), ("(", "(", 3, 7),
        ("ellipsis", "...", 3, 8), (")", ")", 3, 11), ("eof", "", 3, 12)]


def test_the_grammar_builds_the_tree() -> None:
    (d,) = parse("""contract C {
      enum E { X, Y, }
      in message A(int n, E e, byte[] in ExHeap b, P* in ExHeap q, D.Imp:S c, D.F f);
      out message B(...);
      out message one();
      state S: one { A? -> (B! or one! -> A?) -> S; }
      state T: A? -> T;
    }""")
    assert d.enums[0].members == ("X", "Y")
    forms = [p.type.form for p in d.messages[0].params]
    assert forms == ["named", "named", "array", "pointer", "endpoint", "qualified"]
    assert [p.type.text() for p in d.messages[0].params][2:] == [
        "byte[] in ExHeap", "P* in ExHeap", "D.Imp:S", "D.F"]
    assert d.messages[1].elided and not d.messages[0].elided
    (t,) = d.states[0].transitions
    assert t.target == "S" and isinstance(t.steps[0], MsgStep)
    alt = t.steps[1]
    assert isinstance(alt, AltStep) and len(alt.branches) == 2
    assert [s.name for s in alt.branches[1]] == ["one", "A"]  # type: ignore[union-attr]
    assert d.states[1].name == "T" and d.states[1].transitions[0].target == "T"


@pytest.mark.parametrize("text, line, col, expected", [
    ("contract C {\n  in mesage A();\n}", 2, 6, "'message'"),
    ("contract C {\n  state S: one { A? -> ; }\n}", 2, 24, "a message step"),
    ("contract C {\n  state S: one { A -> S; }\n}", 2, 20, "'?'"),
    ("contract C {\n  in message A(int);\n}", 2, 19, "parameter's name"),
    ("contract C {\n  in message A(byte[] p);\n}", 2, 23, "'in'"),
    ("contract C {", 1, 13, "enum, in message"),
    ("contract C { state S: one { (A? or B?) S; } }", 1, 40, "->"),
    ("  contract C { # }", 1, 16, "a name"),
    ("contract C { /* open", 1, 14, "*/"),
])
def test_syntax_errors_name_line_column_and_expectation(text: str, line: int, col: int,
                                                       expected: str) -> None:
    with pytest.raises(ContractError) as info:
        parse(text, "f.sg")
    err = info.value
    assert (err.file, err.line, err.col) == ("f.sg", line, col), str(err)
    assert expected in err.expected
    assert str(err).startswith(f"f.sg:{line}:{col}:")


def test_nesting_is_bounded() -> None:
    deep = "(" * (MAX_DEPTH + 1) + "A?" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(ContractError) as info:
        parse(f"contract C {{ in message A(); state S: one {{ {deep} -> S; }} }}")
    assert "nested" in info.value.expected
    ok = "(" * MAX_DEPTH + "A?" + ")" * MAX_DEPTH
    parse(f"contract C {{ in message A(); state S: one {{ {ok} -> S; }} }}")


def test_text_must_be_a_str() -> None:
    with pytest.raises(ContractError):
        parse(b"contract C {}")  # type: ignore[arg-type]


_WORDS = ["contract", "C", "enum", "in", "out", "message", "state", "one", "or",
          "ExHeap", "Exp", "Imp", "int", "A", "S", "{", "}", "(", ")", "[", "]", ";",
          ",", ":", ".", "*", "?", "!", "->", "\u2192", "...", "//", "/*", "*/", "\n",
          "#", "\x00", "\u00e9"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=60))
def test_random_token_streams_raise_only_contract_errors(words: list[str]) -> None:
    try:
        parse(" ".join(words))
    except ContractError as ex:
        assert ex.line >= 1 and ex.col >= 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_random_text_raises_only_contract_errors(text: str) -> None:
    try:
        parse("contract C { " + text)
    except ContractError:
        pass
