"""Helpers every kernel's tests share."""
from __future__ import annotations

from typing import Any, Callable

from exolab.errors import SyscallError


def errno(call: Callable[..., Any], *args: Any) -> str:
    """Call ``call(*args)``, which must fail with a SyscallError; return its errno."""
    try:
        call(*args)
    except SyscallError as ex:
        return str(ex.errno)
    raise AssertionError(f"{getattr(call, '__name__', call)}{args!r} did not fail")


def bystander(os: Any, n: int) -> int:
    """A program that yields ``n`` times, then prints and returns the sum of 0..n-1:
    the result a hostile neighbour must not change."""
    total = 0
    for i in range(n):
        total += i
        os.yield_()
    os.print("bystander", total)
    return total


def beside_bystander(offender: Any, rounds: int) -> Any:
    """A program that spawns a :func:`bystander` of ``rounds``, then ``offender``, and
    prints whether the offender failed and what the bystander returned."""
    def main(os: Any) -> None:
        b = os.spawn(bystander, rounds)
        o = os.spawn(offender)
        os.print("offender", os.wait(o)[1] != 0, "bystander", os.wait(b)[1])
    return main
