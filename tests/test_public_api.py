"""The public API: every name a package exports exists, and the surface stays thin."""
from __future__ import annotations

import importlib

import pytest

from exolab.kernels import KERNELS

#: the packages, and every registered kernel's package (a new kernel joins by its line)
PACKAGES = ["exolab", "exolab.machine", "exolab.kernels", "exolab.abi", "exolab.errors",
            "exolab.runner", "exolab.bench", "exolab.libos.exos",
            "exolab.kernels.common.contract", "exolab.kernels.common.stats",
            *dict.fromkeys(target.partition(":")[0] for target in KERNELS.values())]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_resolve(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    assert len(set(exported)) == len(exported), "duplicate names in __all__"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr!r}"


def test_top_level_is_thin() -> None:
    import exolab
    public = {n for n in dir(exolab) if not n.startswith("_")}
    # submodules imported as a side effect are fine; nothing else beyond __all__
    extra = {n for n in public - set(exolab.__all__)
             if not hasattr(getattr(exolab, n), "__path__") and
             type(getattr(exolab, n)).__name__ != "module"}
    assert extra == set()


def test_error_hierarchy_is_closed() -> None:
    from exolab import errors
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ExolabError)
