"""The soak: generated hostile programs and hostile messages against every kernel.

Issue 9's figure: thousands of hostile programs and hostile messages, each run
on a fresh machine beside a bystander whose output must come out exact, with
0 simulator crashes, 0 hangs past the cycle budget and 0 bystander results
changed. Every case is *source text* from a seeded grammar of meaningful
hostile actions (not token soup), loaded through the verifier
(:func:`exolab.safe.load_program_source`): each is a program a user could
submit.

- A **program** case spawns a bystander (a ping-pong through two pipes with a
  forked child), then the hostile program: ABI calls with lying or exploding
  arguments, wild loads and stores, fork/spawn/thread bombs, pipe and shm
  abuse, fault handlers that re-raise, toggle protection or fault again, deep
  recursion then a kernel call, generators closed in a kernel call, loops
  (charged and uncharged), exceptions, memory exhaustion.
- A **message** case forks an rpc server and spawns a bystander that spawns
  the hostile sender as its own child (so a library OS's parent capability
  points at the bystander); the sender sends hostile rpc words, random-shaped
  raw messages through the personality's raw kernel entry (only when the
  kernel's declaration names a public one), garbage into shm segments it can
  attach and into its descriptors; an honest client's replies, the
  bystander's pings and the server's status must come out exact.

- A **SIP** case (``soak_sip``: kernels whose processes are sealed SIPs, which
  cannot run the cases above) spawns a bystander SIP (rpc, a contract
  channel carrying exchange-heap blocks, a pipe between its threads) and a
  hostile SIP whose child SIPs each break a contract, misuse channels,
  endpoints or the exchange heap, or spawn, exit and wait with hostile values.

An ABI call that raises anything but ``SyscallError`` (or the program's own
handler exceptions) prints a ``soak-leak`` line: a Python-level error
escaping a kernel is a crash. Kernels come from the registry; kernel-specific
actions only from each kernel's declaration.

Interface::

    Failure(kind, case, kernel, seed, detail, source)   one failing run
    SoakStats(runs, outcomes, by_case, failures, kernels, programs, messages,
              max_cycles, host_seconds, slowest, sips)   the statistics record
    program_source(rng) -> str          message_source(rng, declaration) -> str
    (soak_sip.sip_source(rng, extensions) -> str: the SIP cases)
    run_case(kernel, source, kind, seed=0, max_cycles=BUDGET) -> (outcome, detail, cycles)
    soak(programs, messages, seed=0, kernels=None, max_cycles=BUDGET,
         on_case=None, spread=False, sips=0) -> SoakStats
    report_rows(stats), summary(stats), failures_json(stats), REPORT_COLUMNS
    progress(stream) -> on_case callback
    soakable() -> list[str]             registered kernels refusing none of NEEDS
    sip_soakable() -> list[str]         registered kernels the SIP cases run on
    BUDGET, EXPECTED, FINE, FAILURES, NEEDS

Outcomes: ``finished``, ``faulted`` (the hostile side faulted), ``budget``,
``deadlock``, ``starved`` (the budget ended the run before the bystander
finished, every line it did print exact: its fair share went to the hostile
side's bombs), ``overshoot`` (the run stopped more than SLACK cycles past its
budget: one ``compute`` burst, at most MAX_COMPUTE, lands past it, since the
machine checks the budget between charges) are fine; ``crash``, ``hang``, ``bystander``, ``rejected`` are
failures.
"""
from __future__ import annotations

import random
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from exolab.abi import MAX_COMPUTE
from exolab.errors import VerifyError, safe_str
from exolab.soak_sip import EXPECTED_SIP, capable, sip_source

__all__ = ["Failure", "SoakStats", "program_source", "message_source", "run_case",
           "report_rows", "summary", "failures_json", "progress", "REPORT_COLUMNS",
           "soak", "BUDGET", "EXPECTED", "FINE", "FAILURES"]

#: the cycle budget of one case (0.2 simulated seconds at 25 MHz; a bystander alone
#: needs under 1,000,000)
BUDGET = 5_000_000
#: a run stops at the first charge point past its budget, so it may overshoot by the
#: charge in progress: up to 1,000,000 cycles is normal; more ("overshoot") is one
#: compute() burst (at most MAX_COMPUTE); past that is a hang
SLACK = 1_000_000
ROUNDS = 12
#: ABI calls the soak's bystanders and hostile cases are built from; a kernel whose
#: declaration refuses one of them is not soaked (``soakable`` says why)
NEEDS = frozenset({"fork", "shm_create", "shm_attach", "mprotect", "set_fault_handler"})
FINE = ("finished", "faulted", "budget", "deadlock", "starved", "overshoot")
FAILURES = ("crash", "hang", "bystander", "rejected")
EXPECTED = {
    "program": [f"bystander {sum(i + 1 for i in range(ROUNDS))}", "bystander status 5"],
    "message": [f"bystander {sum(i + 1 for i in range(ROUNDS))}", "bystander rpc 2470",
                "bystander status 5", "bystander client 6", "bystander server 7"],
    "sip": EXPECTED_SIP,
}


@dataclass(frozen=True, slots=True)
class Failure:
    """One failing run: what failed, the case, the kernel, its seed and source."""

    kind: str           # one of FAILURES
    case: str           # "program" or "message"
    kernel: str
    seed: int           # the case's own seed: program_source(random.Random(seed))
    detail: str         # the traceback, the leak or the console lines
    source: str


@dataclass(frozen=True, slots=True)
class SoakStats:
    """What a soak ran and how each run ended."""

    runs: int
    outcomes: dict[str, int]            # outcome -> runs
    by_case: dict[str, dict[str, int]]  # "program monolithic" -> outcome -> runs
    failures: tuple[Failure, ...]
    kernels: tuple[str, ...]
    programs: int
    messages: int
    max_cycles: int                     # the largest cycle count any run reached
    host_seconds: float                 # total host time (measured by the harness)
    slowest: float                      # the longest single run, host seconds
    sips: int = 0                       # SIP cases (on the kernels of sip_soakable)


# -- the fixed parts of every case -------------------------------------------------------

PRELUDE = '''\
from exolab.abi import wrap_word
from exolab.errors import ProgramFault, SyscallError

STATE = [0]


class Liar(int):
    def __eq__(self, o):
        return True

    def __ne__(self, o):
        return False

    def __hash__(self):
        return 4

    def __index__(self):
        return 5

    def __int__(self):
        return 5

    def __lt__(self, o):
        return False

    def __gt__(self, o):
        return True


class Boom:
    def __eq__(self, o):
        raise ValueError("eq")

    def __hash__(self):
        raise ValueError("hash")

    def __index__(self):
        raise ValueError("index")

    def __int__(self):
        raise ValueError("int")

    def __len__(self):
        raise ValueError("len")

    def __bool__(self):
        raise ValueError("bool")

    def __iter__(self):
        raise ValueError("iter")

    def __repr__(self):
        raise ValueError("repr")

    def __str__(self):
        raise ValueError("str")


class BadBytes(bytes):
    def __len__(self):
        return 10 ** 6

    def __getitem__(self, k):
        return b""


class BadErr(Exception):
    def __str__(self):
        raise ValueError("str")

    def __repr__(self):
        raise ValueError("repr")


class HandlerBoom(Exception):
    pass


def leak(os, what, ex, ok):
    if type(ex) in ok:
        return
    os.print("soak-leak", what, type(ex).__name__)


def nop(os, *a):
    return 0


def spin(os, *a):
    while True:
        os.compute(100000)


def crash(os, *a):
    raise BadErr()


def wild(os, *a):
    return os.load(16)


def bomb(os, n):
    if n > 0:
        os.fork(bomb, n - 1)
        os.fork(bomb, n - 1)
    return n


def closer(os, *a):
    for fd in range(12):
        try:
            os.write(fd, b"\\xff" * 64)
            os.close(fd)
        except SyscallError:
            pass


def h_raise(os, va, w=False):
    raise HandlerBoom("handler")


def h_fix(os, va, w=False):
    os.mprotect(va - va % 4096, 4096, 3)


def h_toggle(os, va, w=False):
    STATE[0] += 1
    os.mprotect(va - va % 4096, 4096, 3 if STATE[0] % 2 else 0)
    os.mprotect(va - va % 4096, 4096, 0 if STATE[0] % 2 else 3)


def h_again(os, va, w=False):
    STATE[0] += 1
    os.load(va)


def h_recurse(os, va, w=False):
    return h_recurse(os, va, w)


def deep(os, n, call):
    if n <= 0:
        return call()
    return deep(os, n - 1, call)


def gen(os):
    try:
        yield 1
        yield 2
    finally:
        os.getpid()


def stubborn(os):
    while True:
        try:
            yield 1
        finally:
            os.getpid()


def echo(os, rfd, wfd, unused):
    for fd in unused:
        os.close(fd)
    data = os.read(rfd, 1)
    while data:
        os.write(wfd, bytes([(data[0] + 1) % 256]))
        data = os.read(rfd, 1)


def pong(os, rounds):
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    pid = os.fork(echo, a_r, b_w, (a_w, b_r))
    os.close(a_r)
    os.close(b_w)
    total = 0
    for i in range(rounds):
        os.write(a_w, bytes([i]))
        total += os.read(b_r, 1)[0]
        os.compute(3000)
    os.close(a_w)
    if os.wait(pid) != (pid, 0):
        total = -1
    os.print("bystander", total)
'''

PROGRAM_MAIN = f'''
def bystander(os):
    pong(os, {ROUNDS})
    return 5


def main(os):
    b = os.spawn(bystander)
    h = os.spawn(hostile)
    os.print("bystander status", os.wait(b)[1])
    os.wait(h)
'''

MESSAGE_MAIN = f'''
def square(os, w):
    return wrap_word(w * w)


def server(os, r, w):
    os.close(w)
    os.thread_create(serve)
    os.read(r, 1)
    os.exit(7)


def serve(os):
    os.rpc_serve("soak", square)


def client(os):
    h = os.rpc_connect("soak")
    total = 0
    for i in range(20):
        total += os.rpc_call(h, i)
    os.print("bystander rpc", total - os.rpc_call(h, 10) + 100)
    return 6


def bystander(os):
    h = os.spawn(hostile)
    pong(os, {ROUNDS})
    return 5


def main(os):
    r, w = os.pipe()
    srv = os.fork(server, r, w)
    os.close(r)
    b = os.spawn(bystander)
    c = os.spawn(client)
    os.print("bystander status", os.wait(b)[1])
    os.print("bystander client", os.wait(c)[1])
    os.close(w)
    os.print("bystander server", os.wait(srv)[1])
'''

# -- the grammar of hostile actions ------------------------------------------------------

INTS = ["0", "1", "3", "4", "8", "4095", "4096", "-1", "-4096", "1 << 31", "1 << 63",
        "1 << 64", "10 ** 30", "-(1 << 63) - 1", "2 ** 200"]
HOSTILE = ["Liar(4)", "Liar(0)", "Boom()", "BadBytes(b'zz')", "BadErr()", "[1, 2]",
           "[]", "{}", "{1: 2}", "(4,)", "None", "True", "1.5", "float('nan')", "'x'",
           "b'abc'", "bytearray(b'xy')", "nop", "len", "-0.0"]
CALLS = {   # call -> how many arguments (a plausible first argument half of the time)
    "getpid": 0, "time": 0, "api_call": 0, "yield_": 0, "thread_yield": 0,
    "compute": 1, "print": 2, "spawn": 1, "fork": 1, "wait": 1, "exit": 1,
    "thread_create": 1, "pipe": 0, "read": 2, "write": 2, "close": 1, "mmap": 2,
    "munmap": 2, "mprotect": 3, "dirty": 1, "set_fault_handler": 1, "load": 2,
    "store": 3, "load_bytes": 2, "store_bytes": 2, "set_exception_handler": 2,
    "trigger": 1, "shm_create": 1, "shm_attach": 1, "shm_detach": 1, "rpc_serve": 3,
    "rpc_connect": 1, "rpc_call": 2, "random": 1,
}
#: the program's own exceptions an ABI call may pass through (a handler's)
OK_PLAIN = "(SyscallError,)"
OK_HANDLER = "(SyscallError, HandlerBoom, RecursionError)"


def _arg(rng: random.Random) -> str:
    """One argument: a number, a hostile object, a live address or a function."""
    r = rng.random()
    if r < 0.35:
        return rng.choice(INTS)
    if r < 0.7:
        return rng.choice(HOSTILE)
    if r < 0.85:
        return f"va + {rng.choice(['0', '4', '4096', '-4096', '4093', '8192'])}"
    return rng.choice(["nop", "spin", "crash", "wild", "h_raise", "h_fix", "h_toggle",
                       "h_again", "h_recurse"])


def _guarded(lines: list[str], tag: str, ok: str = OK_PLAIN) -> list[str]:
    """``lines`` inside a try that reports any non-ABI error as a leak."""
    return (["try:"] + ["    " + x for x in lines] + ["except Exception as ex:",
            f"    leak(os, {tag!r}, ex, {ok})"])


def _abi_call(rng: random.Random, calls: dict[str, int]) -> list[str]:
    """An ABI (or declared extension) call with hostile arguments."""
    name = rng.choice(sorted(calls))
    n = abs(calls[name])
    n = rng.randint(0, n + 1) if rng.random() < 0.2 or calls[name] < 0 else n
    args = ", ".join(_arg(rng) for _ in range(n))
    # a wrong argument count is Python's TypeError in the caller (docs/abi.md)
    ok = OK_HANDLER if n == calls[name] else OK_HANDLER[:-1] + ", TypeError)"
    return _guarded([f"os.{name}({args})"], name, ok)


def _wild_memory(rng: random.Random) -> list[str]:
    """Loads and stores at wild addresses, with and without a mapping."""
    addr = rng.choice(["0", "16", "va - 4096", "va + 1 << 20", "1 << 40", "va + 4093",
                       "0x7fff0000", "va"])
    op = rng.choice([f"os.load({addr}, {rng.choice(['1', '2', '4', '8'])})",
                     f"os.store({addr}, {rng.choice(INTS)}, 8)",
                     f"os.store_bytes({addr}, b'\\xff' * {rng.choice(['1', '64', '5000'])})",
                     f"os.load_bytes({addr}, {rng.choice(['1', '5000', '1 << 20'])})"])
    return _guarded([op], "memory", OK_HANDLER)


def _bomb(rng: random.Random) -> list[str]:
    """Fork, spawn or thread bombs: until the kernel says no."""
    what = rng.choice(["os.fork(bomb, 5)", "os.spawn(spin)", "os.fork(spin)",
                       "os.thread_create(spin)", "os.thread_create(nop)",
                       "os.spawn(crash)", "os.fork(wild)"])
    n = rng.choice(["8", "64", "400", "3000"])
    return _guarded([f"for i in range({n}):", f"    {what}"], "bomb")


def _ipc_abuse(rng: random.Random) -> list[str]:
    """Pipes and shared memory: closing, garbage, random keys, odd sizes."""
    key = rng.choice(["0", "1", "2", "3", "7", "Liar(1)", "-1", "1 << 64"])
    return _guarded(rng.choice([
        ["for fd in range(12):", "    os.close(fd)"],
        ["r, w = os.pipe()", "c = os.fork(closer)", "os.write(w, b'abc')", "os.read(r, 3)",
         "os.wait(c)"],
        ["r, w = os.pipe()", "os.close(r)", "os.write(w, b'x' * 5000)"],
        ["r, w = os.pipe()", f"os.write(w, {rng.choice(HOSTILE)})", "os.read(r, 5)"],
        ["r, w = os.pipe()", "os.write(w, b'\\xff' * 100)", f"os.read(r, {rng.choice(INTS)})"],
        [f"a = os.shm_attach({key})", "for o in range(0, 4096, 8):",
         f"    os.store(a + o, {rng.choice(INTS[:9])} & 0xffffffffffffffff, 8)"],
        ["k = os.shm_create(4096)", "a = os.shm_attach(k)", "os.shm_detach(a)",
         "os.store(a, 1)"],
        [f"os.shm_create({rng.choice(INTS)})"],
        ["for k in range(16):", "    a = os.shm_attach(k)",
         "    os.store_bytes(a, b'\\xee' * 64)"],
    ]), "ipc", OK_HANDLER)


def _handlers(rng: random.Random) -> list[str]:
    """A fault handler that re-raises, fixes, toggles, faults again or recurses."""
    h = rng.choice(["h_raise", "h_fix", "h_toggle", "h_again", "h_recurse"])
    prot = rng.choice(["0", "1"])
    body = [f"os.set_fault_handler({h})", "p = os.mmap(8192)",
            f"os.mprotect(p, 8192, {prot})", "os.store(p + 8, 1)", "os.load(p + 4096)"]
    if rng.random() < 0.5:
        kind = rng.choice(["'unalign'", "'overflow'", "'coproc'", "'prot'"])
        body += [f"os.set_exception_handler({kind}, {h})", f"os.trigger({kind})"]
    return _guarded(body, "handler", OK_HANDLER)


def _deep(rng: random.Random) -> list[str]:
    """Deep recursion, then a kernel call from the deepest frame."""
    n = rng.choice(["100", "240", "250", "400"])
    call = rng.choice(["os.getpid", "os.pipe", "os.yield_", "lambda: os.fork(nop)",
                       "lambda: os.mmap(4096)", "lambda: os.load(0)"])
    return _guarded([f"deep(os, {n}, {call})"], "deep")


def _generators(rng: random.Random) -> list[str]:
    """Generators closed or dropped while suspended: GeneratorExit in a kernel call."""
    return _guarded(rng.choice([
        ["g = gen(os)", "next(g)", "g.close()"],
        ["g = stubborn(os)", "next(g)", "g.close()"],
        ["g = gen(os)", "next(g)", "g = None"],
        ["g = gen(os)", "next(g)", "g.throw(ValueError('in'))"],
    ]), "generator", "(SyscallError, ValueError, RuntimeError)")


def _raise(rng: random.Random) -> list[str]:
    """End the process with an exception of some kind (no guard: it escapes)."""
    return [rng.choice(["raise BadErr()", "raise ValueError('x')", "raise KeyError(1)",
                        "raise RecursionError()", "raise MemoryError()",
                        "raise StopIteration()", "raise SyscallError('EBADF', 'forged')",
                        "raise ProgramFault('forged')", "raise ZeroDivisionError()",
                        "1 / 0", "[][1]", "{}[Boom()]", "os.exit(Boom())",
                        "os.exit(BadErr())", "os.exit(Liar(3))", "return Boom()"])]


def _loop(rng: random.Random) -> list[str]:
    """Loops: charged (compute, yield) or, rarely, uncharged (fuel ends them)."""
    if rng.random() < 0.02:        # fuel ends it after ~1 s of host time: keep it rare
        return ["while True:", "    pass"]
    return [rng.choice(["while True:\n    os.compute(200000)",
                        "while True:\n    os.yield_()",
                        "for i in range(20):\n    os.compute(10000)"])]


def _memory(rng: random.Random) -> list[str]:
    """Exhaust simulated memory, or try to exhaust the host's (guarded operations)."""
    return _guarded(rng.choice([
        ["xs = []", "while True:", "    xs.append(os.mmap(1 << 20))"],
        ["for i in range(2000):", "    q = os.mmap(4096)", "    os.store(q, i)"],
        ["xs = [0] * (1 << 30)"], ["x = 10 ** (10 ** 9)"], ["x = 1 << (1 << 40)"],
        ["os.mmap(1 << 62)"], ["os.random(1 << 20)"],
        # one C-level operation asking the host for any amount (safe/guards.py)
        ["s, n = 'xy', 1 << 40", "s = s * n"], ["b = bytes(1 << 40)"],
        ["b = bytearray(1 << 40)"], ["s = 'x'.ljust(1 << 40)"],
        ["s = format(1, '99999999999d')"], ["w = 1 << 40", "s = f'{1:{w}}'"],
        ["s = '%*d' % (1 << 40, 1)"], ["b = (1).to_bytes(1 << 40, 'big')"],
        ["s = 'x'", "while True:", "    s = s + s"],
        ["s = 'x'", "while True:", "    s = f'{s}{s}'"],
        ["xs = [0]", "while True:", "    xs.extend(xs)"],
        ["x = 3", "while True:", "    x = x * x"],
    ]), "memory", "(SyscallError, ProgramFault)")


def _c_loop(rng: random.Random) -> list[str]:
    """A C-level loop over a huge range, or a recursion through C (fuel and the
    depth count end them; rare: fuel takes about 0.6 s of host time)."""
    if rng.random() < 0.97:
        return _guarded(["f = lambda x: sorted([x], key=f)", "f(1)"], "c-recursion")
    return [rng.choice(["sum(range(1 << 60))", "max(range(1 << 60))",
                        "'a' in range(1 << 60)", "dict.fromkeys(range(1 << 40))"])]


ACTIONS: list[tuple[Callable[..., list[str]], int]] = [
    (_wild_memory, 4), (_bomb, 2), (_ipc_abuse, 3), (_handlers, 3), (_deep, 2),
    (_generators, 1), (_raise, 1), (_loop, 1), (_memory, 1), (_c_loop, 1)]


def _indent(lines: list[str]) -> list[str]:
    """Lines as a function body."""
    return ["    " + line for line in "\n".join(lines).split("\n")]


def program_source(rng: random.Random, extensions: frozenset[str] = frozenset()) -> str:
    """A hostile program's full source: the prelude, ``hostile(os)``, ``main``."""
    calls = dict(CALLS, **{name: -2 for name in sorted(extensions)})   # arity unknown
    body = ["va = os.mmap(8192)"]
    for _ in range(rng.randint(2, 8)):
        if rng.random() < 0.35:
            body += _abi_call(rng, calls)
        else:
            gen_, = rng.choices([a for a, _w in ACTIONS], [w for _a, w in ACTIONS])
            body += gen_(rng)
    return PRELUDE + "\n\ndef hostile(os):\n" + "\n".join(_indent(body)) + "\n" + PROGRAM_MAIN


WORDS = INTS[:13] + ["Liar(2)", "Boom()", "'w'", "None", "1.5", "[1]", "True"]
SHAPES = ["()", "('exit',)", "('exit', 2, 0)", "('exit', Liar(2), 0)", "('exit', [1], {})",
          "('exit', Boom(), 'forged')", "('exit', 3, Boom())", "(Boom(),)", "(1, 2, 3)",
          "('exit', 2 ** 200, 0)", "[1, 2]", "{1: 2}", "Boom()", "None",
          "tuple(range(64))"]


def _raw(rng: random.Random, entry: str) -> list[str]:
    """A raw kernel entry with a random number and random-shaped words."""
    target = rng.choice(["parent", "handle", "wake_handle", "0", "1", "Liar(1)",
                         "Boom()"])
    if target in ("parent", "handle", "wake_handle"):
        target = f"getattr(os, {target!r}, 0)"
    num = rng.randrange(0, 64)
    args = [target, rng.choice(SHAPES), rng.choice(["True", "False", "Boom()"])]
    return (_guarded([f"os.{entry}({num}, {', '.join(args[:rng.randint(0, 3)])})"],
                     "raw") + ["tainted = True"])


def _message(rng: random.Random, entry: str | None) -> list[str]:
    """One hostile message: an rpc word, a raw entry, shm or descriptor garbage."""
    r = rng.random()
    if entry is not None and r < 0.4:
        return _raw(rng, entry)
    if r < 0.75:
        return _guarded([f"os.rpc_call(h, {rng.choice(WORDS)})"], "rpc")
    return _ipc_abuse(rng)


def message_source(rng: random.Random, declaration: Any) -> str:
    """A hostile sender's full source: rpc words, raw messages (where the kernel's
    declaration names a public raw entry), shm and descriptor garbage."""
    entry = declaration.raw_entry
    if entry is not None and entry.startswith("_"):
        entry = None                # private: a verified program cannot reach it
    body = ["va = os.mmap(8192)", "tainted = False", "h = 0"]
    body += _guarded(["h = os.rpc_connect('soak')"], "connect")
    for _ in range(rng.randint(3, 12)):
        for line in _message(rng, entry):
            body.append(line.replace("leak(os,", "tainted or leak(os,"))
    return PRELUDE + "\n\ndef hostile(os):\n" + "\n".join(_indent(body)) + "\n" + MESSAGE_MAIN


# -- running and classifying ---------------------------------------------------------------

def run_case(kernel: str, source: str, kind: str, seed: int = 0,
             max_cycles: int = BUDGET) -> tuple[str, str, int]:
    """Run one case's ``source`` on ``kernel``; return (outcome, detail, cycles)."""
    from exolab.runner import run_program
    from exolab.safe import load_program_source
    try:
        main = load_program_source(source, f"soak-{kind}-{seed}.py")
    except VerifyError as ex:
        return "rejected", safe_str(ex), 0
    try:
        run = run_program(main, kernel=kernel, seed=seed, frames=2048,
                          max_cycles=max_cycles)
    except BaseException as ex:                   # noqa: BLE001 - what the soak hunts
        if type(ex) is KeyboardInterrupt:
            raise
        return "crash", "".join(traceback.format_exception(ex))[-4000:], 0
    return _classify(run, kind, max_cycles) + (run.result.cycles,)


def _classify(run: Any, kind: str, max_cycles: int) -> tuple[str, str]:
    """How a finished ``run_program`` ended, from its result, console and faults."""
    lines = [line for line in run.console if line.startswith(("bystander", "soak-leak"))]
    if run.machine.panic is not None:
        return "crash", f"machine.panic: {safe_str(run.machine.panic)}"
    leaks = [line for line in lines if line.startswith("soak-leak")]
    if leaks:
        return "crash", "a Python error escaped a kernel call: " + "; ".join(leaks[:5])
    if run.result.reason not in FINE or run.result.cycles > max_cycles + SLACK + MAX_COMPUTE:
        return "hang", f"{run.result}"
    expected = sorted(EXPECTED[kind])
    if run.result.reason == "budget" and sorted(set(lines) - set(expected)) == [] \
            and len(lines) == len(set(lines)) and lines != expected:
        return "starved", ""        # the hostile side's fair share left it unfinished
    if sorted(lines) != expected:
        return "bystander", f"console {run.console[-12:]!r} faults {run.faults[:6]!r}"
    if run.result.reason == "finished" and run.faults:
        return "faulted", ""
    if run.result.cycles > max_cycles + SLACK:
        return "overshoot", f"{run.result}"     # one compute() burst past the budget
    return run.result.reason, ""


#: SIP case *i* has seed ``seed * 1_000_003 + SIP_SEEDS + i`` (apart from the others')
SIP_SEEDS = 500_001


def _cases(programs: int, messages: int, seed: int, kernels: list[str], spread: bool,
           sips: int = 0, sip_kernels: list[str] | None = None
           ) -> list[tuple[str, int, str, str]]:
    """Every (kind, case seed, kernel, source) of a soak, in order: each case on every
    kernel, or (``spread``) case *i* on kernel *i* mod the number of kernels only; SIP
    cases on ``sip_kernels``."""
    from exolab.kernels import declaration
    out = []
    for kind, count in (("program", programs), ("message", messages), ("sip", sips)):
        ks = kernels if kind != "sip" else (sip_kernels or [])
        for i in range(count if ks else 0):
            case_seed = seed * 1_000_003 + (SIP_SEEDS + i if kind == "sip"
                                            else i * 2 + (kind == "message"))
            for k in ([ks[i % len(ks)]] if spread else ks):
                rng = random.Random(case_seed)
                d = declaration(k)
                src = (program_source(rng, d.extensions) if kind == "program"
                       else message_source(rng, d) if kind == "message"
                       else sip_source(rng, d.extensions))
                out.append((kind, case_seed, k, src))
    return out


def soakable() -> list[str]:
    """The registered kernels the soak can run on: those that refuse none of
    :data:`NEEDS` (the others' refusals are checked by the conformance kit)."""
    from exolab.kernels import declaration, kernel_names
    return [k for k in kernel_names() if not NEEDS & declaration(k).refuses]


def sip_soakable() -> list[str]:
    """The registered kernels the SIP cases run on: those that declare every
    extension they use (channels, endpoints, the exchange heap)."""
    from exolab.kernels import declaration, kernel_names
    return [k for k in kernel_names() if capable(declaration(k))]


def soak(programs: int, messages: int, seed: int = 0, kernels: list[str] | None = None,
         max_cycles: int = BUDGET, on_case: Callable[[int, int, str], Any] | None = None,
         spread: bool = False, sips: int = 0) -> SoakStats:
    """Run ``programs`` hostile programs and ``messages`` hostile message cases on every
    kernel of ``kernels`` (default: the registry's soakable ones; ``spread``: each case on one of
    them in turn); ``on_case(i, total, outcome)`` after each run. Each case is generated from its own seed, so a failure's seed
    and source reproduce it alone. ``sips`` SIP cases run on the SIP kernels among
    ``kernels`` (default: every registered one that can run them)."""
    ks = list(kernels) if kernels else soakable()
    sip_ks = [k for k in (kernels or sip_soakable()) if k in sip_soakable()]
    ks = [k for k in ks if not kernels or k in soakable() or k not in sip_ks]
    outcomes: dict[str, int] = {}
    by_case: dict[str, dict[str, int]] = {}
    failures: list[Failure] = []
    top, spent, slowest = 0, 0.0, 0.0
    cases = _cases(programs, messages, seed, ks, spread, sips, sip_ks)
    for i, (kind, case_seed, k, src) in enumerate(cases):
        t0 = time.perf_counter()        # the harness's clock, outside every simulation
        outcome, detail, cycles = run_case(k, src, kind, case_seed, max_cycles)
        top = max(top, cycles)
        dt = time.perf_counter() - t0
        spent, slowest = spent + dt, max(slowest, dt)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        row = by_case.setdefault(f"{kind} {k}", {})
        row[outcome] = row.get(outcome, 0) + 1
        if outcome in FAILURES:
            failures.append(Failure(outcome, kind, k, case_seed, detail, src))
        if on_case is not None:
            on_case(i, len(cases), outcome)
    shown = tuple(ks) + tuple(k for k in sip_ks if sips and k not in ks)
    return SoakStats(len(cases), outcomes, by_case, tuple(failures), shown, programs,
                     messages, top, spent, slowest, sips if sip_ks else 0)


# -- reporting -------------------------------------------------------------------------------

REPORT_COLUMNS = ("case", "kernel", "runs") + FINE + FAILURES


def report_rows(stats: SoakStats) -> list[tuple[str, ...]]:
    """One row per (case, kernel): how many runs ended each way."""
    rows = []
    for key, counts in stats.by_case.items():
        case, kernel = key.split(" ", 1)
        rows.append((case, kernel, str(sum(counts.values())))
                    + tuple(str(counts.get(o, 0)) for o in FINE + FAILURES))
    return rows


def summary(stats: SoakStats) -> str:
    """The soak's figures in one paragraph (and the first failures, briefly)."""
    n = {kind: sum(1 for f in stats.failures if f.kind == kind) for kind in FAILURES}
    sips = f" + {stats.sips:,} SIP cases" if stats.sips else ""
    lines = [f"{stats.programs:,} programs + {stats.messages:,} message cases{sips} on "
             f"{', '.join(stats.kernels)}: {stats.runs:,} runs, "
             f"{n['crash']} simulator crashes, {n['hang']} hangs past the budget, "
             f"{n['bystander']} bystander results changed, {n['rejected']} rejected by "
             f"the verifier; largest run {stats.max_cycles:,} cycles; host "
             f"{stats.host_seconds:.0f} s (slowest run {stats.slowest:.2f} s)"]
    for f in stats.failures[:10]:
        lines.append(f"  {f.kind}: {f.case} seed {f.seed} on {f.kernel}: "
                     f"{f.detail.strip().splitlines()[-1][:150] if f.detail.strip() else ''}")
    return "\n".join(lines)


def failures_json(stats: SoakStats) -> str:
    """Every failure as JSON (kind, case, kernel, seed, detail, source)."""
    import json
    return json.dumps([{"kind": f.kind, "case": f.case, "kernel": f.kernel, "seed": f.seed,
                        "detail": f.detail, "source": f.source} for f in stats.failures],
                      indent=1)


def progress(stream: Any) -> Callable[[int, int, str], None]:
    """An ``on_case`` callback that keeps one progress line on ``stream``."""
    def show(i: int, total: int, outcome: str) -> None:
        if (i + 1) % 50 == 0 or i + 1 == total:
            stream.write(f"\rsoak: {i + 1:,}/{total:,} runs")
            if i + 1 == total:
                stream.write("\n")
            stream.flush()
    return show
