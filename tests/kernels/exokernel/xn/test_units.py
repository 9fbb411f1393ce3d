"""XN's mechanisms one by one: templates, catalogues, the free map, the registry."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from exolab.errors import SyscallError, VerifyError
from exolab.kernels.exokernel.xn import FREE, PENDING, USED, HostPages
from exolab.kernels.exokernel.xn.catalog import RootCatalogue, TypeCatalogue
from exolab.kernels.exokernel.xn.freemap import FreeMap
from exolab.kernels.exokernel.xn.registry import DURABLE, UNINIT, WRITTEN, Registry
from exolab.kernels.exokernel.xn.udf import compile_template, run_acl, run_owns, run_size

def _spend(ticks: int) -> None:
    """Charge nothing (the functions run here have no caller to charge)."""


TAIL = "def acl(d, o, p):\n    return p == 3\ndef size(d):\n    return 16\n"


def _t(owns: str) -> object:
    return compile_template("t", owns + TAIL)


def test_a_template_without_owns_is_a_leaf() -> None:
    t = compile_template("leaf", TAIL)
    assert t.leaf and run_owns(t, b"\1" * 16, 100, _spend) == ()
    assert run_acl(t, b"", "read", 3, _spend) and not run_acl(t, b"", "read", 4, _spend)
    assert run_size(t, bytes(16), _spend) == 16


@pytest.mark.parametrize("ret", ["[(1, 'x'), (200, 'x')]", "[(1, 2)]", "[1]", "None",
                                 "[(True, 'x')]", "[(-1, 'x')]"])
def test_ownership_answers_are_decoded_exactly(ret: str) -> None:
    t = _t(f"def owns(data):\n    return {ret}\n")
    with pytest.raises(SyscallError) as ei:
        run_owns(t, bytes(16), 100, _spend)       # type: ignore[arg-type]
    assert ei.value.errno == "EINVAL"


def test_acl_must_say_exactly_true_and_size_must_fit() -> None:
    t = compile_template("t", "def acl(d, o, p):\n    return 1\ndef size(d):\n    return 99\n")
    assert run_acl(t, b"", "read", 3, _spend) is False
    with pytest.raises(SyscallError):
        run_size(t, bytes(16), _spend)


def test_the_type_catalogue_keeps_names_unique() -> None:
    c = TypeCatalogue()
    a = c.install("x", TAIL)
    assert c.install("x", TAIL) is a
    with pytest.raises(SyscallError) as ei:
        c.install("x", TAIL + "\n")
    assert ei.value.errno == "EEXIST"
    with pytest.raises(SyscallError):
        c.get("y")
    with pytest.raises(VerifyError):
        c.install("z", "import os\n" + TAIL)
    assert c.names() == ("x",)


def test_the_root_catalogue() -> None:
    r = RootCatalogue()
    r.register("a", 5, "x", 1)
    with pytest.raises(SyscallError):
        r.register("a", 6, "x", 1)
    assert r.get("a").block == 5 and r.blocks() == {5}


@given(st.lists(st.tuples(st.sampled_from(["take", "release", "settle"]),
                          st.integers(0, 15)), max_size=60))
def test_the_free_map_against_a_model(ops: list[tuple[str, int]]) -> None:
    fm, model = FreeMap(16), [FREE] * 16
    for op, b in ops:
        want = {"take": (FREE, USED), "release": (USED, PENDING),
                "settle": (PENDING, FREE)}[op]
        try:
            getattr(fm, op)(b)
            assert model[b] == want[0]
            model[b] = want[1]
        except (SyscallError, Exception):
            assert model[b] != want[0]
        assert [fm.state(i) for i in range(16)] == model
        assert fm.count(FREE) == model.count(FREE)
    assert fm.free_blocks(8, 16) == [i for i in list(range(8, 16)) + list(range(8))
                                     if model[i] == FREE]


def test_the_registry_evicts_only_clean_durable_childless_blocks() -> None:
    t = compile_template("leaf", TAIL)
    reg = Registry(HostPages(), 64, capacity=2)
    a = reg.add(1, t, None, b"a" * 64, DURABLE, {2: "leaf"})
    reg.add(2, t, 1, b"", UNINIT, {})
    with pytest.raises(SyscallError) as ei:      # 1 has a cached child, 2 is uninit
        reg.add(3, t, None, b"", DURABLE, {})
    assert ei.value.errno == "ENOMEM"
    assert reg.blocker(a) == 2
    reg.get(2).state = WRITTEN                  # type: ignore[union-attr]
    assert reg.blocker(a) == 2
    reg.get(2).state, reg.get(2).dirty = DURABLE, False      # type: ignore[union-attr]
    assert reg.blocker(a) is None
    reg.add(3, t, None, b"", DURABLE, {})        # evicts 2 (clean, durable, no child)
    assert 2 not in reg and reg.evictions == 1 and reg.data(a) == b"a" * 64
