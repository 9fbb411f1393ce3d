"""The shared path-override decoder (kernels/common/paths.py)."""
import pytest

from exolab.errors import ConfigError
from exolab.kernels.common.paths import override


def test_overrides_replace_known_rows_only():
    assert override({"a": 1, "b": 2}, {"b": 7}, "k") == {"a": 1, "b": 7}
    assert override({"a": 1}, None, "k") == {"a": 1}


@pytest.mark.parametrize("bad", [[("a", 1)], {"zz": 1}, {"a": -1}, {"a": 1.5}, {"a": True},
                                 {"b": 5, "a": -1}])
def test_bad_overrides_are_config_errors_that_change_nothing(bad):
    costs = {"a": 1, "b": 2}
    with pytest.raises(ConfigError):
        override(costs, bad, "k")
    assert costs == {"a": 1, "b": 2}


@pytest.mark.parametrize("kernel", ["monolithic", "singularity", "mach", "l4", "spin"])
def test_every_kernel_decodes_paths_the_same_way(kernel):
    import importlib
    from exolab.kernels import declaration
    mod = importlib.import_module(declaration(kernel).paths)
    profile = {"singularity": "athlon64", "mach": "i486", "l4": "i486",
               "spin": "alpha"}.get(kernel, "dec5000")
    with pytest.raises(ConfigError, match=f"unknown {kernel} path row"):
        mod.resolve(profile, {"no_such_row": 1})
