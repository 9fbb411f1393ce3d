"""Every kernel meets the typed contract, and refuses exactly what it declares.

The contract (:mod:`exolab.kernels.common.contract`): the vectors the CPU
calls, ``trap_names``, ``boot/run/console/faults/statistics`` and a valid
declaration. A refused feature fails with ENOSYS; every exception kind it does
not refuse is delivered to the handler; its statistics are a
:class:`KernelStats` whose levels are marked in the record.
"""
from __future__ import annotations

from typing import Any

from exolab.abi import EXCEPTION_KINDS
from exolab.errors import SyscallError
from exolab.kernels import KernelStats, kernel_class, make_kernel
from exolab.kernels.common.contract import contract_errors
from exolab.kernels.common.stats import counters, level_names
from exolab.machine.machine import Machine
from exolab.runner import run_program

from .kit import SAMPLED, THROWAWAY, declared, exception_kind, kit_kernels, sample_args


def test_the_throwaway_kernel_is_registered_while_the_kit_runs() -> None:
    assert kit_kernels()[-1] == THROWAWAY
    assert kernel_class(THROWAWAY).name == THROWAWAY


def test_the_kernel_meets_the_contract(kernel: str) -> None:
    cls = kernel_class(kernel)
    assert contract_errors(cls) == []
    k = make_kernel(kernel, Machine("dec5000", frames=4096))
    assert k.name == kernel and k.console == [] and k.faults == []
    assert all(cpu.kernel is k for cpu in k.machine.cpus)     # vectors installed


def test_statistics_are_the_common_record_with_marked_levels(kernel: str) -> None:
    r = run_program(lambda os: os.print("x"), kernel=kernel)
    st = r.kernel.statistics()
    assert isinstance(st, KernelStats)
    levels = level_names(st)
    assert {"processes_live", "process_slots", "frames_in_use",
            "frames_retained"} <= levels
    names = {n for n, _v in counters(st)}
    assert {"syscalls", "faults", "processes_created"} <= names
    assert not names & levels
    assert st.processes_created == 1 and st.processes_live == 0 and st.faults == 0


def _try(call: Any, *args: Any) -> str:
    """The errno of ``call(*args)``, or "ok"."""
    try:
        call(*args)
    except SyscallError as ex:
        return str(ex.errno)
    return "ok"


def test_refused_exceptions_are_enosys_and_the_others_are_delivered(kernel: str) -> None:
    decl = declared(kernel)
    out: dict[str, Any] = {"seen": []}

    def handler(os: Any, kind: str) -> None:
        out["seen"].append(kind)

    def main(os: Any) -> None:
        for kind in sorted(EXCEPTION_KINDS):
            out[kind] = (_try(os.set_exception_handler, kind, handler),
                         _try(os.trigger, kind))

    r = run_program(main, kernel=kernel)
    assert r.result.reason == "finished" and r.faults == [], r.faults
    for kind in sorted(EXCEPTION_KINDS):
        want = ("ENOSYS", "ENOSYS") if decl.refuses_exception(kind) else ("ok", "ok")
        assert out[kind] == want, kind
    assert out["seen"] == [k for k in sorted(EXCEPTION_KINDS)
                           if not decl.refuses_exception(k)]


def test_refused_calls_are_enosys(kernel: str) -> None:
    """Each refused feature, used with valid arguments, is ENOSYS; the others are not."""
    refuses = declared(kernel).refuses
    calls = sorted(r for r in refuses if exception_kind(r) is None)
    unsampled = [c for c in calls if c not in SAMPLED]
    assert not unsampled, unsampled
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        for name in SAMPLED:
            out[name] = _try(getattr(os, name), *sample_args(os, name))
        for feature in sorted(r for r in refuses if exception_kind(r) is not None):
            kind = exception_kind(feature)
            out[feature] = (_try(os.set_exception_handler, kind, _ignore),
                            _try(os.trigger, kind))

    r = run_program(main, kernel=kernel, trusted=True)      # calls by computed name
    assert r.result.reason == "finished" and r.faults == [], r.faults
    for name in SAMPLED:
        assert (out[name] == "ENOSYS") == (name in refuses), (name, out[name])
    for feature in refuses - set(SAMPLED):
        assert out[feature] in ("ENOSYS", ("ENOSYS", "ENOSYS")), (feature, out[feature])


def _ignore(os: Any, kind: str) -> None:
    """An exception handler that does nothing."""


def test_declared_extensions_exist_on_the_personality(kernel: str) -> None:
    decl = declared(kernel)
    seen: dict[str, bool] = {}

    def main(os: Any) -> None:
        for name in sorted(decl.extensions):
            seen[name] = callable(getattr(os, name, None))
        if decl.raw_entry is not None:
            seen["raw"] = callable(getattr(os, decl.raw_entry, None))

    run_program(main, kernel=kernel, trusted=True)      # looks up computed names
    assert all(seen.values()) and set(seen) >= set(decl.extensions)
