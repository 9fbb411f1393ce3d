"""Every limit Aegis enforces, in one place (docs/exokernel.md lists them).

A limit bounds what one environment can make the kernel (and so the host)
hold; exceeding one is a typed error for the caller only (ENOMEM for
environments and pages, EAGAIN for threads, EINVAL for an oversized
argument), never a failure of the kernel or of another environment. The
mechanism modules import their limits from here.

Interface::

    KERNEL_FRAMES, PAGE_SHIFT, KERNEL_STACK     boot: low frames, page size, stack
    MAX_ENVS, MAX_THREADS, MAX_ENV_THREADS      live environments / contexts
    MAX_CAPS                                    live capabilities
    MAX_FILTERS, MAX_ENV_FILTERS                installed packet filters (dpf_rx.py)
    PRINCIPAL_SHARE                             per-principal caps (quota.py)
    MAX_NAME, MAX_CONSOLE, MAX_SHARE, MAX_RIGHTS          system-call arguments
    USER_VPN_LIMIT, MAX_GUARANTEED, MAX_VEC               bindings
    MAX_INBOX, MAX_WORDS, MAX_PCT_DEPTH                   control transfers
    MAX_STRIKES, MAX_EXC_DEPTH, SLOTS, MAX_OVERRUNS       exceptions, slices

(A short module: constants with their reasons.)
"""
from __future__ import annotations

__all__ = ["KERNEL_FRAMES", "PAGE_SHIFT", "KERNEL_STACK", "MAX_ENVS", "MAX_THREADS", "MAX_ENV_THREADS",
           "MAX_CAPS", "MAX_FILTERS", "MAX_ENV_FILTERS", "PRINCIPAL_SHARE",
           "MAX_NAME", "MAX_CONSOLE", "MAX_SHARE", "MAX_RIGHTS", "USER_VPN_LIMIT",
           "MAX_GUARANTEED", "MAX_VEC", "MAX_INBOX", "MAX_WORDS", "MAX_PCT_DEPTH",
           "MAX_STRIKES", "MAX_EXC_DEPTH", "SLOTS", "MAX_OVERRUNS"]

KERNEL_FRAMES = 64          # low frames hold the kernel image and its data
PAGE_SHIFT = 12             # Aegis (and ExOS's layout) are written for 4 KiB pages
KERNEL_STACK = 200          # frames of recursion limit reserved for destroy (its depth
                            # is bounded: unstarted children are not nested environments)

# -- what a program can make the kernel hold (issue 9 §2.8: host memory) ---------------
MAX_ENVS = 16_384           # live environments (10,000 must work on every profile)
MAX_THREADS = 16_384        # live contexts over all environments (~9 KiB of host each)
MAX_ENV_THREADS = 1_024     # live contexts of one environment (ExOS threads)
MAX_CAPS = 1 << 24          # live capabilities: a handle's slot field (caps.SLOT_BITS);
                            # 10,000 ExOS processes hold ~650k
MAX_FILTERS = 4096          # packet filters installed over all environments (the
                            # classifier is regenerated per bind: host time grows with it)
MAX_ENV_FILTERS = 256       # filters one environment may hold

# -- principals (quota.py): what one program's tree may take of the tables above -----------
PRINCIPAL_SHARE = 16        # each principal's cap is its parent's (a root's: the global
                            # table: MAX_ENVS, MAX_THREADS, MAX_FILTERS, every frame) less
                            # 1/16 of the global table, kept for the parent's other members:
                            # a hostile program's tree leaves 1,024 environments and
                            # contexts, 256 filters and 1/16 of memory (1,020 frames of
                            # 16k; a bystander with a forked child needs ~50) to the
                            # programs beside it. 1/16, not 1/2: one booted program must
                            # still run 10,000 ExOS processes (10,000 contexts of 15,360;
                            # ~200k frames of 246k on the 256k-frame machine bench scale
                            # uses); nesting is at most 15 spawns deep (the caps reach 0)

# -- system-call arguments ------------------------------------------------------------------
MAX_NAME = 64               # bytes of an environment or thread name
MAX_CONSOLE = 1 << 16       # bytes of one console write
MAX_SHARE = 1024            # handles in one PAGE_SHARE
MAX_RIGHTS = 16             # names in one CAP_DERIVE rights collection

# -- bindings ---------------------------------------------------------------------------------
USER_VPN_LIMIT = 0x80000    # user space is below 0x8000_0000 (MIPS kuseg)
MAX_GUARANTEED = 128        # guaranteed mappings per environment (ExOS: page table +)
MAX_VEC = 1024              # entries per TLB_VEC call

# -- control transfers --------------------------------------------------------------------------
MAX_INBOX = 64              # asynchronous messages queued per environment
MAX_WORDS = 8               # registers a PCT carries
MAX_PCT_DEPTH = 32          # synchronous PCTs nested on one thread of control

# -- exceptions and slices --------------------------------------------------------------------
MAX_STRIKES = 8             # handler returns that left the same fault unfixed
MAX_EXC_DEPTH = 16          # exception / TLB-miss upcalls nested in one environment
SLOTS = 64                  # positions in the slice vector (one second of slices)
MAX_OVERRUNS = 3            # epilogue overruns tolerated; the next destroys the environment
