"""Aegis-specific robustness: raw Aegis calls with lying or program-computed arguments.

(Moved from the ABI robustness tests, which now form the conformance kit and
run on every kernel; these use Aegis's own calls, so they stay with it.)
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError
from exolab.runner import run_program

from ..hostile import LyingInt


def run(kernel: str, program: Any, *args: Any, frames: int = 4096,
        trusted: bool = False) -> Any:
    """Run ``program`` on ``kernel``; it must finish; return the run."""
    r = run_program(program, *args, kernel=kernel, frames=frames, trusted=trusted)
    assert r.result.reason == "finished", (r.result, r.console, r.faults)
    return r


def errno(call: Any, *args: Any, **kw: Any) -> str:
    """The errno of a call that must fail with a SyscallError ("returned" if not)."""
    try:
        call(*args, **kw)
    except SyscallError as ex:
        return str(ex.errno)
    return "returned"


def test_aegis_refuses_a_lying_physical_page_number() -> None:
    from exolab.kernels.exokernel.bind import VALID
    from exolab.kernels.exokernel.syscall import Sys
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        out["write"] = errno(os.aegis, Sys.TLB_WRITE, 0x500, LyingInt(ppn + 1), h, VALID)
        out["guarantee"] = errno(os.aegis, Sys.GUARANTEE, 0x501, ppn, h, LyingInt(1))
        out["name"] = errno(os.aegis, Sys.ENV_ALLOC, "x", 10 ** 9)

    run("exokernel", main)
    assert out == {"write": "EPERM", "guarantee": "EINVAL", "name": "EINVAL"}


class _Truthy:
    """A flag whose truth is computed by program code (it records being asked)."""

    asked = 0

    def __bool__(self) -> bool:
        type(self).asked += 1
        return True


def test_aegis_flags_are_real_bools_never_a_programs_bool() -> None:
    from exolab.kernels.exokernel.syscall import Sys
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        flag = _Truthy()
        out["guarantee"] = errno(os.aegis, Sys.GUARANTEE, 0x501, ppn, h, flag)
        out["spread"] = errno(os.aegis, Sys.SLICE_ALLOC, None, None, 2, flag)
        out["destroy"] = errno(os.aegis, Sys.ENV_DESTROY, os.handle, "x", flag)
        out["send"] = errno(os.aegis, Sys.PCT_ASYNC, os.handle, (), flag)
        out["spread_int"] = errno(os.aegis, Sys.SLICE_ALLOC, None, None, 2, 1)

    run("exokernel", main)
    assert out == {k: "EINVAL" for k in ("guarantee", "spread", "destroy", "send",
                                         "spread_int")}
    assert _Truthy.asked == 0


def test_exos_server_entry_survives_garbage_registers() -> None:
    from exolab.kernels.exokernel.syscall import Sys
    from exolab.libos.exos.lrpc import REG_SIZE
    out: dict[str, Any] = {}

    def server(os: Any) -> None:
        os.rpc_serve("sq", lambda os, w: w * w, 1)

    def main(os: Any) -> None:
        pid = os.spawn(server)
        h = os.rpc_connect("sq")
        slot = os.lrpc._reg_find(b"sq")
        pct = os.load(os.registry_va + slot * REG_SIZE + 8, 8)
        out["raw"] = [os.aegis(Sys.PCT_SYNC, pct, words) for words in
                      ((), (0,), (0, 1, 2), (0, "x"), (99, 2), (0, 1 << 64))]
        out["real"] = os.rpc_call(h, 7)
        out["status"] = os.wait(pid)[1]

    r = run("exokernel", main, trusted=True)    # reads ExOS's private registry
    assert out == {"raw": [-1] * 6, "real": 49, "status": 0} and r.faults == []
