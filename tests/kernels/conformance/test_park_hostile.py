"""Hostile programs against thread_id / thread_park / thread_unpark, on every kernel.

Each attack runs beside a bystander process whose own park/unpark hand-off
must come out exactly as it does alone; the attacker gets typed errors (or
its own fault), the run finishes (no hang), and the kernel's books return to
their baseline (no process, thread or frame left behind).
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.errors import SyscallError

from ..hostile import Hostile, LyingInt
from .kit import leftovers, needs
from .test_common import err, run_on

HANDOFFS = 12


def _bystander(os: Any, log: list[Any]) -> int:
    """Two threads hand a counter back and forth by park/unpark; ``log`` records it."""
    state = {"turn": 0, "n": 0}
    main_tid = os.thread_id()

    def partner(os: Any) -> None:
        for _ in range(HANDOFFS):
            while state["turn"] != 1:
                os.thread_park()
            state["n"] += 1
            log.append(("partner", state["n"]))
            state["turn"] = 0
            os.thread_unpark(main_tid)

    t = os.thread_create(partner)
    for _ in range(HANDOFFS):
        state["n"] += 1
        log.append(("main", state["n"]))
        state["turn"] = 1
        os.thread_unpark(t)
        while state["turn"] != 0:
            os.thread_park()
    return 0


EXPECTED = [(who, n) for i in range(HANDOFFS)
            for who, n in (("main", 2 * i + 1), ("partner", 2 * i + 2))]


def _beside(kernel: str, attack: Callable[..., Any], *args: Any) -> Any:
    """Run ``attack`` in its own process beside the bystander; check the bystander."""
    log: list[Any] = []

    def bystander(os: Any) -> int:
        return _bystander(os, log)

    def attacker(os: Any) -> Any:
        return attack(os, *args)

    def main(os: Any) -> None:
        b = os.spawn(bystander)
        a = os.spawn(attacker)
        os.wait(a)
        os.wait(b)

    k = run_on(kernel, main)
    assert log == EXPECTED
    assert leftovers(k) == {"processes": 0, "live": 0, "frames": 0}
    return k


def test_the_bystander_alone_is_exact(kernel: str) -> None:
    log: list[Any] = []
    run_on(kernel, _bystander, log)
    assert log == EXPECTED


def _types(os: Any, out: dict[str, Any]) -> int:
    class Sub(int):
        pass

    bad = [Hostile(), LyingInt(0), Sub(1), True, False, 1.0, float("nan"), b"\x01",
           "1", None, [1], {1: 1}, object(), complex(1, 0), os.thread_id]
    out["bad"] = sorted({err(os.thread_unpark, b) for b in bad})
    out["huge"] = sorted({err(os.thread_unpark, v) for v in
                          (2 ** 63, 2 ** 64 + 1, 10 ** 40, -2 ** 70, -1, -(2 ** 31))})
    out["zero"] = err(os.thread_unpark, 0)
    os.thread_unpark(os.thread_id())           # the only good call: a token for itself
    os.thread_park()
    return 0


def test_hostile_thread_ids(kernel: str) -> None:
    out: dict[str, Any] = {}
    _beside(kernel, _types, out)
    assert out["bad"] == ["EINVAL"]
    assert out["huge"] == ["ESRCH"]
    assert out["zero"] in ("ESRCH",)


def _poke(os: Any, tid: int, out: dict[str, Any]) -> None:
    """Unpark ``tid``; a thread that has ended meanwhile must be ESRCH, nothing else."""
    try:
        os.thread_unpark(tid)
    except SyscallError as e:
        out.setdefault("errs", set()).add(e.errno)


def _storm(os: Any, out: dict[str, Any]) -> int:
    """Many threads park at once; unpark storms (before, during, after) wake each one once."""
    n = 40
    woke: list[int] = []
    tids: list[int] = []

    def sleeper(os: Any, i: int) -> None:
        os.thread_park()
        woke.append(i)

    for i in range(n):
        tids.append(os.thread_create(sleeper, i))
    for t in tids[: n // 2]:                   # half get a token before they ever run
        _poke(os, t, out)
        _poke(os, t, out)
    for _ in range(3):
        os.thread_yield()
    rounds = 0
    while len(woke) < n and rounds < 200:
        for t in tids:
            _poke(os, t, out)
        os.thread_yield()
        rounds += 1
    out["woke"] = sorted(woke)
    for _ in range(5):
        os.thread_yield()
    out["after"] = sorted({err(os.thread_unpark, t) for t in tids})
    return 0


def test_a_park_storm_wakes_every_thread_once(kernel: str) -> None:
    out: dict[str, Any] = {}
    _beside(kernel, _storm, out)
    assert out["woke"] == list(range(40))
    assert out.get("errs", {"ESRCH"}) <= {"ESRCH"}
    assert out["after"] == ["ESRCH"]


def _stale_token(os: Any, out: dict[str, Any]) -> int:
    """A token left on a thread that ended must not wake a thread that reuses its id."""
    seen: set[int] = set()
    early = 0
    for _ in range(30):
        box: list[int] = []

        def quick(os: Any) -> None:
            box.append(os.thread_id())

        t = os.thread_create(quick)
        os.thread_unpark(t)                    # a token it never consumes
        while not box:
            os.thread_yield()
        for _ in range(3):
            os.thread_yield()
        flag: list[str] = []

        def parker(os: Any) -> None:
            flag.append("parking")
            os.thread_park()
            flag.append("woke")

        t2 = os.thread_create(parker)
        seen.add(t2 == t)
        while not flag:
            os.thread_yield()
        for _ in range(4):
            os.thread_yield()
        if "woke" in flag:
            early += 1
        os.thread_unpark(t2)
        while "woke" not in flag:
            os.thread_yield()
    out["early"] = early
    return 0


def test_a_dead_threads_token_does_not_wake_its_successor(kernel: str) -> None:
    out: dict[str, Any] = {}
    _beside(kernel, _stale_token, out)
    assert out["early"] == 0


def _cross(os: Any, out: dict[str, Any]) -> int:
    """Threads of another process (parked, running, ended) are ESRCH to us."""
    theirs: list[int] = []

    def victim(os: Any) -> int:
        def p(os: Any) -> None:
            theirs.append(os.thread_id())
            os.thread_park()
        t = os.thread_create(p)
        theirs.append(os.thread_id())
        while len(theirs) < 2:
            os.thread_yield()
        for _ in range(40):
            os.thread_yield()
        out["victim still parked"] = len(theirs)
        os.thread_unpark(t)
        return 0

    pid = os.spawn(victim)
    while len(theirs) < 2:
        os.yield_()
    out["parked"] = sorted({err(os.thread_unpark, t) for t in theirs})
    os.wait(pid)
    out["ended"] = sorted({err(os.thread_unpark, t) for t in theirs})
    return 0


def test_threads_of_another_process_are_esrch(kernel: str) -> None:
    out: dict[str, Any] = {}
    _beside(kernel, _cross, out)
    assert out["parked"] == ["ESRCH"]
    assert out["ended"] == ["ESRCH"]
    assert out["victim still parked"] == 2


def _churn(os: Any, out: dict[str, Any]) -> int:
    """Thousands of threads, created and ended in waves, each parking once."""
    done = [0]

    def worker(os: Any) -> None:
        os.thread_park()
        done[0] += 1

    for wave in range(25):
        tids = [os.thread_create(worker) for _ in range(40)]
        for t in tids:
            os.thread_unpark(t)
        while done[0] < 40 * (wave + 1):
            os.thread_yield()
    out["done"] = done[0]
    return 0


def test_thousands_of_parking_threads_leave_nothing(kernel: str) -> None:
    out: dict[str, Any] = {}
    _beside(kernel, _churn, out)
    assert out["done"] == 1000


def _exit_while_parked(os: Any, out: dict[str, Any]) -> int:
    """Children that exit with threads parked or holding tokens; the exit comes from
    the main thread or from a thread while the main thread is parked."""
    for i in range(6):
        def child(os: Any, i: int = i) -> int:
            tids = []

            def p(os: Any) -> None:
                os.thread_park()
                os.thread_park()

            def ender(os: Any) -> None:
                os.thread_yield()
                os.exit(i)

            for _ in range(5):
                tids.append(os.thread_create(p))
            os.thread_yield()
            for t in tids[: i % 3]:
                os.thread_unpark(t)
            if i % 2:
                os.thread_create(ender)
                os.thread_park()
                os.thread_park()
            os.exit(i)
            return -1

        pid = os.spawn(child)
        out.setdefault("status", []).append(os.wait(pid)[1])
    return 0


def test_exit_with_threads_parked_or_tokened(kernel: str) -> None:
    out: dict[str, Any] = {}
    _beside(kernel, _exit_while_parked, out)
    assert out["status"] == [0, 1, 2, 3, 4, 5]


def _fault_while_others_parked(os: Any) -> int:
    def p(os: Any) -> None:
        os.thread_park()

    for _ in range(4):
        os.thread_create(p)
    os.thread_yield()
    raise ZeroDivisionError("the attacker's own fault")


def test_a_fault_with_threads_parked_leaves_nothing(kernel: str) -> None:
    _beside(kernel, _fault_while_others_parked)


def _fork_race(os: Any, out: dict[str, Any]) -> int:
    """A fork child names its parent's parked thread (ESRCH: the child has only the
    forking thread), parks on its own token, and exits; the parent's thread stays
    parked until the parent unparks it."""
    log: list[str] = []

    def sleeper(os: Any) -> None:
        os.thread_park()
        log.append("woke")

    t = os.thread_create(sleeper)
    for _ in range(3):
        os.thread_yield()

    def child(os: Any) -> int:
        out["child"] = err(os.thread_unpark, t)
        os.thread_unpark(os.thread_id())
        os.thread_park()
        return 7

    pids = [os.fork(child) for _ in range(4)]
    out["status"] = [os.wait(p)[1] for p in pids]
    out["before"] = list(log)
    os.thread_unpark(t)
    while not log:
        os.thread_yield()
    return 0


def test_a_fork_child_cannot_wake_its_parents_threads(kernel: str) -> None:
    needs(kernel, "fork")
    out: dict[str, Any] = {}
    _beside(kernel, _fork_race, out)
    assert out == {"child": "ESRCH", "status": [7, 7, 7, 7], "before": []}


def _many_wakers(os: Any, out: dict[str, Any]) -> int:
    """Twenty threads unpark one target as fast as they can while it parks in a loop:
    every unpark is accepted (tokens merge), the target sees no more wakes than parks,
    and it ends once told to."""
    state = {"stop": False, "parks": 0}
    target_box: list[int] = []

    def target(os: Any) -> None:
        target_box.append(os.thread_id())
        while not state["stop"]:
            os.thread_park()
            state["parks"] += 1

    def waker(os: Any) -> None:
        for _ in range(15):
            os.thread_unpark(target_box[0])
            os.thread_yield()

    t = os.thread_create(target)
    while not target_box:
        os.thread_yield()
    wakers = [os.thread_create(waker) for _ in range(20)]
    for _ in range(200):
        os.thread_yield()
    state["stop"] = True
    os.thread_unpark(t)
    for _ in range(20):
        os.thread_yield()
    out["parks"] = state["parks"]
    out["gone"] = sorted({err(os.thread_unpark, w) for w in wakers + [t]})
    return 0


def test_an_unpark_storm_on_one_thread(kernel: str) -> None:
    out: dict[str, Any] = {}
    _beside(kernel, _many_wakers, out)
    assert 1 <= out["parks"] <= 20 * 15 + 1
    assert out["gone"] == ["ESRCH"]
