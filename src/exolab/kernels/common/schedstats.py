"""The counters every sleep/wakeup scheduler keeps, as one record kernels extend.

A scheduler that switches threads, puts them to sleep on wait queues and
wakes them counts the same three events whatever its policy: ``switches``
(a thread given the CPU), ``sleeps`` (a thread that waited on a queue) and
``wakeups`` (sleepers made ready). A kernel's own ``SchedStats`` subclasses
:class:`SwitchSleepWake` and adds what is its own (the monolithic kernel:
preemptions and the ready-queue length), so the three names mean one thing
in every kernel's statistics and in ``anatomy``.

Interface::

    SwitchSleepWake(switches, sleeps, wakeups)   frozen, slotted; subclass it
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SwitchSleepWake"]


@dataclass(frozen=True, slots=True)
class SwitchSleepWake:
    """Switches, sleeps and wakeups so far (event counters)."""

    switches: int               # threads given the CPU by the scheduler
    sleeps: int                 # threads that went to sleep on a wait queue
    wakeups: int                # sleepers made ready
