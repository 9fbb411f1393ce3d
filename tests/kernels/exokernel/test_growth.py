"""What Aegis and ExOS keep of a program that has ended and been reaped: nothing that
grows with the number of programs run.

An init runs N short-lived children in sequence (spawn + wait, fork + wait, fork
with a pipe and a file); the sizes of the containers that used to grow by one per
program — the kernel's exit log, the parent's heap of exited pids, the capabilities
derived for the children (the parent's capability tree and the table's slots), the
free-frame heap — are the same for N = 50 and N = 150, while what the run reports
(wait statuses, pipe data, environments created, the exit log's count and first
records, the run summary's exit rows) is exact. The free-frame heap stays flat
under a page taken and freed for ever; a file session does not keep its process.
"""
from __future__ import annotations

import gc
from typing import Any

import pytest
from rich.table import Table

from exolab.abi import O_CREAT, O_RDWR
from exolab.cli import SHOWN_EXITS, _exit_rows
from exolab.kernels.exokernel import Aegis
from exolab.kernels.exokernel.env import EXITS_KEPT, Exits
from exolab.libos.exos import fs

from ._support import aegis

SMALL, LARGE = 50, 150


def _quick(os: Any, i: int) -> int:
    """A child that exits at once with a status of its own."""
    return i % 7


def _piped(os: Any, w: int, i: int) -> int:
    """A forked child: a word down the pipe, five bytes to a file, both closed."""
    os.write(w, b"x%d" % (i % 10))
    fd = os.open(f"/f{i % 4}", O_CREAT | O_RDWR)
    os.write(fd, b"hello")
    os.close(fd)
    os.close(w)
    return i % 5


def _child(os: Any, kind: str, i: int) -> tuple[int, Any]:
    """Run child ``i`` of workload ``kind`` to its end: (pid, whether all was exact)."""
    if kind == "spawn":
        pid = os.spawn(_quick, i)
        return pid, os.wait(pid) == (pid, i % 7)
    if kind == "fork":
        pid = os.fork(_quick, i)
        return pid, os.wait(pid) == (pid, i % 7)
    r, w = os.pipe()
    pid = os.fork(_piped, w, i)
    os.close(w)
    got = os.read(r, 8)
    os.close(r)
    return pid, os.wait(pid) == (pid, i % 5) and got == b"x%d" % (i % 10)


def _sizes(k: Aegis, os: Any) -> dict[str, int]:
    """The containers that grew with the programs run, measured from init."""
    me = k.envs[os.pid]
    assert me.cap is not None
    return {"exits kept": len(list(k.exits)), "exited heap": len(os.procs.exited),
            "children": len(os.procs.children), "ups": len(os.procs.ups),
            "derived caps": len(me.cap.children), "cap slots": len(k.caps._slots),
            "live caps": k.caps.live(), "free heap": len(k.phys._heap),
            "kernel envs": len(k.envs)}


def _run(kind: str, n: int) -> tuple[Aegis, dict[str, Any]]:
    """Boot an init that runs ``n`` children of ``kind`` in sequence; run it."""
    k, out = aegis(frames=16384), {}

    def init(os: Any) -> int:
        pids, exact = zip(*(_child(os, kind, i) for i in range(n)))
        out["pids"], out["exact"] = list(pids), all(exact)
        out["sizes"] = _sizes(k, os)
        out["ended"] = k.exits.ended
        return 3

    k.boot(init)
    result = k.run()
    assert result.reason == "finished" and not k.faults, (result, k.faults)
    return k, out


@pytest.mark.parametrize("kind", ["spawn", "fork", "pipefile"])
def test_what_an_ended_program_leaves_does_not_grow(kind: str) -> None:
    """The sizes are equal for SMALL and LARGE children; every status is exact."""
    (k1, a), (k2, b) = _run(kind, SMALL), _run(kind, LARGE)
    assert a["exact"] and b["exact"]
    assert a["sizes"] == b["sizes"]
    assert a["sizes"]["exits kept"] == EXITS_KEPT
    assert a["sizes"]["exited heap"] == a["sizes"]["children"] == a["sizes"]["ups"] == 0
    for k, out, n in ((k1, a, SMALL), (k2, b, LARGE)):
        assert out["ended"] == n                # init itself had not ended yet
        stats = k.statistics()
        assert (stats.processes_created, stats.processes_live, stats.process_slots) == \
            (n + 1, 0, 0)
        assert len(k.exits) == k.exits.ended == n + 1
        assert out["pids"] == list(range(2, n + 2))


def test_the_exit_log_keeps_the_first_records_and_counts_all() -> None:
    """The first EXITS_KEPT endings are kept exactly (eid, name, status) in order;
    len counts every one; the run summary lists as many rows as before."""
    k, out = _run("spawn", SMALL)
    first = list(k.exits)
    assert first == [(pid, "_quick", i % 7) for i, pid in enumerate(out["pids"][:EXITS_KEPT])]
    assert k.exits[:SHOWN_EXITS] == first[:SHOWN_EXITS] and k.exits[0] == first[0]
    table = Table()
    table.add_column("what")
    table.add_column("value")
    _exit_rows(table, type("Run", (), {"kernel": k})())
    assert table.row_count == SHOWN_EXITS + 1
    assert list(table.columns[1].cells)[-1] == f"... and {SMALL + 1 - SHOWN_EXITS:,} more"


def test_an_exit_log_counts_past_what_it_keeps() -> None:
    """An Exits of 2 keeps the first two records; len and ended count all five."""
    log = Exits(2)
    assert not log and list(log) == []
    for i in range(5):
        log.append((i, f"p{i}", i))
    assert list(log) == [(0, "p0", 0), (1, "p1", 1)] and log[1:] == [(1, "p1", 1)]
    assert len(log) == log.ended == 5


def test_waits_for_any_child_after_waits_for_one_stay_exact() -> None:
    """Reaping by pid out of order, then any: every child reaped once with its status,
    the exited heap drained; the parent's derived capabilities all revoked."""
    k, out = aegis(frames=16384), {}

    def init(os: Any) -> int:
        got: dict[int, Any] = {}
        for r in range(40):
            pids = [os.spawn(_quick, 3 * r + j) for j in range(3)]
            want = {p: (3 * r + j) % 7 for j, p in enumerate(pids)}
            got.update([os.wait(pids[2]), os.wait(None), os.wait(None)])
            assert all(got[p] == s for p, s in want.items()), (got, want)
        out["n"] = len(got)
        out["sizes"] = _sizes(k, os)
        return 0

    k.boot(init)
    assert k.run().reason == "finished" and not k.faults, k.faults
    assert out["n"] == 120
    assert out["sizes"]["exited heap"] == out["sizes"]["ups"] == 0
    assert out["sizes"]["derived caps"] == 1           # (its own {wake}: entry_table)


@pytest.mark.parametrize("by_number", [False, True])
def test_a_page_taken_and_freed_for_ever_keeps_the_free_heap_flat(by_number: bool) -> None:
    """Taking and freeing pages again and again (the lowest free one, or one named by
    number under a lower free one) leaves the free-frame heap as it was; allocation
    still hands out the lowest free page."""
    k = aegis()
    env = k.new_env("t", None)
    low = [k.phys.alloc(env) for _ in range(8)]
    for cap in low[::2]:
        k.phys.free(env, cap)
    size = len(k.phys._heap)
    for _ in range(500):
        cap = k.phys.alloc(env, low[4].obj if by_number else None)
        k.phys.free(env, cap)
    bound = 2 * (k.phys._fresh - k.phys.first) + 16     # the heap's rebuild point
    assert len(k.phys._heap) == size if not by_number else size <= len(k.phys._heap) <= bound
    assert sorted(set(k.phys._heap)) == sorted(c.obj for c in low[::2])
    assert k.phys.alloc(env).obj == low[0].obj


def test_a_file_session_does_not_keep_its_process_alive() -> None:
    """The machine's table of per-process file sessions is weakly keyed by the
    process: a session must not hold its process, or no process that ever made a
    file call is freed (every forked child of the pipe-and-file loop stayed)."""
    class Process:
        """A stand-in for an ExOS process."""

    shared, proc = fs._Shared(), Process()
    shared.sessions[proc] = session = fs.Session(shared, proc)
    assert session.os is proc
    del proc
    gc.collect()
    assert len(shared.sessions) == 0 and session.os is None
