"""C-Threads placed two ways: the layered user-level package (apps/cthreads) on
every kernel, SPIN's integrated package (kernels/spin/cthreads) on the Strand
events; the same results, different structure."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.apps.cthreads import COSTS, CThreads
from exolab.errors import SyscallError
from exolab.runner import run_program


def _square(os: Any, x: int) -> int:
    return x * x


def _forks(os: Any, values: list[int], integrated: bool) -> None:
    """Fork one cthread per value, join them in reverse order, print the results."""
    ct = CThreads(os, integrated)
    handles = [ct.fork(_square, v) for v in values]
    out = [ct.join(h) for h in reversed(handles)]
    os.print(ct.placement, ",".join(str(x) for x in out))


def _consumer(os: Any, ct: Any, m: Any, c: Any, box: list[int], got: list[int],
              n: int) -> int:
    ct.lock(m)
    for _ in range(n):
        while not box:
            ct.wait(c, m)
        got.append(box.pop(0))
        ct.signal(c)
    ct.unlock(m)
    return len(got)


def _producer_consumer(os: Any, items: list[int], integrated: bool) -> None:
    """A one-slot buffer between two cthreads: every item arrives, in order."""
    ct = CThreads(os, integrated)
    m, c = ct.mutex(), ct.condition()
    box: list[int] = []
    got: list[int] = []
    h = ct.fork(_consumer, ct, m, c, box, got, len(items))
    ct.lock(m)
    for x in items:
        while box:
            ct.wait(c, m)
        box.append(x)
        ct.signal(c)
    ct.unlock(m)
    os.print(ct.join(h), ",".join(str(x) for x in got))


def _run(program: Any, *args: Any, kernel: str = "spin") -> Any:
    run = run_program(program, *args, kernel=kernel, profile="alpha")
    assert run.faults == [], run.faults
    return run


def test_fork_join_returns_each_cthreads_value_in_both_placements() -> None:
    vals = [3, 1, 4, 1, 5]
    want = ",".join(str(v * v) for v in reversed(vals))
    assert _run(_forks, vals, False).console == [f"layered {want}"]
    assert _run(_forks, vals, True).console == [f"integrated {want}"]
    mono = _run(_forks, vals, True, kernel="monolithic")     # no package: layered
    assert mono.console == [f"layered {want}"]


@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(0, 99), min_size=1, max_size=6), st.booleans())
def test_a_mutex_and_condition_pass_every_item_in_order(items: list[int],
                                                         integrated: bool) -> None:
    run = _run(_producer_consumer, items, integrated)
    assert run.console == [f"{len(items)} {','.join(str(x) for x in items)}"]


def test_the_integrated_package_handles_the_strand_events_of_its_strands() -> None:
    run = _run(_producer_consumer, [1, 2, 3], True)
    pkg = run.kernel.cthreads.statistics()  # type: ignore[attr-defined]
    assert pkg.forked == 1 and pkg.joined == 1
    assert pkg.waits >= 1 and pkg.signals >= 3
    assert pkg.handled > 0                          # Block/Unblock/Checkpoint/Resume
    assert run.kernel.sched.custom > 0  # type: ignore[attr-defined]


def _fork_join_n(os: Any, n: int, integrated: bool) -> None:
    ct = CThreads(os, integrated)
    for _ in range(n):
        ct.join(ct.fork(_square, 2))


def test_layered_maps_a_stack_per_cthread_integrated_takes_its_strands_from_a_cache() -> None:
    def delta(kernel: str, integrated: bool) -> tuple[int, int, int]:
        a = _run(_fork_join_n, 2, integrated, kernel=kernel)
        b = _run(_fork_join_n, 4, integrated, kernel=kernel)
        sa, sb = a.machine.cpu.statistics(), b.machine.cpu.statistics()
        za = a.machine.memory.statistics().bytes_zeroed
        zb = b.machine.memory.statistics().bytes_zeroed
        return (sb.traps - sa.traps) // 2, (zb - za) // 2, \
            (b.result.cycles - a.result.cycles) // 2
    lay_traps, lay_zero, lay_cycles = delta("spin", False)
    int_traps, int_zero, int_cycles = delta("spin", True)
    # layered: mmap, mprotect (guard), thread_create, park, unpark, munmap
    assert lay_traps == 6 and lay_zero > 0
    # integrated: fork and join, one system call each; no fresh memory
    assert int_traps == 2 and int_zero == 0
    assert int_cycles < lay_cycles
    mono_traps, _z, _cycles = delta("monolithic", False)
    assert mono_traps == lay_traps      # the same calls; what they cost is each kernel's
    #   (which kernel's layered fork-join is dearer follows OSF/1's thread row)


def _bad_refs(os: Any, n: int) -> None:
    ct = CThreads(os, True)
    ctx = os.context_self()             # (taken first: a released index is reused)
    h = ct.fork(_square, 3)
    os.print("value", os.cthread_join(h.ref))
    for ref, what in ((h.ref, "joined twice"), (12345, "never issued"),
                      (ctx, "a context")):
        try:
            os.cthread_join(ref)
        except Exception as ex:                  # noqa: BLE001
            os.print(what, getattr(ex, "errno", "?"))
    try:
        os.cthread_wait(os.strand_self())
    except Exception as ex:                      # noqa: BLE001
        os.print("wait on a strand", getattr(ex, "errno", "?"))
    try:
        os.cthread_fork(42, ())
    except Exception as ex:                      # noqa: BLE001
        os.print("fork a non-function", getattr(ex, "errno", "?"))


def test_the_packages_references_are_checked_at_every_call() -> None:
    run = _run(_bad_refs, 0)
    assert run.console == ["value 9", "joined twice EBADF", "never issued EBADF",
                           "a context EPERM", "wait on a strand EPERM",
                           "fork a non-function EINVAL"]


def test_the_library_costs_have_sources() -> None:
    assert COSTS and all(c > 0 and s.startswith("estimate:") for c, s in COSTS.values())


def _slow(os: Any, n: int) -> int:
    for _ in range(n):
        os.thread_yield()
    return n


def _second_joiner(os: Any, ref: int, log: list[str]) -> None:
    try:
        os.cthread_join(ref)
    except Exception as ex:                      # noqa: BLE001
        log.append(getattr(ex, "errno", "?"))


def _two_joiners(os: Any, n: int) -> None:
    ref = os.cthread_fork(_slow, (5,))
    log: list[str] = []
    os.thread_create(_second_joiner, ref, log)
    os.print("first", os.cthread_join(ref))
    while not log:
        os.thread_yield()
    os.print("second", log[0])


def test_a_cthread_is_joined_once_even_by_two_strands_at_a_time() -> None:
    run = _run(_two_joiners, 0)
    assert run.console in (["first 5", "second EINVAL"], ["first 5", "second EBADF"])


def _three(os: Any, n: int) -> None:
    ct = CThreads(os, True)
    hs = [ct.fork(_square, v) for v in (1, 2, 3)]
    os.print(ct.placement, ",".join(str(ct.join(h)) for h in hs))


def test_the_layered_package_runs_on_every_kernel() -> None:
    for kernel, profile in (("exokernel", "dec5000"), ("l4", "i486"),
                            ("singularity", "athlon64"), ("mach", "dec5000")):
        run = run_program(_three, 0, kernel=kernel, profile=profile)
        assert run.faults == [] and run.console == ["layered 1,4,9"], kernel


def _signaller(os: Any, cond: int) -> int:
    try:
        os.cthread_signal(cond)
    except SyscallError:
        pass
    return 7


def _random_calls(os: Any, ops: list[tuple[str, int]], log: list[str]) -> None:
    """Random package calls on live, dead, foreign and made-up references; every
    one returns or raises a SyscallError (logged), nothing else."""
    refs = [os.context_self(), os.strand_self()]
    for op, k in ops:
        ref = refs[k % len(refs)] if k >= 0 else k
        try:
            if op == "fork":
                refs.append(os.cthread_fork(_signaller, (ref,)))
            elif op == "join":
                log.append(str(os.cthread_join(ref)))
            elif op == "condition":
                refs.append(os.cthread_condition())
            elif op == "signal":
                os.cthread_signal(ref)
            else:
                os.ref_release(ref)
        except SyscallError as ex:
            log.append(ex.errno)
    os.print("done", len(log))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["fork", "join", "condition", "signal",
                                            "release"]), st.integers(-3, 12)),
                max_size=25))
def test_random_package_calls_only_ever_fail_with_an_errno(ops: list[tuple[str, int]]) -> None:
    log: list[str] = []
    run = run_program(_random_calls, ops, log, kernel="spin", profile="alpha")
    assert run.machine.panic is None and run.faults == [], run.faults
    assert run.console == [f"done {len(log)}"]
    assert set(log) <= {"7", "EBADF", "EPERM", "EINVAL"}, log


PROGRAM_FILE = '''
from exolab.apps.cthreads import CThreads


def double(os, x):
    return 2 * x


def main(os, tamper):
    ct = CThreads(os, True)
    if tamper:
        CThreads.fork = double
    os.print(ct.placement, ct.join(ct.fork(double, 21)))
'''


def test_a_program_file_imports_the_package_but_cannot_change_it() -> None:
    from exolab.safe.load import load_program_source
    main = load_program_source(PROGRAM_FILE)
    ok = run_program(main, False, kernel="spin", profile="alpha")
    assert ok.console == ["integrated 42"] and ok.faults == []
    bad = run_program(main, True, kernel="spin", profile="alpha")
    assert bad.console == [] and "sealed" in bad.faults[0][1]
    assert CThreads.fork is not None and CThreads.fork.__name__ == "fork"


def _ping_pong(os: Any, n: int, integrated: bool) -> None:
    """``n`` round trips between two cthreads (a mutex, a condition, a turn word)."""
    ct = CThreads(os, integrated)
    m, c, turn = ct.mutex(), ct.condition(), [0]

    def pong(os: Any) -> None:
        ct.lock(m)
        for _ in range(n):
            while turn[0] != 1:
                ct.wait(c, m)
            turn[0] = 0
            ct.signal(c)
        ct.unlock(m)

    h = ct.fork(pong)
    ct.lock(m)
    for _ in range(n):
        turn[0] = 1
        ct.signal(c)
        while turn[0] != 0:
            ct.wait(c, m)
    ct.unlock(m)
    ct.join(h)
    st_ = ct.statistics()
    os.print(st_.placement, st_.parks, st_.unparks, st_.yields)


def _delta(kernel: str, integrated: bool) -> tuple[int, int, int, int]:
    """Per round trip: cycles, traps, switches, Strand events handled."""
    def one(n: int) -> tuple[int, int, int, int]:
        run = _run(_ping_pong, n, integrated, kernel=kernel)
        k: Any = run.kernel
        handled = k.dispatcher.statistics().handled if kernel == "spin" else 0
        return (run.result.cycles, run.machine.cpu.statistics().traps,
                k.sched.statistics().switches, handled)
    a, b = one(4), one(8)
    return tuple((y - x) // 4 for x, y in zip(a, b))  # type: ignore[return-value]


def test_layered_waiters_block_in_the_kernel_not_by_polling() -> None:
    """A layered wait parks the kernel thread, a signal unparks it: no thread_yield;
    a round trip is two parks, two unparks and two switches on every kernel."""
    for kernel in ("monolithic", "spin", "mach"):
        run = _run(_ping_pong, 6, False, kernel=kernel)
        placement, parks, unparks, yields = run.console[-1].split()
        assert placement == "layered" and int(yields) == 0
        assert int(parks) >= 11 and int(unparks) >= 11    # (the first signal: no waiter)
        cycles, traps, switches, _h = _delta(kernel, False)
        assert switches == 2 and traps == 4     # (Mach: a receive and a send, 2 messages)


def test_spin_layered_parks_go_through_user_space_thread_and_the_strand_events() -> None:
    run = _run(_ping_pong, 4, False)
    k: Any = run.kernel
    park = k.parking.statistics()
    assert park.slept >= 7 and park.woken >= 7
    assert k.parking.handled >= 2 * park.slept      # Block and Unblock, each handled


def test_integrated_beats_layered_on_spin_by_the_packages_switch() -> None:
    """Both placements: 4 traps and 2 switches a round trip; a layered call goes
    through the extensions of Mach's kernel-thread interface (the emulator's decode,
    the handle internalized, UserSpaceThread), an integrated one is the package's
    own lighter call, and the integrated package saves its cthreads' state itself
    (SAVED), leaving out the trusted package's state saves (SPIN's source: the
    per-call work is most of the difference)."""
    from exolab.kernels.spin.paths import resolve
    lay = _delta("spin", False)
    intg = _delta("spin", True)
    assert lay[1:3] == intg[1:3] == (4, 2)
    assert intg[3] > lay[3]                          # it handles more Strand events
    assert intg[0] < lay[0]
    r = resolve("alpha")
    calls = 4 * (r["spin_kthread_op"] - r["spin_cthread_op"])
    assert calls <= lay[0] - intg[0] <= calls + 2 * 2 * r["spin_strand_state"]
