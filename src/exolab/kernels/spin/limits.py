"""SPIN's limits, in one place (the declaration's ``limits`` come from here).

The UNIX server inherits the monolithic kernel's process, thread, descriptor,
pipe and shared-memory bounds; SPIN's own mechanisms add theirs.

Interface::

    MAX_DOMAINS, MAX_EXTENSIONS, MAX_HANDLERS, MAX_REFS, MAX_SOURCE, MAX_EVENTS
    MAX_OWNER_HANDLERS, MAX_OWNER_CONTEXTS, MAX_OWNER_RANGES   per installer/caller
    MAX_INVOCATION_CYCLES        one outermost in-kernel invocation's own cycles (bound.py)
    LIMITS                       name -> bound (the declaration's limits)
"""
from __future__ import annotations

from exolab.kernels.monolithic.limits import LIMITS as UNIX_LIMITS

__all__ = ["MAX_DOMAINS", "MAX_EXTENSIONS", "MAX_HANDLERS", "MAX_REFS", "MAX_SOURCE",
           "MAX_EVENTS", "MAX_OWNER_HANDLERS", "MAX_OWNER_CONTEXTS", "MAX_OWNER_RANGES",
           "MAX_INVOCATION_CYCLES", "LIMITS"]

MAX_DOMAINS = 4096          # live domains, kernel-wide
MAX_EXTENSIONS = 1024       # loaded extensions (object files), kernel-wide
MAX_HANDLERS = 256          # untrusted handlers installed on one event
MAX_OWNER_HANDLERS = 64     # handlers one extension or process holds installed
MAX_OWNER_CONTEXTS = 64     # live Translation contexts one extension or process made
MAX_OWNER_RANGES = 1024     # live VirtAddr ranges one extension or process holds
MAX_EVENTS = 4096           # declared events, kernel-wide
MAX_REFS = 1024             # externalized references one application holds
MAX_SOURCE = 64 * 1024      # bytes of one extension's source ("object file")
#: one outermost in-kernel invocation's own cycles (bound.py). The largest legitimate
#: one measured, every bench suite on SPIN and every example: the spin suite's
#: vm_prot100 body on the alpha (100 x 100 pages), 5,946,168 cycles (the other
#: profiles' largest: 1.35 M); the examples' largest 4,923. 2**27 is 22x that: about
#: 1 s of simulated time at the alpha's 133 MHz, 5.4 s at the DECstation's 25 MHz.
MAX_INVOCATION_CYCLES = 1 << 27

LIMITS = {**UNIX_LIMITS, "spin_domains": MAX_DOMAINS, "spin_extensions": MAX_EXTENSIONS,
          "spin_handlers_per_event": MAX_HANDLERS, "spin_refs": MAX_REFS,
          "spin_handlers_per_owner": MAX_OWNER_HANDLERS,
          "spin_contexts_per_owner": MAX_OWNER_CONTEXTS,
          "spin_ranges_per_owner": MAX_OWNER_RANGES,
          "spin_invocation_cycles": MAX_INVOCATION_CYCLES}
