"""kernels/common/exitstatus.py: the exit argument, else the return value, None is 0."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from exolab.kernels.common.exitstatus import fault_status, final_status, thread_status

_values = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans())


@given(_values, _values)
def test_the_exit_argument_wins_else_the_result_else_zero(exit_status: Any,
                                                          result: Any) -> None:
    got = final_status(exit_status, result)
    if exit_status is not None:
        assert got is exit_status
    elif result is not None:
        assert got is result
    else:
        assert got == 0


def test_thread_status_reads_a_thread() -> None:
    assert thread_status(SimpleNamespace(exit_status=None, result=None)) == 0
    assert thread_status(SimpleNamespace(exit_status="SIGSEGV", result=3)) == "SIGSEGV"
    assert thread_status(SimpleNamespace(exit_status=None, result=3)) == 3


def test_fault_status_never_raises() -> None:
    class Bad(Exception):
        def __str__(self) -> str:
            raise RuntimeError

    assert fault_status(ValueError("x")) == "fault: ValueError: x"
    assert fault_status(Bad()).startswith("fault: Bad: <unprintable")
