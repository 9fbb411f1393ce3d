"""The pager's memory against a model (kernels/l4/ux.py): random sequences of
mmap, shm_attach, mprotect, munmap, loads, stores and dirty queries, with a fault
handler that opens what it is called for, then a fork whose child writes every
page. Each load reads what the model says, the handler runs exactly when the
model's protection forbids the access, dirty matches, and after the fork shared
pages show the child's writes while private pages keep the parent's."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from exolab.abi import PROT_NONE, PROT_READ, PROT_RW
from exolab.kernels import make_kernel
from exolab.machine import Machine

PAGE = 4096
PROTS = (PROT_NONE, PROT_READ, PROT_RW)

op = st.one_of(
    st.tuples(st.just("mmap"), st.integers(1, 3)),
    st.tuples(st.just("shm"), st.integers(1, 3)),
    st.tuples(st.just("store"), st.integers(0, 5), st.integers(0, 2), st.integers(1, 999)),
    st.tuples(st.just("load"), st.integers(0, 5), st.integers(0, 2)),
    st.tuples(st.just("protect"), st.integers(0, 5), st.integers(0, 2),
              st.sampled_from(PROTS)),
    st.tuples(st.just("dirty"), st.integers(0, 5), st.integers(0, 2)),
    st.tuples(st.just("unmap"), st.integers(0, 5)),
)


def _program(ops: list[tuple[Any, ...]], got: list[Any]) -> Any:
    """The program: perform ``ops`` on live regions, logging what it sees."""
    def main(os: Any) -> None:
        regions: list[list[Any]] = []           # [va, pages, shared]
        opened: list[int] = []

        def handler(os: Any, vaddr: int, write: bool) -> None:
            opened.append(vaddr & ~(PAGE - 1))
            os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)

        os.set_fault_handler(handler)
        for o in ops:
            if o[0] in ("mmap", "shm"):
                va = os.mmap(o[1] * PAGE) if o[0] == "mmap" else \
                    os.shm_attach(os.shm_create(o[1] * PAGE))
                regions.append([va, o[1], o[0] == "shm"])
                continue
            if not regions:
                continue
            va, pages, _shared = regions[o[1] % len(regions)]
            at = va + (o[2] % pages) * PAGE if len(o) > 2 else va
            before = len(opened)
            if o[0] == "store":
                os.store(at, o[3])
                got.append(("store", len(opened) - before))
            elif o[0] == "load":
                got.append(("load", os.load(at), len(opened) - before))
            elif o[0] == "protect":
                os.mprotect(at, PAGE, o[3])
            elif o[0] == "dirty":
                got.append(("dirty", os.dirty(at)))
            elif o[0] == "unmap":
                del regions[o[1] % len(regions)]
                if _shared:
                    os.shm_detach(va)
                else:
                    os.munmap(va, pages * PAGE)
        for va, pages, _s in regions:           # open everything for the fork check
            os.mprotect(va, pages * PAGE, PROT_RW)
        snap = [[os.load(va + i * PAGE) for i in range(p)] for va, p, _s in regions]

        def child(os: Any) -> int:
            for va, p, _s in regions:
                for i in range(p):
                    os.store(va + i * PAGE, 5000 + i)
            return 0

        os.wait(os.fork(child))
        after = [[os.load(va + i * PAGE) for i in range(p)] for va, p, _s in regions]
        got.append(("fork", [s for _v, _p, s in regions], snap, after))
    return main


def _model(ops: list[tuple[Any, ...]]) -> list[Any]:
    """What the program must see."""
    out: list[Any] = []
    regions: list[dict[str, Any]] = []
    for o in ops:
        if o[0] in ("mmap", "shm"):
            regions.append({"pages": o[1], "shared": o[0] == "shm", "val": [0] * o[1],
                            "prot": [PROT_RW] * o[1], "dirty": [False] * o[1]})
            continue
        if not regions:
            continue
        ri = o[1] % len(regions)
        r = regions[ri]
        i = o[2] % r["pages"] if len(o) > 2 else 0
        if o[0] == "store":
            opened = int(r["prot"][i] != PROT_RW)
            r["prot"][i], r["val"][i], r["dirty"][i] = PROT_RW, o[3], True
            out.append(("store", opened))
        elif o[0] == "load":
            opened = int(r["prot"][i] == PROT_NONE)
            if opened:
                r["prot"][i] = PROT_RW
            out.append(("load", r["val"][i], opened))
        elif o[0] == "protect":
            r["prot"][i] = o[3]
            if o[3] == PROT_NONE:               # the mapping goes: a remap starts clean
                r["dirty"][i] = False
        elif o[0] == "dirty":
            out.append(("dirty", r["dirty"][i]))
        elif o[0] == "unmap":
            del regions[ri]
    snap = [list(r["val"]) for r in regions]
    after = [[5000 + i for i in range(r["pages"])] if r["shared"] else list(r["val"])
             for r in regions]
    out.append(("fork", [r["shared"] for r in regions], snap, after))
    return out


START = [("mmap", 2), ("shm", 2)]                # every sequence has regions to work on


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(ops=st.lists(op, min_size=10, max_size=30))
def test_the_pager_keeps_memory_as_the_model_says(ops: list[tuple[Any, ...]]) -> None:
    ops = START + ops
    got: list[Any] = []
    k = make_kernel("l4", Machine("i486", frames=4096))
    k.boot(_program(ops, got))
    assert k.run().reason == "finished", (k.console, k.faults)
    assert k.faults == []
    assert got == _model(ops)
    k.mapdb.check()
