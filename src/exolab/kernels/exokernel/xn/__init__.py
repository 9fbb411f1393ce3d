"""XN: the exokernel's protected multiplexing of one disk among library file systems.

Modules, one mechanism each::

    udf        templates: ownership, access and size functions, verified and run (metered)
    limits     XN's bounds on a function run's fuel and what a tick costs
    catalog    the type catalogue (unique names) and the root catalogue
    freemap    XN's free map: free, used, pending (ordering rule 2)
    pages      where cached blocks live: physical frames (Aegis) or host pages
    registry   the buffer-cache registry: cached blocks, their state (rule 1)
    core       XN: the allocation protocol, read, write, write-back, recovery
    store      XN's persistent state on its disk: the region, catalogue slots, free map
    calls      Aegis's XN system calls (decode, then invoke on the kernel's XN)

docs/xn.md walks through it with runnable code.
"""
from exolab.kernels.exokernel.xn.catalog import Root
from exolab.kernels.exokernel.xn.core import MAX_MODS, XN, XNStats
from exolab.kernels.exokernel.xn.freemap import FREE, PENDING, USED
from exolab.kernels.exokernel.xn.pages import FramePages, HostPages
from exolab.kernels.exokernel.xn.registry import DURABLE, UNINIT, WRITTEN
from exolab.kernels.exokernel.xn.udf import Template, compile_template

__all__ = ["XN", "XNStats", "MAX_MODS", "Root", "FREE", "USED", "PENDING", "UNINIT",
           "WRITTEN", "DURABLE", "HostPages", "FramePages", "Template", "compile_template"]
