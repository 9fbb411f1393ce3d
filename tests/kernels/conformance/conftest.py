"""Run every conformance test on every registered kernel and on a throwaway one.

The throwaway kernel (``kit.THROWAWAY``) is registered in
:data:`exolab.kernels.KERNELS` for as long as this package's tests run, and
removed after them, so no other test sees it.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from exolab import kernels

from .kit import THROWAWAY, Throwaway, kit_kernels


def pytest_generate_tests(metafunc: Any) -> None:
    """Parametrize every test that takes ``kernel`` over the kit's kernels."""
    if "kernel" in metafunc.fixturenames:
        metafunc.parametrize("kernel", kit_kernels())


@pytest.fixture(scope="package", autouse=True)
def throwaway_kernel() -> Iterator[str]:
    """Register the throwaway kernel (one registry line) while the kit runs."""
    assert THROWAWAY not in kernels.KERNELS
    kernels.KERNELS[THROWAWAY] = f"{Throwaway.__module__}:{Throwaway.__name__}"
    try:
        yield THROWAWAY
    finally:
        del kernels.KERNELS[THROWAWAY]
