"""The monolithic kernel's mechanism objects own their state: pipes, shm, rpc names,
the wait table; each answers statistics() as a frozen record."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from exolab.kernels.monolithic import MonolithicKernel
from exolab.kernels.monolithic.pipe import PipeStats, PipesStats
from exolab.kernels.monolithic.rpc import RpcStats
from exolab.kernels.monolithic.shm import ShmStats
from exolab.kernels.common.wait import WaitStats

from ._support import PAGE, run_inspected


def _echo(os: Any) -> None:
    os.rpc_serve("echo", lambda os2, w: w + 1, count=2)


def test_each_mechanism_counts_what_happened() -> None:
    seen: dict[str, Any] = {}

    def main(os: Any, k: MonolithicKernel) -> None:
        r, w = os.pipe()
        os.write(w, b"abc")
        (pipe_kind, pipe), = [e for e in k.processes[os.getpid()].fds.values()
                              if e[0] == "pipe_r"]
        seen["pipe"] = pipe.statistics()
        seen["pipes"] = k.pipes.statistics()
        key = os.shm_create(3 * PAGE)
        os.shm_attach(key)
        os.shm_attach(key)
        seen["shm"] = k.shm.statistics()
        server = os.spawn(_echo)
        h = os.rpc_connect("echo")
        seen["calls"] = [os.rpc_call(h, 1), os.rpc_call(h, 41)]
        os.wait(server)
        seen["rpc"] = k.rpc.statistics()
        seen["waits"] = k.waits.statistics()
        os.close(r)
        os.close(w)

    k = run_inspected(main)
    assert seen["pipe"] == PipeStats(buffered=3, readers=1, writers=1, readers_asleep=0,
                                     writers_asleep=0)
    assert seen["pipes"] == PipesStats(live=1, created=1)
    assert seen["shm"] == ShmStats(segments=1, frames_held=3, created=1, attaches=2)
    assert seen["calls"] == [2, 42]
    assert seen["rpc"] == RpcStats(names=0, registered=1, connects=1, accepts=1, refused=0)
    assert seen["waits"] == WaitStats(live=1, zombies=0, exits=1, reaped=1, orphaned=0)
    assert k.pipes.statistics() == PipesStats(live=0, created=3)   # + 2 for the rpc
    for record in (seen["pipe"], seen["shm"], seen["rpc"], seen["waits"]):
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.__setattr__(dataclasses.fields(record)[0].name, 99)


def test_a_connect_nobody_can_serve_is_counted_as_refused() -> None:
    from exolab.errors import SyscallError

    def main(os: Any, k: MonolithicKernel) -> None:
        try:
            os.rpc_connect("nobody")
        except SyscallError as e:
            assert e.errno == "ESRCH"

    k = run_inspected(main)
    assert k.rpc.statistics().refused == 1
