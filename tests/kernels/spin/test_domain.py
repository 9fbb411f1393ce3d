"""Logical protection domains: Create, CreateFromModule, Resolve, Combine."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.errors import SyscallError
from exolab.runner import run_program

SERVER = '''
INTERFACE = "Adder"
EXPORTS = {"Add": 2}


def Add(a, b):
    return a + b
'''

CLIENT = '''
INTERFACE = "Client"
EXPORTS = {"Run": 1}
IMPORTS = {"Adder.Add": 2}


def Run(x):
    return Adder.Add(x, 1)
'''

WRONG = CLIENT.replace('"Adder.Add": 2', '"Adder.Add": 3')
MISSING = CLIENT.replace('"Adder.Add": 2', '"Adder.Sub": 2').replace("Adder.Add(", "Adder.Sub(")


def _run(body: Any, out: dict[str, Any]) -> None:
    run = run_program(body, out, kernel="spin", profile="alpha")
    assert run.faults == [], run.faults


def _err(ex: SyscallError) -> tuple[str, Any]:
    return ex.errno, ex.fields.get("symbol")


def test_create_resolve_and_call_links_the_import() -> None:
    out: dict[str, Any] = {}

    def main(os: Any, out: dict[str, Any]) -> None:
        s = os.domain_create(SERVER)
        c = os.domain_create(CLIENT)
        try:
            os.domain_call(c, "Client.Run", 1)
        except SyscallError as ex:
            out["before"] = (ex.errno, ex.fields.get("symbol"))
        out["linked"] = os.domain_resolve(s, c)
        out["value"] = os.domain_call(c, "Client.Run", 41)

    _run(main, out)
    assert out == {"before": ("ENOENT", "Adder.Add"), "linked": 1, "value": 42}


@pytest.mark.parametrize("client, errno, symbol", [(WRONG, "EINVAL", "Adder.Add"),
                                                   (MISSING, "ENOENT", "Adder.Sub")])
def test_resolve_names_the_symbol_that_does_not_fit(client: str, errno: str,
                                                    symbol: str) -> None:
    out: dict[str, Any] = {}

    def main(os: Any, out: dict[str, Any]) -> None:
        s = os.domain_create(SERVER)
        c = os.domain_create(client)
        try:
            os.domain_resolve(s, c)
        except SyscallError as ex:
            out["error"] = (ex.errno, ex.fields.get("symbol"))

    _run(main, out)
    assert out["error"] == (errno, symbol)


def test_combine_exports_both_and_create_from_module_exports_the_callers() -> None:
    out: dict[str, Any] = {}

    def double(x: int) -> int:
        return 2 * x

    def main(os: Any, out: dict[str, Any]) -> None:
        mine = os.domain_from_module("Doubler", {"Twice": double})
        both = os.domain_combine(os.domain_create(SERVER), mine)
        out["add"] = os.domain_call(both, "Adder.Add", 2, 3)
        out["twice"] = os.domain_call(both, "Doubler.Twice", 5)

    _run(main, out)
    assert out == {"add": 5, "twice": 10}


def test_the_kernel_domain_exports_the_core_services() -> None:
    src = '''
INTERFACE = "Probe"
EXPORTS = {"Run": 0}
IMPORTS = {"Translation.Create": 0, "Translation.ExamineMapping": 2,
           "VirtAddr.Allocate": 1, "PhysAddr.Allocate": 1, "Translation.AddMapping": 4}


def Run():
    c = Translation.Create()
    v = VirtAddr.Allocate(1)
    before = Translation.ExamineMapping(c, v)
    Translation.AddMapping(c, v, PhysAddr.Allocate(1), 3)
    return (before, Translation.ExamineMapping(c, v))
'''
    out: dict[str, Any] = {}

    def main(os: Any, out: dict[str, Any]) -> None:
        d = os.domain_create(src)
        os.domain_resolve(os.domain_kernel(), d)
        out["prot"] = os.domain_call(d, "Probe.Run")

    _run(main, out)
    assert out["prot"] == (0, 3)


def test_an_object_file_the_verifier_rejects_is_einval() -> None:
    out: dict[str, Any] = {}

    def main(os: Any, out: dict[str, Any]) -> None:
        for src in ("import os\n", 'INTERFACE = "X"\nEXPORTS = {"f": 0}\n', 42):
            try:
                os.domain_create(src)
            except SyscallError as ex:
                out.setdefault("errnos", []).append(ex.errno)

    _run(main, out)
    assert out["errnos"] == ["EINVAL", "EINVAL", "EINVAL"]
