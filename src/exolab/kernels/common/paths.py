"""Path-cost overrides: the one decoder every kernel's ``paths=`` option uses.

A kernel's software path costs are a table per profile (``kernels/<k>/paths.py``);
its constructor takes ``paths={row: cycles}`` to put other costs over them
(calibration fits through this, and tests pin rows). The decoding is the same
everywhere, so it lives here.

Interface::

    override(costs, overrides, kernel) -> costs    ``overrides`` put over ``costs``
"""
from __future__ import annotations

from typing import Any

from exolab.errors import ConfigError

__all__ = ["override"]


def override(costs: dict[str, int], overrides: Any, kernel: str) -> dict[str, int]:
    """Put ``overrides`` (None, or a dict of known row -> int >= 0 cycles) over
    ``costs`` in place and return it; ConfigError naming the row otherwise, and
    then nothing is changed (every row is decoded before any is applied)."""
    if overrides is None:
        return costs
    if type(overrides) is not dict:
        raise ConfigError("paths must be a dict of row -> cycles", kernel=kernel,
                          paths=type(overrides).__name__)
    for row, cycles in overrides.items():
        if row not in costs:
            raise ConfigError(f"unknown {kernel} path row", row=str(row),
                              expected=sorted(costs))
        if type(cycles) is not int or cycles < 0:
            raise ConfigError("a path costs an int >= 0 cycles", row=row, cycles=str(cycles))
    costs.update(overrides)
    return costs
