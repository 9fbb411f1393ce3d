"""Monolithic kernel processes: creation, fork (COW), exit, wait, threads.

A :class:`Process` owns an address space, a descriptor table and one or more
threads. Each costs simulated memory (frames wired for its proc structure and
page-table root, and a kernel stack per thread) and a slot under the limits of
:mod:`.limits`: past them fork/spawn answer ENOMEM (frames) or EAGAIN (a count
limit) and thread_create the same, creating nothing. ``spawn`` builds a fresh address space and maps the program's image
(``image_pages`` pages, default :data:`IMAGE_PAGES`, copied in from the
"page cache" like exec); ``fork`` gives the child a copy-on-write copy of the
parent's space and shares its descriptors. A process ends when its last
thread ends; it stays a zombie until its parent waits for it (orphans are
reaped at once).

Interface::

    Process                       slotted record (pid, space, fds, threads, ...)
    IMAGE_PAGES
    sys_getpid, sys_spawn, sys_fork, sys_exit, sys_wait, sys_thread_create,
    sys_yield, sys_thread_yield   handlers: (kernel, cpu, proc, *args)
    admit_process(k, frames) / admit_thread(k, proc)   decode: EAGAIN/ENOMEM or nothing
    start_thread(k, proc, entry, args) -> SimThread   a ready thread of ``proc``
    kill(k, proc, status)         end every thread of ``proc``
    thread_ended(k, cpu, thread)  bookkeeping when a thread's body returns
    program_args(args) -> tuple   a program's argument tuple decoded (EINVAL)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from exolab.abi import IMAGE_PAGES, PROT_READ, image_pages
from exolab.errors import SyscallError, type_name
from exolab.kernels.common.args import func
from exolab.kernels.common.exitstatus import final_status
from exolab.kernels.common.image import IMAGE_VPN, copy_in
from exolab.kernels.common.names import process_name
from exolab.kernels.monolithic.limits import (MAX_PROCESSES, MAX_THREADS,
                                              MAX_THREADS_PER_PROC, PROC_FRAMES,
                                              THREAD_FRAMES)
from exolab.kernels.monolithic.pipe import close_all, dup_fds
from exolab.kernels.monolithic.vm import PTE, AddressSpace
from exolab.machine.cpu import CPU
from exolab.machine.threads import SimThread, ThreadExit

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel

__all__ = ["Process", "IMAGE_PAGES", "sys_getpid", "sys_spawn", "sys_fork", "sys_exit",
           "sys_wait", "sys_thread_create", "sys_yield", "sys_thread_yield", "start_thread",
           "kill", "thread_ended", "admit_process", "admit_thread", "program_args"]

@dataclass(slots=True, eq=False)
class Process:
    """A process; every field is guarded by the kernel."""

    pid: int
    name: str
    parent: "Process | None"
    space: AddressSpace
    fds: dict[int, tuple[str, Any]] = field(default_factory=dict)
    threads: list[SimThread] = field(default_factory=list)   # live threads
    main: SimThread | None = None       # first thread; its value is the exit status
    state: str = "live"                 # live -> zombie -> reaped (family: kernel.waits)
    status: Any = None                  # exit status once a zombie
    fault_handler: Callable[..., Any] | None = None   # user-level SIGSEGV handler
    exc_handlers: dict[str, Callable[..., Any]] = field(default_factory=dict)  # kind -> handler
    handler_depth: int = 0              # nested fault upcalls in progress
    doomed: bool = False                # kill() marked every thread
    waiters: list[SimThread] = field(default_factory=list)   # threads in wait()
    personality: Any = None            # the Libc instance programs call

    def trace_track(self) -> tuple[int, str]:
        """The process's track in a trace viewer: (pid, label)."""
        return self.pid, f"pid {self.pid}: {self.name}"


def sys_getpid(k: "MonolithicKernel", cpu: CPU, proc: Process) -> int:
    """Return the caller's pid."""
    return proc.pid


def admit_process(k: "MonolithicKernel", frames: int = 0) -> None:
    """Decode a new process (and its first thread, and ``frames`` more frames):
    EAGAIN at the process or thread limit, ENOMEM without the frames."""
    if len(k.processes) >= MAX_PROCESSES:
        raise SyscallError("EAGAIN", "process table full", limit=MAX_PROCESSES)
    if k.threads_live >= MAX_THREADS:
        raise SyscallError("EAGAIN", "thread table full", limit=MAX_THREADS)
    need = PROC_FRAMES + THREAD_FRAMES + frames
    if k.frames.available() < need:
        raise SyscallError("ENOMEM", "no frames for the new process", frames=need,
                           free=k.frames.available())


def admit_thread(k: "MonolithicKernel", proc: Process) -> None:
    """Decode another thread of ``proc``: EAGAIN at a thread limit, ENOMEM
    without a frame for its kernel stack."""
    if len(proc.threads) >= MAX_THREADS_PER_PROC:
        raise SyscallError("EAGAIN", "too many threads in the process",
                           limit=MAX_THREADS_PER_PROC)
    if k.threads_live >= MAX_THREADS:
        raise SyscallError("EAGAIN", "thread table full", limit=MAX_THREADS)
    if k.frames.available() < THREAD_FRAMES:
        raise SyscallError("ENOMEM", "no frame for a kernel stack")


def start_thread(k: "MonolithicKernel", proc: Process, entry: Callable[..., Any],
                  args: tuple[Any, ...]) -> SimThread:
    """Create a ready thread of ``proc`` running ``entry(os, *args)`` (its kernel
    stack wired; the caller decoded it with admit_thread or admit_process)."""
    k.frames.wire(THREAD_FRAMES)
    k.threads_live += 1
    t = k.machine.threads.create(k.thread_main, (proc, entry, args),
                                 name=f"{proc.name}.{len(proc.threads)}", owner=proc)
    proc.threads.append(t)
    if proc.main is None:
        proc.main = t
    k.sched.make_ready(t)
    return t


def program_args(args: Any) -> tuple[Any, ...]:
    """Decode a program's argument tuple (EINVAL unless a tuple or list)."""
    if type(args) is not tuple and type(args) is not list:
        raise SyscallError("EINVAL", "arguments must be a tuple", args=type_name(args))
    return tuple(args)


def _map_image(k: "MonolithicKernel", cpu: CPU, proc: Process, pages: int) -> None:
    """Map ``pages`` read-only image pages, each copied from the page cache."""
    frames = copy_in(cpu, pages, k.frames.alloc, k.vm.c_pte)
    for i, ppn in enumerate(frames):
        proc.space.ptes[IMAGE_VPN + i] = PTE(ppn, PROT_READ)
    proc.space.image = (IMAGE_VPN, IMAGE_VPN + pages)   # (mmap places regions clear of it)


def sys_spawn(k: "MonolithicKernel", cpu: CPU, proc: Process, program: Any,
              args: tuple[Any, ...], name: str) -> int:
    """Create a process running ``program`` in a fresh address space."""
    func(program, "program")
    args = program_args(args)
    pages = image_pages(program)
    name = process_name(name, program)
    admit_process(k, pages)             # decode: all or nothing, no half-built process
    cpu.charge(k.paths["mono_exec_path"])
    child = k.new_process(name, proc)
    _map_image(k, cpu, child, pages)
    start_thread(k, child, program, args)
    return child.pid


def sys_fork(k: "MonolithicKernel", cpu: CPU, proc: Process, entry: Any,
             args: tuple[Any, ...]) -> int:
    """Create a child with a COW copy of the caller's space, running ``entry``."""
    func(entry, "entry")
    args = program_args(args)
    admit_process(k)
    child = k.new_process(f"{proc.name}~", proc)
    fresh = child.space                             # holds the ASID new_process gave
    child.space = k.vm.fork_space(cpu, proc.space, fresh.asid)
    child.space.asid_gen = fresh.asid_gen           # still valid: no second ASID
    child.fds = dup_fds(proc)
    child.fault_handler = proc.fault_handler        # signal dispositions survive fork
    child.exc_handlers = dict(proc.exc_handlers)
    start_thread(k, child, entry, args)
    return child.pid


def sys_thread_create(k: "MonolithicKernel", cpu: CPU, proc: Process, entry: Any,
                      args: tuple[Any, ...]) -> int:
    """Start another thread in the caller's address space."""
    func(entry, "entry")
    args = program_args(args)
    admit_thread(k, proc)
    cpu.charge(_creation(k, cpu))
    return start_thread(k, proc, entry, args).tid


def _creation(k: "MonolithicKernel", cpu: CPU) -> int:
    """The cycles of a thread's life: kernel_thread's when kernel-resident code makes
    it (ktest.py; where the profile has that row), else a program's (0: no row)."""
    t = cpu.current
    if k.builds_kernel_tests and t is not None and t.tid in k._incode:
        return k.paths["mono_kthread_path"] or k.paths["mono_thread_path"]
    return k.paths["mono_thread_path"]


def sys_yield(k: "MonolithicKernel", cpu: CPU, proc: Process) -> int:
    """Give the CPU to the next ready thread."""
    k.sched.yield_(cpu)
    return 0


def sys_thread_yield(k: "MonolithicKernel", cpu: CPU, proc: Process) -> int:
    """Give the CPU to the next ready thread of the caller's own process, if any."""
    k.sched.yield_within(cpu)
    return 0


def sys_exit(k: "MonolithicKernel", cpu: CPU, proc: Process, status: Any) -> None:
    """End the calling process with ``status``. No call nests here, so it works at
    any stack depth: the caller unwinds at once, and thread_ended (at the base of
    its stack) kills the process's other threads."""
    if proc.status is None:
        proc.status = status
    me = cpu.current
    if me is not None:
        me.killed = True
        me.exit_status = status
    raise ThreadExit(status)


def kill(k: "MonolithicKernel", proc: Process, status: Any) -> None:
    """Mark every thread of ``proc`` killed and wake the sleeping ones so they die."""
    if proc.status is None:
        proc.status = status
    proc.doomed = True
    for t in proc.threads:
        t.killed = True
        t.exit_status = status
        k.sched.cancel_sleep(t)


def sys_wait(k: "MonolithicKernel", cpu: CPU, proc: Process,
             pid: int | None) -> tuple[int, Any]:
    """Block until child ``pid`` (or any) is a zombie; reap it."""
    if pid is not None and type(pid) is not int:    # never run a caller's __eq__
        raise SyscallError("ECHILD", "no such child", pid=pid)
    while True:
        done = k.waits.reap(proc.pid, pid)          # ECHILD: no such child
        if done is not None:
            _drop(k, done[0])
            return done
        k.sched.sleep(cpu, proc.waiters)


def _drop(k: "MonolithicKernel", pid: int) -> None:
    """Forget reaped process ``pid`` (its record goes; its pid is never reused)."""
    gone = k.processes.pop(pid, None)
    if gone is not None:
        gone.state = "reaped"
        k.frames.unwire(PROC_FRAMES)


def thread_ended(k: "MonolithicKernel", cpu: CPU, t: SimThread) -> None:
    """A thread finished: when it was the process's last, the process exits."""
    proc: Process = t.owner
    if t in proc.threads:
        proc.threads.remove(t)
        k.threads_live -= 1
        k.frames.unwire(THREAD_FRAMES)
    if proc.threads:
        if proc.status is not None and not proc.doomed:    # exit(): end the others
            kill(k, proc, proc.status)
        return
    if proc.status is None:             # not killed: the main thread's value counts
        main = proc.main if proc.main is not None else t
        proc.status = final_status(main.exit_status, main.result)
    _teardown(k, cpu, proc)


def _teardown(k: "MonolithicKernel", cpu: CPU, proc: Process) -> None:
    """Release the process's resources and make it a zombie (or reap an orphan)."""
    close_all(k, proc)
    k.vm.destroy(cpu, proc.space)       # (ASIDs are recycled by generation: kernel.asid_for)
    proc.state = "zombie"
    parent, reaped = k.waits.exit(proc.pid, proc.status)
    for pid in reaped:                  # itself if an orphan, and its own zombies
        _drop(k, pid)
    if parent is not None:
        k.sched.wakeup(k.processes[parent].waiters)
    k.on_process_exit(proc)
