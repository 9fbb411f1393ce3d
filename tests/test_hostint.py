"""A program's KeyboardInterrupt is its own fault; the host's ^C stops the run."""
from __future__ import annotations

import os
import signal
import threading
from typing import Any

import pytest

from exolab.hostint import host_interrupted, sigint_guard
from exolab.kernels import kernel_names
from exolab.runner import run_program


def _raises_keyboard_interrupt(os_: Any) -> None:
    os_.print("before")
    raise KeyboardInterrupt


def _bystander_and_culprit(os_: Any) -> None:
    pid = os_.spawn(_raises_keyboard_interrupt)
    os_.compute(10_000)
    status = os_.wait(pid)[1]
    os_.print("bystander saw", "KeyboardInterrupt" in str(status))


class _Loud:
    def __repr__(self) -> str:
        raise KeyboardInterrupt


def _hostile_argument(os_: Any) -> None:
    try:
        os_.close(_Loud())              # the kernel renders the argument in its error
    except Exception as ex:             # EBADF; the hook's interrupt stayed inside
        os_.print(type(ex).__name__)


@pytest.mark.parametrize("kernel", kernel_names())
def test_a_programs_keyboard_interrupt_is_its_fault(kernel: str) -> None:
    run = run_program(_bystander_and_culprit, kernel=kernel, trusted=True)  # raises ^C
    assert run.result.reason == "finished"
    assert run.console == ["before", "bystander saw True"]


@pytest.mark.parametrize("kernel", kernel_names())
def test_a_keyboard_interrupt_from_an_argument_hook_is_contained(kernel: str) -> None:
    run = run_program(_hostile_argument, kernel=kernel, trusted=True)  # raises ^C
    assert run.result.reason == "finished"
    assert run.console == ["SyscallError"]


def _spins(os_: Any) -> None:
    os.kill(os.getpid(), signal.SIGINT)     # the person at the keyboard presses ^C
    while True:
        os_.compute(1000)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="signals are delivered to the main thread only")
def test_the_hosts_sigint_stops_the_simulation() -> None:
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT has a non-default handler in this process")
    with pytest.raises(KeyboardInterrupt):
        run_program(_spins, kernel="monolithic", trusted=True)  # reads host signals
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # restored


def test_without_a_guard_every_keyboard_interrupt_is_the_hosts() -> None:
    assert host_interrupted()
    with sigint_guard():
        if threading.current_thread() is threading.main_thread():
            assert not host_interrupted()   # guarded: only a real SIGINT is the host's
    assert host_interrupted()
