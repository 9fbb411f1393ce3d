"""XN's bounds on the work and memory a library can make it spend, each with its reason.

Interface::

    UDF_FUEL        ticks one run of a template's function may spend
    UDF_STEP        instructions charged per tick a function spends
"""
from __future__ import annotations

__all__ = ["UDF_FUEL", "UDF_STEP"]

UDF_FUEL = 8_192        # ticks (loop steps, calls, guarded building) one run of a template
                        # function may spend: XN runs it inside the caller's system call,
                        # and a tick may hide a C-level pass over what the function holds,
                        # so this bounds the host time of one call; a function spends about
                        # a tick per entry it returns plus its skipped steps: ExOS's busiest
                        # (ext2's descriptor table on 4 KiB blocks, udf.MAX_OWNS entries)
                        # about 4,300; twice that leaves a library room
UDF_STEP = 4            # instructions charged per tick: one loop step or call of the
                        # function (load, test, branch, count), an estimate
