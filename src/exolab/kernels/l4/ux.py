"""The UNIX server: processes, descriptors, pipes, memory and names, at user level.

On L4 the kernel knows address spaces, threads and IPC only; the ABI's
processes are this server's (an L4Linux-style single server). It is one L4
thread in its own address space: every ABI call that is not plain user-mode
work is an IPC ``call`` to it, and it answers with ``reply_wait``. A request
that must wait (``wait`` for a child, ``read`` of an empty pipe, a ``write``
to a full one, ``rpc_connect`` to a name nobody serves yet) is not answered:
the client stays blocked in its call and the server replies later with a
non-blocking ``send`` (the client is waiting for exactly that reply).

The server is also the **pager** of every process: it holds frames it got
from sigma0 (page requests) in its own space and answers a process's page
fault in an ``mmap`` region with a map item of one of them (demand-zero: a
frame is zeroed when it comes back). ``munmap`` and exit **flush** them from
the process and take them back. A spawned program's image pages are frames
reserved for it (ENOMEM when there are none left).

Shared segments and protections are the pager's too. A segment is pages of
the pool, kept until the machine ends; an attach is a region whose faults are
answered with the segment's pages (fork keeps them shared, never
copy-on-write). ``mprotect`` records a protection per page and takes rights
back by flush (all, or the write right), one kernel entry per 64 pages; an
unprotect of at most ``EAGER_PAGES`` held pages maps them back in its reply,
others fault back in. A process's regions are kept sorted, so a page's
region is a binary search and a range's a walk from it (at most MAX_REGIONS
of them: ENOMEM). A fault the protection forbids, or outside every
region, is answered ``(UPCALL_TAG, vaddr, write)``: the kernel runs the
process's handler; the retry after it (a fourth word in the fault message)
is mapped if now allowed and refused otherwise (the kernel ends the thread).

Every program is an accounting principal (:mod:`.accounts`: the first a root,
a spawn nested in its spawner's, a fork its parent's); its image pages and
the pages it faults in are charged to it, and the kernel bills its space to it.

Messages: ``words = (op, ints...)``, ``string`` bytes of the caller's buffer
(pipe data), ``objs`` the host objects a request carries (a program image
and its arguments, a service name). A reply is ``(OK, values...)``, or
``(ERR,)`` with ``objs = (errno, message, fields)``.

Interface::

    Ux(kernel)                      the server's state (the kernel boots its thread)
      main(l4)                      the server thread's body
      procs, pids_of_threads, services, waits, pending_connects, statistics()
      segments, seg_frames          key -> Segment; the pool pages they hold
      prot_of(proc, vpn), segment_frame(proc, vpn), drop_page(proc, vpn)
      accounts, roots, paid         principals' factory; root principals; pool vpn -> payer
      charged_frame(proc)           a pool page charged to proc's principal, or None
    Proc, Segment                   a process's records; a shared segment
    OPS                             op name -> number
    OK, ERR, MAX_SHM, EAGER_PAGES, MAX_REGIONS
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from exolab.abi import PROT_READ, PROT_RW, PROT_WRITE, image_pages
from exolab.errors import SyscallError
from exolab.kernels.common.shmkeys import secret, segment_key
from exolab.kernels.common.wait import WaitTable
from exolab.kernels.l4 import accounts
from exolab.kernels.l4.accounts import UFRAMES
from exolab.kernels.l4.kernel import SIGMA0_ID
from exolab.kernels.l4.limits import KERNEL_RESERVE
from exolab.kernels.l4.objects import NTFN_BADGE
from exolab.kernels.l4.syscall import FAULT_TAG, MAX_FPAGES, PAGES_TAG, UPCALL_TAG

__all__ = ["Ux", "OPS", "OK", "ERR", "Proc", "Segment", "PIPE_BUF", "MMAP_BASE",
           "MAX_SHM", "EAGER_PAGES", "MAX_REGIONS"]

OK, ERR = 0, 1
OPS = {name: i + 1 for i, name in enumerate((
    "getpid", "spawn", "exit", "wait", "pipe", "read", "write", "close", "mmap",
    "munmap", "register", "unregister", "connect", "thread", "thread_end", "fork",
    "shm_create", "shm_attach", "shm_detach", "mprotect", "dirty"))}
PIPE_BUF = 4096             # a pipe's ring
MMAP_BASE = 0x10000         # first vpn of mmap regions
MMAP_LIMIT = 0xB0000        # mmap regions end below the UTCB/stack/window area
POOL_VPN = 0x1000           # the server's pool of frames, from this vpn up
BATCH = 32                  # frames per page request to sigma0
MAX_FDS = 64
MAX_PROCS = 16_000          # live processes: one thread each, within MAX_THREADS (16,384)
                            # less the server's own; kernel memory (frames/4) binds first
MAX_SHM = 16 << 20          # bytes in one shared segment (docs/abi.md)
EAGER_PAGES = 8             # an unprotect of at most this many pages maps them back at once
MAX_REGIONS = 65_530        # regions of one process: Linux's default vm.max_map_count
                            # (USHRT_MAX - 5, include/linux/mm.h); ENOMEM past it
_END = 1 << 62              # a sort key above every region's page count


@dataclass(slots=True, eq=False)
class Pipe:
    """A pipe: its bytes and the clients blocked on it."""

    buf: bytearray = field(default_factory=bytearray)
    readers: int = 1
    writers: int = 1
    rwait: deque[tuple[int, int]] = field(default_factory=deque)     # (tid, n)
    wwait: deque[list[Any]] = field(default_factory=deque)          # [tid, rest, total]


@dataclass(slots=True, eq=False)
class Proc:
    """One process: its space, threads, descriptors, regions and frames."""

    pid: int
    name: str
    sid: int
    parent: int | None
    threads: set[int] = field(default_factory=set)
    fds: dict[int, tuple[str, Any]] = field(default_factory=dict)
    regions: list[tuple[int, int]] = field(default_factory=list)    # (first vpn, pages),
                                        # sorted and disjoint (the server: _region, _munmap)
    pages: dict[int, int] = field(default_factory=dict)    # client vpn -> pool vpn
    image: list[int] = field(default_factory=list)         # reserved pool vpns
    next_vpn: int = MMAP_BASE
    alive: bool = True
    rprot: dict[int, int] = field(default_factory=dict)    # region start -> prot (not RW)
    prot: dict[int, int] = field(default_factory=dict)     # vpn -> prot set by mprotect
    segs: dict[int, "Segment"] = field(default_factory=dict)   # region start -> segment
    principal: Any = None               # who pays for its memory and objects (accounts)


@dataclass(slots=True, eq=False)
class Segment:
    """A shared segment: the server's pool pages that hold it (kept until the end)."""

    key: int
    frames: list[int]


class _Reply(Exception):
    """Internal: a handler's deferred answer (the client keeps waiting)."""


class _Mapped(Exception):
    """Internal: a handler's answer that carries map items (words, items)."""


class Ux:
    """The server's state and its loop (see the module docstring)."""

    def __init__(self, kernel: Any) -> None:
        self.k = kernel                     # for the console device and the spawn hook
        self.procs: dict[int, Proc] = {}
        self.pids_of_threads: dict[int, int] = {}   # thread id -> pid
        self.services: dict[str, int] = {}          # name -> serving thread id
        self.pending_connects: list[tuple[int, str]] = []
        self.waits = WaitTable()
        self.waiting: dict[int, tuple[int, int | None]] = {}   # parent pid -> (tid, pid)
        self.free: list[int] = []                   # pool vpns ready to map (zeroed)
        self.refs: dict[int, int] = {}              # pool vpn -> processes sharing it
        self.next_pool = POOL_VPN
        self.next_pid = 1
        self.live = 0                               # processes alive now
        self.outbox: list[tuple[int, tuple[int, ...], bytes, tuple[Any, ...]]] = []
        self.calls = self.faults_served = 0
        self.l4: Any = None
        self.ntfn = 0                       # capability of the server's notification
        self.segments: dict[int, Segment] = {}      # key -> segment (never reused)
        self.seg_frames: set[int] = set()           # pool vpns that belong to segments
        self.next_seg = 1
        self.secret = secret(kernel.machine.seed, b"l4 ux shm keys")   # segment keys
        self.upcalls = 0                            # faults handed to processes' handlers
        self.accounts: Any = None                   # the principals' factory (first proc)
        self.roots: list[Any] = []                  # root principals (booted programs)
        self.paid: dict[int, Any] = {}              # pool vpn -> the principal paying

    # -- the loop ----------------------------------------------------------------------

    def main(self, l4: Any) -> None:
        """Serve requests forever: answer now, or later from the outbox."""
        self.l4 = l4
        ntfn = l4.notification_create()
        l4.bind(ntfn)                       # the kernel's "nothing else can run" signal
        self.ntfn = ntfn
        m = l4.receive()
        while True:
            reply = self._serve(m)
            self._flush_outbox()
            if reply is None:
                m = l4.receive()
                continue
            words, data, objs, maps = reply
            try:
                m = l4.reply_wait(m.sender, words=words, string=data or None, maps=maps,
                                  objs=objs)
            except SyscallError:            # the client is gone (its space destroyed)
                m = l4.receive()

    def _flush_outbox(self) -> None:
        """Send the deferred replies that became ready (their clients are waiting)."""
        while self.outbox:
            tid, words, data, objs = self.outbox.pop(0)
            try:
                self.l4.send(tid, words=words, string=data or None, objs=objs, timeout=0)
            except SyscallError:
                pass                        # that client died meanwhile

    def answer(self, tid: int, *values: Any, data: bytes = b"") -> None:
        """Queue a deferred success reply to ``tid``."""
        self.outbox.append((tid, (OK, *values), data, ()))

    def fail(self, tid: int, ex: SyscallError) -> None:
        """Queue a deferred error reply to ``tid``."""
        self.outbox.append((tid, (ERR,), b"", _err_objs(ex)))

    def _serve(self, m: Any) -> Any:
        """Handle one message; its reply now, or None (deferred or nothing to say)."""
        self.calls += 1
        if m.sender == NTFN_BADGE:              # the kernel: the machine would idle
            return None
        if m.words and m.words[0] == FAULT_TAG:
            return self._fault(m)
        op = m.words[0] if m.words else 0
        handler = _HANDLERS.get(op)
        proc = self.procs.get(self.pids_of_threads.get(m.sender, -1))
        if handler is None or proc is None or not proc.alive:
            return (ERR,), b"", _err_objs(SyscallError("ENOSYS", "not a request")), ()
        try:
            got = handler(self, proc, m)
        except _Reply:
            return None
        except _Mapped as done:
            words, maps = done.args
            return (OK, *words), b"", (), maps
        except SyscallError as ex:
            return (ERR,), b"", _err_objs(ex), ()
        except (IndexError, TypeError, ValueError, KeyError, AttributeError):
            bad = SyscallError("EINVAL", "a malformed request", op=op)  # (a raw call)
            return (ERR,), b"", _err_objs(bad), ()
        words, data = got
        return (OK, *words), data, (), ()

    # -- frames ----------------------------------------------------------------------

    def frame(self) -> int | None:
        """A zeroed pool page of the server (asking sigma0 for more), or None."""
        if not self.free:
            got = self.l4.call(SIGMA0_ID, words=(PAGES_TAG, BATCH),
                               buffer=(0, 0, self.next_pool))
            self.next_pool += len(got.mapped)
            self.free.extend(reversed(got.mapped))
        return self.free.pop() if self.free else None

    def charged_frame(self, proc: Proc) -> int | None:
        """A zeroed pool page charged to ``proc``'s principal; None past its cap or
        when there is none."""
        try:
            accounts.check(proc.principal, UFRAMES)
        except SyscallError:
            return None
        f = self.frame()
        if f is not None and proc.principal is not None:
            accounts.add(proc.principal, UFRAMES)
            self.paid[f] = proc.principal
        return f

    def give_back(self, vpn: int, touched: bool) -> None:
        """A process lets go of a pool page: flush it from everyone it was mapped to
        (a sharer faults it in again); the last one's release zeroes and frees it."""
        self.l4.flush(vpn)
        left = self.refs.get(vpn, 1) - 1
        if left > 0:
            self.refs[vpn] = left
            return
        self.refs.pop(vpn, None)
        payer = self.paid.pop(vpn, None)
        if payer is not None:
            accounts.uncharge(payer, UFRAMES)
        if touched:
            self.l4.store_bytes(vpn << 12, bytes(4096))
        self.free.append(vpn)

    def prot_of(self, proc: Proc, vpn: int) -> int | None:
        """The protection of ``proc``'s page ``vpn``; None outside every region."""
        got = proc.prot.get(vpn)
        if got is not None:
            return got
        i = _at(proc.regions, vpn)              # the one region that can hold it
        if i >= 0:
            a, n = proc.regions[i]
            if vpn < a + n:
                return proc.rprot.get(a, PROT_RW)
        return None

    def segment_frame(self, proc: Proc, vpn: int) -> int | None:
        """The segment page ``proc`` attached at ``vpn``, or None."""
        for a, seg in proc.segs.items():
            if a <= vpn < a + len(seg.frames):
                return seg.frames[vpn - a]
        return None

    def _fault(self, m: Any) -> Any:
        """A process's page fault: a zeroed frame inside an mmap region, the segment's
        page in an attached one; a forbidden access is handed to the process's fault
        handler (an upcall), refused (the kernel ends the thread) if it recurs."""
        pid = self.pids_of_threads.get(m.sender)
        proc = self.procs.get(pid) if pid is not None else None
        vpn, write = m.words[1] >> 12, bool(m.words[2])
        if proc is None:
            return (0,), b"", (), ()             # no mapping: the kernel ends the thread
        prot = self.prot_of(proc, vpn)
        if prot is None or not prot & PROT_READ or (write and not prot & PROT_WRITE):
            if len(m.words) > 3:                # the retry after the handler: still bad
                return (0,), b"", (), ()
            self.upcalls += 1
            return (UPCALL_TAG, m.words[1], int(write)), b"", (), ()
        frame, writable = proc.pages.get(vpn), bool(prot & PROT_WRITE)
        if frame is None and proc.segs:
            frame = self.segment_frame(proc, vpn)
            if frame is not None:
                proc.pages[vpn] = frame
        if frame is None:                       # demand-zero
            frame = self.charged_frame(proc)
            if frame is None:
                return (0,), b"", (), ()
            proc.pages[vpn], self.refs[frame] = frame, 1
        elif frame in self.seg_frames:          # shared memory stays shared
            pass
        elif self.refs.get(frame, 1) > 1:       # shared since a fork: copy on write
            if bool(m.words[2]):
                new = self.charged_frame(proc)
                if new is None:
                    return (0,), b"", (), ()
                self.l4.store_bytes(new << 12, self.l4.load_bytes(frame << 12, 4096))
                self.refs[frame] -= 1
                proc.pages[vpn], self.refs[new], frame = new, 1, new
            else:
                writable = False                # read it shared, read-only
        self.faults_served += 1
        return (1,), b"", (), ((frame, 1, writable, False),)

    def drop_page(self, proc: Proc, vpn: int) -> None:
        """``proc`` lets go of its page ``vpn``: a segment's page is only flushed
        (other attachers fault it in again); a private one goes back to the pool."""
        proc.prot.pop(vpn, None)
        frame = proc.pages.pop(vpn, None)
        if frame is None:
            return
        if frame in self.seg_frames:
            self.l4.flush(frame)
        else:
            self.give_back(frame, True)

    # -- processes -------------------------------------------------------------------

    def new_proc(self, name: str, parent: int | None, program: Any,
                 args: tuple[Any, ...], fork_of: Proc | None = None,
                 handler: Any = None) -> Proc:
        """Create a process running ``program(os, *args)`` (a fork of ``fork_of``:
        its memory shared copy-on-write, its segments and descriptors shared, its
        fault ``handler`` inherited); ENOMEM or EAGAIN."""
        if self.live >= MAX_PROCS:
            raise SyscallError("EAGAIN", "too many processes")
        need = image_pages(program)
        principal = self._principal(parent, fork_of)
        accounts.charge(principal, UFRAMES, need)
        image = self._image(need)
        if image is None:
            accounts.uncharge(principal, UFRAMES, need)
            raise SyscallError("ENOMEM", "no memory for the program's image", pages=need)
        self.k.billing = principal              # the kernel charges the space to it
        try:
            sid = self.l4.space_create(name)
        except SyscallError:
            self._unimage(principal, image)
            raise SyscallError("ENOMEM", "no memory for an address space") from None
        finally:
            self.k.billing = None
        pid = self.next_pid
        self.next_pid += 1
        self.k.label_space(sid, pid)
        proc = Proc(pid, name, sid, parent, image=image, principal=principal)
        proc.fds = {0: ("console", None), 1: ("console", None), 2: ("console", None)}
        self.procs[pid] = proc
        if fork_of is not None:
            self._share(fork_of, proc)
        try:
            tid = self.l4.thread_create(sid, self.k.process_entry, proc.pid, program,
                                        args, handler, pager=self.l4.myself(), name=name)
        except SyscallError as ex:
            self.procs.pop(pid)
            self._unshare(proc)
            self.l4.space_destroy(sid)
            self._unimage(principal, image)
            raise SyscallError("ENOMEM" if ex.errno == "ENOMEM" else "EAGAIN",
                               "no thread for the process") from None
        self.waits.add(pid, parent)
        self.live += 1
        proc.threads.add(tid)
        self.pids_of_threads[tid] = pid
        return proc

    def _principal(self, parent: int | None, fork_of: Proc | None) -> Any:
        """The principal of a new process: a fork joins its parent's, a spawn nests
        one in its spawner's, the first process is a root (ENOMEM: nested too deep)."""
        if fork_of is not None:
            return fork_of.principal
        if self.accounts is None:               # the servers exist now: what is left
            kframes, spaces, threads = self.k.free_tables()
            self.accounts = accounts.make(kframes - KERNEL_RESERVE,
                                          len(self.k.mapdb.frames), spaces, threads)
        spawner = self.procs.get(parent) if parent is not None else None
        if spawner is None or spawner.principal is None:
            root = self.accounts.root()
            self.roots.append(root)
            return root
        return self.accounts.nested(spawner.principal)

    def _image(self, need: int) -> list[int] | None:
        """``need`` pool pages for a program's image, or None (all or nothing)."""
        image: list[int] = []
        for _ in range(need):
            f = self.frame()
            if f is None:
                self.free.extend(image)
                return None
            image.append(f)
        return image

    def _unimage(self, principal: Any, image: list[int]) -> None:
        """Give a program's image pages back to the pool and its principal."""
        self.free.extend(image)
        accounts.uncharge(principal, UFRAMES, len(image))

    def _share(self, parent: Proc, child: Proc) -> None:
        """Fork: the child gets the parent's regions and descriptors; every page the
        parent has is shared and write-protected in the parent (flush, write only)."""
        child.regions = list(parent.regions)
        child.next_vpn = parent.next_vpn
        child.rprot, child.prot = dict(parent.rprot), dict(parent.prot)
        child.segs = dict(parent.segs)
        child.fds = dict(parent.fds)
        for kind, pipe in child.fds.values():
            if kind == "r":
                pipe.readers += 1
            elif kind == "w":
                pipe.writers += 1
        for vpn, frame in parent.pages.items():
            if frame in self.seg_frames:        # a segment stays shared, writable
                child.pages[vpn] = frame
                continue
            self.l4.flush(frame, write_only=True)
            self.refs[frame] = self.refs.get(frame, 1) + 1
            child.pages[vpn] = frame

    def _unshare(self, proc: Proc) -> None:
        """Undo what _share gave a child that could not start."""
        for fd in list(proc.fds):
            if proc.fds[fd][0] != "console":
                self.close_fd(proc, fd)
        for frame in proc.pages.values():
            if frame not in self.seg_frames:
                self.refs[frame] -= 1
        proc.pages = {}

    def end(self, proc: Proc, status: Any) -> None:
        """``proc`` exits with ``status``: descriptors, names, memory, space; wake its parent."""
        if not proc.alive:
            return
        proc.alive = False
        self.live -= 1
        for fd in list(proc.fds):
            self.close_fd(proc, fd)
        for name in [n for n, t in self.services.items() if t in proc.threads]:
            del self.services[name]
        for vpn in list(proc.pages.values()):
            if vpn not in self.seg_frames:      # (a segment's: the space's end drops it)
                self.give_back(vpn, True)
        self._unimage(proc.principal, proc.image)
        proc.pages, proc.image = {}, []
        for tid in proc.threads:
            self.pids_of_threads.pop(tid, None)
        self.l4.space_destroy(proc.sid)
        self.waiting.pop(proc.pid, None)
        self.k.oses.pop(proc.pid, None)
        self.k.exits.append((proc.pid, proc.name, status))
        parent, reaped = self.waits.exit(proc.pid, status)
        for pid in reaped:
            self.procs.pop(pid, None)
        if parent is not None:
            self._wake_waiter(parent)
        if self.live == 0:
            self.k.all_done()               # the last process ended: the servers stop

    def _wake_waiter(self, parent: int) -> None:
        """If ``parent`` waits and a child it waits for is a zombie, answer it."""
        w = self.waiting.get(parent)
        if w is None:
            return
        tid, pid = w
        got = self.waits.reap(parent, pid)
        if got is not None:
            del self.waiting[parent]
            self.procs.pop(got[0], None)
            self.outbox.append((tid, (OK, got[0]), b"", (got[1],)))

    # -- descriptors and pipes ----------------------------------------------------------

    def fd_slot(self, proc: Proc) -> int:
        """The lowest free descriptor of ``proc`` (EMFILE if none)."""
        for fd in range(MAX_FDS):
            if fd not in proc.fds:
                return fd
        raise SyscallError("EMFILE", "too many open descriptors")

    def close_fd(self, proc: Proc, fd: int) -> None:
        """Close ``fd``: a pipe end loses a reader or writer; blocked peers learn it."""
        kind, pipe = proc.fds.pop(fd)
        if kind == "r":
            pipe.readers -= 1
            if pipe.readers == 0:
                while pipe.wwait:
                    tid, _rest, _total = pipe.wwait.popleft()
                    self.fail(tid, SyscallError("EPIPE", "broken pipe (no reader)"))
        elif kind == "w":
            pipe.writers -= 1
            if pipe.writers == 0:
                while pipe.rwait:
                    self.answer(pipe.rwait.popleft()[0], data=b"")

    def pump(self, pipe: Pipe) -> None:
        """Move blocked writers' bytes in and answer blocked readers, while both can."""
        moved = True
        while moved:
            moved = False
            while pipe.wwait and len(pipe.buf) < PIPE_BUF:
                w = pipe.wwait[0]
                room = PIPE_BUF - len(pipe.buf)
                pipe.buf += w[1][:room]
                w[1] = w[1][room:]
                moved = True
                if not w[1]:
                    pipe.wwait.popleft()
                    self.answer(w[0], w[2])
            while pipe.rwait and pipe.buf:
                tid, n = pipe.rwait.popleft()
                chunk = bytes(pipe.buf[:n])
                del pipe.buf[:n]
                self.answer(tid, data=chunk)
                moved = True
        if pipe.writers == 0:
            while pipe.rwait:
                self.answer(pipe.rwait.popleft()[0], data=b"")

    def fail_connects(self) -> bool:
        """Nothing else can run: every pending connect fails (ESRCH); True if any."""
        if not self.pending_connects:
            return False
        for tid, name in self.pending_connects:
            self.fail(tid, SyscallError("ESRCH", "nobody serves this name", name=name))
        self.pending_connects = []
        return True

    def statistics(self) -> dict[str, int]:
        """Counters of the server."""
        return {"calls": self.calls, "faults": self.faults_served,
                "upcalls": self.upcalls, "segments": len(self.segments),
                "segment_pages": len(self.seg_frames)}


def _err_objs(ex: SyscallError) -> tuple[Any, ...]:
    """An error as reply objects: errno, message, its plain fields."""
    fields = {k: v for k, v in ex.fields.items() if k != "errno"
              and type(v) in (int, str, bool)}
    return (str(ex.errno), ex.message, fields)


# -- handlers: (server, proc, message) -> (words, data) | None (deferred) ----------------

def _getpid(ux: Ux, proc: Proc, m: Any) -> Any:
    return (proc.pid,), b""


def _spawn(ux: Ux, proc: Proc, m: Any) -> Any:
    if len(m.objs) != 3 or not callable(m.objs[0]) or type(m.objs[1]) is not tuple \
            or type(m.objs[2]) is not str:
        raise SyscallError("EINVAL", "spawn: (program, args, name)")
    program, args, name = m.objs
    child = ux.new_proc(name, proc.pid, program, args)
    return (child.pid,), b""


def _exit(ux: Ux, proc: Proc, m: Any) -> Any:
    ux.end(proc, m.objs[0] if m.objs else 0)
    raise _Reply()                          # the caller's space is gone: no answer


def _wait(ux: Ux, proc: Proc, m: Any) -> Any:
    pid = m.words[1] if m.words[1] >= 0 else None
    got = ux.waits.reap(proc.pid, pid)      # ECHILD raised here
    if got is not None:
        ux.procs.pop(got[0], None)
        ux.outbox.append((m.sender, (OK, got[0]), b"", (got[1],)))
        raise _Reply()
    ux.waiting[proc.pid] = (m.sender, pid)
    raise _Reply()


def _pipe(ux: Ux, proc: Proc, m: Any) -> Any:
    pipe = Pipe()
    r = ux.fd_slot(proc)
    proc.fds[r] = ("r", pipe)
    try:
        w = ux.fd_slot(proc)
    except SyscallError:
        del proc.fds[r]
        raise
    proc.fds[w] = ("w", pipe)
    return (r, w), b""


def _fd(proc: Proc, fd: int, kind: str) -> Any:
    """The pipe (or console) behind ``fd`` of ``kind``; EBADF otherwise."""
    got = proc.fds.get(fd)
    if got is None:
        raise SyscallError("EBADF", "bad file descriptor", fd=fd)
    if got[0] != kind and got[0] != "console":
        raise SyscallError("EBADF", f"descriptor not open for "
                           f"{'reading' if kind == 'r' else 'writing'}", fd=fd)
    return got


def _read(ux: Ux, proc: Proc, m: Any) -> Any:
    fd, n = m.words[1], _range(m.words[2], 0, 1 << 20)
    kind, pipe = _fd(proc, fd, "r")
    if kind == "console" or n == 0:
        return (), b""
    if pipe.buf:
        chunk = bytes(pipe.buf[:n])
        del pipe.buf[:n]
        ux.pump(pipe)
        return (), chunk
    if pipe.writers == 0:
        return (), b""
    pipe.rwait.append((m.sender, n))
    raise _Reply()


def _write(ux: Ux, proc: Proc, m: Any) -> Any:
    fd = m.words[1]
    kind, pipe = _fd(proc, fd, "w")
    data = m.data
    if kind == "console":
        ux.k.console.write(proc.pid, data)
        return (len(data),), b""
    if pipe.readers == 0:
        raise SyscallError("EPIPE", "broken pipe (no reader)", fd=fd)
    if not data:
        return (0,), b""
    pipe.wwait.append([m.sender, data, len(data)])
    ux.pump(pipe)
    raise _Reply()                          # answered by pump (now, or when drained)


def _close(ux: Ux, proc: Proc, m: Any) -> Any:
    fd = m.words[1]
    if fd not in proc.fds:
        raise SyscallError("EBADF", "bad file descriptor", fd=fd)
    kind, pipe = proc.fds[fd]
    ux.close_fd(proc, fd)
    if kind in ("r", "w"):
        ux.pump(pipe)
    return (), b""


def _at(regions: list[tuple[int, int]], vpn: int) -> int:
    """The index of the last of the sorted ``regions`` that starts at or below
    ``vpn`` (-1 if none): the only one that can hold it."""
    return bisect_right(regions, (vpn, _END)) - 1


def _meeting(regions: list[tuple[int, int]], first: int, end: int) -> tuple[int, int]:
    """The slice ``[lo:hi]`` of the sorted ``regions`` that meet [first, end): a
    region starting below ``end`` and ending above ``first``."""
    lo = _at(regions, first)
    if lo < 0 or sum(regions[lo]) <= first:
        lo += 1
    return lo, bisect_left(regions, (end, -1))


def _region(proc: Proc, pages: int, prot: int) -> int:
    """Reserve ``pages`` fresh virtual pages of ``proc``; the first vpn. A bump
    pointer; once it reaches MMAP_LIMIT, the lowest hole munmap left (first fit),
    so mapping and unmapping for ever never runs out (ENOMEM when nothing fits,
    or when the process holds MAX_REGIONS regions)."""
    if len(proc.regions) >= MAX_REGIONS:
        raise SyscallError("ENOMEM", "too many regions", max=MAX_REGIONS)
    start = proc.next_vpn
    if start + pages <= MMAP_LIMIT:
        proc.next_vpn = start + pages
    else:
        segs = [(a, len(seg.frames)) for a, seg in proc.segs.items()]   # (a segment's
        start = _first_fit(sorted(proc.regions + segs), pages)   # span stays its own)
        proc.next_vpn = max(proc.next_vpn, start + pages)
    insort(proc.regions, (start, pages))
    if prot != PROT_RW:
        proc.rprot[start] = prot
    return start


def _first_fit(regions: list[tuple[int, int]], pages: int) -> int:
    """The lowest vpn of ``pages`` pages inside the mmap area that none of the
    sorted spans ``regions`` (regions, and attached segments whole) meets."""
    at = MMAP_BASE
    for a, n in regions:
        if at + pages <= a:
            return at
        at = max(at, a + n)
    if at + pages <= MMAP_LIMIT:
        return at
    raise SyscallError("ENOMEM", "no virtual space left", pages=pages)


def _mmap(ux: Ux, proc: Proc, m: Any) -> Any:
    pages = _range(m.words[1], 1, MMAP_LIMIT)
    prot = _range(m.words[2], 0, 4) if len(m.words) > 2 else PROT_RW
    return (_region(proc, pages, prot) << 12,), b""


def _munmap(ux: Ux, proc: Proc, m: Any) -> Any:
    """Unmap [first, first + pages): its pages in regions go; a region reaching
    past either end keeps that part, with its protection (ENOMEM, nothing
    changed, when that split would pass MAX_REGIONS)."""
    first, pages = _range(m.words[1], 0, 1 << 20), _range(m.words[2], 0, 1 << 20)
    end = first + pages
    lo, hi = _meeting(proc.regions, first, end)
    hit = proc.regions[lo:hi]
    kept: list[tuple[int, int]] = []           # the parts of them outside the range
    for a, n in hit:
        if a < first:
            kept.append((a, first - a))
        if a + n > end:
            kept.append((end, a + n - end))
    if len(proc.regions) - len(hit) + len(kept) > MAX_REGIONS:
        raise SyscallError("ENOMEM", "the split would pass the region limit",
                           max=MAX_REGIONS)
    for a, n in hit:
        for v in range(max(a, first), min(a + n, end)):
            ux.drop_page(proc, v)
        base = proc.rprot.pop(a, PROT_RW)
        if base != PROT_RW and a < first:
            proc.rprot[a] = base
        if base != PROT_RW and a + n > end:
            proc.rprot[end] = base
    proc.regions[lo:hi] = kept
    for a in [a for a, seg in proc.segs.items()     # a segment wholly unmapped is gone
              if a < end and first < a + len(seg.frames)
              and not _meets(proc.regions, a, a + len(seg.frames))]:
        del proc.segs[a]
    return (), b""


def _meets(regions: list[tuple[int, int]], first: int, end: int) -> bool:
    """Whether any of the sorted ``regions`` meets [first, end)."""
    lo, hi = _meeting(regions, first, end)
    return lo < hi


def _shm_create(ux: Ux, proc: Proc, m: Any) -> Any:
    length = _range(m.words[1], 1, MAX_SHM + 1)
    pages = (length + 4095) >> 12
    accounts.charge(proc.principal, UFRAMES, pages)  # (kept, as the segment, to the end)
    frames = ux._image(pages)
    if frames is None:
        accounts.uncharge(proc.principal, UFRAMES, pages)
        raise SyscallError("ENOMEM", "no frames for the segment", pages=pages)
    key = segment_key(ux.secret, ux.next_seg, ux.segments)   # not guessable
    ux.next_seg += 1
    ux.segments[key] = Segment(key, frames)
    ux.seg_frames.update(frames)
    return (key,), b""


def _shm_attach(ux: Ux, proc: Proc, m: Any) -> Any:
    seg = ux.segments.get(m.words[1])
    if seg is None:
        raise SyscallError("ESRCH", "no such segment", key=m.words[1])
    start = _region(proc, len(seg.frames), PROT_RW)
    proc.segs[start] = seg                  # its pages are mapped as they are touched
    return (start << 12,), b""


def _shm_detach(ux: Ux, proc: Proc, m: Any) -> Any:
    vaddr = m.words[1]
    seg = proc.segs.get(vaddr >> 12) if vaddr & 4095 == 0 else None
    if seg is None:
        raise SyscallError("EINVAL", "no segment attached there", vaddr=vaddr)
    start = vaddr >> 12
    for v in range(start, start + len(seg.frames)):
        ux.drop_page(proc, v)
    del proc.segs[start]
    end = start + len(seg.frames)           # the regions that start in it go
    del proc.regions[bisect_left(proc.regions, (start, -1)):
                     bisect_left(proc.regions, (end, -1))]
    return (), b""


def _mprotect(ux: Ux, proc: Proc, m: Any) -> Any:
    """Record the protection; take rights back by flush (all, or write only); an
    unprotect of a few held pages maps them back in the reply (map items)."""
    first, pages = _range(m.words[1], 0, 1 << 20), _range(m.words[2], 1, 1 << 20)
    prot = _range(m.words[3], 0, 4)
    runs = _covering(proc, first, pages)    # decode: every page in a region
    maps: list[tuple[int, int, bool, bool]] = []
    revoke: list[int] = []
    for v, base in ((v, base) for lo, hi, base in runs for v in range(lo, hi)):
        old = proc.prot.get(v, base)        # (= prot_of, its region already found)
        proc.prot[v] = prot
        frame = proc.pages.get(v)
        if frame is None:
            continue
        if prot != PROT_RW:
            revoke.append(frame)
        if prot & ~old and pages <= EAGER_PAGES:    # more rights: map them at once
            shared = frame not in ux.seg_frames and ux.refs.get(frame, 1) > 1
            maps.append((frame, 1, bool(prot & PROT_WRITE) and not shared, False))
    ux.l4.compute(pages * ux.k.machine.profile.load_store)  # the pager's own records
    for i in range(0, len(revoke), MAX_FPAGES):             # one unmap per 64 fpages
        ux.l4.flush(tuple(revoke[i:i + MAX_FPAGES]), 1, bool(prot & PROT_READ))
    if len(maps) != pages:
        maps = []                           # (not every page held: they fault in)
    raise _Mapped((), tuple(maps))


def _covering(proc: Proc, first: int, pages: int) -> list[tuple[int, int, int]]:
    """[first, first + pages) as the parts of ``proc``'s regions that make it up,
    each (from vpn, to vpn, the region's protection), in one walk from the region
    that holds ``first``; EFAULT at the first page no region holds."""
    regions, end, v = proc.regions, first + pages, first
    i, runs = max(_at(regions, first), 0), []
    while v < end:
        a, n = regions[i] if i < len(regions) else (end, 0)
        if not a <= v < a + n:
            raise SyscallError("EFAULT", "page not mapped", vaddr=v << 12)
        top = min(a + n, end)
        runs.append((v, top, proc.rprot.get(a, PROT_RW)))
        v, i = top, i + 1
    return runs


def _dirty(ux: Ux, proc: Proc, m: Any) -> Any:
    """A page the process does not hold (never touched, or protected away) was not
    stored to through its present mapping; outside every region: EFAULT."""
    vpn = _range(m.words[1], 0, 1 << 20)
    if ux.prot_of(proc, vpn) is None:
        raise SyscallError("EFAULT", "page not mapped", vaddr=vpn << 12)
    return (0,), b""


def _name(m: Any) -> str:
    """A request's service name (EINVAL unless a str of 1..64 characters)."""
    name = m.objs[0]
    if type(name) is not str or not 0 < len(name) <= 64:
        raise SyscallError("EINVAL", "a service name is a str of 1..64 characters")
    return name


def _range(x: int, lo: int, hi: int) -> int:
    """A request word in [lo, hi) (EINVAL otherwise)."""
    if not lo <= x < hi:
        raise SyscallError("EINVAL", "a request word out of range", value=x)
    return x


def _register(ux: Ux, proc: Proc, m: Any) -> Any:
    name = _name(m)
    if name in ux.services:
        raise SyscallError("EBUSY", "the name is served", name=name)
    ux.services[name] = m.sender
    still = []
    for tid, want in ux.pending_connects:
        if want == name:
            ux.answer(tid, m.sender)
        else:
            still.append((tid, want))
    ux.pending_connects = still
    return (), b""


def _unregister(ux: Ux, proc: Proc, m: Any) -> Any:
    name = _name(m)
    if ux.services.get(name) == m.sender:
        del ux.services[name]
    return (), b""


def _connect(ux: Ux, proc: Proc, m: Any) -> Any:
    name = _name(m)
    tid = ux.services.get(name)
    if tid is not None:
        return (tid,), b""
    ux.pending_connects.append((m.sender, name))
    raise _Reply()


def _thread(ux: Ux, proc: Proc, m: Any) -> Any:
    tid = m.words[1]
    if tid in ux.pids_of_threads or not ux.k.thread_in_space(tid, proc.sid):
        raise SyscallError("EPERM", "not a new thread of this process", tid=tid)
    proc.threads.add(tid)
    ux.pids_of_threads[tid] = proc.pid
    return (), b""


def _thread_end(ux: Ux, proc: Proc, m: Any) -> Any:
    proc.threads.discard(m.sender)
    ux.pids_of_threads.pop(m.sender, None)
    raise _Reply()


def _fork(ux: Ux, proc: Proc, m: Any) -> Any:
    if len(m.objs) not in (2, 3) or not callable(m.objs[0]) or \
            type(m.objs[1]) is not tuple:
        raise SyscallError("EINVAL", "fork: (entry, args[, fault handler])")
    handler = m.objs[2] if len(m.objs) == 3 else None
    if handler is not None and not callable(handler):
        raise SyscallError("EINVAL", "fork: the fault handler is not callable")
    child = ux.new_proc(proc.name + "~", proc.pid, m.objs[0], m.objs[1], fork_of=proc,
                        handler=handler)
    return (child.pid,), b""


_HANDLERS = {OPS["shm_create"]: _shm_create, OPS["shm_attach"]: _shm_attach,
             OPS["shm_detach"]: _shm_detach, OPS["mprotect"]: _mprotect,
             OPS["dirty"]: _dirty, OPS["fork"]: _fork, OPS["getpid"]: _getpid, OPS["spawn"]: _spawn, OPS["exit"]: _exit,
             OPS["wait"]: _wait, OPS["pipe"]: _pipe, OPS["read"]: _read,
             OPS["write"]: _write, OPS["close"]: _close, OPS["mmap"]: _mmap,
             OPS["munmap"]: _munmap, OPS["register"]: _register,
             OPS["unregister"]: _unregister, OPS["connect"]: _connect,
             OPS["thread"]: _thread, OPS["thread_end"]: _thread_end}
