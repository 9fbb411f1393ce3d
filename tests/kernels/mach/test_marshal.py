"""A UNIX call's arguments are marshalled into its request message before the UX
server's handler decodes them, so the marshaller sees whatever a program passes:
self-containing lists, nesting 100,000 deep, one buffer named 100,000 times,
program objects. Its work is bounded (no host recursion, at most MAX_VALUES
values walked, at most MAX_MSG bytes copied); what it cannot pack goes by
reference; the handler then refuses what its call does not take with its own
errno (the monolithic kernel's), and a bystander's exchange is exact."""
from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest

from exolab.errors import SyscallError
from exolab.kernels.mach.limits import MAX_MSG
from exolab.kernels.mach.server import MAX_DEPTH, MAX_VALUES, marshal

from tests.kernels.mach._support import boot

ROUNDS = 5


def _bystander(os: Any, log: list[Any]) -> int:
    r, w = os.pipe()
    for i in range(ROUNDS):
        os.write(w, b"b%d" % i)
        log.append(os.read(r, 16))
        os.yield_()
    return 0


def _child(os: Any, *args: Any) -> int:
    return 0


def _build(kind: str) -> Any:
    if kind == "self_list":
        x: Any = []
        x.append(x)
        return x
    if kind == "self_tuple":
        y: Any = []
        t = (y,)
        y.append(t)
        return t
    if kind == "self_dict":
        d: Any = {}
        d["d"] = d
        return d
    if kind == "deep":
        z: Any = []
        for _ in range(100_000):
            z = [z]
        return z
    if kind == "repeat":        # 2,000 names of one 64 KiB buffer: 128 MiB if copied
        return [b"x" * 65536] * 2000
    if kind == "dag":           # 2**22 leaves (32 MiB of words) if walked
        a: Any = [1]
        for _ in range(22):
            a = [a, a]
        return a
    if kind == "huge_int":
        return 10 ** 5000

    class Hostile:              # nothing of it may run in the kernel
        def __len__(self) -> int:
            raise AssertionError("__len__ ran")

        def __iter__(self) -> Any:
            raise AssertionError("__iter__ ran")

        def __index__(self) -> int:
            raise AssertionError("__index__ ran")

    class Sub(list):            # type: ignore[type-arg]
        def __iter__(self) -> Any:
            raise AssertionError("__iter__ ran")

    return Hostile() if kind == "hostile_obj" else Sub([1])


KINDS = ["self_list", "self_tuple", "self_dict", "deep", "repeat", "dag", "huge_int",
         "hostile_obj", "list_subclass"]

#: position -> (the call, the errno every kind gets there: the handler's own decode)
POSITIONS: dict[str, tuple[Any, str]] = {
    "write.data": (lambda os, fd, x: os.write(fd, x), "EFAULT"),
    "write.fd": (lambda os, fd, x: os.write(x, b"a"), "EBADF"),
    "read.fd": (lambda os, fd, x: os.read(x, 1), "EBADF"),
    "read.n": (lambda os, fd, x: os.read(fd - 1, x), "EINVAL"),   # the read end
    "open.path": (lambda os, fd, x: os.open(x), "EINVAL"),
    "open.flags": (lambda os, fd, x: os.open("/f", x), "EINVAL"),
    "rename.old": (lambda os, fd, x: os.rename(x, "/b"), "EINVAL"),
    "spawn.name": (lambda os, fd, x: os.spawn(_child, name=x), "EINVAL"),
    "mmap.length": (lambda os, fd, x: os.mmap(x), "EINVAL"),     # a kernel-served port
    "wait.pid": (lambda os, fd, x: os.wait(x), "ECHILD"),
}


def _hostile(os: Any, kind: str, pos: str, out: dict[str, Any]) -> int:
    x = _build(kind)
    r, w = os.pipe()
    assert w == r + 1
    os.write(w, b"a")
    try:
        POSITIONS[pos][0](os, w, x)
        out["e"] = "ok"
    except SyscallError as ex:
        out["e"] = ex.errno
    except BaseException as ex:         # a host error reaching the program
        out["e"] = type(ex).__name__
    return 0


def _main(os: Any, hostile: Any, log: list[Any], *args: Any) -> int:
    os.spawn(_bystander, log, name="bystander")
    if hostile is not None:
        os.spawn(hostile, *args, name="hostile")
        os.wait()
    os.wait()
    return 0


def _alone() -> list[Any]:
    log: list[Any] = []
    k = boot(_main, None, log)
    assert not k.faults
    return log


ALONE = [b"b%d" % i for i in range(ROUNDS)]


def _attacked(hostile: Any, *args: Any) -> tuple[Any, float, int]:
    log: list[Any] = []
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        k = boot(_main, hostile, log, *args)
    finally:
        secs = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert not k.faults
    assert log == ALONE == _alone()             # the bystander is exact
    z = k.ipc.statistics().zone
    assert z.allocated == z.freed
    return k, secs, peak


@pytest.mark.parametrize("pos", sorted(POSITIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_argument_gets_the_handlers_errno_and_bounded_work(kind: str,
                                                                      pos: str) -> None:
    out: dict[str, Any] = {}
    _k, secs, peak = _attacked(_hostile, kind, pos, out)
    # (a huge_int read count is past SSIZE_MAX: EINVAL from the stub, before the read)
    assert out == {"e": POSITIONS[pos][1]}
    assert peak < 8 << 20                       # no copy of the program's data
    assert secs < 20


def test_spawn_args_go_by_reference_whatever_they_hold() -> None:
    """A program's argument tuple is the one container spawn takes: a cycle, deep
    nesting or a huge list in it goes to the child by reference, as on every
    kernel, at bounded cost."""
    seen: dict[str, Any] = {}

    def child(os: Any, kind: str, x: Any) -> int:
        seen[kind] = x
        return 0

    def spawner(os: Any) -> int:
        for kind in ("self_list", "deep", "repeat", "dag"):
            x = _build(kind)
            os.spawn(child, kind, x)
            os.wait()
            seen[kind + ".same"] = seen[kind] is x
            os.fork(child, kind, x)
            os.wait()
            os.thread_create(child, kind, x)       # three kernel-port RPCs
            os.thread_yield()
        return 0

    _k, _secs, peak = _attacked(spawner)
    assert all(seen[k + ".same"] for k in ("self_list", "deep", "repeat", "dag"))
    assert peak < 8 << 20


def test_a_hostile_exit_status_reaches_wait_by_reference() -> None:
    """wait's reply carries the child's exit status, which the child chose: a
    self-containing status is packed by reference, not recursed into."""
    got: dict[str, Any] = {}

    def child(os: Any, kind: str) -> int:
        os.exit(_build(kind))
        return 0

    def parent(os: Any) -> int:
        for kind in ("self_list", "deep", "repeat"):
            pid = os.spawn(child, kind)
            try:
                got[kind] = type(os.wait(pid)[1]).__name__
            except BaseException as ex:
                got[kind] = "raised " + type(ex).__name__
        return 0

    _k, _secs, peak = _attacked(parent)
    assert got == {"self_list": "list", "deep": "list", "repeat": "list"}
    assert peak < 8 << 20


# -- the marshaller itself ---------------------------------------------------------------

def test_marshal_packs_plain_values_as_before() -> None:
    data, n = marshal((1, b"ab", "h\u00e9", None, (2, [b"c", "d"]), -1, 1 << 63, True))
    word = (lambda v: v.to_bytes(8, "little", signed=True))
    assert data == (word(1) + b"ab" + "h\u00e9".encode() + bytes(8) + word(2) + b"c"
                    + b"d" + word(-1) + bytes(8) + bytes(8))
    assert n == len(data)


def test_marshal_of_hostile_containers_is_bounded() -> None:
    x: Any = []
    x.append(x)
    assert marshal((x,)) == (bytes(8), 8)              # the cycle goes by reference
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert marshal((deep,)) == (bytes(8), 8)           # past MAX_DEPTH: a handle
    assert marshal(([b"x" * 65536] * (MAX_VALUES + 1),)) == (bytes(8), 8)
    big = [b"y" * 65536] * 1000                         # 64 MB named, one buffer
    tracemalloc.start()
    data, n = marshal((big,))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (data, n) == (b"", 65536 * 1000) and peak < 1 << 20
    nested: Any = 7
    for _ in range(MAX_DEPTH):
        nested = [nested]
    assert marshal((nested,)) == ((7).to_bytes(8, "little"), 8)
    assert marshal(([nested],)) == (bytes(8), 8)


def test_marshal_counts_long_data_without_copying_it() -> None:
    s = "\u00e9" * (MAX_MSG * 4)
    assert marshal((s,)) == (b"", len(s.encode()))
    assert marshal(("\ud800" * 10,)) == (b"?" * 10, 10)  # lone surrogates replaced
    assert marshal((b"z" * (MAX_MSG + 1),)) == (b"", MAX_MSG + 1)
    assert marshal((b"z" * MAX_MSG,)) == (b"z" * MAX_MSG, MAX_MSG)
