"""Nothing a program can reach from ``os`` is a class it could change for others.

A program holds its ``os`` and whatever the ABI returns; through public
attributes, container items and ``type(x)`` it reaches objects and their
classes. A class shared with other processes or kernels (a personality, a
library OS's components, the cost profile) must be sealed
(:mod:`exolab.safe.sealed`), or ``type(os.vm).fill = f`` would change every
process's library OS in the host. Immutable built-in types cannot be changed
anyway. The walk is what a verified program could name; it runs unverified
because ``dir`` and computed names are host powers.
"""
from __future__ import annotations

import types
from typing import Any

from exolab.runner import run_program
from exolab.safe.sealed import Sealed, SealedABCMeta

_IMMUTABLE_TYPE = 1 << 8        # Py_TPFLAGS_IMMUTABLETYPE: a built-in, unchangeable
_LEAVES = (int, str, bytes, float, bool, type(None), types.BuiltinFunctionType)
#: the regress ends here: the sealing metaclasses' own metaclass, whose public
#: attributes (``mro``) matter only when exolab creates a sealing metaclass
_END = {type(Sealed), type(SealedABCMeta)} - {type}
_META = type(Sealed)            # the metaclasses are themselves sealed by it


def _reachable(root: Any, limit: int = 50_000) -> list[Any]:
    """Objects reachable from ``root`` by public attributes, items and ``type()``."""
    seen, out, todo = {id(root)}, [], [root]
    while todo and len(out) < limit:
        x = todo.pop()
        out.append(x)
        kids: list[Any] = [type(x)]
        if isinstance(x, (list, tuple, set, frozenset)):
            kids += list(x)
        elif isinstance(x, dict):
            kids += list(x.keys()) + list(x.values())
        elif not isinstance(x, _LEAVES):
            for name in dir(x):
                if not name.startswith("_"):
                    try:
                        kids.append(getattr(x, name))
                    except Exception:
                        pass
        for kid in kids:
            if id(kid) not in seen:
                seen.add(id(kid))
                todo.append(kid)
    return out


def _changeable(c: type) -> bool:
    """Whether a program could set an attribute of class ``c`` for everybody."""
    sealed_meta = _META is not type and isinstance(c, _META)
    return not (c.__flags__ & _IMMUTABLE_TYPE) and not isinstance(c, Sealed) \
        and not sealed_meta and c not in _END


def test_every_class_a_program_can_reach_is_sealed_or_immutable(kernel: str) -> None:
    box: dict[str, Any] = {}

    def child(os: Any) -> int:
        return 0

    def main(os: Any) -> None:
        os.thread_create(child)
        os.pipe()
        try:
            os.shm_attach(os.shm_create(4096))
        except Exception:               # a kernel may refuse shm (declared ENOSYS)
            pass
        try:
            os.wait(os.fork(child))
        except Exception:               # a kernel may refuse fork (declared ENOSYS)
            os.wait(os.spawn(child))
        box["objects"] = _reachable(os)

    run_program(main, kernel=kernel, trusted=True)
    objects = box["objects"]
    assert len(objects) > 20
    open_classes = sorted({f"{c.__module__}.{c.__qualname__}" for c in objects
                           if isinstance(c, type) and _changeable(c)})
    assert open_classes == []
    assert not [x for x in objects if isinstance(x, types.ModuleType)]
