"""Monolithic kernel pipes and descriptors: a kernel ring buffer, sleep/wakeup.

A pipe's buffer is one physical frame owned by the kernel. ``write`` copies
the caller's bytes in (copyin, charged per byte) and wakes readers; ``read``
copies out and wakes writers. A reader sleeps while the pipe is empty and a
writer remains; a writer sleeps while the pipe is full; writing with no
reader left is EPIPE. Descriptors are per-process entries ``(kind, object)``
with kind ``console``, ``pipe_r``, ``pipe_w`` or ``file`` (an open file: its
reads, writes and last close go to :mod:`.fs`); each pipe entry counts as one
reader or writer of its pipe.

Pipes are mechanism objects: each :class:`Pipe` owns its ring, its counts
and its sleep queues (``statistics()``); :class:`Pipes`, the kernel's
``kernel.pipes``, makes and frees them and needs only the frame allocator
and physical memory.

Interface::

    Pipe(frame, buf)                    readers, writers, count, statistics() -> PipeStats
    Pipes(frames, memory)               create(cpu) -> Pipe, free(pipe), statistics()
    new_pipe(k, cpu) -> Pipe            install_fd(proc, kind, pipe) -> fd
    sys_pipe(k, cpu, proc) -> (rfd, wfd)
    sys_read(k, cpu, proc, fd, n) -> bytes
    sys_write(k, cpu, proc, fd, data) -> int
    sys_read_into / sys_write_from      pointer forms (EFAULT on bad pointers)
    sys_close(k, cpu, proc, fd)
    dup_fds(proc) -> dict               (fork)      close_all(k, proc)
    release(k, (kind, pipe))            drop one reference to a pipe end
    PIPE_SIZE, MAX_FDS
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exolab.abi import as_bytes
from exolab.errors import SyscallError
from exolab.kernels.monolithic.limits import MAX_FDS, PIPE_SIZE
from exolab.kernels.monolithic.socket import release_socket
from exolab.machine.cpu import CPU
from exolab.machine.memory import PhysicalMemory
from exolab.machine.threads import SimThread

if TYPE_CHECKING:
    from exolab.kernels.monolithic.kernel import MonolithicKernel
    from exolab.kernels.monolithic.proc import Process

__all__ = ["Pipe", "Pipes", "PipeStats", "PipesStats", "PIPE_SIZE", "MAX_FDS", "new_pipe", "install_fd", "sys_pipe", "sys_read", "sys_write",
           "sys_read_into", "sys_write_from", "sys_close", "dup_fds", "close_all", "release"]


@dataclass(frozen=True, slots=True)
class PipeStats:
    """One pipe's state: bytes buffered, open ends, sleepers (all levels)."""

    buffered: int
    readers: int
    writers: int
    readers_asleep: int
    writers_asleep: int


@dataclass(frozen=True, slots=True)
class PipesStats:
    """Pipes alive (a level) and created so far (a counter)."""

    live: int
    created: int


class Pipe:
    """A bounded byte FIFO in one kernel frame."""

    __slots__ = ("frame", "buf", "head", "count", "readers", "writers", "read_q",
                 "write_q")

    def __init__(self, frame: int, buf: memoryview) -> None:
        self.frame = frame                      # kernel-owned buffer frame
        # its bytes (kseg0 view), as a memoryview: slicing one copies a few bytes in
        # or out at a third of the cost of slicing the bytearray itself
        self.buf = buf
        self.head = 0                           # offset of the oldest byte
        self.count = 0                          # bytes buffered
        self.readers = 0                        # descriptors open for reading
        self.writers = 0                        # descriptors open for writing
        self.read_q: list[SimThread] = []       # readers asleep (empty pipe)
        self.write_q: list[SimThread] = []      # writers asleep (full pipe)

    def put(self, data: bytes) -> None:
        """Append ``data`` (the caller checked it fits) to the ring in the frame."""
        n = len(data)
        tail = (self.head + self.count) % PIPE_SIZE
        end = tail + n
        if end <= PIPE_SIZE:
            self.buf[tail:end] = data
        else:
            first = PIPE_SIZE - tail
            self.buf[tail:] = data[:first]
            self.buf[:n - first] = data[first:]
        self.count += n

    def take(self, n: int) -> bytes:
        """Remove and return up to ``n`` bytes from the ring in the frame."""
        n = min(n, self.count)
        head = self.head
        end = head + n
        if end <= PIPE_SIZE:
            out = self.buf[head:end].tobytes()
        else:
            out = self.buf[head:].tobytes() + self.buf[:end - PIPE_SIZE].tobytes()
        self.head = end % PIPE_SIZE
        self.count -= n
        return out

    def statistics(self) -> PipeStats:
        """Return a frozen snapshot of this pipe's state."""
        return PipeStats(self.count, self.readers, self.writers, len(self.read_q),
                         len(self.write_q))


class Pipes:
    """Makes pipes (a zeroed kernel frame each) and frees them."""

    __slots__ = ("frames", "memory", "live", "created")

    def __init__(self, frames: Any, memory: PhysicalMemory) -> None:
        self.frames = frames
        self.memory = memory
        self.live = self.created = 0

    def create(self, cpu: CPU) -> Pipe:
        """A new pipe with a zeroed buffer frame and no descriptors (ENOMEM)."""
        frame = self.frames.alloc()
        cpu.charge(self.memory.zero_frame(frame))
        self.live += 1
        self.created += 1
        return Pipe(frame, memoryview(self.memory.frame(frame)))

    def free(self, pipe: Pipe) -> None:
        """Give back the frame of a pipe no descriptor refers to any more."""
        self.frames.unref(pipe.frame)
        self.live -= 1

    def statistics(self) -> PipesStats:
        """Return a frozen snapshot: pipes alive, pipes created."""
        return PipesStats(self.live, self.created)


def _fd(proc: "Process", fd: Any, kind: str | None = None) -> tuple[str, Any]:
    """Decode descriptor ``fd`` of ``proc`` (EBADF unless open and of ``kind``)."""
    entry = proc.fds.get(fd) if type(fd) is int else None
    if entry is None or (kind is not None and entry[0] != kind):
        raise SyscallError("EBADF", "bad file descriptor", fd=fd)
    return entry


def _new_fd(proc: "Process") -> int:
    """Lowest free descriptor number of ``proc`` (EMFILE if none)."""
    for fd in range(MAX_FDS):
        if fd not in proc.fds:
            return fd
    raise SyscallError("EMFILE", "too many open descriptors", limit=MAX_FDS)


def new_pipe(k: "MonolithicKernel", cpu: CPU) -> Pipe:
    """Create a pipe with a zeroed buffer frame and no descriptors yet."""
    return k.pipes.create(cpu)


def install_fd(proc: "Process", kind: str, pipe: Pipe) -> int:
    """Give ``proc`` a descriptor for one end of ``pipe``; return its number."""
    fd = _new_fd(proc)
    proc.fds[fd] = (kind, pipe)
    if kind == "pipe_r":
        pipe.readers += 1
    else:
        pipe.writers += 1
    return fd


def sys_pipe(k: "MonolithicKernel", cpu: CPU, proc: "Process") -> tuple[int, int]:
    """Create a pipe and two descriptors for it."""
    if len(proc.fds) + 2 > MAX_FDS:
        raise SyscallError("EMFILE", "too many open descriptors", limit=MAX_FDS)
    pipe = new_pipe(k, cpu)
    return install_fd(proc, "pipe_r", pipe), install_fd(proc, "pipe_w", pipe)


def sys_write(k: "MonolithicKernel", cpu: CPU, proc: "Process", fd: int,
              data: Any) -> int:
    """Write all of ``data`` to a pipe or the console, sleeping while full."""
    entry = proc.fds.get(fd) if type(fd) is int else None
    if entry is not None and entry[0] == "pipe_w" and type(data) is bytes:
        pipe: Pipe = entry[1]
        n = len(data)
        if pipe.readers and n <= PIPE_SIZE - pipe.count:     # fast path: fits at once
            clk = cpu.clock
            clk.now += k.c_pipe_op + ((n * k.c_copy_kib + 1023) >> 10)
            if clk.now >= clk.deadline:
                cpu.service()
            cpu.memory.note_copy(n)                         # copyin to the pipe buffer
            tail = (pipe.head + pipe.count) % PIPE_SIZE
            if tail + n <= PIPE_SIZE:                       # Pipe.put, inlined: no wrap
                pipe.buf[tail:tail + n] = data
                pipe.count += n
            else:
                pipe.put(data)
            if pipe.read_q:
                k.sched.wakeup(pipe.read_q)
            return n
    return _write_slow(k, cpu, proc, fd, data)


def _charge_pipe_op(k: "MonolithicKernel", cpu: CPU, n: int) -> None:
    """Charge one pipe operation copying ``n`` bytes (the fast paths inline this)."""
    cpu.charge(k.c_pipe_op + k.machine.profile.copy_cost(n))
    cpu.memory.note_copy(n)


def _write_slow(k: "MonolithicKernel", cpu: CPU, proc: "Process", fd: int,
                data: Any) -> int:
    """sys_write's general path: decode, console, partial writes, sleeping."""
    data = as_bytes(data)               # EFAULT unless bytes; a subclass is copied out
    kind, obj = _fd(proc, fd)
    if kind == "console":
        cpu.charge(k.machine.profile.copy_cost(len(data)))
        cpu.memory.note_copy(len(data))
        k.console_write(proc, bytes(data))
        return len(data)
    if kind == "file":                                  # fs.py: an open file
        return k.fs.write(cpu, obj, data)
    if kind != "pipe_w":
        raise SyscallError("EBADF", "descriptor not open for writing", fd=fd)
    pipe = obj
    done = 0
    while done < len(data):
        if pipe.readers == 0:
            raise SyscallError("EPIPE", "no reader on the pipe", fd=fd)
        room = PIPE_SIZE - pipe.count
        if room == 0:
            k.sched.sleep(cpu, pipe.write_q)
            continue
        chunk = bytes(data[done:done + room])
        _charge_pipe_op(k, cpu, len(chunk))             # copyin to the pipe buffer
        pipe.put(chunk)
        done += len(chunk)
        k.sched.wakeup(pipe.read_q)
    return done


def sys_read(k: "MonolithicKernel", cpu: CPU, proc: "Process", fd: int, n: int) -> bytes:
    """Read up to ``n`` bytes, sleeping while the pipe is empty and has writers."""
    entry = proc.fds.get(fd) if type(fd) is int else None
    if entry is not None and entry[0] == "pipe_r" and type(n) is int and n > 0:
        pipe: Pipe = entry[1]
        while pipe.count == 0 and pipe.writers:
            k.sched.sleep(cpu, pipe.read_q)
        head = pipe.head
        if n > pipe.count:
            n = pipe.count
        if head + n < PIPE_SIZE:                            # Pipe.take, inlined: no wrap
            out = pipe.buf[head:head + n].tobytes()
            pipe.head = head + n
            pipe.count -= n
        else:
            out = pipe.take(n)
        clk = cpu.clock
        clk.now += k.c_pipe_op + ((n * k.c_copy_kib + 1023) >> 10)
        if clk.now >= clk.deadline:
            cpu.service()
        cpu.memory.note_copy(n)                             # copyout to the caller
        if pipe.write_q:
            k.sched.wakeup(pipe.write_q)
        return out
    return _read_slow(k, cpu, proc, fd, n)


def _read_slow(k: "MonolithicKernel", cpu: CPU, proc: "Process", fd: int,
               n: int) -> bytes:
    """sys_read's general path: decode, console, zero-length reads."""
    if type(n) is not int or n < 0:
        raise SyscallError("EINVAL", "bad read length", n=n)     # rendered safely
    kind, obj = _fd(proc, fd)
    if kind == "console":
        return b""
    if kind == "file":                                  # fs.py: an open file
        return k.fs.read(cpu, obj, n)
    if kind != "pipe_r":
        raise SyscallError("EBADF", "descriptor not open for reading", fd=fd)
    pipe = obj
    while pipe.count == 0:
        if pipe.writers == 0 or n == 0:
            return b""
        k.sched.sleep(cpu, pipe.read_q)
    out = pipe.take(n)
    _charge_pipe_op(k, cpu, len(out))                   # copyout to the caller
    if pipe.write_q:
        k.sched.wakeup(pipe.write_q)
    return out


def sys_write_from(k: "MonolithicKernel", cpu: CPU, proc: "Process", fd: int,
                   vaddr: int, n: int) -> int:
    """Write ``n`` bytes found at ``vaddr`` in the caller (EFAULT if unmapped)."""
    _fd(proc, fd)                       # EBADF before EFAULT
    k.vm.check_user_range(proc.space, vaddr, n)
    return sys_write(k, cpu, proc, fd, cpu.load_bytes(vaddr, n))


def sys_read_into(k: "MonolithicKernel", cpu: CPU, proc: "Process", fd: int,
                  vaddr: int, n: int) -> int:
    """Read up to ``n`` bytes into the caller's memory at ``vaddr``; return the count."""
    _fd(proc, fd)                       # EBADF before EFAULT
    k.vm.check_user_range(proc.space, vaddr, n)
    data = sys_read(k, cpu, proc, fd, n)
    cpu.store_bytes(vaddr, data)
    return len(data)


def release(k: "MonolithicKernel", entry: tuple[str, Any]) -> None:
    """Drop one descriptor reference to a pipe end; the last reader wakes the
    pipe's writers (EPIPE), the last writer its readers (end of file). Closing
    any other end changes nothing a sleeper waits for, so it wakes nobody."""
    kind, obj = entry
    if kind == "pipe_r":
        obj.readers -= 1
        if obj.readers == 0:
            k.sched.wakeup(obj.write_q)
    elif kind == "pipe_w":
        obj.writers -= 1
        if obj.writers == 0:
            k.sched.wakeup(obj.read_q)
    else:
        if kind == "file":                              # fs.py: an open file
            k.fs.release(obj)
        if kind == "socket":                    # (socket.py owns sockets)
            release_socket(k, obj)
        return
    if obj.readers == 0 and obj.writers == 0:
        k.pipes.free(obj)


def sys_close(k: "MonolithicKernel", cpu: CPU, proc: "Process", fd: int) -> None:
    """Close descriptor ``fd`` of the caller."""
    entry = _fd(proc, fd)
    del proc.fds[fd]
    release(k, entry)


def dup_fds(proc: "Process") -> dict[int, tuple[str, Any]]:
    """Copy ``proc``'s descriptor table for a fork child, counting the new references."""
    fds = dict(proc.fds)
    for kind, obj in fds.values():
        if kind == "pipe_r":
            obj.readers += 1
        elif kind == "pipe_w":
            obj.writers += 1
        elif kind == "file" or kind == "socket":        # fs.py / socket.py: shared
            obj.refs += 1
    return fds


def close_all(k: "MonolithicKernel", proc: "Process") -> None:
    """Close every descriptor of an exiting process."""
    for fd in sorted(proc.fds):
        release(k, proc.fds.pop(fd))
