"""Manifests: satisfiable or refused; code that names an undeclared contract is refused."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.errors import ConfigError
from exolab.kernels.singularity.manifest import (EndpointDecl, Manifest, check,
                                                 contracts_used, manifest_of)

KNOWN = {"NicDevice", "NicEvents"}


def uses_nic(os: Any) -> None:
    os.channel("NicDevice")


def plain(os: Any) -> None:
    os.print("hello")


def test_default_manifest_of_an_abi_program() -> None:
    m = manifest_of(plain)
    assert m.name == "plain" and m.endpoints == () and m.contracts == frozenset()


def test_contracts_named_by_the_code_must_be_declared() -> None:
    assert contracts_used(uses_nic, KNOWN) == {"NicDevice"}
    with pytest.raises(ConfigError):
        check(Manifest("uses_nic"), uses_nic, KNOWN, ())
    check(Manifest("uses_nic", endpoints=(EndpointDecl("nic", "NicDevice"),)), uses_nic,
          KNOWN, ())


def test_unsatisfiable_manifests_are_refused() -> None:
    with pytest.raises(ConfigError):
        check(Manifest("a", endpoints=(EndpointDecl("x", "Nope"),)), plain, KNOWN, ())
    with pytest.raises(ConfigError):
        check(Manifest("a", dependencies=("netstack",)), plain, KNOWN, ("disk",))
    check(Manifest("a", dependencies=("netstack",)), plain, KNOWN, ("netstack",))
    for bad in (dict(resources={"cpus": 1}), dict(resources={"heap_pages": -1}),
                dict(endpoints=("nic",))):
        with pytest.raises(ConfigError):
            Manifest("a", **bad)         # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        EndpointDecl("x", "NicDevice", side="Both")
