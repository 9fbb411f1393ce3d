"""A software-isolated process: its own heap region, threads, descriptors, endpoints.

Interface::

    SIP      slotted record (pid, name, parent, principal, manifest, regions, threads, ...)
      contains(addr, size) -> bool     the access lies inside one of its regions
"""
from __future__ import annotations

from typing import Any

from exolab.machine.threads import SimThread

__all__ = ["SIP"]


class SIP:
    """A SIP; every field is the kernel's."""

    __slots__ = ("pid", "name", "parent", "manifest", "regions", "threads", "main",
                 "fds", "next_fd", "endpoints", "status", "state", "waiters",
                 "personality", "frames", "doomed", "asid", "ring3", "principal")

    def __init__(self, pid: int, name: str, parent: int | None, manifest: Any) -> None:
        self.pid = pid
        self.name = name
        self.parent = parent
        self.manifest = manifest
        self.regions: list[tuple[int, int]] = []   # [base, end) physical = virtual
        self.frames: list[int] = []                # frames of its regions
        self.threads: list[SimThread] = []         # live threads
        self.main: SimThread | None = None
        self.fds: dict[int, tuple[str, Any]] = {}
        self.next_fd = 3
        self.endpoints: dict[str, Any] = {}        # manifest name -> Endpoint
        self.status: Any = None
        self.state = "live"
        self.waiters: list[SimThread] = []         # threads in wait() for a child
        self.personality: Any = None
        self.doomed = False
        self.asid = 0                              # 0: the kernel's domain (isolation knob)
        self.ring3 = False                         # its calls trap (isolation knob)
        self.principal: Any = None                 # who pays for its tree (accounts.py)

    def trace_track(self) -> tuple[int, str]:
        """The SIP's track in a trace viewer: (pid, label)."""
        return self.pid, f"pid {self.pid}: {self.name}"

    def contains(self, addr: int, size: int) -> bool:
        """Whether [addr, addr+size) lies inside one of the SIP's regions."""
        for base, end in self.regions:
            if base <= addr and addr + size <= end:
                return True
        return False
