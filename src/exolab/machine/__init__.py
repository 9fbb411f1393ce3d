"""exolab.machine: the simulated hardware (no policy).

See :mod:`exolab.machine.machine` for how the pieces compose and
``docs/design.md`` for the design decisions.
"""
from exolab.machine.clock import Clock
from exolab.machine.costs import PROFILES, CostProfile, get_profile
from exolab.machine.cpu import CPU, IRQ_DISK, IRQ_NIC, IRQ_TIMER, KERNEL, USER, Cause
from exolab.machine.machine import Machine, MachineStats, RunResult
from exolab.machine.memory import PhysicalMemory
from exolab.machine.threads import SimThread, ThreadExit
from exolab.machine.disk import BlockDevice, Disk
from exolab.machine.nic import NetBackend, Nic
from exolab.machine.tlb import TLB, TLBEntry
from exolab.machine.wire import Loopback, Wire, run_together

__all__ = ["Machine", "MachineStats", "RunResult", "Clock", "CostProfile", "PROFILES",
           "get_profile", "CPU", "Cause", "USER", "KERNEL", "IRQ_TIMER", "IRQ_DISK",
           "IRQ_NIC", "PhysicalMemory", "SimThread", "ThreadExit", "TLB", "TLBEntry",
           "BlockDevice", "Disk", "NetBackend", "Nic", "Wire", "Loopback", "run_together"]
