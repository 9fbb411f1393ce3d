"""Sharing never amplifies (PAGE_SHARE): the new owner's root carries at most
the rights of the capability presented, plus ``free``.

A bare handle means *that handle's* rights, never every right; explicit rights
must be a subset of the handle's (EPERM otherwise). ``free`` is added because
it gives back only the new owner's own root: the frame stays allocated while
any other owner holds it (PhysPages._drop_root), so it is no power over the
frame. Handles are bearer capabilities, so before this rule a fork child (or
any process) holding a read-only root made an environment it controls,
shared the root to it, and used the returned all-rights root itself: it bound
its parent's copy-on-write frame, ExOS's text or the rpc registry writable.
Each attack here runs next to the exact bystander (pipes with a forked child).
"""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from exolab.errors import SyscallError
from exolab.kernels.exokernel import Sys
from exolab.kernels.exokernel.bind import VALID, WRITABLE
from exolab.kernels.exokernel.phys import PAGE_RIGHTS
from exolab.libos.exos.layout import IMAGE_VPN

from ..monolithic.test_hostile import EXPECTED_TOTAL, bystander
from ._support import PAGE, aegis
from .test_phys_model import PhysModel

VPN = 0x600                             # where the attacker tries to bind
RO = ("free", "read", "share")          # a read-only root, as CAP_INFO lists it
ALL, FREE = frozenset(PAGE_RIGHTS), frozenset(("free",))


def errno(call: Any, *args: Any) -> str | None:
    """The errno ``call(*args)`` fails with, or None if it succeeds."""
    try:
        call(*args)
    except SyscallError as ex:
        return str(ex.errno)
    return None


def _root_of(os: Any, va: int) -> tuple[int, int]:
    """(ppn, handle) of the frame ExOS maps at ``va`` (read from its page table)."""
    pt = os.vm.pt
    i = pt.find(va >> 12)
    return pt.entry(i)[0], pt.cap(i)


def _amplify(os: Any, va: int, mule: int, out: dict[str, Any]) -> None:
    """Try every way to turn the read-only root at ``va`` into a writable binding
    through ``mule`` (an environment the caller controls); record errnos."""
    ppn, h = _root_of(os, va)
    out["held"] = os.aegis(Sys.CAP_INFO, h)[2]
    out["direct"] = errno(os.aegis, Sys.TLB_WRITE, VPN, ppn, h, VALID | WRITABLE)
    out["ask_write"] = errno(os.aegis, Sys.PAGE_SHARE, [(h, ("read", "write"))], mule)
    [bare] = os.aegis(Sys.PAGE_SHARE, [h], mule)
    out["bare_rights"] = os.aegis(Sys.CAP_INFO, bare)[2]
    out["bare_bind"] = errno(os.aegis, Sys.TLB_WRITE, VPN, ppn, bare, VALID | WRITABLE)
    out["bare_derive"] = errno(os.aegis, Sys.CAP_DERIVE, bare, ("read", "write"))
    if out["bare_bind"] is None:        # (the hole: write through the binding)
        for off in range(0, PAGE, 8):
            os.store((VPN << 12) + off, 0x4141414141414141)
        os.aegis(Sys.TLB_UNBIND, VPN, 1)


def _page_words(os: Any, va: int) -> list[int]:
    """Every word of the page mapped at ``va`` (through the caller's own mapping)."""
    return [os.load(va + off, 8) for off in range(0, PAGE, 8)]


def _run_next_to_bystander(hostile: Any, box: dict[str, Any]) -> Any:
    """init spawns the bystander and ``hostile``; checks everything came back."""
    def init(os: Any) -> None:
        box["registry_before"] = _page_words(os, os.registry_va)
        box["text_before"] = _page_words(os, IMAGE_VPN << 12)
        b = os.spawn(bystander)
        hp = os.spawn(hostile)
        box["hostile"] = os.wait(hp)[1]
        box["bystander"] = os.wait(b)[1]
        box["registry_after"] = _page_words(os, os.registry_va)
        box["text_after"] = _page_words(os, IMAGE_VPN << 12)

    k = aegis(frames=16384)
    k.boot(init)
    assert k.run().reason == "finished"
    assert k.machine.panic is None
    assert k.console == [f"bystander {EXPECTED_TOTAL}"] and box["bystander"] == 0
    assert k.faults == [], k.faults
    assert box["hostile"] == 0
    assert box["registry_after"] == box["registry_before"]
    assert box["text_after"] == box["text_before"]
    assert k.phys.statistics().allocated == 0 and k.statistics().envs_live == 0
    return k


def _refused(out: dict[str, Any]) -> None:
    """The attempt through the mule got a read-only root and no writable binding."""
    assert out["held"] == RO and out["direct"] == "EPERM"
    assert out["ask_write"] == "EPERM"
    assert out["bare_rights"] == RO
    assert out["bare_bind"] == "EPERM" and out["bare_derive"] == "EPERM"


def test_a_fork_child_cannot_amplify_its_read_only_root_through_a_mule() -> None:
    box: dict[str, Any] = {}

    def child(os: Any, va: int) -> None:
        _eid, mule = os.aegis(Sys.ENV_ALLOC, "mule", 0)
        box["cow"], box["text"] = {}, {}
        _amplify(os, va, mule, box["cow"])                  # the parent's frame
        _amplify(os, IMAGE_VPN << 12, mule, box["text"])    # ExOS text
        box["child_sees"] = os.load(va)

    def hostile(os: Any) -> None:
        va = os.mmap(PAGE)
        os.store(va, 42)
        pid = os.fork(child, va)
        box["child"] = os.wait(pid)[1]
        box["parent_sees"] = os.load(va)

    _run_next_to_bystander(hostile, box)
    _refused(box["cow"])
    _refused(box["text"])
    assert box["child"] == 0 and box["child_sees"] == 42
    assert box["parent_sees"] == 42


def test_a_spawned_process_cannot_make_the_registry_or_exos_text_writable() -> None:
    box: dict[str, Any] = {}

    def hostile(os: Any) -> None:
        _eid, mule = os.aegis(Sys.ENV_ALLOC, "mule", 0)
        box["registry"], box["text"] = {}, {}
        _amplify(os, os.registry_va, mule, box["registry"])
        _amplify(os, IMAGE_VPN << 12, mule, box["text"])

    _run_next_to_bystander(hostile, box)
    _refused(box["registry"])
    _refused(box["text"])


def test_a_shared_root_carries_the_rights_of_the_capability_presented() -> None:
    """Unit level: bare handles of derived capabilities, explicit rights, free."""
    k, box = aegis(), {}

    def prog(os: Any) -> None:
        ppn, root = os.aegis(Sys.PAGE_ALLOC, None)
        rs = os.aegis(Sys.CAP_DERIVE, root, ("read", "share"))
        s_only = os.aegis(Sys.CAP_DERIVE, root, ("share",))
        _eid, mule = os.aegis(Sys.ENV_ALLOC, "mule", 0)
        _eid, other = os.aegis(Sys.ENV_ALLOC, "other", 0)
        [a] = os.aegis(Sys.PAGE_SHARE, [rs], mule)
        [b] = os.aegis(Sys.PAGE_SHARE, [s_only], other)
        box["a"] = os.aegis(Sys.CAP_INFO, a)
        box["b"] = os.aegis(Sys.CAP_INFO, b)
        box["a_write"] = errno(os.aegis, Sys.TLB_WRITE, VPN, ppn, a, VALID | WRITABLE)
        box["b_read"] = errno(os.aegis, Sys.TLB_WRITE, VPN, ppn, b, VALID)
        box["more"] = errno(os.aegis, Sys.PAGE_SHARE, [(rs, ("read", "write"))], mule)
        box["free"] = errno(os.aegis, Sys.PAGE_SHARE, [(rs, ("read", "free"))], mule)
        _eid, third = os.aegis(Sys.ENV_ALLOC, "third", 0)
        box["batch"] = errno(os.aegis, Sys.PAGE_SHARE, [rs, (rs, ("write",))], third)
        box["third_owns"] = os.aegis(Sys.CAP_INFO, root)[3]     # nothing half-shared
        [full] = os.aegis(Sys.PAGE_SHARE, [root], third)        # the owner's own root
        box["full"] = os.aegis(Sys.CAP_INFO, full)[2]
        os.aegis(Sys.PAGE_FREE, root)           # our root: the others keep the frame
        box["after_free"] = os.aegis(Sys.CAP_INFO, full)[3]
        for h in (mule, other, third):
            os.aegis(Sys.ENV_DESTROY, h, 0, False)
        box["freed"] = k.phys.owners(ppn)

    k.boot(prog)
    assert k.run().reason == "finished" and k.machine.panic is None, k.faults
    assert box["a"][2] == RO and box["b"][2] == ("free", "share")
    assert box["a_write"] == "EPERM" and box["b_read"] == "EPERM"
    assert box["more"] == "EPERM" and box["free"] == "EPERM"
    assert box["batch"] == "EPERM" and box["third_owns"] == 3
    assert box["full"] == ("free", "read", "share", "write")
    assert box["after_free"] == 3 and box["freed"] == 0


class ShareRightsModel(PhysModel):
    """PhysModel plus derivation and sharing from any capability, explicit rights
    in any combination, and the invariant: no capability derived or shared from
    a capability carries a right its source lacks (``free`` on a new root aside,
    and a root left its page's only owner, which regains every right)."""

    def __init__(self) -> None:
        super().__init__()
        self.derived: list[Any] = []                    # live derived capabilities
        self.bounds: list[tuple[Any, frozenset[str]]] = []    # cap, rights it may hold
        real = self.phys.share

        def share(cap: Any, target: Any, rights: Any = None) -> Any:
            fresh, source = cap.obj not in target.roots, cap.rights
            root = real(cap, target, rights)
            if fresh:
                self.bounds.append((root, source | FREE))
                assert root.rights == (source if rights is None else rights) | FREE
            return root

        self.phys.share = share                         # type: ignore[method-assign]

    def _caps(self) -> list[Any]:
        """Every live capability the model may present: roots, then derived ones."""
        self.derived = [c for c in self.derived if c.valid]
        roots = [e.roots[p] for p, who in sorted(self.model.items()) for e in
                 (self.envs[i] for i in sorted(who))]
        return roots + self.derived

    @precondition(lambda self: self.model)
    @rule(data=st.data(), j=st.integers(0, 2))
    def share_read_only(self, data: st.DataObject, j: int) -> None:
        ppn = data.draw(st.sampled_from(sorted(self.model)))
        root = self.envs[min(self.model[ppn])].roots[ppn]
        if not {"read", "share"} <= root.rights:    # (roots here may hold less)
            with pytest.raises(SyscallError) as e:
                self.phys.share(root, self.envs[j], frozenset(("read", "share")))
            assert e.value.errno == "EPERM"
            return
        fresh = j not in self.model[ppn]
        got = self.phys.share(root, self.envs[j], frozenset(("read", "share")))
        assert self.envs[j].roots[ppn] is got
        if fresh:
            assert got.rights == frozenset(("read", "share", "free"))
        self.model[ppn].add(j)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), rights=st.frozensets(st.sampled_from(PAGE_RIGHTS)))
    def derive(self, data: st.DataObject, rights: frozenset[str]) -> None:
        cap = data.draw(st.sampled_from(self._caps()))
        if not rights <= cap.rights:
            with pytest.raises(SyscallError) as e:
                self.k.caps.derive(cap.handle, rights)
            assert e.value.errno == "EPERM"
            return
        kid = self.k.caps.derive(cap.handle, rights)
        self.derived.append(kid)
        self.bounds.append((kid, cap.rights))

    @precondition(lambda self: self.model)
    @rule(data=st.data(), j=st.integers(0, 2),
          rights=st.none() | st.frozensets(st.sampled_from(PAGE_RIGHTS)))
    def share_any(self, data: st.DataObject, j: int, rights: frozenset[str] | None) -> None:
        cap = data.draw(st.sampled_from(self._caps()))
        if "share" not in cap.rights:               # (PAGE_SHARE's decode refuses it)
            return
        if rights is not None and not rights <= cap.rights:
            with pytest.raises(SyscallError) as e:
                self.phys.share(cap, self.envs[j], rights)
            assert e.value.errno == "EPERM"
            return
        root = self.phys.share(cap, self.envs[j], rights)
        assert self.envs[j].roots[cap.obj] is root
        self.model[cap.obj].add(j)

    @invariant()
    def nothing_carries_a_right_its_source_lacks(self) -> None:
        kept = []
        for cap, bound in self.bounds:
            if not cap.valid:
                continue
            if cap.parent is None and self.phys.owners(cap.obj) == 1:
                bound = ALL                 # its page's only owner: every right
            assert cap.rights <= bound, (cap.rights, bound)
            kept.append((cap, bound))
        self.bounds = kept


TestShareRightsModel = ShareRightsModel.TestCase
TestShareRightsModel.settings = settings(max_examples=60, stateful_step_count=40,
                                         deadline=None)
