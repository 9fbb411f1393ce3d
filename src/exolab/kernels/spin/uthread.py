"""SPIN's UserSpaceThread package: the kernel threads layered user packages run on.

SPIN's user-level threads are strands of the ``UserSpaceThread`` package
(spin/user/thread in SPIN's source tree, spin.33.2: a Mach-like interface,
``Create(space)`` created suspended, ``Suspend``/``Resume`` keeping a suspend
count, a strand stopped on the 0->1 transition and run again on 1->0,
``GetState``/``SetState``, ``Externalize``/``Internalize``). A layered thread
package (C-Threads over kernel threads, :mod:`exolab.apps.cthreads`) blocks
one of its threads and wakes it through the ABI's ``thread_park`` /
``thread_unpark``, which the UNIX server turns into a procedure call into
this package (``spin_proc_call``) through the extensions that implement
Mach's kernel-thread interface over it (spin/user/mach: the emulator's
decode, the handle internalized, ``UserSpaceThread.Resume``/``Suspend``:
``spin_kthread_op`` a call):

- ``park`` is ``Suspend(self)``: the count goes 0 -> 1, the strand blocks,
  and the scheduler raises ``Strand.Block`` to the package (its handler
  records the suspension in the strand's descriptor);
- ``unpark(t)`` is ``Resume(t)``: 1 -> 0, the strand is made runnable and
  ``Strand.Unblock`` is raised to the package (its handler clears it).

A Resume of a strand that is not suspended would be lost in UserSpaceThread
itself; the ABI's rule (common/park.py: a wake that comes first is kept as a
token) is the server's, so a layered package has no lost-wakeup window. The
handlers are installed (for the strands the package has suspended, by
presenting their capabilities, as any Strand client) at the first park, so a
run that never parks raises nothing more than before.

Interface::

    UserSpaceThreads(kernel)   Parking + park/unpark charging the call and
                               raising Block/Unblock through the dispatcher
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from exolab.kernels.common.park import Parking
from exolab.kernels.spin.dispatch import Owner

if TYPE_CHECKING:
    from exolab.kernels.spin.kernel import Spin

__all__ = ["UserSpaceThreads"]


class UserSpaceThreads(Parking):
    """Suspend/Resume over strands, with the ABI's wake token."""

    __slots__ = ("owner", "c_call", "c_mark", "_mine", "_installed", "handled")

    def __init__(self, kernel: "Spin") -> None:
        super().__init__(kernel)
        self.owner = Owner("UserSpaceThread", trusted=True)
        self.c_call = (kernel.paths["spin_proc_call"]       # the server calls Suspend/Resume
                       + kernel.paths["spin_kthread_op"])   # through the Mach interface
        self.c_mark = kernel.machine.profile.load_store     # the suspend count's word
        self._mine: set[int] = set()                        # strands it has suspended
        self._installed = False
        self.handled = 0

    def _install(self) -> None:
        """Install the package's Block and Unblock handlers, for its strands."""
        if self._installed:
            return
        self._installed = True
        k: Any = self.kernel
        mine = self._mine

        def guard(s: Any) -> bool:
            return s._tid in mine

        handlers: dict[str, Callable[[Any], Any]] = {"Block": self._on_event,
                                                     "Unblock": self._on_event}
        for name, fn in handlers.items():
            k.dispatcher.install(k.core.strand_events[name], fn, guard, k.core.cap,
                                 self.owner)

    def _on_event(self, s: Any) -> None:
        """Strand.Block / Unblock: the suspend count's word in the descriptor."""
        self.handled += 1
        self.kernel.machine.cpu.charge(self.c_mark)

    def park(self, cpu: Any, me: Any) -> bool:
        """Suspend(self): block until Resume (or take the token)."""
        cpu.charge(self.c_call)
        self._install()
        self._mine.add(me.tid)
        return super().park(cpu, me)

    def unpark(self, target: Any) -> bool:
        """Resume(target): make it runnable (or leave it the token)."""
        self.kernel.machine.cpu.charge(self.c_call)
        return super().unpark(target)

    def forget(self, tid: int) -> None:
        """The strand ended: it is no longer the package's."""
        self._mine.discard(tid)
        super().forget(tid)
