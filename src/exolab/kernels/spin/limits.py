"""SPIN's limits, in one place (the declaration's ``limits`` come from here).

The UNIX server inherits the monolithic kernel's process, thread, descriptor,
pipe and shared-memory bounds; SPIN's own mechanisms add theirs.

Interface::

    MAX_DOMAINS, MAX_EXTENSIONS, MAX_HANDLERS, MAX_REFS, MAX_SOURCE, MAX_EVENTS
    MAX_OWNER_HANDLERS, MAX_OWNER_CONTEXTS, MAX_OWNER_RANGES   per installer/caller
    LIMITS                       name -> bound (the declaration's limits)
"""
from __future__ import annotations

from exolab.kernels.monolithic.limits import LIMITS as UNIX_LIMITS

__all__ = ["MAX_DOMAINS", "MAX_EXTENSIONS", "MAX_HANDLERS", "MAX_REFS", "MAX_SOURCE",
           "MAX_EVENTS", "MAX_OWNER_HANDLERS", "MAX_OWNER_CONTEXTS", "MAX_OWNER_RANGES",
           "LIMITS"]

MAX_DOMAINS = 4096          # live domains, kernel-wide
MAX_EXTENSIONS = 1024       # loaded extensions (object files), kernel-wide
MAX_HANDLERS = 256          # untrusted handlers installed on one event
MAX_OWNER_HANDLERS = 64     # handlers one extension or process holds installed
MAX_OWNER_CONTEXTS = 64     # live Translation contexts one extension or process made
MAX_OWNER_RANGES = 1024     # live VirtAddr ranges one extension or process holds
MAX_EVENTS = 4096           # declared events, kernel-wide
MAX_REFS = 1024             # externalized references one application holds
MAX_SOURCE = 64 * 1024      # bytes of one extension's source ("object file")

LIMITS = {**UNIX_LIMITS, "spin_domains": MAX_DOMAINS, "spin_extensions": MAX_EXTENSIONS,
          "spin_handlers_per_event": MAX_HANDLERS, "spin_refs": MAX_REFS,
          "spin_handlers_per_owner": MAX_OWNER_HANDLERS,
          "spin_contexts_per_owner": MAX_OWNER_CONTEXTS,
          "spin_ranges_per_owner": MAX_OWNER_RANGES}
