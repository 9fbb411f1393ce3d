"""Sealed classes refuse changes from verified code and allow them from exolab's own."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.abi import ABI
from exolab.errors import ExolabError, ProgramFault, SyscallError
from exolab.kernels import kernel_names
from exolab.runner import run_program
from exolab.safe import Sealed


def replace_print(os: Any) -> None:
    def loud(self: Any, *parts: Any) -> None:
        pass
    try:
        type(os).print = loud
    except ProgramFault:
        os.print("refused")


def poke_error(os: Any) -> None:
    try:
        SyscallError.errno = "EHACKED"
    except ProgramFault:
        os.print("refused")


def delete_from_abi(os: Any) -> None:
    try:
        del ABI.getpid
    except ProgramFault:
        os.print("refused")


@pytest.mark.parametrize("kernel", kernel_names())
@pytest.mark.parametrize("program", [replace_print, poke_error, delete_from_abi],
                         ids=lambda p: p.__name__)
def test_verified_code_cannot_change_a_shared_class(kernel: str, program: Any) -> None:
    before = (vars(SyscallError).copy(), vars(ABI).copy())
    run = run_program(program, kernel=kernel)
    assert run.console == ["refused"] and run.faults == []
    assert (vars(SyscallError).copy(), vars(ABI).copy()) == before


def test_the_abi_its_personalities_and_the_errors_are_sealed() -> None:
    assert isinstance(ABI, Sealed) and isinstance(ExolabError, Sealed)
    assert isinstance(SyscallError, Sealed)


def test_host_code_and_monkeypatch_may_still_change_a_sealed_class(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SyscallError, "probe", 1, raising=False)
    assert SyscallError.probe == 1          # type: ignore[attr-defined]

    class Local(metaclass=Sealed):
        pass
    Local.x = 2                             # type: ignore[attr-defined]
    del Local.x                             # type: ignore[attr-defined]


def test_trusted_code_is_not_refused() -> None:
    run = run_program(poke_error, trusted=True)
    try:
        assert run.console == []
    finally:
        if "errno" in vars(SyscallError):
            type.__delattr__(SyscallError, "errno")
