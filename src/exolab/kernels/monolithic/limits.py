"""Every limit of the monolithic kernel, in one place, each with its reason.

A process and each of its threads cost simulated memory: frames are *wired*
for the kernel objects a BSD kernel allocates per process (the proc structure
with its u-area, and the page-table root page) and per thread (its kernel
stack), so a fork bomb runs the machine out of frames (ENOMEM), never the
host out of memory. Counts that cost host memory beyond the frames are capped
as well (EAGAIN, as POSIX fork(2) and pthread_create(3) answer at a
system-imposed limit). A request that cannot get all it needs creates nothing.

Interface::

    KERNEL_FRAMES           low frames reserved for the kernel image and data
    PROC_FRAMES, THREAD_FRAMES      frames wired per process / per thread
    MAX_PROCESSES           process slots (live and zombie) machine-wide
    MAX_THREADS             live threads machine-wide
    MAX_THREADS_PER_PROC    live threads of one process
    MAX_FDS, PIPE_SIZE      descriptors per process, bytes of one pipe buffer
    MAX_SHM                 bytes of one shared segment
    MAX_NESTING             fault handlers nested before the process dies
    NAME_MAX                characters of a process or rpc service name
    PAGE_SHIFT              the page size the kernel is written for (ConfigError otherwise)
    LIMITS                  name -> value, for the kernel's declaration and docs

(A short module: it is a table.)
"""
from __future__ import annotations

__all__ = ["KERNEL_FRAMES", "PROC_FRAMES", "THREAD_FRAMES", "MAX_PROCESSES", "MAX_THREADS",
           "MAX_THREADS_PER_PROC", "MAX_FDS", "PIPE_SIZE", "MAX_SHM", "MAX_NESTING",
           "NAME_MAX", "PAGE_SHIFT", "LIMITS"]

KERNEL_FRAMES = 64          # the kernel image and static data (low physical memory)
PROC_FRAMES = 2             # 4.3BSD: proc + u-area page; one page-table root page
THREAD_FRAMES = 1           # one kernel stack page per thread (Ultrix: in the u-area)
MAX_PROCESSES = 16_384      # proc table slots; host cost ~10 KiB each (10k: ~170 MiB)
MAX_THREADS = 32_768        # host cost of a thread: a greenlet and its saved stack
MAX_THREADS_PER_PROC = 1024  # one process may not take the whole thread table
MAX_FDS = 64                # descriptors per process (docs/abi.md: EMFILE at 64)
PIPE_SIZE = 4096            # one kernel frame per pipe buffer
MAX_SHM = 1 << 24           # 16 MiB per segment (docs/abi.md)
MAX_NESTING = 4             # fault handlers may fault this deep before SIGSEGV
NAME_MAX = 64               # process names are cut to it; service names must fit
PAGE_SHIFT = 12             # 4 KiB pages (the R3000's and x86's); the kernel refuses others

#: every limit by name (the kernel's declaration; ``exolab profiles`` prints it)
LIMITS: dict[str, int] = {
    "kernel_frames": KERNEL_FRAMES, "proc_frames": PROC_FRAMES,
    "thread_frames": THREAD_FRAMES, "max_processes": MAX_PROCESSES,
    "max_threads": MAX_THREADS, "max_threads_per_process": MAX_THREADS_PER_PROC,
    "max_fds": MAX_FDS, "pipe_buffer": PIPE_SIZE, "shm_max_bytes": MAX_SHM,
    "max_fault_nesting": MAX_NESTING, "name_max": NAME_MAX, "page_shift": PAGE_SHIFT,
}
