"""The monolithic kernel's hostile-program suite, run on Aegis + ExOS.

The same garbage ABI calls must fail with the same errnos, and every fatal act
must end only the hostile process (recorded as its own fault, or as its exit
status), while a bystander ping-pongs through pipes with a forked child and
finishes with exactly the right checksum; every physical page comes back.
"""
from __future__ import annotations

from typing import Any

import pytest

from exolab.abi import ABI
from exolab.errors import SyscallError

from ..monolithic.test_hostile import EXPECTED_TOTAL, FINAL_ACTS, GARBAGE, bystander
from ._support import aegis

#: act -> how the hostile process's status starts on the exokernel (faults in
#: user-level handlers surface as faults in Aegis's upcall to ExOS)
EXOKERNEL_STATUS = {
    "handler raises": "fault in upcall: KeyError",
    "handler raises KernelPanic": "fault in upcall: ProgramFault",
    "handler bad signature": "fault in upcall: TypeError",
    "unaligned": "unhandled exception ADDR_STORE",
}
MONOLITHIC_ONLY = {"read_into", "write_from", "kernel_test"}   # libc extras, not ABI calls


def _garbage(os: ABI, log: dict[str, Any]) -> None:
    """Make every garbage ABI call; record mismatching errnos."""
    rfd, wfd = os.pipe()
    env = {"rfd": rfd, "wfd": wfd, "va": os.mmap(4096)}
    bad = []
    for name, args, want in GARBAGE:
        if name in MONOLITHIC_ONLY:
            continue
        real = tuple(env.get(a, a) if isinstance(a, str) else a for a in args)
        try:
            getattr(os, name)(*real)
            bad.append((name, args, "returned"))
        except SyscallError as ex:
            if ex.errno != want:
                bad.append((name, args, ex.errno))
    log["bad"] = bad


@pytest.mark.parametrize("act", list(FINAL_ACTS))
def test_a_hostile_process_is_contained(act: str) -> None:
    final, expected = FINAL_ACTS[act]
    expected = EXOKERNEL_STATUS.get(act, expected)
    log: dict[str, Any] = {}

    def hostile(os: ABI) -> None:
        _garbage(os, log)
        os.compute(5_000)
        final(os)
        log["survived"] = True

    def init(os: ABI) -> None:
        b = os.spawn(bystander)
        h = os.spawn(hostile)
        log["hostile pid"] = h
        log["hostile"] = os.wait(h)[1]
        log["bystander"] = os.wait(b)[1]

    k = aegis(frames=16384)
    k.boot(init)
    assert k.run().reason == "finished"
    assert k.console == [f"bystander {EXPECTED_TOTAL}"] and log["bystander"] == 0
    assert log["bad"] == [] and "survived" not in log
    status = log["hostile"]
    assert isinstance(status, str) and status.startswith(expected), status
    mine = [what for eid, what, _ in k.faults if eid == log["hostile pid"]]
    assert len(k.faults) == len(mine) == (0 if act in ("ThreadExit", "swallows exit")
                                          else 1)
    assert k.phys.statistics().allocated == 0 and k.statistics().envs_live == 0
    assert k.machine.panic is None
