"""thread_id, thread_park, thread_unpark: the same behaviour on every kernel.

A parked thread runs again only after an unpark; an unpark that comes first is
kept (one token: unparks do not count); ``thread_id`` is the id
``thread_create`` returned; a bad id is EINVAL (not an int) or ESRCH (no live
thread of the caller's process: unknown, ended, another process's); a process
that ends with a thread parked leaves nothing behind.
"""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ..hostile import LyingInt
from .kit import leftovers
from .test_common import err, run_on


def test_a_parked_thread_runs_again_only_after_an_unpark(kernel: str) -> None:
    log: list[Any] = []

    def child(os: Any) -> None:
        log.append(("child", os.thread_id()))
        os.thread_park()
        log.append("woke")

    def main(os: Any) -> None:
        t = os.thread_create(child)
        while len(log) < 1:
            os.thread_yield()
        for _ in range(5):                      # parked: yielding never runs it
            os.thread_yield()
        log.append(("parked", len(log)))
        os.thread_unpark(t)
        while "woke" not in log:
            os.thread_yield()
        log.append(("created", t))

    run_on(kernel, main)
    tid = log[-1][1]
    assert log == [("child", tid), ("parked", 1), "woke", ("created", tid)]


def test_a_wake_that_comes_first_is_kept_once(kernel: str) -> None:
    out: dict[str, Any] = {}

    def child(os: Any, box: list[int]) -> None:
        os.thread_park()                        # the second unpark's token, or a wake
        box.append(1)

    def main(os: Any) -> None:
        me = os.thread_id()
        os.thread_unpark(me)
        os.thread_unpark(me)                    # tokens do not count: one
        os.thread_park()                        # returns at once
        box: list[int] = []
        t = os.thread_create(child, box)
        os.thread_unpark(t)                     # before it parks: kept
        while not box:
            os.thread_yield()
        out["ok"] = True

    run_on(kernel, main)
    assert out == {"ok": True}


def test_bad_thread_ids(kernel: str) -> None:
    out: dict[str, Any] = {}
    other: list[int] = []

    def ended(os: Any) -> None:
        return None

    def stranger(os: Any) -> int:
        other.append(os.thread_id())
        return 0

    def main(os: Any) -> None:
        for bad in ("1", 1.0, None, True, LyingInt(1), (1,)):
            out.setdefault("types", set()).add(err(os.thread_unpark, bad))
        out["unknown"] = err(os.thread_unpark, 10 ** 9)
        out["negative"] = err(os.thread_unpark, -1)
        t = os.thread_create(ended)
        for _ in range(20):
            os.thread_yield()
        out["ended"] = err(os.thread_unpark, t)
        os.wait(os.spawn(stranger))
        out["other process"] = err(os.thread_unpark, other[0])
        os.thread_unpark(os.thread_id())        # itself: fine (a token)
        os.thread_park()

    run_on(kernel, main)
    assert out == {"types": {"EINVAL"}, "unknown": "ESRCH", "negative": "ESRCH",
                   "ended": "ESRCH", "other process": "ESRCH"}


def test_exit_with_a_thread_parked_leaves_nothing(kernel: str) -> None:
    def sleeper(os: Any) -> None:
        os.thread_park()

    def main(os: Any) -> None:
        os.thread_create(sleeper)
        for _ in range(5):
            os.thread_yield()
        os.exit(0)

    k = run_on(kernel, main)
    assert leftovers(k) == {"processes": 0, "live": 0, "frames": 0}


@settings(max_examples=12, deadline=None, derandomize=True, database=None)
@given(ops=st.lists(st.sampled_from(["unpark", "yield", "compute"]), max_size=24),
       parks=st.integers(1, 6))
def test_parks_complete_only_against_unparks(kernel: str, ops: list[str],
                                             parks: int) -> None:
    """A child parks ``parks`` times while main unparks and yields at random: no
    park completes without an unpark of its own (tokens do not pile up), and
    main's final unparks always finish it."""
    seen: list[tuple[int, int]] = []        # (parks completed, unparks issued so far)
    state = {"unparks": 0, "done": 0}

    def child(os: Any) -> None:
        for _ in range(parks):
            os.thread_park()
            state["done"] += 1
            seen.append((state["done"], state["unparks"]))

    def main(os: Any) -> None:
        t = os.thread_create(child)
        for op in ops:
            if op == "unpark":
                state["unparks"] += 1
                os.thread_unpark(t)
            elif op == "yield":
                os.thread_yield()
            else:
                os.compute(500)
        while state["done"] < parks:
            state["unparks"] += 1
            os.thread_unpark(t)
            os.thread_yield()

    run_on(kernel, main)
    assert state["done"] == parks
    assert all(done <= unparks for done, unparks in seen), seen
