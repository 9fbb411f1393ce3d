"""C-Threads for ABI programs: a user-level thread package, placed two ways.

A program forks cthreads, joins them and synchronises them with mutexes and
conditions (Mesa semantics: a woken waiter re-checks its predicate). The
package is the same code on every kernel; where it sits decides what each
operation costs:

- **layered** (every kernel): the package lives in the program's address
  space over the kernel's threads, reached through the system-call
  interface, as Mach 3.0's C-Threads ran over kernel threads. A cthread is a
  kernel thread (``thread_create``) running on a user stack the package maps
  for it (``mmap``, a guard page with ``mprotect`` where the kernel has it,
  the first frame written on it) and unmaps when it is joined; its
  descriptor (state word, joiner word) is simulated memory. A waiter blocks
  its kernel thread in the kernel (``thread_park``) and is woken with a
  kernel call (``thread_unpark``): a condition wait queues a waiter record
  (its wakeup word and thread id), releases the mutex and parks until the
  word is set; a signal sets the first record's word and unparks its thread;
  a join writes its thread id in the cthread's joiner word and parks until
  the state word says ended; a cthread's end sets the state word and unparks
  the joiner. The word is written before the unpark and read after the
  park, and the ABI keeps a wake that comes first, so no wake is lost (the
  order of CMU C-Threads' cprocs.c: condition_wait queues, unlocks, then
  blocks; cond_signal dequeues and readies). On
  the monolithic kernel this stands for OSF/1's user threads; on SPIN it is
  the paper's "layered" package (over the UserSpaceThread package).
- **integrated** (SPIN, where the kernel offers ``cthread_fork``): the same
  interface over SPIN's in-kernel thread package (``kernels/spin/cthreads``),
  an extension that handles the ``Strand`` events of its strands: fork,
  join, wait and signal are one system call each into the package, a waiter
  is blocked (``Strand.Block``) and a signal hands it the processor
  (``Strand.Unblock`` answering "front"); stacks come from the package's own
  cache. Where the kernel has no such package, ``integrated=True`` falls
  back to the layered placement (so OSF/1 runs its only package).

Programs import :class:`CThreads` through the verifier's allowlist (a sealed
class, like ExOS); every class here is sealed, so no program can change the
package another program uses.

Mutexes are user-level test-and-set words in both placements (Alpha
``ldq_l``/``stq_c``); a contended lock yields (C-Threads' mutex_lock spins
and yields). A cthread finds its own kernel thread's id with ``thread_id``
(the thread pointer: a load, no kernel entry). The package's own
instructions are charged with ``compute`` from :data:`COSTS` (the same on
every kernel); everything else is what the calls and memory accesses cost.

Interface::

    COSTS                               library path -> (cycles, source)
    CThreads(os, integrated=False)      the package for one program
      placement                         "layered" or "integrated"
      fork(fn, *args) -> CThread        run fn(os, *args) in a new cthread
      join(t) -> fn's value             wait for it to end (once per cthread)
      mutex() -> Mutex                  lock(m), unlock(m)
      condition() -> Condition          wait(c, m), signal(c)
      yield_()                          give the processor to another cthread
      statistics() -> CThreadStats
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.abi import PROT_NONE, PROT_RW
from exolab.errors import SyscallError
from exolab.safe.sealed import Sealed

__all__ = ["COSTS", "CThreads", "CThread", "Mutex", "Condition", "CThreadStats"]

PAGE = 4096
STACK_PAGES = 4                 # a cthread's user stack: 16 KiB, the lowest page a guard
DESCRIPTOR = 64                 # bytes of a descriptor word block in the package's heap
HEAP_PAGES = 1                  # the package's heap of descriptors, mutexes, wakeup words

#: library path -> (cycles, source): the package's own instructions (Alpha, ~1 IPC)
COSTS: dict[str, tuple[int, str]] = {
    "fork": (120, "estimate: C-Threads cthread_fork: take a descriptor off the free list, "
                  "link it on the package's list, build the first frame (~120 instructions)"),
    "exit": (60, "estimate: cthread_exit: record the value, mark the descriptor ended, "
                 "unlink it (~60 instructions)"),
    "join": (40, "estimate: cthread_join: find the descriptor, collect the value, free "
                 "it (~40 instructions)"),
    "lock": (12, "estimate: mutex_lock: ldq_l/stq_c retry loop and a memory barrier "
                 "(~12 instructions)"),
    "unlock": (6, "estimate: mutex_unlock: a barrier and a store (~6 instructions)"),
    "wait": (40, "estimate: condition_wait: queue a waiter record, release the mutex "
                 "(~40 instructions)"),
    "signal": (30, "estimate: condition_signal: dequeue one waiter, set its wakeup word "
                   "(~30 instructions)"),
}
_C = {name: cycles for name, (cycles, _src) in COSTS.items()}


class CThreadStats(metaclass=Sealed):
    """What the package has done so far (a snapshot; a plain slotted record, so the
    module stays verifiable as program code)."""

    __slots__ = ("placement", "forked", "joined", "waits", "signals", "yields",
                 "stacks_mapped", "parks", "unparks")

    def __init__(self, placement: str, forked: int, joined: int, waits: int,
                 signals: int, yields: int, stacks_mapped: int, parks: int = 0,
                 unparks: int = 0) -> None:
        self.placement, self.forked, self.joined = placement, forked, joined
        self.waits, self.signals = waits, signals
        self.yields = yields                # thread_yield calls (contended mutexes)
        self.stacks_mapped = stacks_mapped  # user stacks mapped (layered)
        self.parks, self.unparks = parks, unparks   # kernel blocks and wakes (layered)


class CThread(metaclass=Sealed):
    """A cthread's handle: its descriptor address and kernel thread, or reference.
    The descriptor's first word is its state (1: ended), the second its joiner's
    thread id plus one (0: nobody joins yet)."""

    __slots__ = ("desc", "stack", "ref", "result", "joined", "tid")

    def __init__(self, desc: int, stack: int, ref: int) -> None:
        self.desc, self.stack, self.ref = desc, stack, ref
        self.result: Any = None
        self.joined = False
        self.tid = 0                                # its kernel thread (layered)


class Mutex(metaclass=Sealed):
    """A lock word in the package's heap."""

    __slots__ = ("addr",)

    def __init__(self, addr: int) -> None:
        self.addr = addr


class Condition(metaclass=Sealed):
    """A condition: waiter records (layered) or the in-kernel package's reference."""

    __slots__ = ("waiters", "ref")

    def __init__(self, ref: int) -> None:
        self.waiters: list[tuple[int, int]] = []    # (wakeup word, thread id) (layered)
        self.ref = ref


class CThreads(metaclass=Sealed):
    """The C-Threads package of one program (see the module docstring)."""

    def __init__(self, os: Any, integrated: bool = False) -> None:
        self.os = os
        self.placement = "integrated" if integrated and hasattr(os, "cthread_fork") \
            else "layered"
        self.heap = os.mmap(HEAP_PAGES * PAGE, PROT_RW)
        self.free_words: list[int] = [self.heap + i * DESCRIPTOR
                                 for i in range(HEAP_PAGES * PAGE // DESCRIPTOR)]
        self.forked = self.joined = self.waits = self.signals = 0
        self.yields = self.stacks_mapped = self.parks = self.unparks = 0
        self.guards = True                      # stacks get a guard page (mprotect)

    # -- the heap of words ---------------------------------------------------------

    def new_word(self) -> int:
        """A fresh word block of the heap (ENOMEM when it is used up)."""
        if not self.free_words:
            raise SyscallError("ENOMEM", "the cthreads heap is full",
                               limit=HEAP_PAGES * PAGE // DESCRIPTOR)
        addr = self.free_words.pop()
        self.os.store(addr, 0)
        return addr

    # -- fork and join -----------------------------------------------------------------

    def fork(self, fn: Callable[..., Any], *args: Any) -> CThread:
        """Run ``fn(os, *args)`` in a new cthread; return its handle."""
        if not callable(fn):
            raise SyscallError("EINVAL", "fn must be callable")
        os = self.os
        os.compute(_C["fork"])
        self.forked += 1
        if self.placement == "integrated":
            return CThread(0, 0, os.cthread_fork(fn, args))
        desc = self.new_word()
        stack = os.mmap(STACK_PAGES * PAGE, PROT_RW)
        if self.guards:
            self.guard(stack)
        os.store(stack + STACK_PAGES * PAGE - 8, desc)      # the first frame
        self.stacks_mapped += 1
        t = CThread(desc, stack, 0)
        os.store(desc + 8, 0)                               # nobody joins yet
        t.tid = os.thread_create(self.run, t, fn, args)
        return t

    def guard(self, stack: int) -> None:
        """Make the stack's lowest page inaccessible; a kernel that cannot change
        protections (ENOSYS) gets stacks without guards from then on."""
        try:
            self.os.mprotect(stack, PAGE, PROT_NONE)
        except SyscallError as ex:
            if ex.errno != "ENOSYS":
                raise
            self.guards = False

    def run(self, os: Any, t: CThread, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """A layered cthread's kernel thread: run ``fn``, mark it ended, wake its
        joiner if one is parked for it (the state word first, then the joiner's)."""
        t.result = fn(os, *args)
        os.compute(_C["exit"])
        os.store(t.desc, 1)
        joiner = os.load(t.desc + 8)
        if joiner:
            self.unpark(joiner - 1)

    def park(self) -> None:
        """Block this kernel thread until an unpark (a kernel call)."""
        self.parks += 1
        self.os.thread_park()

    def unpark(self, tid: int) -> None:
        """Wake kernel thread ``tid`` (a kernel call; kept if it is not parked yet)."""
        self.unparks += 1
        self.os.thread_unpark(tid)

    def join(self, t: CThread) -> Any:
        """Wait until cthread ``t`` ends; return its value (EINVAL if joined)."""
        if type(t) is not CThread or t.joined:
            raise SyscallError("EINVAL", "not a cthread that can be joined")
        os = self.os
        t.joined = True
        self.joined += 1
        if self.placement == "integrated":
            os.compute(_C["join"])
            return os.cthread_join(t.ref)
        os.store(t.desc + 8, os.thread_id() + 1)        # the joiner word, then the state
        while not os.load(t.desc):
            self.park()
        os.compute(_C["join"])
        os.munmap(t.stack, STACK_PAGES * PAGE)
        self.free_words.append(t.desc)
        return t.result

    def yield_(self) -> None:
        """Give the processor to another cthread, if one can run."""
        self.yields += 1
        self.os.thread_yield()

    # -- mutexes and conditions ---------------------------------------------------------

    def mutex(self) -> Mutex:
        """A new unlocked mutex."""
        return Mutex(self.new_word())

    def lock(self, m: Mutex) -> None:
        """Take ``m``, yielding while another cthread holds it."""
        os = self.os
        os.compute(_C["lock"])
        while os.load(m.addr):
            self.yields += 1
            os.thread_yield()
        os.store(m.addr, 1)

    def unlock(self, m: Mutex) -> None:
        """Release ``m``."""
        self.os.compute(_C["unlock"])
        self.os.store(m.addr, 0)

    def condition(self) -> Condition:
        """A new condition (in the kernel's package where it is integrated)."""
        if self.placement == "integrated":
            return Condition(self.os.cthread_condition())
        return Condition(0)

    def wait(self, c: Condition, m: Mutex) -> None:
        """Release ``m``, wait for a signal on ``c``, take ``m`` again."""
        os = self.os
        os.compute(_C["wait"])
        self.waits += 1
        if self.placement == "integrated":
            self.unlock(m)
            os.cthread_wait(c.ref)
            self.lock(m)
            return
        word = self.new_word()
        c.waiters.append((word, os.thread_id()))
        self.unlock(m)
        while not os.load(word):
            self.park()
        self.free_words.append(word)
        self.lock(m)

    def signal(self, c: Condition) -> None:
        """Wake one cthread waiting on ``c``, if any."""
        os = self.os
        os.compute(_C["signal"])
        self.signals += 1
        if self.placement == "integrated":
            os.cthread_signal(c.ref)
        elif c.waiters:
            word, tid = c.waiters.pop(0)
            os.store(word, 1)
            self.unpark(tid)

    def statistics(self) -> CThreadStats:
        """Return a frozen snapshot of the package's counters."""
        return CThreadStats(self.placement, self.forked, self.joined, self.waits,
                            self.signals, self.yields, self.stacks_mapped, self.parks,
                            self.unparks)
