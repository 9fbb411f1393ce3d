"""Helpers every kernel's tests share."""
from __future__ import annotations

from typing import Any, Callable

from exolab.errors import SyscallError


def errno(call: Callable[..., Any], *args: Any) -> str:
    """Call ``call(*args)``, which must fail with a SyscallError; return its errno."""
    try:
        call(*args)
    except SyscallError as ex:
        return str(ex.errno)
    raise AssertionError(f"{getattr(call, '__name__', call)}{args!r} did not fail")
