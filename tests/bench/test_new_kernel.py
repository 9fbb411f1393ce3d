"""A kernel registered under a new name gets its column in every suite it can run."""
from __future__ import annotations

import pytest

from exolab import kernels
from exolab.bench import registered, run_suites
from exolab.bench.anatomy import anatomy
from exolab.kernels import declaration
from exolab.kernels.monolithic import MonolithicKernel


class Mono3(MonolithicKernel):
    """The monolithic kernel under another name."""

    name = "mono3"


@pytest.fixture
def mono3(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register ``mono3`` (one registry line) for one test."""
    monkeypatch.setitem(kernels.KERNELS, "mono3", f"{__name__}:Mono3")
    return "mono3"


def test_every_all_kernel_suite_lists_the_new_kernel(mono3: str) -> None:
    for info in registered().values():
        if "*" in info.declared:
            assert mono3 in info.kernels, info.name


def test_the_new_kernel_has_a_column_with_the_same_figures(mono3: str) -> None:
    rep = run_suites(["exos-ipc", "aegis"], kernels=["monolithic", mono3], quick=True)
    mono = {(r.suite, r.benchmark): r.value for r in rep.results if r.kernel == "monolithic"}
    new = {(r.suite, r.benchmark): r.value for r in rep.results if r.kernel == mono3}
    assert new == mono and new                      # the same structure, the same cycles
    refused = [b for b in ("unalign", "coproc", "pct")
               if not registered()["aegis"].runs_on(b, mono3)]
    assert refused == ["unalign", "coproc", "pct"]  # n/a from its declaration
    assert all(mono3 in rep.notes[("aegis", b)] for b in refused)
    assert declaration(mono3) == declaration("monolithic")


def test_anatomy_and_speed_pick_it_up(mono3: str) -> None:
    a = anatomy("pipe", mono3)
    assert a is not None and a.counts["traps"] == 4
    rep = run_suites(["speed"], kernels=[mono3], quick=True)
    assert {r.benchmark for r in rep.results} >= {"syscall", "pipe_round_trip",
                                                  "fork @10 live", "boot alloc @1k frames"}


TOY = '''"""A toy kernel outside the source tree."""
from exolab.kernels.monolithic import MonolithicKernel


class Toy(MonolithicKernel):
    """The monolithic kernel under a new name."""

    name = "toy"
'''


def test_a_kernel_package_outside_the_tree_is_one_line_and_gets_measured(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package in a temp dir, one registry line: the contract holds, programs run,
    and the scale rows measure it (their measuring processes import it too)."""
    from exolab.bench.scale import paired_churn
    from exolab.kernels.common.contract import contract_errors
    from exolab.runner import run_program
    (tmp_path / "toykernel").mkdir()
    (tmp_path / "toykernel" / "__init__.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(kernels.KERNELS, "toy", "toykernel:Toy")
    assert contract_errors(kernels.kernel_class("toy")) == []
    r = run_program(lambda os: os.write(1, b"hi\n"), kernel="toy", trusted=True)
    assert r.console == ["hi"] and r.kernel.name == "toy", r.console
    low, high = paired_churn("toy", "dec5000", 0, (3, 12), 6)
    assert type(low) is tuple and type(high) is tuple, (low, high)
