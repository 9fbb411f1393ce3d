"""An extension: verified code linked into the SPIN kernel and called as a procedure.

Covers: Domain.Create of an object file (verified Python source), Resolve
against the kernel's domain (Console, Clock), a call into the extension
(one system call to enter the kernel, then procedure calls: no trap per
call), an extension that faults and is unloaded while the kernel runs on.

Scenario: the program loads a "Counter" extension whose Bump procedure
keeps a count and prints through the kernel's Console interface, links it
against the kernel domain and calls it three times; then it loads a
"Broken" extension that divides by zero: the call fails with EFAULT, the
extension is unloaded (a second call finds no such procedure), and the
Counter extension still answers. Run on SPIN (``--kernel spin``).

Run it: ``python examples/spin_extension.py`` or
``exolab run --kernel spin examples/spin_extension.py``.
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError

#: the ABI features this example needs beyond what every kernel provides
NEEDS: tuple[str, ...] = ("domain_create", "domain_resolve", "domain_call")

COUNTER = '''
INTERFACE = "Counter"
EXPORTS = {"Bump": 1}
IMPORTS = {"Console.Print": 1}
count = [0]


def Bump(by):
    count[0] += by
    Console.Print("  [in the kernel] count is now " + str(count[0]))
    return count[0]
'''

BROKEN = '''
INTERFACE = "Broken"
EXPORTS = {"Run": 0}


def Run():
    return 1 // 0
'''


def main(os: Any) -> int:
    """Load, link and call an extension; watch a faulty one get unloaded."""
    counter = os.domain_create(COUNTER)
    linked = os.domain_resolve(os.domain_kernel(), counter)
    os.print(f"Counter loaded; {linked} import linked against the kernel domain")
    for by in (1, 2, 3):
        os.print(f"Bump({by}) -> {os.domain_call(counter, 'Counter.Bump', by)}")
    broken = os.domain_create(BROKEN)
    for attempt in (1, 2):
        try:
            os.domain_call(broken, "Broken.Run")
        except SyscallError as ex:
            os.print(f"Broken.Run, call {attempt}: {ex.errno} ({ex.message})")
    os.print(f"Counter still answers: {os.domain_call(counter, 'Counter.Bump', 10)}")
    return 0


if __name__ == "__main__":
    from exolab.runner import run_program
    run = run_program(main, kernel="spin", profile="alpha")
    print("\n".join(run.console))
    k = run.kernel
    print(f"kernel: {k.statistics().unloaded} extension unloaded; "  # type: ignore[attr-defined]
          f"faults recorded {len(run.faults)}")
