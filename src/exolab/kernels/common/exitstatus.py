"""The exit-status rule: what status a process ends with.

- ``exit(status)`` ends the process with ``status`` (any value);
- a process whose threads all end returns the status its main thread gives:
  the ``exit`` argument if that thread called ``exit``, else the value its
  entry returned, where ``None`` counts as ``0``;
- an exception that escapes the program ends it with :func:`fault_status`.

Interface::

    final_status(exit_status, result) -> Any    the status of a thread that ended
    thread_status(thread) -> Any                the same, read from a SimThread
    fault_status(ex) -> str                     "fault: <Type>: <message>"
"""
from __future__ import annotations

from typing import Any

from exolab.abi import fault_status

__all__ = ["final_status", "thread_status", "fault_status"]


def final_status(exit_status: Any, result: Any) -> Any:
    """The status of a thread that ended: its ``exit`` argument if it gave one,
    else its entry's return value, ``None`` counting as ``0``."""
    status = exit_status if exit_status is not None else result
    return 0 if status is None else status


def thread_status(thread: Any) -> Any:
    """:func:`final_status` of a machine thread (its ``exit_status`` and ``result``)."""
    return final_status(thread.exit_status, thread.result)
