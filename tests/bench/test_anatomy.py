"""The anatomy of a benchmark: per-iteration structure, the same on every run."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from exolab.bench.anatomy import anatomy, program_of
from exolab.bench.registry import find_program
from exolab.kernels import declaration, kernel_names
from exolab.cli import app
from exolab.errors import ConfigError
from exolab.records import flatten


def test_a_pipe_round_trip_on_each_kernel() -> None:
    mono, exo = anatomy("pipe", "monolithic"), anatomy("pipe", "exokernel")
    assert mono is not None and exo is not None
    assert mono.iteration == exo.iteration == "a round trip: two one-way transfers"
    # BSD: a write and a read on each side, each a trap, and a sleep/wakeup per hop
    assert mono.counts["traps"] == 4 and mono.counts["monolithic: syscalls"] == 4
    assert mono.counts["context switches"] == 2
    assert mono.counts["monolithic: sched.sleeps"] == 2
    # ExOS: the ring is in shared memory; the only kernel entries are the yields
    assert exo.counts["traps"] == 2 and exo.counts["exokernel: sched.yields"] == 2
    assert exo.counts["memory accesses"] > 0 and mono.counts["memory accesses"] == 0
    # ... but not fewer copies: copyin + copyout there, bcopy in + out of the ring here
    assert mono.counts["copies"] == exo.counts["copies"] == 4
    assert mono.counts["bytes copied"] == exo.counts["bytes copied"] == 16
    # the table's one-way value is half the iteration (timed in full)
    assert mono.per_op == pytest.approx(mono.counts["cycles"] / 2, rel=0.05)
    assert exo.per_op == pytest.approx(exo.counts["cycles"] / 2, rel=0.05)


def test_the_null_call_is_one_kernel_entry_and_a_pct_crosses_two_address_spaces() -> None:
    # one kernel entry on every kernel; a trap where the personality enters the
    # kernel through a raw trap (its declaration names it), else a procedure call
    for kernel in kernel_names():
        a = anatomy("syscall", kernel)
        assert a is not None and a.counts[f"{kernel}: syscalls"] == 1
        traps = 0 if declaration(kernel).raw_entry is None else 1
        assert a.counts["traps"] == traps and a.counts["upcalls"] == 0, kernel
    pct = anatomy("pct", "exokernel")
    assert pct is not None and pct.counts["exokernel: pcts"] == 1
    assert pct.counts["address-space loads"] == 2 and pct.counts["upcalls"] == 1
    for kernel in kernel_names():                            # no PCT there: n/a
        if not declaration(kernel).provides({"pct_call"}):
            assert anatomy("pct", kernel) is None


def test_it_is_deterministic_and_independent_of_n() -> None:
    a, b = anatomy("shm", "exokernel", n=10), anatomy("shm", "exokernel", n=10)
    c = anatomy("shm", "exokernel", n=40)
    assert a == b
    assert a is not None and c is not None
    assert a.counts["context switches"] == c.counts["context switches"]


def test_unknown_benchmark_and_flatten() -> None:
    with pytest.raises(ConfigError):
        program_of("nosuch")
    a = anatomy("api_call", "monolithic")
    assert a is not None
    assert "counts" not in dict(flatten(a))                 # a dict is not a scalar
    assert ("benchmark", "api_call") in flatten(a)


def test_the_explain_command() -> None:
    res = CliRunner().invoke(app, ["explain", "pipe"])
    assert res.exit_code == 0, res.output
    for text in ("monolithic", "exokernel", "traps", "context switches",
                 "monolithic: sched.sleeps", "one iteration: a round trip"):
        assert text in res.output, text
    bad = CliRunner().invoke(app, ["explain", "nosuch"])
    assert bad.exit_code == 2 and "unknown benchmark" in bad.output


def test_explain_writes_json(tmp_path) -> None:
    path = tmp_path / "pipe.json"
    res = CliRunner().invoke(app, ["explain", "pipe", "--json", str(path)])
    assert res.exit_code == 0, res.output
    doc = json.loads(path.read_text())
    assert doc["benchmark"] == "pipe" and doc["profile"] == "dec5000"
    assert doc["kernels"]["monolithic"]["per_iteration"]["traps"] == 4
    info = find_program("pipe")                 # every kernel that can run it
    assert set(doc["kernels"]) == {k for k in kernel_names() if info.runs_on("pipe", k)}
    assert len(doc["kernels"]) >= 2
