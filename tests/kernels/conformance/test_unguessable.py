"""Names a kernel hands out cannot be guessed, and randomness does not leak them.

A shared segment's key (and, on the exokernel, every capability) is a name
that grants access to whoever knows it, so a bystander's key must not be
guessable from small numbers, and the bytes a program draws with
``os.random`` come from a stream of their own: had they come from the
generator that mints names, 624 draws would reveal its state and every name
minted after them (docs/security.md).
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError
from exolab.runner import run_program

from .kit import declared


def test_a_bystanders_segment_cannot_be_attached_by_guessing(kernel: str) -> None:
    if {"shm_create", "fork"} & declared(kernel).refuses:
        return                              # (the kit checks the refusal itself)
    out: dict[str, Any] = {}

    def bystander(os: Any, r: int) -> int:
        key = os.shm_create(4096)
        va = os.shm_attach(key)
        os.store(va, 1234, 4)
        os.read(r, 1)                       # wait until the guesser is done
        return os.load(va, 4)

    def main(os: Any) -> None:
        r, w = os.pipe()
        pid = os.fork(bystander, r)
        os.yield_()
        hits = 0
        for guess in range(-4, 1025):
            try:
                va = os.shm_attach(guess)
            except SyscallError:
                continue
            os.store(va, 666, 4)
            hits += 1
        os.write(w, b"x")
        out["hits"] = hits
        out["bystander"] = os.wait(pid)[1]

    run = run_program(main, kernel=kernel)
    assert run.faults == [], run.faults
    assert out == {"hits": 0, "bystander": 1234}


def test_the_programs_random_stream_is_its_own(kernel: str) -> None:
    drawn: list[bytes] = []

    def quiet(os: Any) -> None:
        drawn.append(os.random(16))

    def busy(os: Any) -> None:
        r, w = os.pipe()                        # names minted, pages taken ...
        va = os.mmap(8 * 4096)
        for i in range(8):
            os.store(va + i * 4096, i, 4)
        os.close(r)
        os.close(w)
        drawn.append(os.random(16))             # ... yet the stream is untouched

    for program in (quiet, busy):
        run = run_program(program, kernel=kernel, seed=7)
        assert run.faults == [], run.faults
    assert len(drawn) == 2 and drawn[0] == drawn[1]
