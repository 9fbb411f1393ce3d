"""Verification policies as data: what untrusted code may use.

A :class:`Policy` is a frozen record the verifier (:mod:`exolab.safe.verify`)
reads; nothing about a policy is hard-coded in the checks. Three are defined:

- :data:`PROGRAM` — an ABI program ``main(os, *args)`` (the default);
- :data:`TERMINATING` — code a kernel runs to completion (packet filters,
  handlers): no ``while``, no recursion, ``for`` only over ``range`` of
  constant bounds or literal sequences, a static bound on loop steps (the
  guarantee the eBPF verifier gives);
- :data:`DETERMINISTIC` — TERMINATING plus no state kept between calls
  (no ``global``/``nonlocal``, no module-level mutable values) and nothing
  host-dependent (``hash``, ``id``): what XN's ownership functions need.

Interface::

    Policy(name, allow_while, allow_recursion, bounded_loops, max_steps,
           allow_global, builtins, imports, dunder_defs)
    PROGRAM, TERMINATING, DETERMINISTIC
    BANNED_ATTRIBUTES      attributes that escape without an underscore
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Policy", "PROGRAM", "TERMINATING", "DETERMINISTIC", "BANNED_ATTRIBUTES",
           "NAME_ATTRIBUTES",
           "IMPORTS", "SAFE_BUILTINS", "DUNDER_DEFS", "CALL_CHECKED", "SELF_MATCHING"]

# Builtins a program may name. Everything else in ``builtins`` is absent from a
# verified program's namespace and rejected by name (see docs/security.md):
# setattr/delattr/vars/globals/locals/dir reach outside the object graph by
# name (getattr and hasattr only with a literal name `x.name` could use); eval/exec/compile/__import__ run unverified code; open/input/print/
# help/breakpoint/exit/quit touch the host; memoryview exposes buffers; id is a
# host address (nondeterministic); BaseException and its host-only subclasses
# would let a program catch the simulator's own unwinding (ThreadExit, fuel).
SAFE_BUILTINS = frozenset("""
abs all any ascii bin bool bytearray bytes callable chr classmethod complex dict
divmod enumerate filter float format frozenset getattr hasattr hash hex int isinstance issubclass
iter len list map max min next object oct ord pow property range repr reversed
round set slice sorted staticmethod str sum super tuple type zip
None True False Ellipsis NotImplemented
Exception ArithmeticError AssertionError AttributeError BufferError EOFError
FloatingPointError IndexError KeyError LookupError MemoryError NameError
NotImplementedError OverflowError RecursionError ReferenceError RuntimeError
StopIteration StopAsyncIteration TypeError UnboundLocalError UnicodeError
ValueError ZeroDivisionError
""".split())

# Builtins the verifier checks at their call sites, by their arguments (a literal
# attribute name, one argument, no sentinel): a program may only call them
# directly by name. Named any other way (``g = getattr``, a default value, an
# item of a list, rebound by the program), the check could not see the call.
CALL_CHECKED = frozenset({"getattr", "hasattr", "type", "iter"})

# The builtin classes a class pattern's one positional sub-pattern matches as
# the whole subject (``case int(n):``); any other class reads the attributes its
# ``__match_args__`` names, which a host class may list with private ones.
SELF_MATCHING = frozenset({"bool", "bytearray", "bytes", "dict", "float", "frozenset",
                           "int", "list", "set", "str", "tuple"})

# Dunder methods a program may *define* in a class body. Never __del__ (a
# finalizer runs at garbage-collection time, outside the program and its
# simulated thread, at a host-dependent moment); never __init_subclass__,
# __class_getitem__, __set_name__, __getattribute__/__getattr__ are allowed:
# they only see the program's own objects.
DUNDER_DEFS = frozenset("""
__init__ __repr__ __str__ __eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__
__bool__ __len__ __iter__ __next__ __contains__ __getitem__ __setitem__
__delitem__ __index__ __int__ __float__ __add__ __sub__ __mul__ __truediv__
__floordiv__ __mod__ __and__ __or__ __xor__ __lshift__ __rshift__ __neg__
__pos__ __abs__ __invert__ __radd__ __rsub__ __rmul__ __enter__ __exit__
__getattr__ __getattribute__ __call__
""".split())

# (module, name) pairs a program may import: immutable constants, sealed
# classes and functions. ``*`` admits every public name of a module whose
# every public value is a constant or a pure function (math).
IMPORTS: dict[str, frozenset[str]] = {
    "__future__": frozenset({"annotations"}),
    "typing": frozenset({"Any", "Callable", "Iterable", "Iterator", "Optional",
                         "Sequence", "Union", "TYPE_CHECKING"}),
    "math": frozenset({"*"}),
    "struct": frozenset({"pack", "unpack", "pack_into", "unpack_from", "calcsize",
                         "error"}),
    # not load_program (it imports any file), not the dicts ERRNOS and
    # EXCEPTION_KINDS (mutable, shared with the kernels)
    "exolab.abi": frozenset({"ABI", "PROT_NONE", "PROT_READ", "PROT_WRITE", "PROT_RW",
                             "Program", "FaultHandler", "RpcHandler", "ExceptionHandler",
                             "TRIGGERED", "WORD_MIN", "WORD_MAX", "MAX_COMPUTE",
                             "ACCESS_SIZES", "fault_status", "wrap_word", "as_bytes",
                             # the file calls' constants (ints)
                             "O_RDONLY", "O_WRONLY", "O_RDWR", "O_CREAT", "O_EXCL",
                             "O_TRUNC", "O_APPEND", "SEEK_SET", "SEEK_CUR", "SEEK_END",
                             "S_IFMT", "S_IFREG", "S_IFDIR", "NAME_MAX", "PATH_MAX"}),
    "exolab.errors": frozenset({"SyscallError", "ProgramFault"}),
    "exolab.kernels.exokernel": frozenset({"Sys"}),
    "exolab.kernels.exokernel.bind": frozenset({"VALID", "WRITABLE"}),
    "exolab.libos.exos": frozenset({"ExOS", "VM"}),
    "exolab.apps.cthreads": frozenset({"CThreads"}),      # the user-level thread package
    "exolab.libos.exos.layout": frozenset({"P_PRESENT", "P_READ", "P_WRITE", "P_DIRTY",
                                           "P_COW", "P_SHARED", "P_LOST", "PAGE",
                                           "SHIFT"}),
}

# Underscore attributes that only name things (strings): readable and settable
# (a sealed class still refuses the set).
NAME_ATTRIBUTES = frozenset({"__name__", "__qualname__", "__doc__"})

# Attributes that reach frames, code, globals or the class graph without an
# underscore (generators, coroutines, tracebacks, frames, code, py2 names), and
# ``register``: ABCMeta.register on an importable ABC (typing's aliases forward
# to collections.abc; ABI and ExOS are ABCs) changes the host's isinstance answers
# for every later run (``Sequence.register(int)``).
BANNED_ATTRIBUTES = frozenset("""
gi_frame gi_code gi_yieldfrom gi_running gi_suspended cr_frame cr_code cr_await
cr_origin cr_running ag_frame ag_code ag_await ag_running f_back f_globals
f_locals f_builtins f_code f_trace f_lasti tb_frame tb_next tb_lasti co_code
co_consts co_names func_globals func_code func_closure im_func im_self mro
with_traceback register
""".split())


@dataclass(frozen=True, slots=True)
class Policy:
    """What a verified piece of code may do; read by the verifier, never mutated."""

    name: str
    allow_while: bool = True            # `while` loops (bounded by fuel at run time)
    allow_recursion: bool = True        # a function calling itself by name
    bounded_loops: bool = False         # `for` only over range(consts)/literals
    max_steps: int = 0                  # static bound on loop iterations (0: none)
    allow_global: bool = True           # `global`/`nonlocal` statements
    allow_lambda: bool = True
    deterministic: bool = False         # no hash(), no module-level mutable state
    builtins: frozenset[str] = SAFE_BUILTINS
    dunder_defs: frozenset[str] = DUNDER_DEFS


PROGRAM = Policy("program")
TERMINATING = Policy("terminating", allow_while=False, allow_recursion=False,
                     bounded_loops=True, max_steps=65536, allow_lambda=False)
DETERMINISTIC = Policy("deterministic", allow_while=False, allow_recursion=False,
                       bounded_loops=True, max_steps=65536, allow_global=False,
                       allow_lambda=False, deterministic=True,
                       builtins=SAFE_BUILTINS - {"hash", "iter", "next", "set",
                                                 "frozenset"})
