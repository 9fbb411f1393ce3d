"""Tests of exolab.errors: rendering a program's values never runs its code, never
raises, and costs what the shown part does."""
from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from exolab.errors import SyscallError, safe_repr


class _Loud:
    calls = 0

    def __repr__(self) -> str:
        _Loud.calls += 1
        raise RuntimeError("a program hook ran")


class _Liar(list):          # a subclass of a builtin, claiming a builtin's name
    def __repr__(self) -> str:
        _Loud.calls += 1
        return "hostile"


_Liar.__name__ = "list"


def test_a_programs_objects_are_shown_by_type_and_their_hooks_never_run() -> None:
    _Loud.calls = 0
    shown = safe_repr((1, [_Loud(), _Liar([2])], {"k": _Loud()}))
    assert shown == "(1, [<_Loud>, <list>], {'k': <_Loud>})"
    assert str(SyscallError("EINVAL", "bad", value=_Loud())) == "bad (errno='EINVAL', value=<_Loud>)"
    assert _Loud.calls == 0


def test_huge_values_are_cut_to_size() -> None:
    big = list(range(100_000))
    shown = safe_repr(big)
    assert shown.startswith("[0, 1, 2, ") and shown.endswith(", 63, ...]")
    assert len(safe_repr("x" * 1_000_000)) <= 250
    assert len(safe_repr(b"y" * 1_000_000)) <= 250
    assert len(safe_repr(7 ** 1000)) <= 90
    deep: Any = []
    for _ in range(10_000):             # nesting deeper than the host's recursion limit
        deep = [deep]
    assert safe_repr(deep) == "[" * 7 + "..." + "]" * 7


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20)
                    | st.binary(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.tuples(kids, kids)))
def test_small_builtin_values_render_as_repr_does(x: Any) -> None:
    """(Dicts and sets are left out: reprlib shows them sorted.)"""
    full = repr(x)
    shown = safe_repr(x)
    assert shown == full or "..." in shown
