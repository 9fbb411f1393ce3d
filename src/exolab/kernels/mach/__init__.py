"""exolab.kernels.mach: a first-generation (Mach 3.0-style) microkernel.

Tasks, threads, ports with rights in per-task name spaces, asynchronous
buffered messages (copied into a kernel buffer and out again), port sets,
external pagers; UNIX in a user-level server reached by RPC. See docs/mach.md.

Measurements (for suites; each boots its own machine and returns cycles)::

    measure.ipc_cycles(nbytes, profile="dec5000", rounds=64) -> float
        one-way user-to-user cross-task IPC of an ``nbytes`` payload (half a
        ping-pong round trip of mach_msg RPCs; L3 Table 7's definition)
    measure.rpc_cycles(profile="dec5000", rounds=64) -> float
        a null RPC: call and reply with no payload (L3 Table 2)
    measure.syscall_cycles(profile="dec5000", rounds=64) -> float
        a null Mach kernel trap (thread_self)
    measure.unix_call_cycles(profile="dec5000", rounds=64) -> float
        getpid through the UX server (an RPC per UNIX call)

Interface::

    MachKernel, MachStats     the kernel (registered as ``mach``) and its record
    MachLibc                  the personality
    measure                   the functions above
"""
from exolab.kernels.mach import measure
from exolab.kernels.mach.kernel import MachKernel, MachStats
from exolab.kernels.mach.personality import MachLibc

__all__ = ["MachKernel", "MachStats", "MachLibc", "measure"]
