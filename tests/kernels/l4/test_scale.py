"""Scale of the L4 kernel (kernels/l4/kernel.py, mapdb.py, ux.py): boot memory does
not grow with the frame count, the TCB array grows on demand past its boot
tables, a dying thread finds its closed-receive waiters without a scan."""
from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest

from exolab.errors import KernelPanic, SyscallError
from exolab.kernels.l4 import L4
from exolab.kernels.l4.kernel import MAX_THREADS, SIGMA0_SID, TCB_VPN
from exolab.kernels.l4.mapdb import MappingDB
from exolab.kernels.l4.system import LIMITS
from exolab.machine import Machine
from exolab.machine.pagewalk import walk

from ._support import run


def _boot_bytes(frames: int) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        machine = Machine("i486", frames=frames, seed=0)
        L4(machine)
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_a_million_frame_boot_allocates_what_a_small_one_does() -> None:
    _boot_bytes(1024)                               # imports, first allocations
    small, large = _boot_bytes(1024), _boot_bytes(1 << 20)
    assert large < 2 << 20 and large < small + (64 << 10), (small, large)


def test_sigma0s_frames_are_a_range_and_kinfo_reports_its_ends() -> None:
    with pytest.raises(KernelPanic):
        MappingDB(SIGMA0_SID, frozenset(range(8)), lambda *a: None)   # type: ignore[arg-type]
    with pytest.raises(KernelPanic):
        MappingDB(SIGMA0_SID, range(0, 8, 2), lambda *a: None)
    seen: list[Any] = []
    k = run(lambda l4: seen.append(l4.kinfo()))
    frames = k.mapdb.frames
    assert seen[0][:2] == (frames.start, frames.stop) and frames.stop == 4096


def _nop(l4: Any) -> None:
    """A thread body (never run in the test below)."""


def test_tcb_numbers_past_the_boot_tables_reach_every_space() -> None:
    k = L4(Machine("i486", frames=1 << 16))
    first = k.new_space(SIGMA0_SID, "first")        # made before the new TCB tables
    spaces = [first]
    threads = []
    for i in range(4200):
        if len(spaces[-1].threads) == 500:
            spaces.append(k.new_space(SIGMA0_SID, f"s{i}"))
        threads.append(k.new_thread(spaces[-1], _nop, (), 0, f"t{i}"))
    last = threads[-1]
    number = (last.tcb_vaddr >> 12) - TCB_VPN
    assert number >= 4096 and number < MAX_THREADS
    late = k.new_space(SIGMA0_SID, "late")
    for space in (first, spaces[-1], late):         # the kernel region is shared: the
        pte = walk(k.machine.memory, space.directory, last.tcb_vaddr >> 12, True, False)
        assert pte >> 12 == last.frames[0]          # MMU reaches the TCB from every space


def test_the_ux_server_allows_ten_thousand_live_processes() -> None:
    assert LIMITS["live_processes"] >= 10_000


def test_a_dying_server_fails_every_caller_waiting_for_its_reply() -> None:
    got: list[Any] = []

    def server(l4: Any) -> None:
        l4.receive()                                # both callers now wait for replies
        l4.receive()

    def client(l4: Any, srv: int, tag: str) -> None:
        try:
            l4.call(srv, words=(1,))
        except SyscallError as e:
            got.append((tag, e.errno))

    def root(l4: Any) -> None:
        srv = l4.thread_create(l4.space_create("server"), server)
        for tag in ("a", "b"):
            l4.thread_create(l4.space_create(tag), client, srv, tag)
        for _ in range(20):
            l4.yield_()
    k = run(root)
    assert sorted(got) == [("a", "ESRCH"), ("b", "ESRCH")]
    assert k._closed == {}                          # the index keeps no dead thread
