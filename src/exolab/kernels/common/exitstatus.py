"""The exit-status rule: what status a process ends with.

- ``exit(status)`` ends the process with ``status`` (any value; ``None`` is ``0``);
- a process whose threads all end returns the status its *main* thread gives
  (not the thread that happened to end last): the ``exit`` argument if that
  thread called ``exit``, else the value its entry returned, where ``None``
  counts as ``0``;
- so a status is never ``None``;
- an exception that escapes the program ends it with :func:`fault_status`.

Interface::

    exit_value(status) -> Any                   the status ``exit(status)`` records
    final_status(exit_status, result) -> Any    the status of a main thread that ended
    thread_status(thread) -> Any                the same, read from a SimThread
    fault_status(ex) -> str                     "fault: <Type>: <message>"
"""
from __future__ import annotations

from typing import Any

from exolab.abi import fault_status

__all__ = ["exit_value", "final_status", "thread_status", "fault_status"]


def exit_value(status: Any) -> Any:
    """The status ``exit(status)`` ends a process with: ``status``, ``None`` being 0."""
    return 0 if status is None else status


def final_status(exit_status: Any, result: Any) -> Any:
    """The status of a thread that ended: its ``exit`` argument if it gave one,
    else its entry's return value, ``None`` counting as ``0``."""
    status = exit_status if exit_status is not None else result
    return 0 if status is None else status


def thread_status(thread: Any) -> Any:
    """:func:`final_status` of a machine thread (its ``exit_status`` and ``result``)."""
    return final_status(thread.exit_status, thread.result)
