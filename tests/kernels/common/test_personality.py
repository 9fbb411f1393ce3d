"""kernels/common/personality.py on every kernel: shared calls, random, wrong arity."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.abi import ABI, MAX_RANDOM
from exolab.errors import ConfigError, SyscallError
from exolab.kernels import kernel_names
from exolab.kernels.common.personality import Personality, check_signatures
from exolab.kernels.monolithic.libc import Libc
from exolab.libos.exos.exos import ExOS
from exolab.machine.costs import get_profile
from exolab.runner import run_program

KERNELS = kernel_names()      # every registered kernel


def _run(program: Any, kernel: str, seed: int = 0) -> Any:
    r = run_program(program, kernel=kernel, seed=seed)
    assert r.result.reason == "finished", (r.result, r.console, r.faults)
    return r


@pytest.mark.parametrize("cls", [Libc, ExOS])
def test_every_personality_is_one_and_takes_the_abis_parameters(cls: type) -> None:
    assert issubclass(cls, Personality) and issubclass(cls, ABI)
    check_signatures(cls)


def test_a_personality_with_other_parameters_is_refused_when_defined() -> None:
    with pytest.raises(ConfigError) as ei:
        class Odd(Libc):                        # noqa: F841 (defining it is the test)
            def load(self, vaddr: int) -> int:  # type: ignore[override]
                return 0
    assert ei.value.fields["call"] == "load"


def _random_program(out: dict[str, Any]) -> Any:
    def main(os: ABI) -> int:
        t0 = os.time()
        a = os.random(16)
        t1 = os.time()
        out["bytes"] = [a, os.random(3), os.random(0)]
        out["cost"] = t1 - t0
        t2 = os.time()
        t3 = os.time()
        out["clock"] = t3 - t2
        for bad in (-1, MAX_RANDOM + 1, True, 2.0, None):
            try:
                os.random(bad)
            except SyscallError as ex:
                out.setdefault("errnos", []).append(ex.errno)
        return 0
    return main


@pytest.mark.parametrize("kernel", KERNELS)
def test_random_is_the_machines_seeded_generator(kernel: str) -> None:
    runs = []
    for seed in (0, 0, 1):
        out: dict[str, Any] = {}
        _run(_random_program(out), kernel, seed)
        runs.append(out)
    a, b, c = (r["bytes"] for r in runs)
    assert a == b and a != c
    assert [len(x) for x in a[0:3]] == [16, 3, 0]
    p = get_profile("dec5000")
    # one device load per 4-byte word, on top of the clock read
    assert runs[0]["cost"] - runs[0]["clock"] == 4 * p.load_store
    assert runs[0]["errnos"] == ["EINVAL"] * 5


def _arity_program(out: dict[str, Any]) -> Any:
    def main(os: ABI) -> int:
        calls = [lambda: os.getpid(1), lambda: os.load(), lambda: os.store(0),   # type: ignore
                 lambda: os.time(5), lambda: os.wait(1, 2),                      # type: ignore
                 lambda: os.mmap(), lambda: os.random(),                         # type: ignore
                 lambda: os.rpc_call(1), lambda: os.pipe(bogus=1)]               # type: ignore
        for call in calls:
            t0 = os.time()
            try:
                call()
            except TypeError:
                out.setdefault("type_errors", 0)
                out["type_errors"] += 1
            t1 = os.time()
            out.setdefault("deltas", set()).add(t1 - t0)
        os.getpid(1, 2)                 # type: ignore[call-arg]  (uncaught: ends us)
        return 0
    return main


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_wrong_number_of_arguments_is_a_typeerror_before_anything_runs(kernel: str) -> None:
    out: dict[str, Any] = {}
    r = run_program(_arity_program(out), kernel=kernel)
    assert out["type_errors"] == 9
    # nothing was charged between the two clock reads but the clock read itself
    assert out["deltas"] == {get_profile("dec5000").instruction}
    assert len(r.faults) == 1
    status = str(r.faults[0][1])
    assert "TypeError" in status, r.faults


@pytest.mark.parametrize("kernel", KERNELS)
def test_shared_calls_decode_alike_on_every_kernel(kernel: str) -> None:
    out: dict[str, Any] = {}

    class Loud:
        def __repr__(self) -> str:
            out["rendered"] = True
            return "loud"

    def main(os: ABI) -> int:
        got = []
        for call in (lambda: os.compute(-1), lambda: os.compute(True),
                     lambda: os.trigger("nope"), lambda: os.trigger(Loud()),
                     lambda: os.load(Loud()), lambda: os.store(0, Loud()),
                     lambda: os.load(0, 3), lambda: os.load_bytes(0, -1),
                     lambda: os.store_bytes(Loud(), b""), lambda: os.store_bytes(0, "s")):
            try:
                call()
            except SyscallError as ex:
                str(ex)
                got.append(ex.errno)
        out["errnos"] = got
        os.print("a", 1, Loud())
        return 0
    r = _run(main, kernel)
    assert out["errnos"] == ["EINVAL"] * 9 + ["EFAULT"]
    assert r.console == ["a 1 loud"]
    assert out.get("rendered") is True      # print renders (safely); errors never did


def test_errors_never_rendered_program_objects() -> None:
    """An operand's own ``__repr__`` is never called by a decoder or its error."""
    seen: list[str] = []

    class Spy:
        def __repr__(self) -> str:
            seen.append("repr")
            return "spy"

    def main(os: ABI) -> int:
        for call in (lambda: os.load(Spy()), lambda: os.compute(Spy()),
                     lambda: os.trigger(Spy()), lambda: os.random(Spy())):
            try:
                call()
            except SyscallError as ex:
                str(ex)
        return 0
    for k in KERNELS:
        _run(main, k)
    assert seen == []


def test_a_signature_that_cannot_be_compared_is_refused_not_crashed() -> None:
    class Liar:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("eq ran")

        __hash__ = object.__hash__

    liar = Liar()
    with pytest.raises(ConfigError):
        class Odd(ExOS):                        # noqa: F841 (defining it is the test)
            def load(self, vaddr: int, size: Any = liar) -> int:
                return 0
