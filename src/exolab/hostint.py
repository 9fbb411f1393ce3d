"""^C from the person at the keyboard, told apart from a program's KeyboardInterrupt.

SIGINT is process-wide and arrives as a ``KeyboardInterrupt`` raised wherever
Python happens to be, possibly inside simulated code. A simulated program can
also raise ``KeyboardInterrupt`` itself, and that must be its own fault, not
the end of the simulation. So while a machine runs, SIGINT goes to a handler
that first marks the interrupt as the host's; the CPU and the kernels let a
``KeyboardInterrupt`` through only when that mark is set.

Interface::

    sigint_guard()        context manager around a run: install the marking
                          handler (main thread, default handler only; reentrant)
    host_interrupted()    whether a KeyboardInterrupt in flight is the host's: its
                          ^C arrived, or no guard could be installed (then every
                          KeyboardInterrupt is taken for the host's, as before)
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator

__all__ = ["sigint_guard", "host_interrupted"]


class _State:
    """Process-wide, as SIGINT is: the guard's nesting depth and the host's mark."""

    depth = 0
    guarded = False             # the marking handler is installed
    pressed = False


def host_interrupted() -> bool:
    """Whether the KeyboardInterrupt in flight came from the host's SIGINT."""
    return _State.pressed or not _State.guarded


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """Mark the interrupt as the host's, then interrupt as Python would."""
    _State.pressed = True
    raise KeyboardInterrupt


@contextmanager
def sigint_guard() -> Iterator[None]:
    """Route SIGINT through the marking handler for the duration of a run."""
    if _State.depth:
        _State.depth += 1
        try:
            yield
        finally:
            _State.depth -= 1
        return
    installed = (threading.current_thread() is threading.main_thread()
                 and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if installed:
        signal.signal(signal.SIGINT, _on_sigint)
    _State.depth, _State.guarded, _State.pressed = 1, installed, False
    try:
        yield
    finally:
        _State.depth, _State.guarded = 0, False
        if installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
