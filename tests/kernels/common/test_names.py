"""kernels/common/names.py: a str cut to 64, else the function's own name, else 'prog'."""
from __future__ import annotations

import functools
from typing import Any

import pytest

from exolab.errors import SyscallError
from exolab.kernels.common.names import FALLBACK, MAX_NAME, process_name, program_name


def worker(os: Any) -> int:
    return 0


class Tricky:
    """A callable whose ``__name__`` runs code when read."""

    ran = False

    @property
    def __name__(self) -> str:  # type: ignore[override]
        Tricky.ran = True
        raise RuntimeError("ran")

    def __call__(self, os: Any) -> int:
        return 0

    def method(self, os: Any) -> int:
        return 0


def test_a_given_name_is_kept_and_cut() -> None:
    assert process_name("shell", worker) == "shell"
    assert process_name("x" * 100, worker) == "x" * MAX_NAME


def test_an_empty_name_is_the_functions_own() -> None:
    assert process_name("", worker) == "worker"
    assert process_name("", Tricky().method) == "method"
    long = lambda os: 0          # noqa: E731
    long.__name__ = "y" * 100
    assert process_name("", long) == "y" * MAX_NAME


def test_anything_else_falls_back_without_running_program_code() -> None:
    Tricky.ran = False
    assert process_name("", Tricky()) == FALLBACK
    assert process_name("", functools.partial(worker)) == FALLBACK
    nameless = lambda os: 0      # noqa: E731
    nameless.__name__ = ""
    assert process_name("", nameless) == FALLBACK
    assert program_name(Tricky(), "init") == "init"
    assert Tricky.ran is False


@pytest.mark.parametrize("bad", [None, 3, b"name", ["n"]])
def test_a_name_that_is_not_a_str_is_einval(bad: Any) -> None:
    with pytest.raises(SyscallError) as ei:
        process_name(bad, worker)
    assert ei.value.errno == "EINVAL"
