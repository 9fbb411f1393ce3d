"""Every limit of the Mach-style kernel, in one place, each with its reason.

The task/thread substrate keeps the monolithic code's limits (its module,
re-exported in :data:`LIMITS`); what Mach adds are the bounds of its IPC: port
names per task, messages queued on one port, the size of one message, and
the kernel-buffer (kmsg) zone, which is simulated frames of the kernel's
own reserved low memory.
Past a bound a call fails with a clean errno (ENOSPC-like ``EAGAIN``,
``EINVAL`` for an oversized message, ``ENOMEM`` for an empty zone).

Interface::

    MAX_NAMES        port names (rights) one task's name space holds
    QUEUE_LIMIT      messages queued on one port before a send fails EAGAIN
    MAX_MSG          bytes of one inline message body (header excluded)
    MAX_ITEMS        typed items in one message body
    HEADER_SIZE      bytes of the fixed message header
    KMSG_FIRST, KMSG_FRAMES, KMSG_RESERVE   the kernel-buffer zone: its frames (in the
                     kernel's reserved low memory) and the pages user sends leave free
    KMSG_QUOTA       zone pages one principal's queued messages may hold (EAGAIN past it)
    KMSG_LIGHT, KMSG_LIGHT_RESERVE   a principal holding at most KMSG_LIGHT pages is under
                     no pressure: only such a send may take the zone's last free pages
                     above KMSG_RESERVE
    MAX_IO_COUNT     the largest byte count a read request carries (EINVAL past it)
    MAX_PAGERS       memory objects backed by user-level pagers, machine-wide
    LIMITS           name -> value, for the declaration and docs

(A short module: it is a table.)
"""
from __future__ import annotations

from exolab.abi import WORD_MAX
from exolab.kernels.monolithic.limits import LIMITS as _UX_LIMITS

__all__ = ["MAX_NAMES", "QUEUE_LIMIT", "MAX_MSG", "MAX_ITEMS", "HEADER_SIZE",
           "KMSG_FIRST", "KMSG_FRAMES", "KMSG_RESERVE", "KMSG_QUOTA", "KMSG_LIGHT",
           "KMSG_LIGHT_RESERVE", "MAX_IO_COUNT", "MAX_PAGERS", "LIMITS"]

MAX_NAMES = 65_536          # ipc_space entries per task (Mach 3: a growable table; bounded
                            # here so the UX server, one name per live process, holds 10k+)
QUEUE_LIMIT = 16            # Mach 3's default port queue limit is 5; 16 keeps a
                            # program's bursts inside it (a full queue fails, never blocks)
MAX_MSG = 8192              # inline body bytes (Mach 3 sends larger data out of line)
MAX_ITEMS = 16              # typed items per body
HEADER_SIZE = 24            # mach_msg_header_t: bits, size, remote, local, seqno, id
KMSG_FIRST = 16             # the kmsg zone is kernel data: low frames 16..63 of the
KMSG_FRAMES = 48            # kernel's reserved 64 (monolithic KERNEL_FRAMES)
KMSG_RESERVE = 4            # zone pages only the kernel and the UX path may take, so a
                            # task that queues messages everywhere cannot stop UNIX calls
KMSG_QUOTA = 16             # zone pages charged to one principal's queued kmsgs (the
                            # task tree of one program): a full port queue (QUEUE_LIMIT)
                            # of one-page messages, or five of the largest (3 pages);
                            # two hogs at it fill the 32 pages any user send may take
KMSG_LIGHT = 3              # a principal holding this many pages or fewer (with the new
                            # kmsg) is under no pressure: one largest message (3 pages),
                            # so an rpc and the reply charged to it always qualify
KMSG_LIGHT_RESERVE = 12     # zone pages above KMSG_RESERVE only a light principal may
                            # take: filling them takes four more colluding programs
                            # (3 pages each), six in all instead of three
MAX_IO_COUNT = WORD_MAX     # a read's count is a MIG integer word (ssize_t): past
                            # SSIZE_MAX it is EINVAL (POSIX leaves it to the system)
MAX_PAGERS = 256            # memory objects with an external pager

#: every limit by name: the UX server's (the monolithic code's) and Mach's own
LIMITS: dict[str, int] = dict(_UX_LIMITS, **{
    "max_port_names": MAX_NAMES, "port_queue_limit": QUEUE_LIMIT,
    "max_message_bytes": MAX_MSG, "max_message_items": MAX_ITEMS,
    "message_header_bytes": HEADER_SIZE, "kmsg_frames": KMSG_FRAMES, "kmsg_reserve": KMSG_RESERVE,
    "kmsg_quota": KMSG_QUOTA, "kmsg_light": KMSG_LIGHT,
    "kmsg_light_reserve": KMSG_LIGHT_RESERVE, "max_io_count": MAX_IO_COUNT,
    "max_pagers": MAX_PAGERS,
})
