"""Suite ``spin``: SPIN's tables come out of structure, within the brief's bands."""
from __future__ import annotations

from exolab.bench.papers import figures, fidelity, ratios
from exolab.bench.registry import run_suites


#: user-thread rows whose monolithic/spin ratio misses the paper's (docs/spin.md: with
#: park/unpark a layered round trip is 4 calls and 2 switches on both kernels, which
#: the paper's own syscall and kernel ping-pong figures price alike; OSF/1's user
#: threads cost 6-12x its kernel threads in the paper, for reasons no source names)
USER_THREAD_MISSES = {"fork_join_user_layered", "ping_pong_user_layered",
                      "ping_pong_user_integrated"}
#: rows whose ratio misses once OSF/1's thread, switch, system-call and RPC rows are
#: derived from its source and its pmap and vm_map rows calibrated, and SPIN's system
#: call, switch, strand and fault rows counted from SPIN's source (docs/spin.md)
OSF1_DERIVED_MISSES = {"cross_as", "fork_join"}


def test_the_spin_suite_reproduces_the_papers_ratios() -> None:
    report = run_suites(["spin"], kernels=["monolithic", "spin"])
    comps = {(c.benchmark, c.kernel): c for c in fidelity(report, "spin")}
    # every OSF/1 row: monolithic/spin within 1.5x of OSF/1/SPIN, the same winner
    checked, missed = 0, set()
    for r in ratios(report, "spin"):
        if r.paper is None:
            continue
        checked += 1
        if (r.measured > 1) != (r.paper > 1) or not 1 / 1.5 <= r.measured / r.paper <= 1.5:
            missed.add(r.benchmark)
    assert checked == 15
    # the user-thread rows that miss, with their anatomy in docs/spin.md: exactly these
    assert missed == USER_THREAD_MISSES | OSF1_DERIVED_MISSES
    # rows with only SPIN's figure: SPIN's value within 1.5x
    for bench in ("inkernel_call", "vm_dirty"):
        c = comps[(bench, "spin")]
        assert c.deviation is not None and 1 / 1.5 <= c.deviation <= 1.5, c
    # at most one SPIN row and two OSF/1 rows pin a path cost
    pinned = [(f.system, f.benchmark) for f in figures("spin") if f.calibrates]
    assert sorted(pinned) == [("OSF/1", "vm_prot1"), ("OSF/1", "vm_prot100"),
                              ("SPIN", "cross_as")]


def test_spins_integrated_threads_beat_its_layered_ones_by_structure() -> None:
    """The paper's winner inside SPIN: the same traps and switches a round trip, but
    the integrated package's switches skip the trusted package's state saves; its
    fork-join takes no VM call and no fresh stack."""
    from exolab.bench.anatomy import anatomy
    for row in ("fork_join_user", "ping_pong_user"):
        lay = anatomy(f"{row}_layered", "spin", "alpha", 0, 10)
        intg = anatomy(f"{row}_integrated", "spin", "alpha", 0, 10)
        assert lay is not None and intg is not None
        assert intg.per_op < lay.per_op, (lay, intg)
        assert intg.counts["context switches"] == lay.counts["context switches"]


def test_the_in_kernel_call_takes_no_trap_and_the_syscall_one() -> None:
    from exolab.bench.anatomy import anatomy
    a = anatomy("inkernel_call", "spin", "alpha", 0, 10)
    s = anatomy("syscall", "spin", "alpha", 0, 10)
    assert a is not None and s is not None
    assert a.counts["traps"] == 0 and a.counts["upcalls"] == 0 and s.counts["traps"] == 1


def test_the_osf1_rows_say_which_are_calibrated_and_none_was_fitted() -> None:
    from exolab.kernels.monolithic import paths as mono
    table = mono.path_table("alpha")
    kind = {row: src.split(":")[0] for row, (_c, src) in table.items()}
    assert sorted(r for r, k in kind.items() if k == "calibrated") == [
        "mono_pte_op", "mono_vm_op"]                      # the two
    assert not [r for r, k in kind.items() if k.startswith("fitted")]
    assert sorted(mono.OSF1_PARTS) == [                   # derived from OSF/1's mechanism
        "mono_kswitch_path", "mono_kthread_path", "mono_pipe_op", "mono_switch_path",
        "mono_syscall_path", "mono_thread_path"]
