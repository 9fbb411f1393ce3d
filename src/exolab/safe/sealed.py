"""Sealed classes: classes verified code cannot change.

A class shared between processes or with a kernel (the ABI personalities,
the errors, a library OS's classes) must not be mutable by a program:
``type(os).print = f`` would change every process's ``print``. A class whose
metaclass is :class:`Sealed` refuses ``setattr``/``delattr`` on the class
when the caller is verified code (its frame's globals carry
:data:`~exolab.safe.runtime.MARKER`); exolab's own code and pytest's
``monkeypatch`` still work. Subclasses inherit the metaclass, so a program's
own subclass of a sealed class is sealed too. Instances are not affected.

This module imports nothing from exolab at import time, so ``errors`` and
``abi`` can use it.

Interface::

    Sealed          metaclass (a ``type``)
    SealedABCMeta   the same for abstract base classes (``abc.ABCMeta``)
"""
from __future__ import annotations

import sys
from abc import ABCMeta
from typing import Any

__all__ = ["Sealed", "SealedABCMeta"]

_MARKER = "__exolab_verified__"


def _refuse(cls: type, name: str, what: str) -> None:
    """Raise ProgramFault if the frame two levels up belongs to verified code."""
    if sys._getframe(2).f_globals.get(_MARKER) is True:
        from exolab.errors import ProgramFault
        raise ProgramFault(f"cannot {what} an attribute of a sealed class",
                           cls=type.__dict__["__name__"].__get__(cls),
                           attribute=name if type(name) is str else "?")


class _SealedMeta(type):
    """The metaclass of the sealing metaclasses: they are sealed themselves (a
    program could reach them as ``type(type(os))``)."""

    def __setattr__(cls, name: str, value: Any) -> None:
        _refuse(cls, name, "set")
        super().__setattr__(name, value)

    def __delattr__(cls, name: str) -> None:
        _refuse(cls, name, "delete")
        super().__delattr__(name)


class Sealed(type, metaclass=_SealedMeta):
    """Metaclass: verified code may not set or delete a class attribute."""

    def __setattr__(cls, name: str, value: Any) -> None:
        _refuse(cls, name, "set")
        super().__setattr__(name, value)

    def __delattr__(cls, name: str) -> None:
        _refuse(cls, name, "delete")
        super().__delattr__(name)


class SealedABCMeta(Sealed, ABCMeta):
    """:class:`Sealed` for abstract base classes."""
