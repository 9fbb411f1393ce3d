"""Every bound of the Singularity kernel, in one place.

Interface::

    MAX_SIPS, MAX_THREADS, MAX_THREADS_PER_SIP, MAX_FDS,
    HEAP_PAGES, MAX_HEAP_PAGES, EXHEAP_MAX_PAGES, EXHEAP_QUOTA_PAGES, MAX_ENDPOINTS,
    ENDPOINT_RESERVE, MAX_QUEUED, PIPE_BUFFER, RPC_CONNECTIONS, PRINCIPAL_SHARE
    LIMITS                      the ABI-visible bounds (the declaration's ``limits``)
"""
from __future__ import annotations

__all__ = ["MAX_SIPS", "MAX_THREADS", "MAX_THREADS_PER_SIP", "MAX_FDS",
           "HEAP_PAGES", "MAX_HEAP_PAGES", "EXHEAP_MAX_PAGES", "EXHEAP_QUOTA_PAGES",
           "MAX_ENDPOINTS", "ENDPOINT_RESERVE", "MAX_QUEUED", "PIPE_BUFFER", "RPC_CONNECTIONS",
           "PRINCIPAL_SHARE", "LIMITS"]

MAX_SIPS = 16_384               # live and unreaped SIPs (EAGAIN beyond)
MAX_THREADS = 32_768            # kernel threads of every SIP (EAGAIN beyond)
MAX_THREADS_PER_SIP = 1_024
MAX_FDS = 64                    # ABI descriptors of one SIP (pipes over channels)
HEAP_PAGES = 16                 # pages of a SIP's own heap region at start
MAX_HEAP_PAGES = 4_096          # what ``mmap`` may grow one SIP's region to
EXHEAP_MAX_PAGES = 4_096        # pages in live exchange-heap blocks: 16 MiB (ENOMEM)
EXHEAP_QUOTA_PAGES = 1_024      # pages one SIP may hold, and the most a manifest may
#                                 ask (``exheap_pages``: less, or ENOEXEC): 4 MiB
MAX_ENDPOINTS = 1_024           # channel endpoints one SIP may own (EMFILE beyond)
ENDPOINT_RESERVE = 64           # of those, endpoints moved in from elsewhere never
#                                 take the last 64 (EAGAIN to the sender)
MAX_QUEUED = 64                 # messages waiting unreceived at one endpoint (a send
#                                 past it: EAGAIN; a pipe's ends: PIPE_BUFFER)
PIPE_BUFFER = 4_096             # bytes an ABI pipe holds; a writer past it sleeps
RPC_CONNECTIONS = 16            # live rpc connections one client SIP may hold to one
#                                 service (EAGAIN beyond): each takes a slot of the
#                                 server's endpoint table, and without a bound one
#                                 client could take all MAX_ENDPOINTS - ENDPOINT_RESERVE
#                                 and lock every other client out of the service
PRINCIPAL_SHARE = 16            # per-principal caps (accounts.py): a SIP's spawning
#                                 tree may hold its parent's cap less 1/16 of MAX_SIPS,
#                                 MAX_THREADS, EXHEAP_MAX_PAGES and of a server's
#                                 MAX_ENDPOINTS - ENDPOINT_RESERVE connection slots, so
#                                 however a hostile spawns, 1,024 SIPs, 2,048 threads,
#                                 256 exchange-heap pages and 60 connections to each
#                                 service stay under each of its ancestors for their
#                                 other children (a bystander needs 1 SIP, 1 thread, a
#                                 page, a connection); spawns nest at most 15 deep

LIMITS = {"max_fds": MAX_FDS, "live_processes": MAX_SIPS, "pipe_buffer": PIPE_BUFFER}
