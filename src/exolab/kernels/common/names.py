"""Process names: decoded from what a program hands in, one fallback rule.

A name is a ``str`` cut to :data:`MAX_NAME` characters. An empty name means the
program's own: the ``__name__`` of a plain Python function (read from the
function object itself, so no program code runs), and for anything else — or a
function whose name is empty — :data:`FALLBACK`.

Interface::

    MAX_NAME, FALLBACK
    process_name(name, program) -> str     EINVAL unless ``name`` is a str
    program_name(program, fallback=FALLBACK) -> str
"""
from __future__ import annotations

import types
from typing import Any

from exolab.errors import SyscallError
from exolab.kernels.common.args import shown

__all__ = ["MAX_NAME", "FALLBACK", "process_name", "program_name"]

MAX_NAME = 64
FALLBACK = "prog"
_FUNC_NAME = types.FunctionType.__dict__["__name__"]     # the slot, not a lookup
_METHOD_FUNC = types.MethodType.__dict__["__func__"]


def program_name(program: Any, fallback: str = FALLBACK) -> str:
    """The name of ``program`` when it is a function or bound method (its own
    ``__name__``, cut to MAX_NAME), else ``fallback``; never runs program code."""
    if type(program) is types.MethodType:
        program = _METHOD_FUNC.__get__(program)
    if type(program) is not types.FunctionType:
        return fallback
    name = _FUNC_NAME.__get__(program)
    return name[:MAX_NAME] if type(name) is str and name else fallback


def process_name(name: Any, program: Any) -> str:
    """Decode a process name: a str cut to MAX_NAME characters; empty: the program's."""
    if type(name) is not str:
        raise SyscallError("EINVAL", "a process name is a string", name=shown(name))
    return name[:MAX_NAME] or program_name(program)
