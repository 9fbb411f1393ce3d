"""A test built into the monolithic kernel: the same fork-join at user level and inside.

Covers: the monolithic kernel's kernel-test module (kernels/monolithic/ktest.py),
``kernel_test(name, *args)``; what a kernel-resident body saves (no trap, no
system-call path per call; ``kernel_thread`` instead of a program's thread, and
``thread_sleep`` switches within one task); that a program can only name a test
the kernel was built with, never pass its own code; that SPIN, which loads
verified extensions instead, is not built with the module.

Scenario: the program times 20 fork-joins of its own at user level (create a
thread, let it end, wait for it), then asks the kernel to run the fork-join test
it is built with (the spin suite's ``spin.fork_join``, which reports ``RESULT``
and its cycles per fork-join), on OSF/1's machine (profile ``alpha``, where the
SPIN paper measured OSF/1's kernel threads inside its kernel). Then it asks for
a test nobody built in (ENOENT). The same program on SPIN gets ENOSYS.

Run it: ``python examples/kernel_test.py``.
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError

#: the ABI features this example needs beyond what every kernel provides
NEEDS: tuple[str, ...] = ("kernel_test",)


def _ended(os: Any, done: list[int]) -> None:
    """A thread that ends at once, saying so."""
    done.append(1)


def fork_joins(os: Any, n: int) -> int:
    """``n`` fork-joins at user level; the cycles of one."""
    done: list[int] = []
    t0 = os.time()
    for i in range(n):
        os.thread_create(_ended, done)
        while len(done) <= i:
            os.thread_yield()
    return (os.time() - t0) // n


def main(os: Any) -> int:
    """A fork-join at user level, then the kernel's own; then an unknown test."""
    os.print(f"at user level: {fork_joins(os, 20):,} cycles a fork-join "
             "(thread_create and thread_yield are system calls)")
    try:
        os.print("built into the kernel (kernel_thread, thread_sleep; no trap):")
        os.kernel_test("spin.fork_join", 20)
        os.kernel_test("my.own.test")
    except SyscallError as ex:
        os.print(f"{ex.errno}: {ex.message}")
    return 0


if __name__ == "__main__":
    from exolab.runner import run_program
    for kernel in ("monolithic", "spin"):
        run = run_program(main, kernel=kernel, profile="alpha")
        print(f"{kernel}:")
        print("\n".join(run.console))
