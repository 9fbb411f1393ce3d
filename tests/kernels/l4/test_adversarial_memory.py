"""Adversarial programs against L4's memory server paths: attaching a segment never
granted, protecting or querying pages one does not have, fault handlers that
fault or undo their fix, forged fpages and forged replies around the pager.
Each attempt is a clean SyscallError (or ends only the attacker); a bystander
that uses a segment, a protected page and its fault handler meanwhile gets
exactly its result, and the mapping database stays consistent."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from exolab.abi import ERRNOS, PROT_NONE, PROT_READ, PROT_RW
from exolab.errors import SyscallError
from exolab.kernels import make_kernel
from exolab.kernels.l4 import SIGMA0_ID
from exolab.kernels.l4 import syscall as sc
from exolab.kernels.l4.objects import make_id
from exolab.kernels.l4.ux import OK
from exolab.machine import Machine

PAGE = 4096
EXPECTED = 1234 + 56 + 1


def _bystander(os: Any, r: int) -> int:
    """A segment, a read-only page fixed by its handler, and dirty: while attacked."""
    va = os.shm_attach(os.shm_create(PAGE))
    os.store(va, 1234)
    priv = os.mmap(PAGE)
    os.store(priv, 55)
    os.mprotect(priv, PAGE, PROT_READ)
    os.set_fault_handler(lambda os, v, w: os.mprotect(v & ~(PAGE - 1), PAGE, PROT_RW))
    os.read(r, 1)                               # until the attacker is done
    os.store(priv, 56)                          # the handler opens the page
    return os.load(va) + os.load(priv) + int(os.dirty(priv))


def _tries(fn: Callable[..., Any], *args: Any) -> str:
    """The errno of ``fn(*args)`` ("ok" if it returned); anything else propagates."""
    try:
        fn(*args)
    except SyscallError as ex:
        assert ex.errno in ERRNOS, ex.errno
        return str(ex.errno)
    return "ok"


def _guess_keys(os: Any, out: dict[str, Any]) -> None:
    own = os.shm_create(PAGE)
    guesses = [*range(-3, 300), own - 1, own + 1, own ^ 1, 1 << 62, (1 << 63) - 1,
               1 << 63, "1", None, 2.0]
    out["hits"] = [g for g in guesses if _tries(os.shm_attach, g) == "ok"]


def _raw_attach(os: Any, out: dict[str, Any]) -> None:
    out["raw"] = {_tries(os._call, "shm_attach", k) for k in (*range(0, 64), -1, 1 << 63)}


def _protect_foreign(os: Any, out: dict[str, Any]) -> None:
    got = {_tries(os.mprotect, va, PAGE, PROT_NONE)
           for va in (0x10000 << 12, 0x10001 << 12, 0x1000 << 12, 0xBF000 << 12,
                      0xC0000 << 12, 0, 1 << 40)}
    got |= {_tries(os._call, "mprotect", *w) for w in
            ((0x10000, 1 << 30, 0), (0x10000, 1, 9), (-5, 1, 0), (1 << 21, 1, 0))}
    out["protect"] = got


def _status_foreign(os: Any, out: dict[str, Any]) -> None:
    out["status"] = {_tries(os._trap, sc.STATUS, v, 1, True)
                     for v in (0x10000, 0x1000, 0xBF000, 0xC0001, -1, 1 << 20)}
    out["dirty"] = {_tries(os.dirty, a) for a in (0x10000 << 12, 0xC0000 << 12, -4)}


def _forged_fpages(os: Any, out: dict[str, Any]) -> None:
    """Pretend to be the pager: map items of pages it does not hold, and replies
    carrying them to every thread id it can make up (nobody waits for it)."""
    me = os._lib().myself()
    got, delivered = set(), set()
    for n in range(1, 24):
        for v in range(1, 4):
            tid = make_id(n, v)
            if tid == me:
                continue
            got.add(_tries(os._trap, sc.SEND, tid, (OK, 0x10000 << 12), None,
                           ((0x1000 + n, 1, True, False),), 0, ()))
            if _tries(os._trap, sc.SEND, tid, (sc.UPCALL_TAG, 0x10000 << 12, 1),
                      None, (), 0, ()) == "ok":
                delivered.add(tid)
    out["forged"], out["delivered"] = got, delivered


def _forged_fault(os: Any, out: dict[str, Any]) -> None:
    """A fault message of its own making, to the pager: it gets its own pages only."""
    va = os.mmap(PAGE)
    got = os._lib().call(os._ux, words=(sc.FAULT_TAG, va, 1), buffer=(0, 0, va >> 12))
    os.store(va, 3)
    out["own"] = (len(got.mapped), os.load(va))
    got = os._lib().call(os._ux, words=(sc.FAULT_TAG, 0x500 << 12, 1),
                         buffer=(0, 0, 0x500))
    out["outside"] = (got.mapped, got.words[0] == sc.UPCALL_TAG)


def _nested_handler(os: Any, out: dict[str, Any]) -> None:
    va = os.mmap(2 * PAGE)
    os.mprotect(va, 2 * PAGE, PROT_NONE)
    os.set_fault_handler(lambda os, v, w: os.load(va + PAGE))   # faults again, deeper
    os.load(va)


def _undoing_handler(os: Any, out: dict[str, Any]) -> None:
    va = os.mmap(PAGE)
    os.mprotect(va, PAGE, PROT_NONE)

    def handler(os: Any, v: int, w: bool) -> None:
        os.mprotect(va, PAGE, PROT_RW)
        os.mprotect(va, PAGE, PROT_NONE)        # and takes it back: the retry fails

    os.set_fault_handler(handler)
    os.store(va, 1)


def _detach_games(os: Any, out: dict[str, Any]) -> None:
    key = os.shm_create(4 * PAGE)
    va = os.shm_attach(key)
    os.store(va + 3 * PAGE, 1)
    os.munmap(va + PAGE, PAGE)                  # a hole in the segment's mapping
    out["hole"] = _tries(os.mprotect, va, 4 * PAGE, PROT_READ)
    out["games"] = [_tries(os.shm_detach, a) for a in (va + PAGE, va + 1, va, va, -1)]


ATTACKS: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "attach keys never granted": _guess_keys,
    "raw attach requests": _raw_attach,
    "protect pages it does not have": _protect_foreign,
    "access bits of pages it does not have": _status_foreign,
    "forged fpages and replies": _forged_fpages,
    "a forged fault message": _forged_fault,
    "a handler that faults": _nested_handler,
    "a handler that undoes its fix": _undoing_handler,
    "detach games": _detach_games,
}


def _scenario(attack: str | None) -> tuple[dict[str, Any], list[str], Any]:
    out: dict[str, Any] = {}

    def attacker(os: Any) -> int:
        ATTACKS[attack](os, out)  # type: ignore[index]
        return 0

    def main(os: Any) -> None:
        r, w = os.pipe()
        b = os.fork(_bystander, r)
        if attack is not None:
            os.print("attacker", os.wait(os.fork(attacker))[1])
        os.write(w, b"go")
        os.print("bystander", os.wait(b)[1])

    k = make_kernel("l4", Machine("i486", frames=4096))
    k.boot(main)
    assert k.run().reason == "finished", (k.console, k.faults)
    k.mapdb.check()
    return out, list(k.console), k


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_on_the_memory_server_changes_nothing_for_a_bystander(
        attack: str) -> None:
    out, console, k = _scenario(attack)
    assert console[-1] == f"bystander {EXPECTED}"
    assert [f for f in k.faults if f[1] != "SIGSEGV"] == []
    assert k.statistics().processes_live == 0


def test_the_attacks_fail_cleanly() -> None:
    assert _scenario(None)[1] == [f"bystander {EXPECTED}"]
    results = {a: _scenario(a) for a in ATTACKS}
    out = {a: r[0] for a, r in results.items()}
    assert out["attach keys never granted"] == {"hits": []}
    assert out["raw attach requests"] == {"raw": {"ESRCH"}}
    assert out["protect pages it does not have"]["protect"] <= {"EFAULT", "EINVAL"}
    assert "ok" not in out["access bits of pages it does not have"]["status"]
    assert out["access bits of pages it does not have"]["dirty"] == {"EFAULT"}
    assert out["forged fpages and replies"]["forged"] == {"EFAULT", "ESRCH"}
    k = results["forged fpages and replies"][2]     # only servers take mail from anyone
    assert out["forged fpages and replies"]["delivered"] <= {k.ux_tcb.tid, SIGMA0_ID}
    assert out["a forged fault message"] == {"own": (1, 3), "outside": ((), True)}
    assert out["detach games"] == {"hole": "EFAULT",
                                   "games": ["EINVAL", "EINVAL", "ok", "EINVAL", "EINVAL"]}
    for a in ("a handler that faults", "a handler that undoes its fix"):
        assert results[a][1][0] == "attacker SIGSEGV", results[a][1]
