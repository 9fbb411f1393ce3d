"""One C-level operation of a verified program is bounded: a size cap refuses it
before it builds, fuel is charged by its size, C iteration over ``range`` ticks;
and what is guarded computes exactly what Python computes."""
from __future__ import annotations

import sys
import time
from math import comb, factorial, prod
from struct import pack
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exolab.errors import ProgramFault
from exolab.kernels import kernel_names
from exolab.runner import run_program
from exolab.safe import guards, runtime
from exolab.safe.load import load_program_source
from tests.kernels.common import beside_bystander

KERNELS = kernel_names()      # every registered kernel
_FIXTURE = [HealthCheck.function_scoped_fixture]      # small_caps only sets constants
ROUNDS = 20
BIG = 10 ** 10


@pytest.fixture
def little_fuel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "FUEL", 20_000)


@pytest.fixture
def small_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guards, "MAX_ITEMS", 64)
    monkeypatch.setattr(guards, "MAX_BITS", 64)


# -- hostile programs: each is one C-level operation (or a chain of them) ------

def sum_of_range(os: Any) -> int:
    return sum(range(10 ** 13))


def max_of_range(os: Any) -> int:
    return max(range(10 ** 13))


def foreign_in_range(os: Any) -> bool:
    return "a" in range(10 ** 12)


def reversed_range(os: Any) -> int:
    return sum(reversed(range(10 ** 12)))


def list_of_range(os: Any) -> int:
    r = range(10 ** 7)
    return len(sorted(r))


def fromkeys_of_range(os: Any) -> int:
    return len(dict.fromkeys(range(10 ** 9)))


def join_of_range(os: Any) -> int:
    return len(",".join(map(str, range(10 ** 9))))


class Forever:
    """An iterator that never stops (its ``__next__`` is program code)."""

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> int:
        return 1


def next_forever(os: Any) -> int:
    return sum(Forever())


def getitem_forever(os: Any) -> int:
    class Endless:
        def __getitem__(self, i: int) -> int:
            return i
    return max(Endless())


def lambda_forever(os: Any) -> int:
    return len(list(map(lambda x: x + 1, Forever())))


def big_bytes(os: Any) -> int:
    return len(bytes(BIG))


def big_bytearray(os: Any) -> int:
    return len(bytearray(BIG))


def big_bytes_keyword(os: Any) -> int:
    return len(bytes(source=BIG))


def big_ljust(os: Any) -> int:
    return len("x".ljust(BIG))


class _Text(str):
    pass


def super_ljust(os: Any) -> int:         # the lookup through super() reaches str.ljust
    return len(super(_Text, _Text("x")).ljust(BIG))


def big_center(os: Any) -> int:
    return len(b"x".center(BIG))


def big_zfill(os: Any) -> int:
    return len("7".zfill(BIG))


def big_expandtabs(os: Any) -> int:
    return len(("\t" * 1000).expandtabs(10 ** 6))


def big_format(os: Any) -> int:
    return len(format(1, "10000000000d"))


def big_fstring_width(os: Any) -> int:
    n = BIG
    return len(f"{1:>{n}}")


def big_fstring_literal(os: Any) -> int:
    return len(f"{1:100000000}")


def big_percent_star(os: Any) -> int:
    return len("%*d" % (BIG, 1))


def big_percent_literal(os: Any) -> int:
    return len("%100000000d" % 1)


def big_str_format(os: Any) -> int:
    return len("{:100000000}".format(1))


def big_to_bytes(os: Any) -> int:
    return len((1).to_bytes(BIG, "big"))


def big_repeat(os: Any) -> int:
    s, n = "x", BIG
    return len(s * n)


def big_translate(os: Any) -> int:
    return len(("a" * 1000).translate({97: "b" * 100_000}))


def big_replace(os: Any) -> int:
    s = "x" * 10_000
    return len(s.replace("", s))


def doubling_add(os: Any) -> None:
    s = "x"
    while True:
        s = s + s


def doubling_iadd(os: Any) -> None:
    items = [0]
    while True:
        items += items


def doubling_imul(os: Any) -> None:
    b = bytearray(1)
    while True:
        b *= 2


def doubling_extend(os: Any) -> None:
    items = [0]
    while True:
        items.extend(items)


def doubling_star(os: Any) -> None:
    items = [0]
    while True:
        items = [*items, *items]


def doubling_slice(os: Any) -> None:
    items = [0]
    while True:
        items[len(items):] = items


def _args(*xs: Any) -> Any:
    return xs


def doubling_call_star(os: Any) -> None:
    items = (0,)
    while True:
        items = _args(*items, *items)


class _Items(list):
    pass


def doubling_super_extend(os: Any) -> None:
    items = _Items([0])
    while True:
        super(_Items, items).extend(items)


def doubling_attribute(os: Any) -> None:
    class Box:
        s = "x"
    box = Box()
    while True:
        box.s += box.s


def doubling_fstring(os: Any) -> None:
    s = "x"
    while True:
        s = f"{s}{s}"


def doubling_percent(os: Any) -> None:
    s = "x"
    while True:
        s = "%s%s" % (s, s)


def doubling_format(os: Any) -> None:
    s = "x"
    while True:
        s = "{}{}".format(s, s)


def doubling_join(os: Any) -> None:
    s = "x"
    while True:
        s = "".join([s, s])


def doubling_replace(os: Any) -> None:
    s = "xx"
    while True:
        s = s.replace("x", "xx")


def squaring(os: Any) -> None:
    x = 3
    while True:
        x = x * x


def alias_method(os: Any) -> int:
    pad = "x".ljust
    return len(pad(BIG))


def getattr_method(os: Any) -> int:
    return len(getattr("x", "center")(BIG))


def unbound_method(os: Any) -> int:
    return len(str.rjust("x", BIG))


def quadratic_sum(os: Any) -> int:
    return len(sum([[0]] * 200_000, []))


def modular_pow(os: Any) -> int:
    return pow(3, 10 ** 300, 10 ** 100_000)


def big_factorial(os: Any) -> int:
    return factorial(10 ** 7).bit_length()


def big_comb(os: Any) -> int:
    return comb(10 ** 8, 5 * 10 ** 7).bit_length()


def big_prod(os: Any) -> int:
    return prod(range(1, 10 ** 6)).bit_length()


def big_pack(os: Any) -> int:
    return len(pack("10000000000x"))


REFUSED = [big_bytes, big_bytearray, big_bytes_keyword, big_ljust, big_center, big_zfill, big_expandtabs,
           big_format, big_fstring_width, big_fstring_literal, big_percent_star,
           big_percent_literal, big_str_format, big_to_bytes, big_repeat, big_translate,
           big_replace, alias_method, getattr_method, unbound_method, modular_pow,
           big_factorial, big_comb, big_pack, super_ljust]
# a chain of growing operations: each is charged by its size, so it runs out of
# fuel or reaches the cap, whichever comes first
CHAINS = [doubling_add, doubling_iadd, doubling_imul, doubling_extend, doubling_super_extend,
          doubling_star, doubling_slice, doubling_call_star,
          doubling_attribute,
          doubling_fstring, doubling_percent, doubling_format, doubling_join,
          doubling_replace, squaring, big_prod]
EXHAUSTED = [sum_of_range, max_of_range, foreign_in_range, reversed_range, list_of_range,
             fromkeys_of_range, join_of_range, next_forever, getitem_forever,
             lambda_forever, quadratic_sum]


def _pair(offender: Any) -> Any:
    return beside_bystander(offender, ROUNDS)


def _contained(run: Any, *kinds: str) -> None:
    assert run.result.reason == "finished" and run.machine.panic is None
    assert f"offender True bystander {sum(range(ROUNDS))}" in run.console
    assert len(run.faults) == 1 and any(k in run.faults[0][1] for k in kinds), run.faults


@pytest.mark.parametrize("offender", REFUSED, ids=lambda f: f.__name__)
def test_an_operation_too_large_for_the_host_faults_only_its_program(
        little_fuel: None, offender: Any) -> None:
    _contained(run_program(_pair(offender)), "too large for the host")


@pytest.mark.parametrize("offender", CHAINS, ids=lambda f: f.__name__)
def test_a_chain_of_growing_operations_faults_only_its_program(
        little_fuel: None, offender: Any) -> None:
    _contained(run_program(_pair(offender)), "too large for the host", "Exhausted")


@pytest.mark.parametrize("offender", EXHAUSTED, ids=lambda f: f.__name__)
def test_a_c_level_iteration_runs_on_fuel(little_fuel: None, offender: Any) -> None:
    _contained(run_program(_pair(offender)), "Exhausted")


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("offender,kind", [(sum_of_range, "Exhausted"),
                                           (big_repeat, "too large"),
                                           (big_fstring_width, "too large")],
                         ids=["sum_of_range", "big_repeat", "big_fstring_width"])
def test_every_kernel_contains_a_c_level_bomb(little_fuel: None, kernel: str,
                                              offender: Any, kind: str) -> None:
    _contained(run_program(_pair(offender), kernel=kernel), kind)


def test_imports_in_a_program_file_get_the_guards(little_fuel: None) -> None:
    main = load_program_source(
        "from math import factorial\nfrom struct import pack\n"
        "def main(os):\n"
        "    try:\n        factorial(10 ** 7)\n    except Exception as e:\n"
        "        os.print(type(e).__name__)\n"
        "    try:\n        pack('10000000000x')\n    except Exception as e:\n"
        "        os.print(type(e).__name__)\n"
        "    os.print(factorial(10), pack('>H', 258))\n")
    assert run_program(main).console == ["ProgramFault", "ProgramFault",
                                         "3628800 b'\\x01\\x02'"]


# -- what the guards leave as Python computes it -------------------------------

def ordinary(os: Any) -> None:
    class Wide(str):
        def ljust(self, width: int, fill: str = " ") -> str:   # an override stays
            return "wide"

    class Padded(str):                                          # ... and reaches the
        def ljust(self, width: int, fill: str = " ") -> str:   # builtin through super
            return "<" + super().ljust(width, fill) + ">"

    class Log(list):
        def extend(self, items: Any) -> None:
            super().extend(items)
            super().extend(["+"])
    log = Log([0])
    log.extend([1, 2])
    cut = [0, 1, 2, 3]
    cut[1:3] = iter([7, 8, 9])
    cut[::2] = "ab"
    raw = bytearray(b"abc")
    raw[1:2] = b"XYZ"
    r = range(2, 20, 3)
    out = [sum(r), list(reversed(r)), r[1:3], 5 in r, 5.0 in r, r.index(8), len(r),
           isinstance(r, range), type(r).__name__, repr(r), r == range(2, 20, 3),
           "ab".ljust(4, "."), Wide("x").ljust(9), "-".join(["a", "b"]),
           "x{}y{:>3}".format(1, 2), "%-4s|%*d" % ("a", 3, 7), f"{3:0{4}}",
           f"{'q'!r}{2}", (258).to_bytes(2, "big"), bytes(3), bytearray(b"ab") * 2,
           [1] + [2], "a" * 3, 7 * 6, 2 ** 10, 1 << 5, 17 // 5, 17 % 5, -7 // 2,
           divmod(17, 5), pow(3, 4, 5), sum([[1], [2]], []), prod([2, 3]),
           "a\tb".expandtabs(4), "abc".replace("b", "xy"), "ab".translate({97: "z"}),
           Padded("p").ljust(3, "."), super(Padded, Padded("q")).zfill(4), log,
           [1, *r, 2], (*"ab", 3), [*(x for x in "xy")], max(*[4, 9], *(2,)), cut, raw]
    items = [1]
    items += [2]
    items *= 2
    items.extend((3,))
    os.print(repr(out), items)


def test_guarded_operations_compute_what_python_computes() -> None:
    verified = run_program(ordinary).console
    assert verified == run_program(ordinary, trusted=True).console


def test_a_program_that_binds_range_keeps_its_own() -> None:
    main = load_program_source(
        "def range(n):\n    return [n, n]\n"
        "def main(os):\n    os.print([x for x in range(3)], sum(range(4)))\n")
    assert run_program(main).console == ["[3, 3] 8"]


def test_the_metered_range_is_sealed() -> None:
    main = load_program_source(
        "def main(os):\n    try:\n        range.count = None\n"
        "    except Exception as e:\n        os.print(type(e).__name__)\n")
    assert run_program(main).console == ["ProgramFault"]


RANGES = st.tuples(st.integers(-40, 40), st.integers(-40, 40),
                   st.integers(-6, 6).filter(bool))


@settings(max_examples=200, deadline=None)
@given(RANGES, st.one_of(st.integers(-50, 50), st.floats(-50, 50), st.text(max_size=1)),
       st.slices(30))
def test_the_metered_range_behaves_as_range(args: Any, x: Any, cut: slice) -> None:
    real, metered = range(*args), guards.Range(*args)
    assert list(metered) == list(real) and list(reversed(metered)) == list(reversed(real))
    assert (len(metered), bool(metered), repr(metered)) == (len(real), bool(real), repr(real))
    assert (metered.start, metered.stop, metered.step) == (real.start, real.stop, real.step)
    assert list(metered[cut]) == list(real[cut]) and type(metered[cut]) is guards.Range
    assert (x in metered) == (x in real) and metered.count(x) == real.count(x)
    if x in real:
        assert metered.index(x) == real.index(x)
    else:
        with pytest.raises(ValueError):
            metered.index(x)
    assert metered == guards.Range(*args) and hash(metered) == hash(guards.Range(*args))
    assert metered == real and metered != list(real)


VALUES = st.one_of(st.integers(-2 ** 70, 2 ** 70), st.text(max_size=6),
                   st.binary(max_size=6), st.lists(st.integers(0, 3), max_size=6),
                   st.booleans(), st.floats(allow_nan=False))
OPS = {"*": (guards.guard_mul, lambda a, b: a * b), "+": (guards.guard_add,
                                                         lambda a, b: a + b),
       "//": (guards.guard_div, lambda a, b: a // b), "%": (guards.guard_mod,
                                                          lambda a, b: a % b)}


def _outcome(f: Any, a: Any, b: Any) -> Any:
    try:
        return ("value", f(a, b))
    except ProgramFault:
        return ("refused", None)
    except Exception as e:      # the same error Python would raise
        return ("error", type(e))


def _intended(op: str, a: Any, b: Any) -> int:
    """The bits or items ``a op b`` would build (what the caps compare)."""
    seqs = [isinstance(v, guards._SEQ) for v in (a, b)]
    if op == "+" and all(seqs):
        return len(a) + len(b)
    if op == "*" and any(seqs) and all(isinstance(v, (int, *guards._SEQ)) for v in (a, b)):
        seq, n = (a, b) if seqs[0] else (b, a)
        return len(seq) * n
    if op == "*" and all(isinstance(v, int) for v in (a, b)):
        return a.bit_length() + b.bit_length()
    return 0


@settings(max_examples=400, deadline=None, suppress_health_check=_FIXTURE)
@given(st.sampled_from(sorted(OPS)), VALUES, VALUES)
def test_an_operator_guard_refuses_exactly_the_oversize(small_caps: None, op: str,
                                                        a: Any, b: Any) -> None:
    guard, plain = OPS[op]
    got, want = _outcome(guard, a, b), _outcome(plain, a, b)
    if got[0] == "refused":
        assert _intended(op, a, b) > 64
    else:
        assert repr(got) == repr(want)
        if got[0] == "value" and isinstance(got[1], guards._SEQ) and op in "*+":
            assert len(got[1]) <= 64


@settings(max_examples=300, deadline=None, suppress_health_check=_FIXTURE)
@given(st.sampled_from(["ljust", "rjust", "center", "zfill"]), st.text(max_size=5),
       st.integers(-3, 100))
def test_a_padding_guard_refuses_exactly_the_oversize(small_caps: None, name: str,
                                                      s: str, width: int) -> None:
    method = guards.guard_attr(s, name)
    try:
        got = method(width)
    except ProgramFault:
        assert width > 64
        return
    assert got == getattr(s, name)(width) and width <= 64


@settings(max_examples=300, deadline=None, suppress_health_check=_FIXTURE)
@given(st.text("ab%", max_size=6), st.text("ab", max_size=6), st.integers(-1, 5))
def test_the_replace_guard_counts_what_replace_builds(small_caps: None, s: str,
                                                      old: str, count: int) -> None:
    new = "xyz"
    want = s.replace(old, new, count)
    try:
        got = guards.guard_attr(s, "replace")(old, new, count)
    except ProgramFault:
        assert len(want) > 64
        return
    assert got == want


@pytest.mark.parametrize("fmt,args,refused", [
    ("%*d", (65, 1), True), ("%*d", (5, 10 ** 30), False), ("%.*f", (65, 1.5), True),
    ("%65d", 1, True), ("%%%*s", (3, "x"), False), ("%(a)s%(a)s", {"a": "x" * 40}, True),
    ("%s", ("x" * 60,), False)])
def test_percent_formatting_is_checked_by_width_and_result(
        small_caps: None, fmt: str, args: Any, refused: bool) -> None:
    if refused:
        with pytest.raises(ProgramFault):
            guards.guard_mod(fmt, args)
    else:
        assert guards.guard_mod(fmt, args) == fmt % args


# -- the watchdog: a loop of long C operations ----------------------------------

@pytest.fixture
def quick_watchdog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "HOST_STALL", 0.3)
    monkeypatch.setattr(runtime, "WATCH_PERIOD", 0.02)


def counts_forever(os: Any) -> None:
    big = [0] * 2_000_000
    while True:
        big.count(1)            # ~10 ms of C a tick: 5M ticks would be 14 hours


def test_a_loop_of_long_c_operations_is_stopped_by_the_watchdog(
        quick_watchdog: None) -> None:
    run = run_program(_pair(counts_forever))
    _contained(run, "no progress in simulated time for 0.3 s of host time")


def _stalls_then_progresses(os: Any, stalls: list[int]) -> int:
    for r, stall in enumerate(stalls):
        n = 0
        while n < stall:        # `stall` ticks without simulated progress
            n += 1
        os.print("round", r, os.getpid() > 0)
    return 0


@pytest.fixture
def fast_switching() -> Iterator[None]:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)               # let the watchdog thread in often
    yield
    sys.setswitchinterval(interval)


@pytest.mark.parametrize("last,faults", [(900, False), (5000, True)])
def test_the_watchdog_changes_no_tick_window(monkeypatch: pytest.MonkeyPatch,
                                              fast_switching: None, last: int,
                                              faults: bool) -> None:
    monkeypatch.setattr(runtime, "FUEL", 1000)
    monkeypatch.setattr(runtime, "HOST_STALL", 1000.0)
    monkeypatch.setattr(runtime, "WATCH_PERIOD", 0.0001)
    time.sleep(0.3)                             # the watchdog has taken up the period
    seen = []
    for watching in (False, True):
        monkeypatch.setattr(runtime, "WATCHDOG", watching)
        before = runtime.statistics()["forced_looks"]
        run = run_program(_stalls_then_progresses, [900] * 300 + [last])
        forced = runtime.statistics()["forced_looks"] - before
        assert (forced > 0) is watching
        seen.append((run.console, [f[1] for f in run.faults], run.result.cycles))
    assert seen[0] == seen[1]
    assert bool(seen[0][1]) is faults and ("round 300 True" in seen[0][0]) is not faults


def test_a_steal_that_races_the_end_of_a_run_stops_nothing_after_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the watchdog read /proc while a run ended, then took the fuel of
    no run at all; verified code run later outside a machine (XN's ownership
    functions, tests) met the host rule against no clock, 10 s on."""
    monkeypatch.setattr(runtime, "HOST_STALL", 0.0)    # any forced host look would stop
    monkeypatch.setattr(runtime, "WATCHDOG", False)
    m = runtime._meter
    assert m.clock is None                              # outside every run
    loops = load_program_source("def f(n):\n    while n:\n        n -= 1\n    return 7\n",
                                "<after a run>", "f")
    before = runtime.statistics()["forced_looks"]
    for _race in range(3):
        m.stolen, m.left = m.left, 0                    # the raced steal
        assert loops(10) == 7
        assert m.stolen is None and m.left > 0
    assert runtime.statistics()["forced_looks"] == before


def hoards(os: Any) -> None:
    keep = []
    while True:                 # progress in simulated time: fuel never ends it
        keep.append(bytearray(1 << 20))
        os.compute(10)


@pytest.mark.skipif(runtime.host_memory() is None, reason="no /proc/self/statm here")
def test_a_program_hoarding_host_memory_is_stopped(monkeypatch: pytest.MonkeyPatch,
                                                    quick_watchdog: None) -> None:
    monkeypatch.setattr(runtime, "HOST_MEMORY", runtime.host_memory() + (200 << 20))
    before = runtime.statistics()["host_memory"]
    run = run_program(hoards)
    assert run.result.reason == "finished" and run.machine.panic is None
    assert len(run.faults) == 1 and "host memory over" in run.faults[0][1]
    assert runtime.statistics()["host_memory"] == before + 1
    del run
    assert run_program(_stalls_then_progresses, [10] * 3).console[-1] == "round 2 True"
