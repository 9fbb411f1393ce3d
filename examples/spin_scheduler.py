"""An application-specific scheduler on SPIN's Strand events.

Covers: strand_self (a strand's capability as an externalized reference),
event_install on Strand.Unblock for a strand the program holds, the
dispatcher combining the handlers' answers ("front"), the trusted thread
package's default policy (FIFO) beside the application's, blocking reads.

Scenario: three worker threads, "low", "mid" and "urgent", each block on a
pipe of their own. The urgent worker installs a handler on its own
Strand.Unblock that answers "front": whenever it becomes runnable it goes to
the head of the ready queue. The main thread writes to the three pipes in
the order low, mid, urgent, waking them in that order; the workers finish
in the order the scheduler runs them. The program runs twice: with the
policy off (FIFO: low, mid, urgent) and on (urgent first).

Run it: ``python examples/spin_scheduler.py``.
"""
from __future__ import annotations

from typing import Any

#: the ABI features this example needs beyond what every kernel provides
NEEDS: tuple[str, ...] = ("event_install", "strand_self")


def urgent_first(strand: Any) -> str:
    """The application's policy: my strand runs first when it unblocks."""
    return "front"


def worker(os: Any, fd: int, name: str, done: list[str], policy: bool) -> None:
    """Block on ``fd``; when woken, say so."""
    if policy:
        os.event_install("Strand.Unblock", os.strand_self(), urgent_first)
    os.read(fd, 1)
    done.append(name)


def round_(os: Any, policy: bool) -> list[str]:
    """Wake low, mid, urgent in that order; return the order they ran."""
    done: list[str] = []
    fds = []
    for name in ("low", "mid", "urgent"):
        r, w = os.pipe()
        os.thread_create(worker, r, name, done, policy and name == "urgent")
        fds.append(w)
    for _ in range(3):
        os.thread_yield()               # every worker blocks on its pipe
    for w in fds:
        os.write(w, b"!")
    while len(done) < 3:
        os.thread_yield()
    return done


def main(os: Any) -> int:
    """The default policy, then the application's."""
    os.print(f"default thread package: {', '.join(round_(os, False))}")
    os.print(f"with urgent_first on Strand.Unblock: {', '.join(round_(os, True))}")
    return 0


if __name__ == "__main__":
    from exolab.runner import run_program
    run = run_program(main, kernel="spin", profile="alpha")
    print("\n".join(run.console))
