"""Argument decoders for kernel calls, in the spirit of xv6's ``argint``/``argfd``.

Each decoder takes what a program handed in and the argument's name, checks it at
its exact type (``type(x) is int``: an ``int`` subclass or a ``bool`` is refused,
since its ``__index__``/``__eq__`` could say one thing to the check and another to
the use) and its range, and returns the plain value; otherwise it raises
:class:`~exolab.errors.SyscallError` whose message names the argument and whose
field of that name holds the value as :func:`shown` renders it (a program's object
is never rendered by its own methods: only its type's name is kept).

Interface::

    shown(x) -> plain value or "<Type>"        what an error field may hold
    int_arg(x, name, lo=None, hi=None, errno="EINVAL") -> int
    nat(x, name, hi=None) -> int               an int >= 0
    opt_nat(x, name) -> int | None             None or an int >= 0
    flag(x, name) -> bool                      a real bool (exolab.abi.as_flag)
    str_arg(x, name, max_len=None) -> str      a real str
    func(x, name) -> callable                  a callable (not called here)
    opt_func(x, name) -> callable | None
    buffer(x) -> bytes                         bytes, or a bytearray copied out
                                               (exolab.abi.as_bytes; EFAULT)
    word(x, name="word") -> int                an rpc word (signed 64-bit)
    is_word(x) -> bool                         the same test, without raising
    cycles(x) -> int                           a compute() burst, 0..MAX_COMPUTE
    exception_kind(x) -> str                   a key of EXCEPTION_KINDS
    random_count(x) -> int                     a random() length, 0..MAX_RANDOM
    prot(x) -> int                             a protection, PROT_NONE..PROT_RW
    no_such_call(number, what) -> SyscallError ENOSYS: not in the kernel's call table
    arity(number, expected, got) -> SyscallError   EINVAL: the wrong argument count
    call_error(number, entry, got, what) -> SyscallError
                                               a failed table lookup: ENOSYS (entry
                                               None) or EINVAL (entry[1] != got)

Decoders are plain functions with no allocation on success; the two hottest call
sites (``load``/``store``) keep their single inline test (see personality.py).
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.abi import (EXCEPTION_KINDS, MAX_COMPUTE, MAX_RANDOM, PROT_RW, WORD_MAX, WORD_MIN,
                        as_bytes, as_flag)
from exolab.errors import SyscallError, type_name

__all__ = ["shown", "int_arg", "nat", "opt_nat", "flag", "str_arg", "func", "opt_func",
           "buffer", "word", "is_word", "cycles", "exception_kind", "random_count", "prot",
           "no_such_call", "arity", "call_error"]

_PLAIN = (int, bool, str, type(None), float, bytes)


def shown(x: Any) -> Any:
    """``x`` itself when it is a plain value (exact int, bool, str, None, float,
    bytes), else ``"<TypeName>"``: nothing of a program's object runs to show it."""
    return x if type(x) in _PLAIN else f"<{type_name(x)}>"


def _bad(errno: str, name: str, what: str, x: Any, **more: Any) -> SyscallError:
    """The error for argument ``name`` that is not ``what``."""
    return SyscallError(errno, f"{name} must be {what}", **{name: shown(x)}, **more)


def int_arg(x: Any, name: str, lo: int | None = None, hi: int | None = None,
            errno: str = "EINVAL") -> int:
    """Decode an int argument in ``lo..hi`` (either bound may be None)."""
    if type(x) is not int or (lo is not None and x < lo) or (hi is not None and x > hi):
        lo_s = "" if lo is None else f" >= {lo}"
        hi_s = "" if hi is None else f" <= {hi}"
        raise _bad(errno, name, f"an int{lo_s}{hi_s}", x)
    return x


def nat(x: Any, name: str, hi: int | None = None) -> int:
    """Decode an int argument ``>= 0`` (and ``<= hi``); EINVAL otherwise."""
    if type(x) is not int or x < 0 or (hi is not None and x > hi):
        raise _bad("EINVAL", name, "an int >= 0" + ("" if hi is None else f" <= {hi}"), x)
    return x


def opt_nat(x: Any, name: str) -> int | None:
    """Decode ``None`` or an int ``>= 0``; EINVAL otherwise."""
    if x is None:
        return None
    if type(x) is not int or x < 0:
        raise _bad("EINVAL", name, "None or an int >= 0", x)
    return x


#: a flag: a real ``bool``, so no program object's ``__bool__`` runs (one rule, in abi)
flag = as_flag
#: a buffer: ``bytes``, or a ``bytearray`` copied out through the buffer protocol
buffer = as_bytes


def str_arg(x: Any, name: str, max_len: int | None = None) -> str:
    """Decode a string argument of at most ``max_len`` characters; EINVAL otherwise."""
    if type(x) is not str or (max_len is not None and len(x) > max_len):
        raise _bad("EINVAL", name, "a str" + ("" if max_len is None else
                                               f" of at most {max_len} characters"), x)
    return x


def func(x: Any, name: str) -> Callable[..., Any]:
    """Decode a function argument (it must be callable; it is not called here)."""
    if not callable(x):
        raise _bad("EINVAL", name, "callable", x)
    return x  # type: ignore[no-any-return]


def opt_func(x: Any, name: str) -> Callable[..., Any] | None:
    """Decode ``None`` or a callable; EINVAL otherwise."""
    if x is not None and not callable(x):
        raise _bad("EINVAL", name, "None or callable", x)
    return x  # type: ignore[no-any-return]


def is_word(x: Any) -> bool:
    """Whether ``x`` is an rpc word: an exact int in WORD_MIN..WORD_MAX (never raises)."""
    return type(x) is int and WORD_MIN <= x <= WORD_MAX


def word(x: Any, name: str = "word") -> int:
    """Decode an rpc word (EINVAL unless a signed 64-bit int)."""
    if type(x) is not int or not WORD_MIN <= x <= WORD_MAX:
        raise SyscallError("EINVAL", "an rpc word is a signed 64-bit int", **{name: shown(x)})
    return x


def cycles(x: Any) -> int:
    """Decode a ``compute`` burst: an int in 0..MAX_COMPUTE; EINVAL otherwise."""
    return int_arg(x, "cycles", 0, MAX_COMPUTE)


def exception_kind(x: Any) -> str:
    """Decode an exception kind: a key of EXCEPTION_KINDS; EINVAL otherwise."""
    if type(x) is not str or x not in EXCEPTION_KINDS:
        raise SyscallError("EINVAL", "unknown exception kind", kind=shown(x),
                           expected=list(EXCEPTION_KINDS))
    return x


def random_count(x: Any) -> int:
    """Decode a ``random`` length: an int in 0..MAX_RANDOM; EINVAL otherwise."""
    return int_arg(x, "n", 0, MAX_RANDOM)


def prot(x: Any) -> int:
    """Decode a protection: an int in PROT_NONE..PROT_RW; EINVAL otherwise."""
    return int_arg(x, "prot", 0, PROT_RW)


def no_such_call(number: Any, what: str = "system call") -> SyscallError:
    """The error for a call number the kernel's table lacks: ENOSYS, the number
    shown safely (it is whatever the program passed)."""
    return SyscallError("ENOSYS", f"no such {what}", number=shown(number))


def arity(number: Any, expected: int, got: int) -> SyscallError:
    """The error for a known call (``number`` decoded: found in the table) given the
    wrong number of arguments: EINVAL."""
    return SyscallError("EINVAL", "wrong number of arguments", number=number,
                        expected=expected, actual=got)


def call_error(number: Any, entry: Any, got: int, what: str = "system call") -> SyscallError:
    """The error of a call-table lookup that failed, for a dispatcher that tests
    ``entry is None or got != entry[1]`` inline: ENOSYS when ``entry`` is None (no
    such call), else EINVAL naming ``entry[1]``, the argument count the call takes."""
    if entry is None:
        return no_such_call(number, what)
    return arity(number, entry[1], got)
