"""A test built into the monolithic kernel: the same body at user level and inside.

Covers: the monolithic kernel's kernel-test module (kernels/monolithic/ktest.py),
``kernel_test(name, *args)``; what a kernel-resident body saves (no trap, no
system-call path per call; ``kernel_thread`` instead of a program's thread, and
``thread_sleep`` switches within one task); that a program can only name a test
the kernel was built with; that SPIN, which loads verified extensions instead,
is not built with the module.

Scenario: a fork-join body (create a thread, let it end, wait for it) is built
into the kernel as ``example.fork_join``. The program runs the body itself, at
user level, then asks the kernel to run the built-in one, and prints the time
per fork-join of each on OSF/1's machine (profile ``alpha``, where the SPIN paper
measured OSF/1's kernel threads inside its kernel). It then asks for a test
nobody built in (ENOENT). The same program on SPIN gets ENOSYS.

Run it: ``python examples/kernel_test.py``.
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError
from exolab.kernels.monolithic import ktest

#: the ABI features this example needs beyond what every kernel provides
NEEDS: tuple[str, ...] = ("kernel_test",)


def _ended(os: Any, done: list[int]) -> None:
    """A thread that ends at once, saying so."""
    done.append(1)


def fork_join(os: Any, n: int) -> None:
    """``n`` fork-joins; print the time of one."""
    done: list[int] = []
    t0 = os.time()
    for i in range(n):
        os.thread_create(_ended, done)
        while len(done) <= i:
            os.thread_yield()
    os.print(f"  {(os.time() - t0) // n:,} cycles a fork-join")


ktest.register("example.fork_join", fork_join)     # the kernel is built with it


def main(os: Any) -> int:
    """The body at user level, then built into the kernel; then an unknown test."""
    os.print("at user level (thread_create and thread_yield are system calls):")
    fork_join(os, 20)
    try:
        os.print("built into the kernel (kernel_thread, thread_sleep; no trap):")
        os.kernel_test("example.fork_join", 20)
        os.kernel_test("example.no_such_test")
    except SyscallError as ex:
        os.print(f"{ex.errno}: {ex.message}")
    return 0


if __name__ == "__main__":
    from exolab.runner import run_program
    for kernel in ("monolithic", "spin"):
        run = run_program(main, kernel=kernel, profile="alpha")
        print(f"{kernel}:")
        print("\n".join(run.console))
