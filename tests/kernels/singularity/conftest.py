"""Register the Singularity kernel while these tests run (it is not in the registry
yet: see docs/singularity.md, "Status"), and remove it afterwards."""
from __future__ import annotations

from typing import Iterator

import pytest

from exolab import kernels

NAME = "singularity"
TARGET = "exolab.kernels.singularity:Singularity"


@pytest.fixture(scope="package", autouse=True)
def singularity_registered() -> Iterator[str]:
    """One registry line, for as long as this package's tests run."""
    added = NAME not in kernels.KERNELS
    if added:
        kernels.KERNELS[NAME] = TARGET
    try:
        yield NAME
    finally:
        if added:
            del kernels.KERNELS[NAME]
