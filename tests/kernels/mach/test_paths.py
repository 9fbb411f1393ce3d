"""The path table: every profile gets every row; one row is pinned, and marked."""
from __future__ import annotations

import pytest

from exolab.errors import ConfigError
from exolab.kernels.mach import paths
from exolab.machine.costs import get_profile


@pytest.mark.parametrize("profile", ["dec5000", "athlon64", "i486"])
def test_rows_are_instructions_at_the_profile_rate(profile: str) -> None:
    table = paths.path_table(profile)
    inst = get_profile(profile).instruction
    for row, (instrs, _what, _src) in paths.ROWS.items():
        assert table[row][0] == instrs * inst
    assert all(src for _c, src in table.values())


def test_exactly_one_row_is_pinned_and_says_so() -> None:
    assert len(paths.PINNED) == 1
    (row,) = paths.PINNED
    assert "CALIBRATED" in paths.ROWS[row][2]
    assert sum("CALIBRATED" in src for _i, _w, src in paths.ROWS.values()) == 1


def test_overrides_are_checked() -> None:
    assert paths.resolve("dec5000", {"mach_switch": 7})["mach_switch"] == 7
    with pytest.raises(ConfigError):
        paths.resolve("dec5000", {"nonsense": 1})
    with pytest.raises(ConfigError):
        paths.resolve("dec5000", {"mach_switch": -1})
