"""The monolithic kernel's path tables (paths.py): one per profile, a source per row,
overrides at construction, and the page size it accepts."""
from __future__ import annotations

import dataclasses

import pytest

from exolab.errors import ConfigError
from exolab.kernels import make_kernel
from exolab.kernels.monolithic import MonolithicKernel
from exolab.kernels.monolithic.paths import OPTIONAL, ROWS, TABLES, path_table, resolve
from exolab.machine.costs import CostProfile, PROFILES
from exolab.machine.machine import Machine


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_profile_has_every_row_with_a_source(profile: str) -> None:
    table = path_table(profile)
    assert set(ROWS) <= set(table) <= set(ROWS) | set(OPTIONAL)    # OPTIONAL: 0 elsewhere
    for row, (cycles, source) in table.items():
        assert type(cycles) is int and cycles >= 0, row
        assert type(source) is str and len(source) > 10, row


def test_hardware_profiles_hold_no_kernel_path_rows() -> None:
    names = {f.name for f in dataclasses.fields(CostProfile)}
    assert not names & set(ROWS)
    assert not any(n.startswith("mono_") for n in names)


def test_overrides_reach_the_charged_paths_and_bad_ones_are_config_errors() -> None:
    k = make_kernel("monolithic", Machine("dec5000"), paths={"mono_pipe_op": 1,
                                                              "mono_switch_path": 2})
    assert isinstance(k, MonolithicKernel)
    assert (k.c_pipe_op, k.sched.c_switch) == (1, 2)
    assert k.paths["mono_syscall_path"] == TABLES["dec5000"]["mono_syscall_path"][0]
    for bad in ({"nope": 1}, {"mono_pipe_op": -1}, {"mono_pipe_op": 1.5}, [("a", 1)]):
        with pytest.raises(ConfigError):
            resolve("dec5000", bad)
    with pytest.raises(ConfigError):
        path_table("pdp11")


def test_an_override_changes_the_measured_cycles_linearly() -> None:
    from exolab.apps.microbench import PROGRAMS

    def cycles(pipe_op: int) -> float:
        k = MonolithicKernel(Machine("dec5000"), paths={"mono_pipe_op": pipe_op})
        k.boot(PROGRAMS["pipe"], 20)
        k.run()
        return float(next(x for x in k.console if x.startswith("RESULT ")).split()[1])

    a, b, c = cycles(700), cycles(800), cycles(900)
    assert b > a and abs((c - b) - (b - a)) < 1e-6 * b


@pytest.mark.parametrize("page_size", [1024, 8192, 16384])
def test_any_page_size_but_4_kib_is_refused_with_a_config_error(page_size: int) -> None:
    with pytest.raises(ConfigError) as info:
        MonolithicKernel(Machine("dec5000", page_size=page_size))
    assert "4 KiB" in str(info.value)


def test_calibration_fits_kernel_rows_through_the_paths_override() -> None:
    from exolab.bench.calibrate import path_tables, targets
    ts = targets("dec5000")
    assert {t.field for t in ts} >= {"mono_pipe_op", "mono_switch_path"}
    assert all(t.where == "paths" for t in ts if t.field in ROWS)
    assert set(ROWS) <= set(path_tables("dec5000")["monolithic"]) <= set(ROWS) | set(OPTIONAL)
