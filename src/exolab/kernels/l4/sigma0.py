"""Sigma0: the first pager, a user-level thread that holds all free memory.

Sigma0's space holds every free frame at the virtual page of the same
number (the mapping database's roots). It serves two requests, both as IPC:
a **page fault** of a thread whose pager it is (the reply maps one fresh
frame at the faulting page) and a **page request** ``(PAGES_TAG, n)`` from a
pager building its own pool (the reply maps ``n`` frames into the
requester's window). A frame is handed out once; one sigma0 thread serves
everybody. Out of frames, the reply carries no mapping (word 0).

Interface::

    sigma0_main(l4)         the thread's body (the kernel starts it at boot)
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError
from exolab.kernels.l4.syscall import FAULT_TAG, PAGES_TAG

__all__ = ["sigma0_main"]

MAX_REQUEST = 64            # pages one request may take


def sigma0_main(l4: Any) -> None:
    """Answer page faults and page requests with fresh frames, forever."""
    nxt, end, _sid = l4.kinfo()
    msg = l4.receive()
    while True:
        tag = msg.words[0] if msg.words else 0
        want = 1 if tag == FAULT_TAG else (
            min(max(1, msg.words[1]), MAX_REQUEST) if tag == PAGES_TAG and
            len(msg.words) > 1 else 0)
        want = min(want, end - nxt)
        maps = ((nxt, want, True, False),) if want > 0 else ()
        nxt += want
        try:
            msg = l4.reply_wait(msg.sender, words=(want,), maps=maps)
        except SyscallError:            # the requester stopped waiting
            msg = l4.receive()
