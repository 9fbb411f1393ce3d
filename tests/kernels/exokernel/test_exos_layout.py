"""ExOS's layout helpers and the binding-flag rule (libos/exos/layout.py, vm.py)."""
from __future__ import annotations

import pytest

from exolab.errors import SyscallError
from exolab.kernels.exokernel.bind import VALID, WRITABLE
from exolab.libos.exos import layout as L
from exolab.libos.exos.vm import bind_flags, prot_flags


def test_addresses_derive_from_the_page_numbers() -> None:
    assert L.PAGE == 1 << L.SHIFT
    assert L.SAVE_VA == L.EXOS_VPN << L.SHIFT
    assert L.MISC_VA == L.MISC_VPN << L.SHIFT
    assert L.fd_addr(0) == L.MISC_VA + L.FD_OFF
    assert L.fd_addr(L.MAX_FDS - 1) + L.FD_SIZE <= L.MISC_VA + L.PAGE


def test_save_area_regions_do_not_overlap() -> None:
    scratch_end = 3 * 4                         # Aegis's 3 scratch registers
    assert scratch_end <= L.SAVE_FAULT
    assert L.SAVE_FAULT + 8 <= L.SAVE_FRAME     # vaddr, write
    assert L.SAVE_FRAME + 3 * 4 <= L.SAVE_CALLEE
    assert L.SAVE_CALLEE + 4 * L.CALLEE_SAVED <= L.PAGE


def test_misc_words_do_not_overlap() -> None:
    assert L.MISC_EXC + 4 * 4 <= L.MISC_PCT_COUNT < L.FD_OFF


def test_prot_flags_decodes() -> None:
    assert prot_flags(0) == 0
    assert prot_flags(3) == L.P_READ | L.P_WRITE
    for bad in (4, -1, True, "3", None):
        with pytest.raises(SyscallError) as ei:
            prot_flags(bad)
        assert ei.value.errno == "EINVAL"


@pytest.mark.parametrize("flags, writable", [
    (L.P_READ, False),
    (L.P_READ | L.P_WRITE, False),                          # clean: first store faults
    (L.P_READ | L.P_WRITE | L.P_DIRTY, True),
    (L.P_READ | L.P_WRITE | L.P_DIRTY | L.P_COW, False),    # shared until copied
])
def test_bind_flags_writable_only_when_dirty_and_private(flags: int, writable: bool) -> None:
    assert bind_flags(flags) == VALID | (WRITABLE if writable else 0)
