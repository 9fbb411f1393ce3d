"""exolab.safe — the verifier for untrusted Python, its policies and its runtime.

Programs (and later, code a program hands to a kernel) are verified before
they run (:mod:`.verify`, under a :mod:`.policy`), instrumented with fuel, a
stack-depth count (:mod:`.instrument`, :mod:`.runtime`) and size guards on
single C-level operations (:mod:`.guards`), and loaded into a restricted
namespace (:mod:`.load`). :class:`Sealed` classes cannot be
changed by verified code. The threat model is in ``docs/security.md``.

Interface::

    verify_source(source, file, policy) -> ast.Module
    load_program_file(path, func="main", policy=PROGRAM) -> program
    load_program_source(source, file, func="main", policy=PROGRAM) -> program
    load_function(fn, policy=PROGRAM) -> program;  is_verified(fn) -> bool
    Policy, PROGRAM, TERMINATING, DETERMINISTIC
    Sealed, SealedABCMeta
    Exhausted, FUEL, PROGRAM_DEPTH, KERNEL_HEADROOM, MAX_BITS, MAX_ITEMS
    allowance(n) -> Spent      verified code on n ticks of its own (a kernel's call)

The names are loaded on first use: ``exolab.errors`` and ``exolab.abi`` use
:class:`Sealed` at import time, before the verifier (which needs the errors)
can be imported.
"""
from __future__ import annotations

import importlib
from typing import Any

from exolab.safe.sealed import Sealed, SealedABCMeta

__all__ = ["verify_source", "load_program_file", "load_program_source", "load_function", "is_verified",
           "Policy", "PROGRAM", "TERMINATING", "DETERMINISTIC", "Sealed",
           "SealedABCMeta", "Exhausted", "FUEL", "PROGRAM_DEPTH", "KERNEL_HEADROOM",
           "MAX_BITS", "MAX_ITEMS", "allowance", "Spent"]

_WHERE = {"verify_source": "verify", "load_program_file": "load",
          "load_function": "load", "load_program_source": "load", "is_verified": "load", "Policy": "policy",
          "PROGRAM": "policy", "TERMINATING": "policy", "DETERMINISTIC": "policy",
          "Exhausted": "runtime", "FUEL": "runtime", "PROGRAM_DEPTH": "runtime",
          "KERNEL_HEADROOM": "runtime", "allowance": "runtime", "Spent": "runtime", "MAX_BITS": "guards", "MAX_ITEMS": "guards"}


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use."""
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(f"exolab.safe.{where}"), name)
