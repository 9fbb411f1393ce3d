"""An application-specific thread package on SPIN: C-Threads integrated with Strand.

Covers: the C-Threads package (``exolab.apps.cthreads``: fork, join, mutex,
condition) placed two ways on SPIN: layered over the UNIX server's kernel
threads through system calls (a waiter parks its kernel thread, a signal
unparks it: UserSpaceThread's Suspend/Resume), and integrated with SPIN's
in-kernel package
(``cthread_fork``/``join``/``wait``/``signal``), which handles the Strand
events (Block, Unblock, Checkpoint, Resume) of the strands it holds.

Scenario: a producer cthread hands five items to a consumer through a one-slot
buffer guarded by a mutex and a condition; the consumer's value is what it
received. The same program runs with each placement; it prints what arrived
and what the package and the kernel did for it: waits, signals, kernel parks,
yields, user stacks the package mapped, and Strand events the integrated
package handled.

Run it: ``python examples/spin_threads.py``.
"""
from __future__ import annotations

from typing import Any

from exolab.apps.cthreads import CThreads

#: the ABI features this example needs beyond what every kernel provides
NEEDS: tuple[str, ...] = ("cthread_fork",)


def consumer(os: Any, ct: Any, m: Any, c: Any, box: list[int], n: int) -> list[int]:
    """Take ``n`` items out of the one-slot ``box``; return them."""
    got: list[int] = []
    ct.lock(m)
    for _ in range(n):
        while not box:
            ct.wait(c, m)
        got.append(box.pop())
        ct.signal(c)
    ct.unlock(m)
    return got


def produce(os: Any, integrated: bool) -> None:
    """Hand five items to a consumer cthread; print what it got and the anatomy."""
    ct = CThreads(os, integrated)
    m, c, box = ct.mutex(), ct.condition(), []
    t0 = os.time()
    h = ct.fork(consumer, ct, m, c, box, 5)
    ct.lock(m)
    for item in (10, 20, 30, 40, 50):
        while box:
            ct.wait(c, m)
        box.append(item)
        ct.signal(c)
    ct.unlock(m)
    got = ct.join(h)
    s = ct.statistics()
    os.print(f"{s.placement}: consumer got {got}; {s.waits} waits, "
             f"{s.signals} signals, {s.parks} parks, {s.yields} yields, "
             f"{s.stacks_mapped} stacks mapped, "
             f"{(os.time() - t0) // 133} us")


def main(os: Any) -> int:
    """The layered placement, then the integrated one."""
    produce(os, False)
    produce(os, True)
    return 0


if __name__ == "__main__":
    from exolab.runner import run_program
    run = run_program(main, kernel="spin", profile="alpha")
    print("\n".join(run.console))
    pkg = run.kernel.cthreads.statistics()  # type: ignore[attr-defined]
    print(f"integrated package: {pkg.forked} forked, {pkg.joined} joined, "
          f"{pkg.handled} Strand events handled")
