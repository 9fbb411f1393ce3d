"""XN's user-defined functions: downloaded, verified, run by XN.

A metadata *template* is untrusted source text that defines three functions
over the bytes of one block of its type:

- ``owns(data) -> [(block, type name), ...]``: the blocks this block points
  to and the type each of them has. A template without ``owns`` is a *leaf*
  type (data blocks): it owns nothing, and XN never needs to read one to
  free it;
- ``acl(data, op, principal) -> bool``: whether ``principal`` may do ``op``
  ("read", "write", "alloc", "free") to this block or, for "read" of a block
  not yet cached, to the child the library asks for;
- ``size(data) -> int``: how many leading bytes of the block the structure
  uses; a modification must lie inside them.

The source is verified under :data:`exolab.safe.DETERMINISTIC` (no ``while``,
no recursion, loops only over ``range`` of literal bounds, no state kept
between calls, nothing host-dependent): so each function terminates and
gives the same answer for the same bytes, which is what lets XN run it
before and after a change and compare. Every result is decoded at its exact
type; anything else (an exception, a wrong type, too many entries) is the
library's fault and refuses the operation (EINVAL), never XN's.

*Metered.* The verifier bounds a function's loop steps (65,536), not the
work each one does, and XN runs the function inside the caller's system
call. So every run gets :data:`~.limits.UDF_FUEL` ticks of fuel of its own
(:func:`exolab.safe.allowance`); the ticks it spends are passed to the
``spend`` hook its caller gives (XN charges them to the calling environment,
:data:`~.limits.UDF_STEP` instructions each), a run that fails included. A run
that needs more is stopped there and only that call fails (EINVAL, "ran past
XN's bound"): the template stays installed, since the same function on other
bytes (a block with fewer entries) may fit.

Interface::

    MAX_OWNS, MAX_SOURCE, OPS
    Template(name, source, owns, acl, size, leaf)  slotted, immutable
    compile_template(name, source) -> Template      VerifyError / EINVAL
    run_owns(t, data, blocks, spend) -> tuple[(int, str), ...]   decoded, in range
    run_acl(t, data, op, principal, spend) -> bool
    run_size(t, data, spend) -> int               spend(ticks): the run's fuel
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from exolab.errors import ConfigError, SyscallError, VerifyError, safe_repr, safe_str
from exolab.kernels.exokernel.xn.limits import UDF_FUEL
from exolab.safe import DETERMINISTIC, Exhausted, allowance, load_program_source

__all__ = ["MAX_OWNS", "MAX_SOURCE", "OPS", "Template", "compile_template", "run_owns",
           "run_acl", "run_size"]

MAX_OWNS = 4096         # entries one ownership function may return
MAX_SOURCE = 1 << 16    # bytes of one template's source
MAX_NAME = 64           # bytes of a type name
OPS = ("read", "write", "alloc", "free")
_FILE = "<xn template>"  # one file name for every template: the host keeps each distinct
                         # code file name for good (~90 bytes), and names are the caller's


@dataclass(frozen=True, slots=True)
class Template:
    """One metadata type: its unique name, its source and its verified functions."""

    name: str                           # unique in the type catalogue
    source: str                         # as downloaded (identity for re-installs)
    owns: Callable[[bytes], Any]        # verified, deterministic
    acl: Callable[[bytes, str, int], Any]
    size: Callable[[bytes], Any]
    leaf: bool                          # no owns(): the type owns nothing


def _nothing(data: bytes) -> tuple[()]:
    """The ownership function of a leaf type."""
    return ()


def _load(source: str, name: str, func: str, optional: bool = False) -> Any:
    """Verify ``source`` and return its function ``func`` (EINVAL if it has none;
    None for an ``optional`` one that is absent)."""
    try:
        return load_program_source(source, _FILE, func, DETERMINISTIC)
    except VerifyError:
        raise
    except ConfigError as ex:   # no such function, or the top level failed
        if optional and ex.fields.get("function") == func:
            return None
        raise SyscallError("EINVAL", "template does not load", type=name, function=func,
                           reason=safe_str(ex)) from None


def compile_template(name: Any, source: Any) -> Template:
    """Decode a type name and its source, verify it, and return the template."""
    if type(name) is not str or not 0 < len(name) <= MAX_NAME:
        raise SyscallError("EINVAL", "bad type name", name=safe_repr(name))
    if type(source) is not str or len(source) > MAX_SOURCE:
        raise SyscallError("EINVAL", "template source must be a str", type=name,
                           limit=MAX_SOURCE)
    owns = _load(source, name, "owns", optional=True)
    return Template(name, source, owns or _nothing, _load(source, name, "acl"),
                    _load(source, name, "size"), owns is None)


Spend = Callable[[int], None]


def _call(t: Template, fn: Callable[..., Any], what: str, spend: Spend, *args: Any) -> Any:
    """Run one UDF on UDF_FUEL ticks and ``spend`` what it used; whatever it raises,
    running past the bound included, refuses the operation (EINVAL)."""
    try:
        with allowance(UDF_FUEL) as used:
            out = fn(*args)
    except (Exception, Exhausted) as ex:
        spend(used.ticks)
        if used.ticks >= UDF_FUEL:
            raise SyscallError("EINVAL", f"the {what} function ran past XN's bound",
                               type=t.name, limit=UDF_FUEL) from None
        raise SyscallError("EINVAL", f"the {what} function failed", type=t.name,
                           reason=safe_str(ex)) from None
    spend(used.ticks)
    return out


def run_owns(t: Template, data: bytes, blocks: int, spend: Spend
             ) -> tuple[tuple[int, str], ...]:
    """``t.owns(data)`` decoded: (block, type) pairs, blocks in ``[0, blocks)``."""
    if t.leaf:
        return ()
    out = _call(t, t.owns, "ownership", spend, data)
    if type(out) not in (list, tuple) or len(out) > MAX_OWNS:
        raise SyscallError("EINVAL", "ownership function must return a list",
                           type=t.name, actual=safe_repr(out)[:80])
    for e in out:
        if (type(e) is not tuple or len(e) != 2 or type(e[0]) is not int
                or type(e[1]) is not str or not 0 <= e[0] < blocks):
            raise SyscallError("EINVAL", "ownership entry is not (block, type)",
                               type=t.name, entry=safe_repr(e)[:80])
    return tuple(out)


def run_acl(t: Template, data: bytes, op: str, principal: int, spend: Spend) -> bool:
    """Whether ``t``'s access function lets ``principal`` do ``op`` (exactly True)."""
    return _call(t, t.acl, "access", spend, data, op, principal) is True


def run_size(t: Template, data: bytes, spend: Spend) -> int:
    """``t.size(data)``, decoded: an int in ``[0, len(data)]``."""
    n = _call(t, t.size, "size", spend, data)
    if type(n) is not int or not 0 <= n <= len(data):
        raise SyscallError("EINVAL", "size function must return a byte count",
                           type=t.name, actual=safe_repr(n)[:40])
    return n
