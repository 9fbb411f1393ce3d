"""Every kernel's trap numbers are distinct: an IntEnum silently turns a second
member with the same value into an alias, and the call table then loses one
handler (two helpers once gave XN_ADOPT and NET_ADDR the number 74)."""
import importlib
from enum import IntEnum

import pytest

MODULES = ["exolab.kernels.monolithic.syscall", "exolab.kernels.exokernel.syscall"]


@pytest.mark.parametrize("name", MODULES)
def test_no_call_number_is_an_alias(name):
    sys_enum = importlib.import_module(name).Sys
    assert issubclass(sys_enum, IntEnum)
    aliases = {n: int(v) for n, v in sys_enum.__members__.items() if v.name != n}
    assert aliases == {}


@pytest.mark.parametrize("name", MODULES)
def test_every_call_has_a_table_entry(name):
    mod = importlib.import_module(name)
    assert set(mod.TABLE) == set(mod.Sys)
