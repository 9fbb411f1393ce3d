"""SPIN's kernel: in-kernel calls take no trap, fault handlers run in the kernel,
the Strand events reach an application-specific scheduler."""
from __future__ import annotations

from typing import Any

from exolab.abi import PROT_READ, PROT_RW
from exolab.kernels import declaration
from exolab.kernels.spin import paths
from exolab.runner import run_program


def _stats(run: Any) -> Any:
    return run.machine.cpu.statistics()


def _inkernel_getpids(os: Any, n: int) -> None:
    for _ in range(n):
        os.getpid()


def _enter(os: Any, n: int) -> None:
    os.spin_kernel(_inkernel_getpids, n)


def test_an_in_kernel_call_takes_no_trap() -> None:
    a = run_program(_enter, 10, kernel="spin", profile="alpha")
    b = run_program(_enter, 20, kernel="spin", profile="alpha")
    assert _stats(a).traps == _stats(b).traps             # the ten more: no trap
    assert b.kernel.kcalls - a.kernel.kcalls == 10  # type: ignore[attr-defined]
    assert b.result.cycles - a.result.cycles == 10 * paths.resolve("alpha")["spin_proc_call"]
    user = run_program(_inkernel_getpids, 10, kernel="spin", profile="alpha")
    assert _stats(user).traps >= 10                      # at user level: traps


def protect_and_store(os: Any, n: int) -> None:
    """``n`` times: protect a page read-only and store to it; the fault handler
    restores write access; print the value stored last."""
    va = os.mmap(4096, PROT_RW)
    os.store(va, 1)

    def handler(os: Any, vaddr: int, write: bool) -> None:
        os.mprotect(vaddr & ~4095, 4096, PROT_RW)
    os.set_fault_handler(handler)
    for i in range(n):
        os.mprotect(va, 4096, PROT_READ)
        os.store(va, i)
    os.print("value", os.load(va))


def test_a_fault_handler_runs_in_the_kernel_no_upcall_no_sigreturn() -> None:
    main = protect_and_store
    a = run_program(main, 5, kernel="spin", profile="alpha")
    b = run_program(main, 10, kernel="spin", profile="alpha")
    assert b.console == ["value 9"] and b.faults == []
    sa, sb = _stats(a), _stats(b)
    assert sb.upcalls == sa.upcalls == 0
    assert sb.traps - sa.traps == 5          # only the program's own mprotect calls
    mono = run_program(main, 5, kernel="monolithic", profile="alpha")
    assert _stats(mono).upcalls == 5


def _front(strand: Any) -> str:
    """An application-specific policy: my strand runs first when it unblocks."""
    return "front"


def _reader(os: Any, fd: int, name: str, log: list[str], first: bool) -> None:
    if first:
        os.event_install("Strand.Unblock", os.strand_self(), _front)
    os.read(fd, 1)
    log.append(name)


def _two_readers(os: Any, policy: bool) -> None:
    log: list[str] = []
    r1, w1 = os.pipe()
    r2, w2 = os.pipe()
    os.thread_create(_reader, r1, "low", log, False)
    os.thread_create(_reader, r2, "high", log, policy)
    os.thread_yield()
    os.thread_yield()
    os.write(w1, b"x")                  # wakes low first, then high
    os.write(w2, b"x")
    while len(log) < 2:
        os.thread_yield()
    os.print(",".join(log))


def test_an_application_scheduler_on_strand_unblock_orders_the_ready_queue() -> None:
    default = run_program(_two_readers, False, kernel="spin", profile="alpha")
    custom = run_program(_two_readers, True, kernel="spin", profile="alpha")
    assert default.console == ["low,high"] and default.faults == []
    assert custom.console == ["high,low"] and custom.faults == []
    assert custom.kernel.sched.custom > 0  # type: ignore[attr-defined]


def test_a_strand_handler_needs_the_strands_capability() -> None:
    def main(os: Any, n: int) -> None:
        ctx = os.context_self()
        for cap in (ctx, 12345, -1):
            try:
                os.event_install("Strand.Unblock", cap, _front)
            except Exception as ex:                  # noqa: BLE001
                os.print(type(ex).__name__, getattr(ex, "errno", ""))

    run = run_program(main, 0, kernel="spin", profile="alpha")
    assert run.console == ["SyscallError EPERM", "SyscallError EBADF",
                           "SyscallError EBADF"]


def test_the_declaration_names_spins_calls_and_paths() -> None:
    d = declaration("spin")
    assert {"spin_kernel", "domain_create", "domain_resolve", "domain_combine",
            "event_install"} <= d.extensions
    assert d.paths == "exolab.kernels.spin.paths"
    for profile in ("alpha", "dec5000", "athlon64"):
        table = paths.path_table(profile)
        assert set(table) == set(paths.ROWS) and all(src for _c, src in table.values())
    calibrated = [r for r, (_c, s) in paths.path_table("alpha").items()
                  if s.startswith("calibrated")]
    assert calibrated == ["spin_pipe_op"]      # at most one SPIN row pins a path
