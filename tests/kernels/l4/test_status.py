"""The kernel's access-bit report and fpage-list flush (kernels/l4/syscall.py:
``status`` after L4 X.2's unmap status, ``flush`` of a list of fpages)."""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError
from exolab.kernels.l4.syscall import STATUS_READ, STATUS_WRITE

from ._support import run

HEAP = 0x400000
DONE = 0x99


def _errno(fn: Any, *args: Any) -> str:
    try:
        fn(*args)
    except SyscallError as ex:
        return str(ex.errno)
    return "ok"


def _client(l4: Any, parent: int, write: bool) -> None:
    """Take two pages at HEAP; read both, write the first if asked; report."""
    l4.receive(parent, buffer=(0, 0, HEAP >> 12))
    l4.load(HEAP)
    l4.load(HEAP + 4096)
    if write:
        l4.store(HEAP, 1)
    l4.call(parent, words=(1,))
    l4.send(parent, words=(DONE,))


def test_status_reports_own_and_derived_use_without_resetting_it() -> None:
    log: list[Any] = []

    def root(l4: Any) -> None:
        l4.store(HEAP + 8192, 3)                    # the root's own page, written
        l4.load(HEAP)
        l4.load(HEAP + 4096)
        c = l4.thread_create(l4.space_create("c"), _client, l4.myself(), True)
        l4.send(c, maps=((HEAP >> 12, 2, True, False),))
        m = l4.receive(c)
        log.append(("derived", l4.status(HEAP >> 12, 1, False),
                    l4.status((HEAP >> 12) + 1, 1, False)))
        log.append(("again", l4.status(HEAP >> 12, 1, False)))
        log.append(("own", l4.status((HEAP >> 12) + 2, 1, True) & STATUS_WRITE))
        log.append(("run", l4.status(HEAP >> 12, 2, False)))
        log.append(("unheld", _errno(l4.status, 0x500, 1, True)))
        log.append(("junk", _errno(l4.status, HEAP >> 12, 1, 1)))
        l4.send(m.sender, timeout=0)
        l4.receive(c)

    run(root)
    both = STATUS_READ | STATUS_WRITE
    assert log == [("derived", both, STATUS_READ), ("again", both),
                   ("own", STATUS_WRITE), ("run", both), ("unheld", "EFAULT"),
                   ("junk", "EINVAL")]


def test_a_flush_of_an_fpage_list_is_one_entry_and_all_or_nothing() -> None:
    log: list[Any] = []

    def root(l4: Any) -> None:
        for i in range(3):
            l4.store(HEAP + i * 4096, i)
        c = l4.thread_create(l4.space_create("c"), _client, l4.myself(), False)
        l4.send(c, maps=((HEAP >> 12, 2, True, False),))
        m = l4.receive(c)
        v = HEAP >> 12
        log.append(("unheld", _errno(l4.flush, (v, 0x777), 1)))     # nothing flushed
        log.append(("too many", _errno(l4.flush, tuple(range(v, v + 65)), 1)))
        log.append(("pages", _errno(l4.flush, (v,), 2)))
        log.append(("still", l4.status(v, 2, False) != 0))
        traps = l4._cpu.traps
        log.append(("flushed", l4.flush((v + 1, v), 1, True)))      # write rights only
        log.append(("traps", l4._cpu.traps - traps))
        l4.send(m.sender, timeout=0)
        l4.receive(c)

    k = run(root)
    assert log == [("unheld", "EFAULT"), ("too many", "EINVAL"), ("pages", "EINVAL"),
                   ("still", True), ("flushed", 2), ("traps", 1)]
    k.mapdb.check()
