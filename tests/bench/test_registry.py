"""The suite registry and runner: selection, kernels, errors, row checks."""
from __future__ import annotations

import pytest

from exolab.bench import registry
from exolab.bench.registry import SuiteOutput, get_suite, registered, run_suites, suite
from exolab.bench.results import PaperRow
from exolab.errors import ConfigError


@pytest.fixture
def fake_suites(monkeypatch):
    """Register two throwaway suites for the duration of a test."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry.registered()))
    seen = []

    @suite("fake", kernels=("none", "monolithic"), default_profile="athlon64",
           description="a fake")
    def fake(ctx):
        seen.append(ctx)
        rows = [ctx.result("op", k, 2.0, "us") for k in ctx.kernels]
        paper = [PaperRow("fake", "op", "Linux", "Athlon 64", 3.0, "us", "a paper")]
        return SuiteOutput(rows, paper, {"op": "hello", "": "suite note"})

    @suite("rogue")
    def rogue(ctx):
        return SuiteOutput([ctx.result("op", "exokernel", 1.0, "us")])
    return seen


def test_speed_is_registered() -> None:
    info = get_suite("speed")
    assert info.kernels[0] == "none" and "monolithic" in info.kernels
    assert "speed" in registered()
    assert "speed" in info.description


def test_unknown_suite_lists_choices() -> None:
    with pytest.raises(ConfigError) as err:
        run_suites(["nope"])
    assert err.value.expected == sorted(registered()) and "nope" in str(err.value)


def test_unknown_profile() -> None:
    with pytest.raises(ConfigError):
        run_suites(["speed"], "vax780", quick=True)


def test_kernel_selection(fake_suites) -> None:
    rep = run_suites(["fake"], kernels=["monolithic"], quick=True)
    assert [r.kernel for r in rep.results] == ["monolithic"]
    ctx = fake_suites[-1]
    assert (ctx.profile, ctx.kernels, ctx.quick, ctx.seed) == \
        ("athlon64", ("monolithic",), True, 0)
    assert ctx.cost_profile.name == "athlon64"
    assert rep.profile == "athlon64"
    assert rep.notes[("fake", "")] == "profile athlon64; suite note"
    assert rep.notes[("fake", "op")] == "hello"
    with pytest.raises(ConfigError) as err:
        run_suites(["fake"], kernels=["l4"])
    assert err.value.expected == ["monolithic", "none"]


def test_explicit_profile_and_all_kernels(fake_suites) -> None:
    rep = run_suites(["fake", "fake"], "dec5000", seed=5)
    assert [r.kernel for r in rep.results] == ["none", "monolithic"]
    assert (rep.profile, rep.seed, len(rep.paper)) == ("dec5000", 5, 1)


def test_foreign_rows_rejected(fake_suites) -> None:
    with pytest.raises(ConfigError):
        run_suites(["rogue"])


def test_double_registration_rejected(fake_suites) -> None:
    with pytest.raises(ConfigError):
        suite("fake")(lambda ctx: SuiteOutput([]))


def test_suites_carry_their_programs() -> None:
    """The table and aegis suites declare programs, sizes, iterations and units."""
    from exolab.bench.registry import find_program, program_suites
    names = [info.name for info in program_suites()]
    base = ["singularity", "exos-ipc", "exos-vm", "aegis"]      # later suites join them
    assert [n for n in names if n in base] == base and "net" in names
    ipc = get_suite("exos-ipc")
    assert ipc.unit == "us" and ipc.profile == "dec5000" and "pipe'" in ipc.programs
    assert ipc.iteration_of("pipe").startswith("a round trip")
    assert ipc.iteration_of("lrpc") == "one operation"
    assert get_suite("singularity").iterations("process_creation", quick=True) == 4
    assert find_program("pct").name == "aegis" and find_program("trap").name == "exos-vm"
    assert not get_suite("speed").programs
    with pytest.raises(ConfigError):
        find_program("nosuch")


def test_suite_order_follows_suite_modules_not_import_order() -> None:
    """find_program picks the first suite declaring a benchmark, so the order
    must not depend on which test module imported a suite first."""
    from exolab.bench.registry import SUITE_MODULES, registered
    rank = {m: i for i, m in enumerate(SUITE_MODULES)}
    ranks = [rank.get(info.fn.__module__, len(rank)) for info in registered().values()]
    assert ranks == sorted(ranks)
