"""Where mmap puts regions (kernels/monolithic/vm.py: AddressSpace.map_region).

A state machine maps and unmaps in a small user space (USER_TOP lowered to a
few hundred pages, so the bump pointer runs out within an example) beside a
program image. Whatever the order: no two regions share a page, none touches
the image, each (and the image) has a free guard page after it, and a request fails with
ENOMEM only when no hole of its size (and guard) is left.
"""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exolab.abi import PROT_RW
from exolab.errors import SyscallError
from exolab.kernels.monolithic import vm as vmmod
from exolab.kernels.monolithic.vm import VM, AddressSpace

BASE = vmmod.USER_BASE >> 12
TOP_PAGES = 300                       # the user space of these examples, in pages
IMAGE = (BASE + 40, BASE + 56)        # a 16-page image inside it


class _Frames:
    def unref(self, ppn: int) -> bool:
        return True


class _CPU:
    def charge(self, cycles: int) -> None:
        pass

    def tlb_invalidate(self, vpn: int, asid: int) -> None:
        pass


def _vm() -> Any:
    vm = VM.__new__(VM)
    vm.frames, vm.c_pte = _Frames(), 0
    return vm


class Placement(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.space = AddressSpace(1, image=IMAGE)
        self.vm = _vm()

    def _taken(self) -> set[int]:
        return {v for r in self.space.regions for v in range(r.start_vpn, r.start_vpn + r.npages)}

    def _fits(self, n: int) -> bool:
        """Whether some hole holds n pages and a guard page clear of everything."""
        busy = self._taken() | set(range(IMAGE[0], IMAGE[1] + 1)) \
            | {r.start_vpn + r.npages for r in self.space.regions}     # (guards too)
        top = BASE + TOP_PAGES
        return any(all(v not in busy for v in range(s, s + n + 1)) and s + n <= top
                   for s in range(BASE, top - n + 1))

    @rule(n=st.integers(1, 40))
    def map(self, n: int) -> None:
        fits = self._fits(n)
        try:
            r = self.space.map_region(n, PROT_RW)
        except SyscallError as ex:
            assert ex.errno == "ENOMEM"
            assert not fits, f"refused {n} pages with a hole left"
            return
        assert BASE <= r.start_vpn and (r.start_vpn + n) << 12 <= vmmod.USER_TOP

    @rule(data=st.data())
    def unmap(self, data: st.DataObject) -> None:
        if not self.space.regions:
            return
        r = data.draw(st.sampled_from(self.space.regions))
        lo = data.draw(st.integers(r.start_vpn, r.start_vpn + r.npages - 1))
        hi = data.draw(st.integers(lo + 1, r.start_vpn + r.npages))
        self.vm.unmap(_CPU(), self.space, lo << 12, (hi - lo) << 12)

    @invariant()
    def regions_are_disjoint_guarded_sorted_and_clear_of_the_image(self) -> None:
        regions = self.space.regions
        starts = [r.start_vpn for r in regions]
        assert starts == sorted(starts)
        for a, b in zip(regions, regions[1:]):
            assert a.start_vpn + a.npages <= b.start_vpn
        image = set(range(*IMAGE))
        assert not self._taken() & image


TestPlacement = Placement.TestCase
TestPlacement.settings = settings(max_examples=60, stateful_step_count=50, deadline=None)


@pytest.fixture(autouse=True)
def _small_user_space(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vmmod, "USER_TOP", (BASE + TOP_PAGES) << 12)


def test_mapping_and_unmapping_for_ever_reuses_the_holes() -> None:
    space = AddressSpace(1, image=IMAGE)
    vm = _vm()
    for _ in range(10 * TOP_PAGES):
        r = space.map_region(3, PROT_RW)
        vm.unmap(_CPU(), space, r.start_vpn << 12, 3 << 12)
    assert space.regions == []


def test_regions_step_over_the_image() -> None:
    space = AddressSpace(1, image=IMAGE)
    spans = [space.map_region(10, PROT_RW) for _ in range(6)]
    for r in spans:
        assert r.start_vpn + r.npages <= IMAGE[0] or r.start_vpn > IMAGE[1]


def test_a_region_first_fit_puts_across_the_pointer_moves_the_pointer() -> None:
    """Regression (hypothesis, session 27): munmap freed the last region, first fit
    put a longer one there, reaching past the bump pointer, and the next small
    request was bumped into the middle of it."""
    space = AddressSpace(1, image=IMAGE)
    vm = _vm()
    top = BASE + TOP_PAGES
    last = space.map_region(20, PROT_RW)
    while space.next_vpn + 20 <= top:
        last = space.map_region(20, PROT_RW)
    vm.unmap(_CPU(), space, last.start_vpn << 12, 20 << 12)
    n = top - last.start_vpn - 1                 # fits where `last` was, not at the pointer
    assert space.next_vpn + n > top
    big = space.map_region(n, PROT_RW)
    small = space.map_region(1, PROT_RW)
    assert big.start_vpn == last.start_vpn
    assert not (big.start_vpn <= small.start_vpn < big.start_vpn + big.npages)
