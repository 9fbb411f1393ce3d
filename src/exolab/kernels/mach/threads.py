"""Mach's thread_suspend / thread_resume: how a Mach task parks and unparks a thread.

Mach 3.0 keeps a suspend count per thread; ``thread_suspend(thread)`` and
``thread_resume(thread)`` are MIG calls on the thread's kernel port (a
``mach_msg`` request the kernel receives and answers inside the caller's
trap, :class:`~.server.KernelServer`); a thread whose count is non-zero does
not run. C-Threads over Mach kernel threads blocked a cthread's kernel
thread in the kernel and woke it with such a call. The ABI's pair maps onto
them: ``thread_park`` is ``thread_suspend(mach_thread_self())``,
``thread_unpark(tid)`` is ``thread_resume`` on that thread's port: one kernel
RPC each (:data:`PARK_RPCS`, merged into the kernel's ``KERNEL_RPCS``). The
kernel's work is the shared park record (common/park.py, the scheduler's
sleep and wakeup, charged at Mach's switch path); where Mach's own
``thread_resume`` of a thread not suspended fails, the ABI keeps the wake as
the thread's token (so the package above needs no retry loop).

Interface::

    PARK_RPCS      call number -> kernel RPCs it takes (one each)
"""
from __future__ import annotations

from exolab.kernels.monolithic.syscall import Sys

__all__ = ["PARK_RPCS"]

#: thread_park = thread_suspend(self), thread_unpark = thread_resume(thread): one
#: MIG call each on a thread's kernel port
PARK_RPCS: dict[int, int] = {int(Sys.THREAD_PARK): 1, int(Sys.THREAD_UNPARK): 1}
