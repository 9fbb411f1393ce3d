"""Every limit of the Mach-style kernel, in one place, each with its reason.

The task/thread substrate keeps the monolithic code's limits (its module,
re-exported in :data:`LIMITS`); what Mach adds are the bounds of its IPC: port
names per task, messages queued on one port, the size of one message, and
the kernel-buffer (kmsg) zone, which is simulated frames wired at boot.
Past a bound a call fails with a clean errno (ENOSPC-like ``EAGAIN``,
``EINVAL`` for an oversized message, ``ENOMEM`` for an empty zone).

Interface::

    MAX_NAMES        port names (rights) one task's name space holds
    QUEUE_LIMIT      messages queued on one port before a send fails EAGAIN
    MAX_MSG          bytes of one inline message body (header excluded)
    MAX_ITEMS        typed items in one message body
    HEADER_SIZE      bytes of the fixed message header
    KMSG_FRAMES      frames of the kernel-buffer zone, wired at boot
    MAX_PAGERS       memory objects backed by user-level pagers, machine-wide
    LIMITS           name -> value, for the declaration and docs

(A short module: it is a table.)
"""
from __future__ import annotations

from exolab.kernels.monolithic.limits import LIMITS as _UX_LIMITS

__all__ = ["MAX_NAMES", "QUEUE_LIMIT", "MAX_MSG", "MAX_ITEMS", "HEADER_SIZE",
           "KMSG_FRAMES", "MAX_PAGERS", "LIMITS"]

MAX_NAMES = 4096            # ipc_space entries per task (Mach 3: a growable table; bounded)
QUEUE_LIMIT = 64            # Mach 3's default port queue limit is 5; 64 keeps ABI
                            # servers' bursts inside it (a full queue fails, never blocks)
MAX_MSG = 8192              # inline body bytes (Mach 3 sends larger data out of line)
MAX_ITEMS = 16              # typed items per body
HEADER_SIZE = 24            # mach_msg_header_t: bits, size, remote, local, seqno, id
KMSG_FRAMES = 64            # kmsg zone: 64 pages of kernel buffers (queued messages)
MAX_PAGERS = 256            # memory objects with an external pager

#: every limit by name: the UX server's (the monolithic code's) and Mach's own
LIMITS: dict[str, int] = dict(_UX_LIMITS, **{
    "max_port_names": MAX_NAMES, "port_queue_limit": QUEUE_LIMIT,
    "max_message_bytes": MAX_MSG, "max_message_items": MAX_ITEMS,
    "message_header_bytes": HEADER_SIZE, "kmsg_frames": KMSG_FRAMES,
    "max_pagers": MAX_PAGERS,
})
