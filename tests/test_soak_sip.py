"""The soak's SIP cases (exolab.soak_sip): a short fixed-seed run on Singularity finds
nothing; the grammar covers its hostile actions; a kernel that lets a fault escape
its SIP, or leaks a Python error, is caught."""
from __future__ import annotations

import random
from typing import Any, Iterator

import pytest

from exolab import kernels, soak, soak_sip
from exolab.kernels.singularity import Singularity
from exolab.safe import load_program_source


class CollateralKernel(Singularity):
    """A broken kernel: a fault of one SIP also kills the bystander (isolation fails)."""

    name = "broken-sing-fault"

    def fault(self, sip: Any, what: str, where: Any) -> Any:
        ex = super().fault(sip, what, where)
        for other in list(self.sips.values()):
            if other.name == "bystander" and other is not sip:
                self.kill(other, "collateral")
        return ex


class SpawnKeyErrorKernel(Singularity):
    """A broken kernel: spawning a SIP named act0 raises KeyError (a Python error)."""

    name = "broken-sing-keyerror"

    def spawn(self, parent: Any, program: Any, args: Any, name: Any) -> Any:
        if getattr(program, "__name__", "") == "act0":
            raise KeyError("spawn")
        return super().spawn(parent, program, args, name)


BROKEN = {c.name: c for c in (CollateralKernel, SpawnKeyErrorKernel)}


@pytest.fixture
def broken() -> Iterator[None]:
    for name, cls in BROKEN.items():
        kernels.KERNELS[name] = f"{cls.__module__}:{cls.__name__}"
    try:
        yield
    finally:
        for name in BROKEN:
            del kernels.KERNELS[name]


def test_a_short_fixed_seed_sip_soak_finds_no_failure() -> None:
    stats = soak.soak(0, 0, seed=4, kernels=["singularity"], sips=60)
    assert [(f.kind, f.seed, f.detail[-300:]) for f in stats.failures] == []
    assert stats.runs == 60 and stats.sips == 60 and stats.kernels == ("singularity",)
    assert {"finished", "faulted"} <= set(stats.outcomes)
    assert "60 SIP cases" in soak.summary(stats)


def test_sip_cases_go_only_to_kernels_that_have_sips() -> None:
    assert soak.sip_soakable() == ["singularity"]
    assert "singularity" not in soak.soakable()
    stats = soak.soak(1, 0, seed=1, kernels=["monolithic", "singularity"], sips=1)
    assert {k.split()[0] + " " + k.split()[1] for k in stats.by_case} == {
        "program monolithic", "sip singularity"}


def test_sip_cases_are_reproducible_and_always_verify() -> None:
    ext = kernels.declaration("singularity").extensions
    for seed in range(30):
        a = soak_sip.sip_source(random.Random(seed), ext)
        assert a == soak_sip.sip_source(random.Random(seed), ext)
        load_program_source(a, "s.py")


def test_the_sip_grammar_covers_its_hostile_actions() -> None:
    ext = kernels.declaration("singularity").extensions
    text = "".join(soak_sip.sip_source(random.Random(s), ext) for s in range(300))
    for needle in ("os.send(b, 'Block'", "os.spawn(fs_peer, b)", "os.send(a, 'X', b)",
                   "os.thread_create(user, a)", "type(a)(1, 0)", "os.exheap_free(blk)",
                   "os.send(a, 'X', blk, blk)", "os.spawn(nop, [1, 2])",
                   "os.thread_create(spin)", "os.exit(", "xs.append(os.exheap_new",
                   "os.channel('NicEvents')"):
        assert needle in text, needle
    assert "act0.manifest" in text and text.count("def act") > text.count(".manifest = ('act")


def test_a_fault_that_escapes_its_sip_changes_the_bystander(broken: None) -> None:
    src = soak_sip.sip_source(random.Random(0))
    assert soak.run_case("singularity", src, "sip")[0] in soak.FINE
    body = ["a, b = os.channel()", "os.send(a, 'X', [1])"]      # faults: smuggling
    case = (soak.PRELUDE + soak_sip.SIP_PARTS + "\n\ndef act0(os):\n"
            + "\n".join("    " + x for x in body)
            + "\n\n\ndef hostile(os):\n    os.yield_()\n    os.wait(os.spawn(act0))\n")
    assert soak.run_case("singularity", case, "sip")[0] in ("finished", "faulted")
    outcome, detail, _ = soak.run_case("broken-sing-fault", case, "sip")
    assert outcome == "bystander" and "collateral" in detail


def test_a_python_error_escaping_a_spawn_is_a_crash(broken: None) -> None:
    case = (soak.PRELUDE + soak_sip.SIP_PARTS + "\n\ndef act0(os):\n    return 0\n"
            "\n\ndef hostile(os):\n"
            + "\n".join("    " + x for x in soak._guarded(["os.wait(os.spawn(act0))"],
                                                          "spawn"))
            + "\n")
    assert soak.run_case("singularity", case, "sip")[0] == "finished"
    outcome, detail, _ = soak.run_case("broken-sing-keyerror", case, "sip")
    assert outcome == "crash" and "soak-leak spawn KeyError" in detail
