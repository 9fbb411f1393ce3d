"""Monolithic kernel shared memory: segments mapped into several processes.

A segment is a list of physical frames held by the kernel. Attaching maps
every frame read-write into the caller's address space (one PTE per page,
tagged with the segment key, so fork shares rather than copies them);
detaching unmaps them. Segments persist, like System V segments, until the
machine ends. A key is a 63-bit keyed hash of the segment's number (the key
derived from the machine's seed), not the number itself: "any process that
knows a key may attach" (docs/abi.md) then means knowing, not guessing 1, 2, 3.

The segments are a mechanism object, :class:`SharedMemory`, that owns its
state (the segments and the next key) and needs only the frame allocator and
the VM's zero-fill; the kernel holds one as ``kernel.shm``.

Interface::

    Segment(key, frames)
    SharedMemory(frames, vm, seed=0)
      create(cpu, length) -> key      get(key) -> Segment | None
      segments: dict[key, Segment]    statistics() -> ShmStats
    sys_shm_create(k, cpu, proc, length) -> key
    sys_shm_attach(k, cpu, proc, key) -> vaddr
    sys_shm_detach(k, cpu, proc, vaddr)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exolab.abi import PROT_RW
from exolab.errors import SyscallError
from exolab.kernels.common import shmkeys
from exolab.kernels.monolithic.limits import MAX_SHM
from exolab.kernels.monolithic.proc import Process
from exolab.kernels.monolithic.vm import PTE, VM, FrameAllocator
from exolab.machine.cpu import CPU

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel

__all__ = ["Segment", "SharedMemory", "ShmStats", "sys_shm_create", "sys_shm_attach",
           "sys_shm_detach", "MAX_SHM"]



@dataclass(slots=True)
class Segment:
    """A shared segment; its frames each hold one kernel reference."""

    key: int
    frames: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ShmStats:
    """Segments alive and the frames they hold (levels); segments created and
    attaches so far (counters)."""

    segments: int
    frames_held: int
    created: int
    attaches: int


class SharedMemory:
    """The kernel's shared segments, by key (keys are never reused)."""

    __slots__ = ("frames", "vm", "segments", "next_key", "attaches", "_held", "secret")

    def __init__(self, frames: FrameAllocator, vm: VM, seed: int = 0) -> None:
        self.secret = shmkeys.secret(seed, b"mono shm keys")
        self.frames = frames
        self.vm = vm
        self.segments: dict[int, Segment] = {}
        self.next_key = 1
        self.attaches = 0
        self._held = 0                      # frames the segments hold

    def create(self, cpu: CPU, length: Any) -> int:
        """Create a zero-filled segment of ``length`` bytes; return its key
        (EINVAL for a bad length, ENOMEM without the frames: nothing is made)."""
        if type(length) is not int or not 0 < length <= MAX_SHM:
            raise SyscallError("EINVAL", "bad segment length", length=length, max=MAX_SHM)
        npages = (length + 0xFFF) >> 12
        if self.frames.available() < npages:    # decode: all or nothing, no frame leaks
            raise SyscallError("ENOMEM", "no frames for the segment", pages=npages)
        key = shmkeys.segment_key(self.secret, self.next_key, self.segments)
        self.next_key += 1
        seg = Segment(key)
        for _ in range(npages):
            seg.frames.append(self.vm.zero_frame(cpu))
        self.segments[key] = seg
        self._held += npages
        return key

    def get(self, key: Any) -> Segment | None:
        """The segment ``key`` names, or None (never runs a caller's __eq__)."""
        return self.segments.get(key) if type(key) is int else None

    def statistics(self) -> ShmStats:
        """Return a frozen snapshot of the segments' levels and counters."""
        return ShmStats(len(self.segments), self._held, self.next_key - 1, self.attaches)


def sys_shm_create(k: "MonolithicKernel", cpu: CPU, proc: Process, length: int) -> int:
    """Create a zero-filled segment of ``length`` bytes; return its key."""
    return k.shm.create(cpu, length)


def sys_shm_attach(k: "MonolithicKernel", cpu: CPU, proc: Process, key: int) -> int:
    """Map segment ``key`` into the caller; return its address."""
    seg = k.shm.get(key)
    if seg is None:
        raise SyscallError("ESRCH", "no such segment", key=key)
    region = proc.space.map_region(len(seg.frames), PROT_RW, segment=key)
    for i, ppn in enumerate(seg.frames):
        cpu.charge(k.vm.c_pte)
        k.frames.ref(ppn)
        proc.space.ptes[region.start_vpn + i] = PTE(ppn, PROT_RW, segment=key)
    k.shm.attaches += 1
    return region.start_vpn << 12


def sys_shm_detach(k: "MonolithicKernel", cpu: CPU, proc: Process, vaddr: int) -> None:
    """Unmap the segment attached at ``vaddr``."""
    if type(vaddr) is not int:
        raise SyscallError("EINVAL", "no segment attached there", vaddr=vaddr)
    for r in proc.space.regions:
        if r.segment is not None and r.start_vpn << 12 == vaddr:
            k.vm.unmap(cpu, proc.space, vaddr, r.npages << 12)
            return
    raise SyscallError("EINVAL", "no segment attached there", vaddr=vaddr)
