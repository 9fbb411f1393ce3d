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


PIPE_ROUNDS = 50


def _pipe_echo(os: Any, rfd: int, wfd: int) -> None:
    for _ in range(PIPE_ROUNDS):
        v = int.from_bytes(os.read(rfd, 4), "little")
        os.write(wfd, (v + 1).to_bytes(4, "little"))


def pipe_bystander(os: Any) -> None:
    """A program that ping-pongs 0..49 through two pipes with a forked echo child
    and prints ``bystander 1275``: the exact result a hostile neighbour must not
    change (it sleeps and wakes a hundred times, so a starved one never prints)."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork(_pipe_echo, a_r, b_w)
    total = 0
    for i in range(PIPE_ROUNDS):
        os.write(a_w, i.to_bytes(4, "little"))
        total += int.from_bytes(os.read(b_r, 4), "little")
    os.wait(pid)
    os.print("bystander", total)
