"""kernels/common/args.py: exact types, ranges, the argument's name, nothing rendered."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exolab.abi import MAX_COMPUTE, MAX_RANDOM, WORD_MAX, WORD_MIN
from exolab.errors import SyscallError
from exolab.kernels.common import args


class Sly(int):
    """An int subclass whose comparisons lie."""

    def __lt__(self, other: Any) -> bool:
        return False

    def __gt__(self, other: Any) -> bool:
        return False


class Loud:
    """An object that records any attempt to render or compare it."""

    touched: list[str] = []

    def __repr__(self) -> str:
        Loud.touched.append("repr")
        raise RuntimeError("repr ran")

    def __str__(self) -> str:
        Loud.touched.append("str")
        raise RuntimeError("str ran")

    def __eq__(self, other: object) -> bool:
        Loud.touched.append("eq")
        raise RuntimeError("eq ran")

    __hash__ = None  # type: ignore[assignment]


def _fails(call: Any, *a: Any, **kw: Any) -> SyscallError:
    with pytest.raises(SyscallError) as ei:
        call(*a, **kw)
    return ei.value


@given(st.integers(), st.integers(-50, 50), st.integers(-50, 50))
def test_int_arg_accepts_exactly_the_range(x: int, lo: int, hi: int) -> None:
    if lo <= x <= hi:
        assert args.int_arg(x, "n", lo, hi) == x
    else:
        assert _fails(args.int_arg, x, "n", lo, hi).errno == "EINVAL"


@pytest.mark.parametrize("bad", [True, False, Sly(3), 3.0, "3", None, Loud()])
def test_int_decoders_refuse_anything_but_an_exact_int(bad: Any) -> None:
    Loud.touched.clear()
    for call in (lambda x: args.int_arg(x, "count"), lambda x: args.nat(x, "count"),
                 lambda x: args.opt_nat(x, "count") if x is not None else args.nat(x, "count"),
                 args.word, args.cycles, args.random_count, args.prot):
        ex = _fails(call, bad)
        assert ex.errno == "EINVAL"
        str(ex)                                 # rendering the error runs nothing of bad
    assert Loud.touched == []


def test_the_error_names_the_argument_and_shows_only_plain_values() -> None:
    ex = _fails(args.nat, -1, "length")
    assert "length" in ex.message and ex.fields["length"] == -1
    ex = _fails(args.nat, Loud(), "length")
    assert ex.fields["length"] == "<Loud>"
    assert args.shown(Sly(2)) == "<Sly>" and args.shown("x") == "x"
    assert args.shown(None) is None


def test_errno_is_the_callers_choice() -> None:
    assert _fails(args.int_arg, 7, "fd", 0, 3, errno="EBADF").errno == "EBADF"


def test_nat_and_opt_nat() -> None:
    assert args.nat(0, "n") == 0 and args.nat(5, "n", hi=5) == 5
    assert _fails(args.nat, 6, "n", hi=5).errno == "EINVAL"
    assert args.opt_nat(None, "n") is None and args.opt_nat(3, "n") == 3
    assert _fails(args.opt_nat, -1, "n").errno == "EINVAL"


def test_words_cycles_and_random_lengths_at_their_bounds() -> None:
    for ok in (WORD_MIN, 0, WORD_MAX):
        assert args.word(ok) == ok and args.is_word(ok)
    for bad in (WORD_MIN - 1, WORD_MAX + 1, True, Sly(1)):
        assert not args.is_word(bad)
        assert _fails(args.word, bad).errno == "EINVAL"
    assert args.cycles(MAX_COMPUTE) == MAX_COMPUTE
    assert _fails(args.cycles, MAX_COMPUTE + 1).errno == "EINVAL"
    assert _fails(args.cycles, -1).errno == "EINVAL"
    assert args.random_count(MAX_RANDOM) == MAX_RANDOM
    assert _fails(args.random_count, MAX_RANDOM + 1).errno == "EINVAL"


def test_strings_functions_flags_buffers_and_kinds() -> None:
    assert args.str_arg("ab", "name", max_len=2) == "ab"
    assert _fails(args.str_arg, "abc", "name", max_len=2).errno == "EINVAL"
    assert _fails(args.str_arg, b"ab", "name").errno == "EINVAL"
    assert args.func(len, "entry") is len
    assert _fails(args.func, 3, "entry").fields["entry"] == 3
    assert args.opt_func(None, "handler") is None
    assert _fails(args.opt_func, "x", "handler").errno == "EINVAL"
    assert args.flag(True, "spread") is True
    assert _fails(args.flag, 1, "spread").errno == "EINVAL"
    assert args.buffer(bytearray(b"hi")) == b"hi"
    assert _fails(args.buffer, "hi").errno == "EFAULT"
    assert args.exception_kind("prot") == "prot"
    assert _fails(args.exception_kind, "nope").errno == "EINVAL"
    Loud.touched.clear()
    assert _fails(args.exception_kind, Loud()).errno == "EINVAL"
    assert Loud.touched == []


def test_protections() -> None:
    assert [args.prot(p) for p in range(4)] == [0, 1, 2, 3]
    for bad in (4, -1, True, Sly(1)):
        assert _fails(args.prot, bad).errno == "EINVAL"


def test_an_unknown_call_number_is_enosys_shown_safely() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("rendered")
    ex = args.no_such_call(Hostile(), "Aegis call")
    assert ex.errno == "ENOSYS" and ex.number == "<Hostile>"
    assert "no such Aegis call" in str(ex)
    assert args.no_such_call(99).number == 99


def test_a_wrong_argument_count_is_einval_with_both_counts() -> None:
    ex = args.arity(7, 2, 3)
    assert (ex.errno, ex.number, ex.expected, ex.actual) == ("EINVAL", 7, 2, 3)
