"""A program picks its own library OS (``program.libos``) and specialises ExOS's policy."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from exolab.errors import ConfigError
from exolab.libos.exos import VM, ExOS
from exolab.runner import run_program

from ._support import PAGE, errno, run

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "fault_ahead.py"


class CountingVM(VM):
    """ExOS's VM that counts the misses upcalled to it (a policy hook that watches)."""

    def fill(self, vaddr: int, write: bool) -> int:
        self.os.misses = getattr(self.os, "misses", 0) + 1
        return super().fill(vaddr, write)


class CountingExOS(ExOS):
    vm_class = CountingVM


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("exolab_example_fault_ahead", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_boot_uses_the_library_os_the_program_names() -> None:
    out: dict[str, Any] = {}

    def prog(os: Any) -> None:
        va = os.mmap(3 * PAGE)
        for n in range(3):
            os.store(va + n * PAGE, n)
        out["type"], out["misses"] = type(os), os.misses

    prog.libos = CountingExOS                           # type: ignore[attr-defined]
    r = run(prog, trusted=True)         # the host class itself, compared by identity
    assert out["type"] is CountingExOS
    assert out["misses"] == r.kernel.statistics().tlb_upcalls >= 3


def test_fork_keeps_the_library_os_and_spawn_takes_the_programs() -> None:
    out: dict[str, Any] = {}

    def plain(os: Any) -> None:
        out["spawned plain"] = type(os)

    def named(os: Any) -> None:
        out["spawned named"] = type(os)
    named.libos = CountingExOS                          # type: ignore[attr-defined]

    def child(os: Any) -> None:
        out["forked"] = type(os)

    def prog(os: Any) -> None:
        for pid in (os.fork(child), os.spawn(plain), os.spawn(named)):
            os.wait(pid)

    prog.libos = CountingExOS                           # type: ignore[attr-defined]
    run(prog, trusted=True)             # the host classes, compared by identity
    assert out == {"forked": CountingExOS, "spawned plain": ExOS,
                   "spawned named": CountingExOS}


def test_a_bad_library_os_is_refused() -> None:
    def prog(os: Any) -> None:
        pass

    prog.libos = "exos"                                 # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="not a library OS"):
        run_program(prog, kernel="exokernel")
    out: dict[str, Any] = {}

    def parent(os: Any) -> None:
        out["errno"] = errno(os.spawn, prog)

    run(parent)
    assert out["errno"] == "EINVAL"


def test_a_library_os_that_fails_to_start_fails_the_spawn_only() -> None:
    class Broken(ExOS):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("broken library OS")

    def kid(os: Any) -> None:
        pass
    kid.libos = Broken                                  # type: ignore[attr-defined]
    out: dict[str, Any] = {}

    def parent(os: Any) -> None:
        out["errno"] = errno(os.spawn, kid)
        out["next"] = os.wait(os.spawn(lambda os: 5))[1]

    r = run(parent)
    assert out == {"errno": "EINVAL", "next": 5}
    assert r.faults == [] and r.kernel.statistics().envs_live == 0    # nothing left over


def test_other_kernels_ignore_the_choice() -> None:
    def prog(os: Any) -> None:
        os.print(type(os).__name__)

    prog.libos = CountingExOS                           # type: ignore[attr-defined]
    r = run_program(prog, kernel="monolithic")
    assert r.faults == [] and len(r.console) == 1 and "ExOS" not in r.console[0]


@pytest.mark.parametrize("pages, upcalls", [(64, 4), (17, 2), (1, 1)])
def test_the_fault_ahead_example_takes_one_upcall_per_cluster(pages: int,
                                                              upcalls: int) -> None:
    ex = _example()
    ahead = run(ex.main, pages)
    plain = run(ex.linked_with(ExOS, ex.sequential), pages)
    assert ahead.kernel.statistics().tlb_upcalls == upcalls
    assert plain.kernel.statistics().tlb_upcalls == pages
    assert ahead.console[0].startswith(f"wrote {pages} of {pages} pages")


def test_fault_ahead_keeps_exos_semantics() -> None:
    """Data, protection and copy-on-write behave as under ExOS."""
    ex = _example()
    out: dict[str, Any] = {}

    def child(os: Any, va: int) -> int:
        seen = [os.load(va + n * PAGE) for n in range(4)]
        os.store(va, 99)                                # a private copy
        return sum(seen)

    def prog(os: Any) -> None:
        va = os.mmap(8 * PAGE)
        ro = os.mmap(4 * PAGE, 1)                       # PROT_READ: never faulted ahead
        for n in range(4):
            os.store(va + n * PAGE, n + 1)
        out["child"] = os.wait(os.fork(child, va))[1]
        out["mine"] = [os.load(va + n * PAGE) for n in range(8)]
        out["ro"] = os.load(ro)
        os.store(ro, 1)                                 # SIGSEGV: not writable

    prog.libos = ex.FaultAheadExOS                      # type: ignore[attr-defined]
    r = run(prog)
    assert out == {"child": 10, "mine": [1, 2, 3, 4, 0, 0, 0, 0], "ro": 0}
    assert [f[1] for f in r.faults] == ["SIGSEGV"]
