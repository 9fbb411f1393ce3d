"""Fuzz the ABI: a hostile program's random calls never hurt the machine or a bystander.

On each kernel, one program makes a random sequence of ABI calls with random,
mostly invalid arguments — bad descriptors and addresses, bad sizes, wrong
types, huge numbers, lying int/bytes subclasses, unprintable objects — while
a well-behaved program ping-pongs bytes through two pipes with a forked child.
Properties:

- ``run_program`` returns (nothing escapes the simulator);
- every call the hostile program makes either returns or raises a
  :class:`SyscallError` with an errno from ``ERRNOS`` — never a raw Python
  error — and anything that ends it is a fault recorded against it (or its
  own children), never against the bystander;
- the bystander's output and exit status are exactly right;
- when the run finishes, every physical frame has come back (only what the
  kernel's statistics say it keeps by design, like persistent shared
  segments, remains) and no process is left.

A kernel's calls beyond the ABI (its declaration's ``extensions``) are fuzzed
too, and its raw kernel entry (``raw_entry``) with random trap numbers.

The run may end in "deadlock" rather than "finished": a hostile program may
block for ever on its own pipe; that is its bug, not the simulator's.
``EXOLAB_FUZZ_EXAMPLES`` raises the number of examples (and turns off the
fixed seed) for a longer hunt.
"""
from __future__ import annotations

import math
import os as _os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exolab.abi import ERRNOS, EXCEPTION_KINDS, PROT_NONE, PROT_RW
from exolab.errors import SyscallError
from exolab.runner import run_program

from ..hostile import Hostile, LyingBytes, LyingInt, Unprintable
from .kit import declared, leftovers, raw_entry

PAGE = 4096
ROUNDS = 30
EXAMPLES = int(_os.environ.get("EXOLAB_FUZZ_EXAMPLES", "0"))


def _child_ok(os: Any) -> int:
    return 1


def _child_crash(os: Any) -> None:
    raise Unprintable()


def _child_segv(os: Any) -> None:
    os.load(0x10)


def _handler_noop(os: Any, *args: Any) -> None:
    return None


def _handler_raises(os: Any, *args: Any) -> None:
    raise ValueError("handler")


def _rpc_handler(os: Any, word: Any) -> Any:
    return word * word


def _handler_fix(os: Any, vaddr: Any, *args: Any) -> None:
    """A fault handler that opens the page, so the access succeeds on retry."""
    try:
        os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)
    except SyscallError:
        pass


#: placeholders the hostile program resolves at run time: ("VA", k) an address near its
#: last mapping; ("FD", i) its last pipe's read (0) or write (1) end; ("RPC",) its last
#: rpc handle; ("SHM",) its last segment key; ("TID",) its own thread id, ("TID", 1) the
#: last thread it created; anything else is passed as it is
INTS = [0, 1, 2, 3, 4, 5, 7, 8, 16, 63, 64, 100, 4095, 4096, 8192, 1 << 20, 1 << 31,
        1 << 32, (1 << 63) - 1, 1 << 63, 1 << 64, 10 ** 30, -1, -8, -4096, -(1 << 63) - 1]
JUNK = [None, True, 1.5, math.nan, math.inf, -math.inf, "", "x", "n" * 100, "\ud800",
        "a\0b", b"", b"abc", bytearray(b"xy"), [], (), {}, {1: 2}, [1, 2], object(),
        LyingInt(4), LyingInt(0), LyingBytes(b"zz"), Hostile(), Unprintable()]
CALLABLES = [_child_ok, _child_crash, _child_segv, _handler_noop, _handler_raises,
             _handler_fix, _rpc_handler, repr, len]

value = st.one_of(
    st.sampled_from(INTS), st.sampled_from(JUNK),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.tuples(st.just("VA"), st.sampled_from([0, 1, 3, 4, 8, PAGE, 2 * PAGE, -PAGE])),
    st.tuples(st.just("FD"), st.sampled_from([0, 1])), st.just(("RPC",)),
    st.just(("SHM",)), st.binary(max_size=64), st.text(max_size=8),
)
# plausible arguments half of the time, so calls succeed and build up state
fn_value = st.one_of(st.sampled_from(CALLABLES), value)
kind = st.one_of(st.sampled_from(sorted(EXCEPTION_KINDS)), value)
size = st.one_of(st.sampled_from([1, 2, 4, 8]), value)
small = st.one_of(st.integers(min_value=0, max_value=3 * PAGE), value)
length = st.one_of(st.sampled_from([1, 100, PAGE, 2 * PAGE, 3 * PAGE + 1]), value)
prot = st.one_of(st.integers(0, 3), value)
fd = st.one_of(st.tuples(st.just("FD"), st.sampled_from([0, 1])), st.integers(0, 6),
               value)
va = st.one_of(st.tuples(st.just("VA"), st.sampled_from([0, 4, 8, 100, PAGE, PAGE + 8])),
               value)
page_va = st.one_of(st.tuples(st.just("VA"), st.sampled_from([0, PAGE, 2 * PAGE])), value)
data = st.one_of(st.binary(max_size=300), st.just(b"x" * 5000), value)
word = st.one_of(st.integers(-(1 << 63), (1 << 63) - 1), value)
name = st.one_of(st.sampled_from(["svc", "sq", "x" * 48]), value)

#: call -> strategy for its argument tuple (keyword arguments are not fuzzed)
CALLS: dict[str, Any] = {
    "getpid": st.just(()), "time": st.just(()), "api_call": st.just(()),
    "yield_": st.just(()), "thread_yield": st.just(()), "thread_id": st.just(()),
    "thread_park": st.just(()),
    "thread_unpark": st.tuples(st.one_of(st.just(("TID",)), st.just(("TID", 1)), value)),
    "compute": st.tuples(st.one_of(st.integers(0, 20_000), value)),
    "print": st.lists(value, max_size=3).map(tuple),
    "spawn": st.tuples(fn_value), "fork": st.tuples(fn_value), "exit": st.tuples(value),
    "wait": st.one_of(st.just(()), st.tuples(value)),
    "thread_create": st.tuples(fn_value),
    "pipe": st.just(()),
    "read": st.tuples(fd, small), "write": st.tuples(fd, data),
    "close": st.tuples(fd),
    "mmap": st.one_of(st.tuples(length), st.tuples(length, prot)),
    "munmap": st.tuples(page_va, length), "mprotect": st.tuples(page_va, length, prot),
    "dirty": st.tuples(va),
    "set_fault_handler": st.tuples(fn_value),
    "load": st.one_of(st.tuples(va), st.tuples(va, size)),
    "store": st.one_of(st.tuples(va, word), st.tuples(va, word, size)),
    "load_bytes": st.tuples(va, small), "store_bytes": st.tuples(va, data),
    "set_exception_handler": st.tuples(kind, fn_value), "trigger": st.tuples(kind),
    "shm_create": st.tuples(length),
    "shm_attach": st.tuples(st.one_of(st.just(("SHM",)), st.integers(0, 5), value)),
    "shm_detach": st.tuples(page_va),
    "rpc_serve": st.tuples(name, fn_value, st.one_of(st.just(0), value)),
    "rpc_connect": st.tuples(name), "rpc_call": st.tuples(st.just(("RPC",)), word),
}
#: argument strategies of the known calls beyond the ABI (the monolithic pointer forms,
#: ExOS's extensions); a kernel's declared extension not listed gets random arguments
EXTRAS: dict[str, Any] = {
    "read_into": st.tuples(fd, va, small), "write_from": st.tuples(fd, va, small),
    "read_inline": st.tuples(fd, small), "write_inline": st.tuples(fd, data),
    "rpc_call_trusted": st.tuples(st.just(("RPC",)), word), "pct_call": st.tuples(value),
    # Singularity's channels and exchange heap (random values, the right arity)
    "channel": st.one_of(st.just(()), st.tuples(value)), "endpoint": st.tuples(value),
    "send": st.lists(value, min_size=2, max_size=4).map(tuple),
    "receive": st.tuples(value), "close_endpoint": st.tuples(value),
    "exheap_new": st.tuples(st.one_of(data, value)), "exheap_read": st.tuples(value),
    "exheap_write": st.tuples(value, st.one_of(data, value)),
    "exheap_free": st.tuples(value), "nic_post": st.tuples(va, small),
    "bind_handler": st.tuples(fd, st.one_of(st.text(max_size=60), value)),   # ExOS's ASH
    "nic_send": st.tuples(va, small), "nic_wait": st.just(()),
    "disk_read": st.tuples(st.one_of(small, value), va), "disk_info": st.just(()),
    # SPIN's domains, in-kernel code, events and references
    "spin_kernel": st.tuples(fn_value), "domain_create": st.tuples(st.one_of(data, value)),
    "domain_from_module": st.tuples(value, value), "domain_resolve": st.tuples(value, value),
    "domain_combine": st.tuples(value, value), "domain_kernel": st.just(()),
    "domain_call": st.tuples(value, value),
    "event_install": st.tuples(value, value, value, value),
    "strand_self": st.just(()), "context_self": st.just(()), "ref_release": st.tuples(value),
    # SPIN's integrated thread package
    "cthread_fork": st.tuples(fn_value, value), "cthread_join": st.tuples(value),
    "cthread_condition": st.just(()), "cthread_wait": st.tuples(value),
    "cthread_signal": st.tuples(value),
}
ANY_ARGS = st.lists(value, max_size=4).map(tuple)
#: a raw kernel entry: the trap number, then arguments (("H",) is the caller's own
#: environment handle, where the personality has one)
RAW_NUMBERS = list(range(0, 50)) + [-1, 1 << 40, None, "GETRES", 2.5, LyingInt(1),
                                    Hostile()]
raw_args = st.lists(st.one_of(value, st.just(("H",))), max_size=5).map(tuple)


def program_for(kernel: str, raw: bool = False) -> Any:
    """Random hostile programs for ``kernel``: ABI calls, its extensions, raw traps."""
    calls = dict(CALLS, **{name: EXTRAS.get(name, ANY_ARGS)
                           for name in sorted(declared(kernel).extensions)})
    op = st.sampled_from(sorted(calls)).flatmap(
        lambda name: calls[name].map(lambda args: (name, args)))
    if raw and declared(kernel).raw_entry is not None:
        trap = st.tuples(st.just("trap"), st.tuples(st.sampled_from(RAW_NUMBERS))
                         .flatmap(lambda n: raw_args.map(lambda a: n + a)))
        op = st.one_of(op, trap)
    return st.lists(op, min_size=3, max_size=40)


def _resolve(a: Any, env: dict[str, Any]) -> Any:
    """Turn a placeholder into the hostile program's live address/descriptor/handle."""
    if type(a) is tuple and a and type(a[0]) is str:
        if a[0] == "VA":
            return env["va"] + a[1]
        if a[0] == "FD":
            return env["fds"][a[1]]
        if a[0] == "RPC":
            return env["rpc"]
        if a[0] == "H":
            return env["handle"]
        if a[0] == "SHM":
            return env["shm"]
        if a[0] == "TID":
            return env["tids"][len(a) - 1]
    return a


def hostile(os: Any, ops: list[tuple[str, tuple[Any, ...]]], leaks: list[Any],
            kernel: str) -> int:
    """Make every call of ``ops``; a non-SyscallError out of a call is a leak.

    A raw trap must itself fail only with a SyscallError, but once one has
    succeeded the program may have broken its own library OS (an exokernel lets
    it), so what later calls raise is its own business and no longer a leak.
    """
    me = os.thread_id()
    env: dict[str, Any] = {"va": 0x10_0000, "fds": (3, 4), "rpc": 0, "shm": 1,
                           "handle": getattr(os, "handle", 0), "tids": [me, me],
                           "token": False}
    tainted = False
    for name, args in ops:
        real = tuple(_resolve(a, env) for a in args)
        if name == "thread_park" and not env["token"]:
            continue        # nobody would wake it: it parks only on its own token
        call = raw_entry(os, kernel) if name == "trap" else getattr(os, name)
        try:
            got = call(*real)
        except SyscallError as ex:
            if ex.errno not in ERRNOS:
                leaks.append((name, "errno", ex.errno))
            continue
        except Exception as ex:                     # noqa: BLE001 - what we hunt
            if name == "trap" or not tainted:
                leaks.append((name, type(ex).__name__, repr(args)[:120]))
            return 1
        tainted = tainted or name == "trap"
        if name == "mmap":
            env["va"] = got
        elif name == "pipe":
            env["fds"] = got
        elif name == "rpc_connect":
            env["rpc"] = got
        elif name == "shm_create":
            env["shm"] = got
        elif name == "thread_create" and type(got) is int:
            env["tids"][1] = got
        elif name == "thread_unpark":
            env["token"] = env["token"] or real == (me,)
        elif name == "thread_park":
            env["token"] = False
    return 0


def _echo(os: Any, rfd: int, wfd: int, unused: tuple[int, ...]) -> None:
    """The bystander's echo: send every byte back, plus one, until end of file."""
    for fd in unused:
        os.close(fd)
    while data := os.read(rfd, 1):
        os.write(wfd, bytes([(data[0] + 1) % 256]))


def bystander(os: Any, pids: dict[str, int], forks: bool) -> int:
    """Ping-pong ROUNDS bytes through two pipes with a forked child (or, where the
    kernel refuses fork, a thread of its own: it shares the descriptors)."""
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    if forks:
        pid = pids["echo"] = os.fork(_echo, a_r, b_w, (a_w, b_r))
        os.close(a_r)
        os.close(b_w)
    else:
        os.thread_create(_echo, a_r, b_w, ())
    total = 0
    for i in range(ROUNDS):
        os.write(a_w, bytes([i]))
        total += os.read(b_r, 1)[0]
        os.compute(3_000)
    os.close(a_w)
    if forks:
        assert os.wait(pid) == (pid, 0)
    os.print("bystander", total)
    return 5


def init(os: Any, ops: Any, leaks: list[Any], pids: dict[str, int], kernel: str) -> None:
    """Start the bystander and the hostile program; report the bystander first.

    The harness's records reach the children through closures, not as spawn
    arguments: a kernel may refuse a shared object as an argument (a sealed SIP).
    """
    forks = "fork" not in declared(kernel).refuses

    def run_bystander(os: Any) -> int:
        return bystander(os, pids, forks)

    def run_hostile(os: Any) -> int:
        return hostile(os, ops, leaks, kernel)

    pids["init"] = os.getpid()
    pids["bystander"] = b = os.spawn(run_bystander)
    pids["hostile"] = os.spawn(run_hostile)
    os.print("bystander status", os.wait(b)[1])
    os.wait(pids["hostile"])


EXPECTED = [f"bystander {sum(i + 1 for i in range(ROUNDS))}", "bystander status 5"]


def _check_no_leaks(run: Any) -> None:
    """After a finished run, every frame is back (but those kept by design)."""
    assert leftovers(run.kernel) == {"processes": 0, "live": 0, "frames": 0}


def _fuzz(kernel: str, ops: list[tuple[str, tuple[Any, ...]]]) -> None:
    leaks: list[Any] = []
    pids: dict[str, int] = {}
    try:
        run = run_program(init, ops, leaks, pids, kernel, kernel=kernel, frames=2048,
                          trusted=True)   # the harness calls ABI methods by computed name
    except BaseException as ex:                     # noqa: BLE001 - the property
        raise AssertionError(f"run_program raised {type(ex).__name__}: {ex!r}") from ex
    assert leaks == [], leaks
    console = [line for line in run.console if line.startswith("bystander")]
    assert console == EXPECTED, (run.console, run.faults)
    innocent = {pids.get("init"), pids.get("bystander"), pids.get("echo")}
    assert not [f for f in run.faults if f[0] in innocent], run.faults
    assert run.result.reason in ("finished", "deadlock"), run.result
    if run.result.reason == "finished":
        _check_no_leaks(run)


FUZZ = settings(max_examples=EXAMPLES or 300, deadline=None, derandomize=not EXAMPLES,
                database=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])


@FUZZ
@given(data=st.data())
def test_random_abi_abuse_leaves_the_machine_and_a_bystander_intact(
        kernel: str, data: Any) -> None:
    _fuzz(kernel, data.draw(program_for(kernel), label="ops"))


@FUZZ
@given(data=st.data())
def test_random_raw_traps_leave_the_machine_and_a_bystander_intact(
        kernel: str, data: Any) -> None:
    if declared(kernel).raw_entry is None:
        pytest.skip("the kernel declares no raw entry")
    _fuzz(kernel, data.draw(program_for(kernel, raw=True), label="ops"))


def test_the_fuzz_harness_sees_a_plain_run(kernel: str) -> None:
    """The harness itself: a hostile program that only behaves passes every check."""
    _fuzz(kernel, [("pipe", ()), ("write", (("FD", 1), b"hi")), ("read", (("FD", 0), 2)),
                   ("mmap", (PAGE,)), ("store", (("VA", 0), 7)),
                   ("mprotect", (("VA", 0), PAGE, PROT_NONE))])
