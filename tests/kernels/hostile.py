"""Argument values that lie or explode, shared by the ABI robustness and fuzz tests.

A kernel that checks its arguments with ``isinstance`` or calls their hooks
(``__index__``, ``__eq__``, ``__len__``, ``__repr__``) can be fooled or crashed
by these; the ABI decodes by exact type and renders them safely.
"""
from __future__ import annotations

from typing import Any


class LyingInt(int):
    """An int subclass whose methods say something else than its value."""

    def __index__(self) -> int:
        return 5

    def __int__(self) -> int:
        return 5

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 4

    def __and__(self, other: object) -> int:
        return 0

    def __rshift__(self, other: object) -> int:
        return 0

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return False


class LyingBytes(bytes):
    """A bytes subclass that lies about its length and slices."""

    def __len__(self) -> int:
        return 10 ** 6

    def __getitem__(self, key: Any) -> bytes:
        return b""


class Unprintable(Exception):
    """An exception that cannot be rendered."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class NoRepr:
    """An argument whose repr raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Hostile:
    """Raises from every hook a kernel might call on an argument."""

    def _boom(self, *args: Any) -> Any:
        raise RuntimeError("hostile hook")

    __eq__ = __ne__ = __lt__ = __index__ = __int__ = __len__ = __bool__ = _boom  # type: ignore
    __repr__ = __str__ = __format__ = __iter__ = _boom                        # type: ignore
    __hash__ = None                                                             # type: ignore
