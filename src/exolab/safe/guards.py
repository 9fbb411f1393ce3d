"""Guards for single C-level operations of verified code: size caps and fuel by size.

Fuel (:mod:`exolab.safe.runtime`) counts loop iterations and calls, but one
Python operation can run a C loop of any length: ``sum(range(10**13))``,
``bytes(10**10)``, ``s * n``, ``" " * 4 + s.ljust(10**10)``. The instrumenter
(:mod:`exolab.safe.instrument`) routes each such operation of verified code
through a guard here, which

- refuses, in time proportional to its operands' sizes and before building
  anything, an operation whose result would exceed :data:`MAX_ITEMS` items
  (characters, bytes, list slots) or :data:`MAX_BITS` bits (ints): a
  :class:`~exolab.errors.ProgramFault` of the program;
- charges the fuel meter in proportion to the work the operation does
  (:func:`~exolab.safe.runtime.charge`), so a loop of big operations reaches the
  meter's look at the simulated clock as soon as a loop of many small ones;
- makes every C-level iteration over a ``range`` tick: the ``range`` a program
  names is :class:`Range`, a sealed view whose iterators tick per item (the
  instrumenter gives ``for`` statements and comprehensions, which tick anyway,
  the builtin range back).

What stays unguarded is listed in docs/security.md (stated limits).

Interface::

    MAX_BITS, MAX_ITEMS
    Range(*args)                          the metered range (sealed)
    guard_pow(a, b) guard_shl(a, b) guard_mul(a, b) guard_add(a, b)
    guard_iadd(a, b) guard_imul(a, b) guard_div(a, b) guard_mod(a, b)
    guard_call(f, *args, **kw)            bytes(n), bytearray(n) by name
    guard_attr(obj, name)                 ljust/center/replace/join/format/... by name
    guard_format(value, conversion, spec) an f-string field with a computed spec
    guard_built(value)                    a string just built from several (size check)
    BUILTINS                              guarded replacements for builtins
    IMPORTED                              guarded replacements for allowlisted imports
    SIZED_METHODS                         the method names guard_attr covers
"""
from __future__ import annotations

import math
import re
import string
import struct
from functools import partial
from itertools import islice
from typing import Any, Callable, Iterator

from exolab.safe.runtime import charge, tick
from exolab.safe.sealed import Sealed

__all__ = ["MAX_BITS", "MAX_ITEMS", "Range", "guard_pow", "guard_shl", "guard_mul",
           "guard_add", "guard_iadd", "guard_imul", "guard_div", "guard_mod", "guard_call",
           "guard_attr", "guard_format", "guard_built", "guard_unpack", "guard_slice_value",
           "BUILTINS", "IMPORTED", "SIZED_METHODS"]

MAX_BITS = 1 << 20          # largest int one operation may build (128 KiB)
MAX_ITEMS = 1 << 24         # largest sequence one operation may build (items)
ITEM_SHIFT = 4              # fuel: one tick per 16 bytes built
BIT_SHIFT = 18              # fuel: one tick per 2**18 bit-products of a multiplication
DIV_SHIFT = 14              # fuel: one tick per 2**14 bit-products of a division

_SEQ = (str, bytes, bytearray, list, tuple)
_STRS = (str, bytes, bytearray)
_NUMBERS = frozenset({int, float, complex, bool})
_SMALL = 4096               # ints of fewer bits need no check (nor fuel)


def _too_large(op: str, size: int) -> None:
    """Fault the program: one operation would build a value of ``size`` bits or items."""
    from exolab.errors import ProgramFault
    raise ProgramFault(f"{op} would build a value too large for the host", op=op, size=size)


def _items(op: str, n: int, width: int = 1) -> None:
    """Fault if ``n`` items exceed MAX_ITEMS, else charge fuel for building them
    (``width`` bytes each: 8 for the slots of a list or tuple)."""
    if n > MAX_ITEMS:
        _too_large(op, n)
    if (n * width) >> ITEM_SHIFT:
        charge((n * width) >> ITEM_SHIFT)


def _width(seq: Any) -> int:
    """Bytes an item of ``seq`` takes: 8 for a list's or tuple's slots, else 1."""
    return 8 if isinstance(seq, (list, tuple)) else 1


def _bits(op: str, n: int, work: int) -> None:
    """Fault if an int of ``n`` bits exceeds MAX_BITS, else charge ``work`` ticks."""
    if n > MAX_BITS:
        _too_large(op, n)
    charge(work)


# -- arithmetic ---------------------------------------------------------------

def guard_pow(a: Any, b: Any) -> Any:
    """``a ** b``, faulting before an int result would exceed MAX_BITS (constant time)."""
    if isinstance(a, int) and type(b) is int and b > 1:
        bits = int.bit_length(a)
        if bits > 1:
            _bits("**", bits * b, (bits * b) ** 2 >> BIT_SHIFT)
    return a ** b


def guard_shl(a: Any, b: Any) -> Any:
    """``a << b``, faulting before the result would exceed MAX_BITS (constant time)."""
    if isinstance(a, int) and type(b) is int and b > 0 and a:
        _bits("<<", int.bit_length(a) + b, 0)
    return a << b


def _repeat_size(a: Any, b: Any) -> None:
    """Check and charge ``a * b`` when it repeats a sequence or multiplies big ints."""
    if isinstance(a, int) and isinstance(b, int):
        x, y = int.bit_length(a), int.bit_length(b)
        _bits("*", x + y, x * y >> BIT_SHIFT)
        return
    seq, n = (a, b) if isinstance(a, _SEQ) else (b, a)
    if isinstance(seq, _SEQ) and isinstance(n, int) and n > 1:
        _items("*", len(seq) * n, _width(seq))


def guard_mul(a: Any, b: Any) -> Any:
    """``a * b``, faulting before a repeated sequence or an int product gets too large."""
    if type(a) is int and type(b) is int and a.bit_length() + b.bit_length() < _SMALL:
        return a * b
    _repeat_size(a, b)
    return a * b


def guard_imul(a: Any, b: Any) -> Any:
    """``a *= b`` (in place where ``a`` supports it), with :func:`guard_mul`'s checks."""
    _repeat_size(a, b)
    a *= b
    return a


def _concat_size(a: Any, b: Any) -> None:
    """Check and charge ``a + b`` when both are sequences."""
    if isinstance(a, _SEQ) and isinstance(b, _SEQ):
        _items("+", len(a) + len(b), _width(a))


def guard_add(a: Any, b: Any) -> Any:
    """``a + b``, faulting before a concatenation would exceed MAX_ITEMS."""
    if type(a) in _NUMBERS:
        return a + b
    _concat_size(a, b)
    return a + b


def guard_iadd(a: Any, b: Any) -> Any:
    """``a += b`` (in place where ``a`` supports it), with :func:`guard_add`'s checks."""
    if type(a) not in _NUMBERS:
        _concat_size(a, b)
    a += b
    return a


def _divide_cost(a: Any, b: Any) -> None:
    """Charge a big-int division for its (quadratic) work."""
    if isinstance(a, int) and isinstance(b, int):
        charge(int.bit_length(a) * int.bit_length(b) >> DIV_SHIFT)


def guard_div(a: Any, b: Any) -> Any:
    """``a // b``, charging fuel for a big-int division."""
    if type(a) is int and a.bit_length() < _SMALL:
        return a // b
    _divide_cost(a, b)
    return a // b


def guard_mod(a: Any, b: Any) -> Any:
    """``a % b``: ``%``-formatting is width-checked, big-int remainders are charged."""
    if type(a) is int and a.bit_length() < _SMALL:
        return a % b
    if isinstance(a, _STRS):
        _check_percent(a, b)
        return guard_built(a % b)
    _divide_cost(a, b)
    return a % b


def guard_built(value: Any) -> Any:
    """``value``, a string just built from at most a few others (an f-string with
    several fields, ``%``- or ``str.format``-formatting), faulting if it is over
    MAX_ITEMS: such a result is at most a small multiple of sizes already checked,
    so checking after building stops a doubling chain at its first oversize step."""
    if isinstance(value, _SEQ):
        _items("format", len(value))
    return value


def guard_unpack(kind: str, *parts: Any) -> Any:
    """``[a, *b, *c]`` / ``(a, *b)`` / ``f(*b, *c)``: the list or tuple of every
    part's items (the plain elements come as one-item tuples), built part by part
    and never past MAX_ITEMS (each part is cut one item over what is left), and
    charged for its size."""
    out: list[Any] = []
    for part in parts:
        out.extend(islice(part, MAX_ITEMS - len(out) + 1))
        if len(out) > MAX_ITEMS:
            _too_large("unpacking", len(out))
    _items("unpacking", len(out), 8)
    return out if kind == "list" else tuple(out)


def guard_slice_value(value: Any) -> Any:
    """The value of ``x[i:j] = value``: what it inserts is at most MAX_ITEMS items,
    charged (an iterator is taken, at most one item over, into a list first)."""
    if type(value) not in _SEQ and type(value) is not Range:
        value = list(islice(value, MAX_ITEMS + 1))
    _items("slice assignment", len(value), _width(value))
    return value


def _guarded_divmod(a: Any, b: Any) -> Any:
    """``divmod`` charging fuel for a big-int division."""
    _divide_cost(a, b)
    return divmod(a, b)


def _guarded_pow(a: Any, b: Any, mod: Any = None) -> Any:
    """The builtin ``pow``: two-argument powers are size-checked, modular ones charged."""
    if mod is None:
        return guard_pow(a, b)
    if isinstance(b, int) and isinstance(mod, int):
        e, m = int.bit_length(b), int.bit_length(mod)
        if e * m > MAX_BITS * 16:
            _too_large("pow", e * m)
        charge(e * m * m >> BIT_SHIFT)
    return pow(a, b, mod)


# -- formatting ---------------------------------------------------------------

_WIDTHS = re.compile(r"\d+")
_PERCENT = re.compile(rb"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


def _check_spec(spec: Any) -> None:
    """Fault if a format spec asks for a width or precision over MAX_ITEMS."""
    if type(spec) is str and len(spec) > 1:
        for m in _WIDTHS.finditer(spec):
            if len(m.group()) > 7:
                _items("format width", int(m.group()))


def _check_percent(fmt: Any, args: Any) -> None:
    """Fault if a ``%`` format's widths or precisions (``*`` ones included) exceed
    MAX_ITEMS."""
    raw = fmt.encode("utf-8", "surrogatepass") if isinstance(fmt, str) else bytes(fmt)
    if b"%" not in raw:
        return
    values = args if type(args) is tuple else (args,)
    i = 0
    for m in _PERCENT.finditer(raw):
        for width in m.group(1, 2):
            if width == b"*":
                n = values[i] if i < len(values) else 0
                i += 1
            else:
                n = int(width) if width else 0
            if isinstance(n, int) and n > MAX_ITEMS:
                _too_large("% width", n)
        i += m.group(3) != b"%"


def guard_format(value: Any, conversion: int, spec: Any) -> str:
    """An f-string field ``{value!c:spec}`` whose spec is computed: checked, then built."""
    if conversion == ord("r"):
        value = repr(value)
    elif conversion == ord("s"):
        value = str(value)
    elif conversion == ord("a"):
        value = ascii(value)
    _check_spec(spec)
    return format(value, spec)


def _guarded_builtin_format(value: Any, spec: Any = "") -> str:
    """The builtin ``format`` with its spec's width checked."""
    _check_spec(spec)
    return format(value, spec)


class _Formatter(string.Formatter):
    """``str.format`` with every field's spec checked before it is built."""

    def format_field(self, value: Any, format_spec: str) -> Any:
        """Check the spec's widths, then format as ``format()`` does."""
        _check_spec(format_spec)
        return format(value, format_spec)


_FORMATTER = _Formatter()


# -- methods that build big results from small arguments ----------------------

def _pad(name: str) -> Callable[..., Any]:
    """A guard for ``ljust``/``rjust``/``center``/``zfill``: the width is the size."""
    def method(self: Any, width: Any, *rest: Any) -> Any:
        if isinstance(width, int):
            _items(name, width)
        return getattr(type(self), name)(self, width, *rest)
    return method


def _expandtabs(self: Any, tabsize: Any = 8) -> Any:
    """``expandtabs``: every tab may become ``tabsize`` characters."""
    if isinstance(tabsize, int) and tabsize > 1:
        tab = "\t" if isinstance(self, str) else b"\t"
        _items("expandtabs", len(self) + self.count(tab) * tabsize)
    return type(self).expandtabs(self, tabsize)


def _replace(self: Any, old: Any, new: Any, count: Any = -1) -> Any:
    """``replace``: the result grows by ``len(new) - len(old)`` per occurrence."""
    grow = len(new) - len(old) if isinstance(old, _STRS) and isinstance(new, _STRS) else 0
    if grow > 0 and (len(self) + 1) * grow > _SMALL:
        n = len(self) + 1 if not old else self.count(old)
        if isinstance(count, int) and 0 <= count < n:
            n = count
        _items("replace", len(self) + n * grow)
    return type(self).replace(self, old, new, count)


def _join(self: Any, items: Any) -> Any:
    """``join``: the result is the items plus one separator between each two."""
    if type(items) not in (list, tuple):
        items = list(items)
    if len(items) > 1:
        try:
            size = sum(map(len, items))
        except TypeError:           # an item without a length: join raises it
            size = 0
        _items("join", size + len(self) * (len(items) - 1))
    return type(self).join(self, items)


def _translate(self: Any, table: Any) -> Any:
    """``translate``: a str table may map one character to a long string."""
    if isinstance(self, str) and isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
        _items("translate", len(self) * longest)
    return type(self).translate(self, table)


def _str_format(self: str, *args: Any, **kwargs: Any) -> str:
    """``str.format`` through a formatter that checks each field's spec."""
    return guard_built(_FORMATTER.vformat(self, args, kwargs))


def _str_format_map(self: str, mapping: Any) -> str:
    """``str.format_map`` through the checking formatter."""
    return guard_built(_FORMATTER.vformat(self, (), mapping))


def _to_bytes(self: int, length: Any = 1, *rest: Any, **kw: Any) -> bytes:
    """``int.to_bytes``: the length is the size."""
    if isinstance(length, int):
        _items("to_bytes", length)
    return int.to_bytes(self, length, *rest, **kw)


def _extend(self: Any, items: Any) -> None:
    """``list.extend``/``bytearray.extend``: a sized argument is checked first."""
    if hasattr(items, "__len__") and type(items) is not Range:
        _items("extend", len(items), _width(self))
    type(self).extend(self, items)


_STR_METHODS: dict[str, Callable[..., Any]] = {
    "ljust": _pad("ljust"), "rjust": _pad("rjust"), "center": _pad("center"),
    "zfill": _pad("zfill"), "expandtabs": _expandtabs, "replace": _replace,
    "join": _join, "translate": _translate}
_METHODS: dict[type, dict[str, Callable[..., Any]]] = {
    str: {**_STR_METHODS, "format": _str_format, "format_map": _str_format_map},
    bytes: _STR_METHODS, bytearray: {**_STR_METHODS, "extend": _extend},
    int: {"to_bytes": _to_bytes}, bool: {"to_bytes": _to_bytes},
    list: {"extend": _extend},
}
SIZED_METHODS = frozenset(n for table in _METHODS.values() for n in table)
_BASES = tuple(_METHODS)
_BY_TYPE = {(t, n): f for t, table in _METHODS.items() for n, f in table.items()}


def guard_attr(obj: Any, name: str, *default: Any) -> Any:
    """``obj.name``, with the guarded version of a size-building method of a builtin
    str, bytes, bytearray, int or list (or of the type itself: ``str.ljust``)."""
    t = type(obj)
    f = _BY_TYPE.get((t, name))
    if f is not None:
        return partial(f, obj)
    if t is type:
        f = _BY_TYPE.get((obj, name))
        if f is not None:
            return f
    elif isinstance(obj, _BASES):
        table = _inherited(t, name)
        if table is not None:
            return partial(table[name], obj)
    elif isinstance(obj, super) and name in SIZED_METHODS:
        return _super_sized(obj, name, getattr(obj, name, *default))
    return getattr(obj, name, *default)


def _super_sized(proxy: Any, name: str, found: Any) -> Any:
    """``super().name`` where the lookup reached a builtin's size-building method:
    the guard runs on a plain copy of the instance (what the builtin reads), and
    ``extend`` (it mutates) is checked and then called as found."""
    inst = getattr(proxy, "__self__", None)
    for base, table in _METHODS.items():
        if isinstance(inst, base) and name in table and found == getattr(base, name).__get__(inst):
            if name == "extend":
                return partial(_checked_extend, found, inst)
            copy: Any = int.__pos__ if isinstance(inst, int) else _whole_slice(base)
            return partial(table[name], copy(inst))
    return found


def _whole_slice(base: type) -> Callable[[Any], Any]:
    """``base``'s own ``x[:]``: a plain ``base`` copy of an instance of a subclass."""
    getitem: Callable[[Any, slice], Any] = getattr(base, "__getitem__")
    return lambda x: getitem(x, slice(None))


def _checked_extend(extend: Callable[[Any], None], self: Any, items: Any) -> None:
    """A found ``extend`` method, its sized argument checked first."""
    if hasattr(items, "__len__") and type(items) is not Range:
        _items("extend", len(items), _width(self))
    extend(items)


def _inherited(t: type, name: str) -> dict[str, Callable[..., Any]] | None:
    """The guard table of the builtin base of subclass ``t``, if ``t`` does not
    override ``name``."""
    for base in _METHODS:
        if issubclass(t, base) and getattr(t, name, None) is getattr(base, name, 0):
            return _METHODS[base]
    return None


# -- constructors by size -----------------------------------------------------

def _sized_constructor(cls: type) -> Callable[..., Any]:
    """``bytes(n)``/``bytearray(n)`` with ``n`` checked."""
    def build(*args: Any, **kw: Any) -> Any:
        size = args[0] if args else kw.get("source")
        if type(size) is int:
            _items(cls.__name__, size)
        return cls(*args, **kw)
    return build


_CONSTRUCTORS: dict[Any, Callable[..., Any]] = {
    bytes: _sized_constructor(bytes), bytearray: _sized_constructor(bytearray)}


def guard_call(f: Any, *args: Any, **kw: Any) -> Any:
    """``f(*args, **kw)``, checking the size argument when ``f`` is bytes or bytearray."""
    g = _CONSTRUCTORS.get(f) if type(f) is type else None
    return (g or f)(*args, **kw)


# -- the metered range --------------------------------------------------------

def _ticking(it: Iterator[int]) -> Iterator[int]:
    """Yield ``it``'s items, one fuel tick each."""
    for i in it:
        tick()
        yield i


class Range(metaclass=Sealed):
    """``range`` for verified code: the same values, but every item a C-level
    consumer (``sum``, ``list``, ``max``, ``in``) takes costs a fuel tick."""

    __slots__ = ("_r",)

    def __init__(self, *args: Any) -> None:
        self._r = range(*args)

    @classmethod
    def _of(cls, r: range) -> "Range":
        out = object.__new__(cls)
        out._r = r
        return out

    start = property(lambda self: self._r.start)
    stop = property(lambda self: self._r.stop)
    step = property(lambda self: self._r.step)

    def __iter__(self) -> Iterator[int]:
        return _ticking(iter(self._r))

    def __reversed__(self) -> Iterator[int]:
        return _ticking(reversed(self._r))

    def __len__(self) -> int:
        return len(self._r)

    def __bool__(self) -> bool:
        return bool(self._r)

    def __getitem__(self, i: Any) -> Any:
        v = self._r[i]
        return Range._of(v) if type(v) is range else v

    def __contains__(self, x: Any) -> bool:
        if type(x) in (int, bool):
            return x in self._r
        return any(v == x for v in self)

    def count(self, x: Any) -> int:
        """How many items equal ``x``."""
        if type(x) in (int, bool):
            return self._r.count(x)
        return sum(1 for v in self if v == x)

    def index(self, x: Any) -> int:
        """The position of ``x`` (ValueError if absent)."""
        if type(x) in (int, bool):
            return self._r.index(x)
        for i, v in enumerate(self):
            if v == x:
                return i
        raise ValueError(f"{x!r} is not in range")

    def __eq__(self, other: Any) -> bool:
        if type(other) is Range:
            return self._r == other._r
        return type(other) is range and self._r == other

    def __hash__(self) -> int:
        return hash(self._r)

    def __repr__(self) -> str:
        return repr(self._r)


Range.__name__ = Range.__qualname__ = "range"


# -- guarded builtins and imports ---------------------------------------------

def _guarded_sum(items: Any, start: Any = 0) -> Any:
    """``sum``: numbers as the builtin does; sequences one checked ``+`` at a time
    (the builtin concatenates in quadratic time)."""
    if type(start) in _NUMBERS:
        return sum(items, start)
    total = start
    for x in items:
        tick()
        total = guard_add(total, x)
    return total


BUILTINS: dict[str, Any] = {
    "range": Range, "pow": _guarded_pow, "divmod": _guarded_divmod,
    "format": _guarded_builtin_format, "sum": _guarded_sum,
}


def _factorial(n: Any) -> int:
    """``math.factorial`` refusing results over MAX_BITS (n log2 n bits)."""
    if isinstance(n, int) and n > 2:
        _bits("factorial", int(n * math.log2(n)), n * n >> BIT_SHIFT)
    return math.factorial(n)


def _comb(n: Any, k: Any) -> int:
    """``math.comb``: the result has at most n bits."""
    if isinstance(n, int) and isinstance(k, int) and 0 < k < n:
        _bits("comb", min(n, int(min(k, n - k) * math.log2(n))), n * n >> BIT_SHIFT)
    return math.comb(n, k)


def _perm(n: Any, k: Any = None) -> int:
    """``math.perm``: the result has at most k log2 n bits."""
    if isinstance(n, int) and n > 2:
        kk = n if k is None else k
        if isinstance(kk, int) and kk > 0:
            _bits("perm", int(min(kk, n) * math.log2(n)), n * n >> BIT_SHIFT)
    return math.perm(n) if k is None else math.perm(n, k)


def _prod(items: Any, *, start: Any = 1) -> Any:
    """``math.prod`` one checked ``*`` at a time."""
    total = start
    for x in items:
        tick()
        total = guard_mul(total, x)
    return total


def _lcm(*ints: Any) -> int:
    """``math.lcm``: the result has at most the sum of the operands' bits."""
    if all(isinstance(i, int) for i in ints):
        _bits("lcm", sum(int.bit_length(i) for i in ints), 0)
    return math.lcm(*ints)


def _pack_size(fmt: Any) -> None:
    """Fault if a struct format would pack more than MAX_ITEMS bytes."""
    if isinstance(fmt, (str, bytes)):
        try:
            size = struct.calcsize(fmt)
        except (struct.error, OverflowError, MemoryError):
            return                  # the real call raises the same error
        _items("struct.pack", size)


def _pack(fmt: Any, *values: Any) -> bytes:
    """``struct.pack`` with the packed size checked first."""
    _pack_size(fmt)
    return struct.pack(fmt, *values)


IMPORTED: dict[tuple[str, str], Any] = {
    ("math", "factorial"): _factorial, ("math", "comb"): _comb, ("math", "perm"): _perm,
    ("math", "prod"): _prod, ("math", "lcm"): _lcm,
    ("struct", "pack"): _pack,
}

