"""Guarded handlers on Translation.ProtectionFault, one-to-many.

Covers: event_install on a core event with the owner's capability (the
program's own Translation context), guards that choose among handlers (one
event, two handlers, each for its own address range), handlers that run in
the kernel as procedure calls, the default handler when no guard holds (the
UNIX server's: SIGSEGV).

Scenario: the program maps two regions, "log" and "heap", and write-protects
both. It installs two handlers on ProtectionFault for its context: one
guarded to the log region (it counts the write and opens the page), one to
the heap region (it opens the page and records the address). Writes to each
region fault, are routed by the guards, and resume. A forked child that
writes into a region of its own no guard covers gets the default: SIGSEGV.

Run it: ``python examples/spin_guard.py``.
"""
from __future__ import annotations

from typing import Any

from exolab.abi import PROT_READ, PROT_RW

#: the ABI features this example needs beyond what every kernel provides
NEEDS: tuple[str, ...] = ("event_install", "context_self", "mprotect", "fork")

PAGE = 4096


def outsider(os: Any) -> int:
    """A child writing a protected page no guard covers."""
    va = os.mmap(PAGE, PROT_READ)
    os.store(va, 1)
    return 0


def main(os: Any) -> int:
    """Two guarded handlers route faults by address; the default kills."""
    log_va = os.mmap(4 * PAGE, PROT_RW)
    heap_va = os.mmap(4 * PAGE, PROT_RW)
    seen: dict[str, list[int]] = {"log": [], "heap": []}

    def in_log(vaddr: int, write: bool) -> bool:
        return log_va <= vaddr < log_va + 4 * PAGE

    def in_heap(vaddr: int, write: bool) -> bool:
        return heap_va <= vaddr < heap_va + 4 * PAGE

    def on_log(ctx: Any, vaddr: int, write: bool) -> bool:
        seen["log"].append((vaddr - log_va) // PAGE)
        os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)
        return True

    def on_heap(ctx: Any, vaddr: int, write: bool) -> bool:
        seen["heap"].append((vaddr - heap_va) // PAGE)
        os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)
        return True

    me = os.context_self()
    os.event_install("Translation.ProtectionFault", me, on_log, in_log)
    os.event_install("Translation.ProtectionFault", me, on_heap, in_heap)
    os.mprotect(log_va, 4 * PAGE, PROT_READ)
    os.mprotect(heap_va, 4 * PAGE, PROT_READ)
    for page in (0, 2):
        os.store(log_va + page * PAGE, 100 + page)
    for page in (3, 1, 3):
        os.store(heap_va + page * PAGE, 200 + page)
    os.print(f"log handler saw pages {seen['log']}, heap handler saw {seen['heap']}")
    os.print(f"values: {os.load(log_va + 2 * PAGE)}, {os.load(heap_va + 3 * PAGE)}")
    _pid, status = os.wait(os.fork(outsider))
    os.print(f"a child no guard covers: status {status}")
    return 0


if __name__ == "__main__":
    from exolab.runner import run_program
    run = run_program(main, kernel="spin", profile="alpha")
    print("\n".join(run.console))
