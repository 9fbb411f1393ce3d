"""Program images: where they live, how large they are, and what loading one costs.

Every kernel maps a program's image (text and data) at :data:`IMAGE_VPN` and
copies it in page by page from the file cache, as ``exec`` does; a kernel may
put its own pages in front of it (ExOS maps its library text first). Loading
charges, per page, one page copy plus the kernel's own per-page work
(``extra``: the monolithic kernel's pmap operation; none for ExOS, which binds
its pages itself).

Interface::

    IMAGE_VPN                                    the first page of the image region
    IMAGE_PAGES, MAX_IMAGE_PAGES, image_pages(program)   the size (from exolab.abi)
    page_copy_cost(cpu, extra=0) -> int          the charge for one image page
    copy_in(cpu, pages, alloc, extra=0) -> list  allocate and copy in ``pages`` pages
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from exolab.abi import IMAGE_PAGES, MAX_IMAGE_PAGES, image_pages

__all__ = ["IMAGE_VPN", "IMAGE_PAGES", "MAX_IMAGE_PAGES", "image_pages", "page_copy_cost",
           "copy_in"]

IMAGE_VPN = 0x400               # images are mapped from 0x0040_0000 (4 KiB pages)

T = TypeVar("T")


def page_copy_cost(cpu: Any, extra: int = 0) -> int:
    """Cycles to copy one image page of ``cpu``'s memory, plus ``extra``."""
    return cpu.profile.copy_cost(cpu.page_size) + extra  # type: ignore[no-any-return]


def copy_in(cpu: Any, pages: int, alloc: Callable[[], T], extra: int = 0) -> list[T]:
    """Allocate ``pages`` frames with ``alloc()`` and copy each in from the page
    cache, charging :func:`page_copy_cost` after each allocation; return the frames
    in order (the caller maps them)."""
    cost = page_copy_cost(cpu, extra)
    size = cpu.page_size
    charge, note = cpu.charge, cpu.note_copy
    frames = []
    for _ in range(pages):
        frames.append(alloc())
        charge(cost)
        note(size)
    return frames
