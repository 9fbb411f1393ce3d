"""kernels/common/image.py: one page copy (plus the kernel's extra) per image page."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exolab.kernels.common.image import IMAGE_VPN, copy_in, page_copy_cost
from exolab.machine.costs import get_profile


class FakeMemory:
    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self.copied: list[int] = []

    def note_copy(self, n: int) -> None:
        self.copied.append(n)


class FakeCPU:
    """Records charges interleaved with allocations, as the real CPU would see them."""

    def __init__(self, page_size: int = 4096) -> None:
        self.profile = get_profile("dec5000")
        self.memory = FakeMemory(page_size)
        self.page_size = page_size
        self.note_copy = self.memory.note_copy
        self.log: list[tuple[str, int]] = []

    def charge(self, cycles: int) -> None:
        self.log.append(("charge", cycles))


def test_the_image_region_is_at_4_mib() -> None:
    assert IMAGE_VPN << 12 == 0x0040_0000


@given(st.integers(0, 40), st.integers(0, 500), st.sampled_from([4096, 8192]))
def test_each_page_is_allocated_then_charged_one_copy(pages: int, extra: int,
                                                      size: int) -> None:
    cpu = FakeCPU(size)
    frames = iter(range(1000, 2000))

    def alloc() -> int:
        cpu.log.append(("alloc", 0))
        return next(frames)

    got = copy_in(cpu, pages, alloc, extra)
    assert got == list(range(1000, 1000 + pages))
    one = cpu.profile.copy_cost(size) + extra
    assert page_copy_cost(cpu, extra) == one
    assert cpu.log == [("alloc", 0), ("charge", one)] * pages
    assert cpu.memory.copied == [size] * pages
