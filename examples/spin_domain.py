"""Logical protection domains: Create, CreateFromModule, Resolve and Combine.

Covers: Domain.Create (two object files), Domain.CreateFromModule (the
program exports one of its own functions), Domain.Combine (an aggregate
exporting both), Domain.Resolve (linking imports; refusing an import of the
wrong interface, naming the symbol), a call through the resolved domain.

Scenario: a "Checksum" extension imports ``Hash.Mix`` and ``Console.Print``.
A "Hash" extension exports ``Mix``. The program also exports its own
``Scale`` procedure with CreateFromModule, combines it with Hash into one
aggregate domain and resolves Checksum against that aggregate and the
kernel. A second client that expects ``Hash.Mix`` to take three arguments is
refused at resolve time with the symbol named. Run on SPIN.

Run it: ``python examples/spin_domain.py``.
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError

#: the ABI features this example needs beyond what every kernel provides
NEEDS: tuple[str, ...] = ("domain_create", "domain_from_module", "domain_combine",
                          "domain_resolve", "domain_call")

HASH = '''
INTERFACE = "Hash"
EXPORTS = {"Mix": 2}


def Mix(h, x):
    return (h * 31 + x) % 65521
'''

CHECKSUM = '''
INTERFACE = "Checksum"
EXPORTS = {"Of": 1}
IMPORTS = {"Hash.Mix": 2, "Local.Scale": 1, "Console.Print": 1}


def Of(data):
    h = 7
    for x in data:
        h = Hash.Mix(h, Local.Scale(x))
    Console.Print("  [Checksum] " + str(len(data)) + " values mixed")
    return h
'''

WRONG = CHECKSUM.replace('"Hash.Mix": 2', '"Hash.Mix": 3')


def scale(x: int) -> int:
    """The program's own procedure, exported as Local.Scale."""
    return 3 * x + 1


def main(os: Any) -> int:
    """Build the domain of Checksum from three parts, call it; refuse a bad client."""
    hashing = os.domain_create(HASH)
    local = os.domain_from_module("Local", {"Scale": scale})
    both = os.domain_combine(hashing, local)
    client = os.domain_create(CHECKSUM)
    n = os.domain_resolve(both, client) + os.domain_resolve(os.domain_kernel(), client)
    os.print(f"Checksum: {n} imports resolved")
    os.print(f"Checksum.Of([1, 2, 3, 4]) = {os.domain_call(client, 'Checksum.Of', [1, 2, 3, 4])}")
    bad = os.domain_create(WRONG)
    try:
        os.domain_resolve(both, bad)
    except SyscallError as ex:
        os.print(f"a client expecting Hash.Mix/3: {ex.errno}, symbol "
                 f"{ex.fields['symbol']} (exported with {ex.fields['actual']} arguments)")
    return 0


if __name__ == "__main__":
    from exolab.runner import run_program
    run = run_program(main, kernel="spin", profile="alpha")
    print("\n".join(run.console))
