"""kernels/common/exitstatus.py: the exit argument, else the return value, None is 0."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exolab.kernels.common.exitstatus import exit_value, fault_status, final_status, thread_status
from exolab.runner import run_program

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


def test_exit_value_is_never_none() -> None:
    assert exit_value(None) == 0 and exit_value("x") == "x" and exit_value(0) == 0


# -- the rule on every kernel ------------------------------------------------------------

def _late_thread(os: Any) -> int:
    for _ in range(5):
        os.thread_yield()
    return 7


def _main_returns_first(os: Any) -> int:
    os.thread_create(_late_thread)
    return 5


def _exits_none(os: Any) -> None:
    os.exit(None)


def _statuses(kernel: str) -> list[Any]:
    out: list[Any] = []

    def main(os: Any) -> int:
        for prog in (_main_returns_first, _exits_none):
            out.append(os.wait(os.spawn(prog))[1])
        return 0
    r = run_program(main, kernel=kernel)
    assert r.result.reason == "finished"
    return out


@pytest.mark.parametrize("kernel", ["monolithic", "exokernel"])
def test_the_main_threads_value_is_the_status_and_none_is_zero(kernel: str) -> None:
    assert _statuses(kernel) == [5, 0]
