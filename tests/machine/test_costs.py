"""Tests of exolab.machine.costs: the cost profiles and their sources."""
from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.errors import ConfigError
from exolab.machine import costs
from exolab.machine.costs import PROFILES, CostProfile, get_profile, profile_sources

NOT_COSTS = {"name", "description", "disk", "nic", "sources", "mmu", "cache"}
COST_FIELDS = [f.name for f in dataclasses.fields(CostProfile) if f.name not in NOT_COSTS]
NAMES = sorted(PROFILES)


def test_the_paper_machines_are_there() -> None:
    assert {"dec5000", "athlon64", "i486"} <= set(PROFILES)
    for name, prof in PROFILES.items():
        assert prof.name == name
        assert get_profile(name) is prof


@pytest.mark.parametrize("name", NAMES)
def test_every_field_has_a_source(name: str) -> None:
    prof = get_profile(name)
    assert set(prof.sources) == set(COST_FIELDS)
    for key in COST_FIELDS:
        src = prof.sources[key]
        assert isinstance(src, str) and len(src.strip()) >= 8, (name, key, src)


@pytest.mark.parametrize("name", NAMES)
def test_values_are_sane(name: str) -> None:
    prof = get_profile(name)
    for key in COST_FIELDS:
        value = getattr(prof, key)
        assert isinstance(value, int) and not isinstance(value, bool), key
        assert value >= 0, key
    assert prof.mhz > 0 and prof.tlb_entries > 0 and prof.asid_bits > 0
    assert 0 <= prof.tlb_wired < prof.tlb_entries
    assert prof.disk.rpm > 0 and prof.nic.wire_mbit > 0
    assert prof.nic.min_frame < prof.nic.max_frame


def test_unknown_profile_raises_config_error_listing_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        get_profile("pdp11")
    err = info.value
    assert err.name == "pdp11"
    assert err.expected == NAMES
    for name in NAMES:
        assert name in str(err)


def test_profile_sources_is_a_copy() -> None:
    src = profile_sources("dec5000")
    assert src == get_profile("dec5000").sources
    src["trap_entry"] = "tampered"
    assert get_profile("dec5000").sources["trap_entry"] != "tampered"
    with pytest.raises(ConfigError):
        profile_sources("nonesuch")


def test_profiles_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_profile("dec5000").trap_entry = 1  # type: ignore[misc]


def _rows(prof: CostProfile) -> list[tuple[str, int, str]]:
    return [(k, getattr(prof, k), prof.sources[k]) for k in COST_FIELDS]


def test_table_builder_rejects_missing_extra_and_duplicate_rows() -> None:
    base = get_profile("dec5000")
    rows = _rows(base)
    rebuilt = costs._profile("copy", "d", base.disk, base.nic, rows)
    assert rebuilt == dataclasses.replace(base, name="copy", description="d")
    with pytest.raises(ConfigError) as info:
        costs._profile("x", "d", base.disk, base.nic, rows[1:])
    assert info.value.missing == [rows[0][0]]
    with pytest.raises(ConfigError) as info:
        costs._profile("x", "d", base.disk, base.nic, rows + [("warp_drive", 1, "s")])
    assert info.value.extra == ["warp_drive"]
    with pytest.raises(ConfigError) as info:
        costs._profile("x", "d", base.disk, base.nic, rows + [rows[0]])
    assert info.value.field == rows[0][0]


def test_time_conversions() -> None:
    dec = get_profile("dec5000")               # 25 MHz
    assert dec.us_to_cycles(1.6) == 40         # the Aegis null syscall
    assert dec.cycles_to_us(40) == pytest.approx(1.6)
    assert dec.us_to_cycles(0) == 0


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(NAMES), st.integers(0, 1 << 20))
def test_copy_cost_rounds_up(name: str, nbytes: int) -> None:
    prof = get_profile(name)
    assert prof.copy_cost(nbytes) == math.ceil(nbytes * prof.copy_per_kib / 1024)
    assert prof.copy_cost(1024) == prof.copy_per_kib


def test_the_i486_profile_carries_the_l3_papers_hardware_rows() -> None:
    p = get_profile("i486")
    assert (p.mhz, p.trap_entry, p.trap_exit) == (50, 71, 36)          # int, iret
    assert (p.tlb_entries, p.tlb_tagged, p.tlb_miss_entry) == (32, 0, 9)
    assert p.trap_entry + p.trap_exit == 107                            # SOSP'95 4.1.1
    assert "SOSP'93" in p.sources["trap_entry"]
