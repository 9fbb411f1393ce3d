"""SPIN's thread packages and the switch: UserSpaceThread's Suspend/Resume under
thread_park/unpark, and a package that saves its strands' state itself (SAVED)."""
from __future__ import annotations

from typing import Any

from exolab.kernels.spin.paths import resolve
from exolab.runner import run_program

ROUNDS = 6


def _yielder(os: Any, answer: Any, count: list[int]) -> None:
    """Install Checkpoint and Resume handlers for this strand answering ``answer``;
    then yield ROUNDS times."""
    def handler(strand: Any) -> Any:
        count[0] += 1
        return answer

    me = os.strand_self()
    os.event_install("Strand.Checkpoint", me, handler)
    os.event_install("Strand.Resume", me, handler)
    for _ in range(ROUNDS):
        os.thread_yield()


def _two(os: Any, answer: Any, count: list[int]) -> None:
    os.thread_create(_yielder, answer, count)
    _yielder(os, answer, count)


def _cycles(answer: Any) -> tuple[int, int]:
    count = [0]
    run = run_program(_two, answer, count, kernel="spin", profile="alpha", trusted=True)
    assert run.faults == [], run.faults
    return run.result.cycles, count[0]


def test_a_handler_that_saves_the_state_spares_the_trusted_packages_part() -> None:
    """The same switches, the same handlers: answering SAVED takes exactly one
    ``spin_strand_state`` off the switch per answer, and nothing else changes."""
    plain, n_plain = _cycles(None)
    saved, n_saved = _cycles("saved")
    assert n_plain == n_saved > 0
    assert plain - saved == n_saved * resolve("alpha")["spin_strand_state"]


def _parker(os: Any, box: list[int]) -> None:
    box.append(os.thread_id())
    os.thread_park()
    box.append(0)


def _park_once(os: Any, box: list[int]) -> None:
    t = os.thread_create(_parker, box)
    while not box:
        os.thread_yield()
    os.thread_unpark(t)
    while len(box) < 2:
        os.thread_yield()


def test_park_is_suspend_and_unpark_resume_in_user_space_thread() -> None:
    run = run_program(_park_once, [], kernel="spin", profile="alpha")
    k: Any = run.kernel
    park = k.parking.statistics()
    assert (park.slept, park.woken, park.early) == (1, 1, 0)
    assert k.parking.handled == 2                   # Strand.Block, Strand.Unblock
    assert k.parking.owner.loaded


def test_a_run_that_never_parks_raises_nothing_to_user_space_thread() -> None:
    run = run_program(_two, None, [0], kernel="spin", profile="alpha", trusted=True)
    k: Any = run.kernel
    assert k.parking.handled == 0
    assert not any(b.owner is k.parking.owner
                   for ev in k.core.strand_events.values() for b in ev.handlers)
