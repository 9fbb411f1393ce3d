"""The audit's holes in Aegis and ExOS (issue 9 §2): each test fails on the code
the audit found and passes since the fix."""
from __future__ import annotations

from typing import Any

from exolab.kernels.exokernel import Sys
from exolab.kernels.exokernel.bind import VALID, WRITABLE

from exolab.runner import run_program

from ._support import PAGE, aegis, errno

SAVE_VPN = 0x60000                      # a save area of the test's own choosing


def _turns(os: Any, box: dict[str, Any], key: str, limit: int = 200) -> None:
    """Yield until ``key`` is in ``box``."""
    for _ in range(limit):
        if key in box:
            return
        os.yield_()
    raise AssertionError(f"never saw {key}")


def test_a_freed_save_area_is_never_written_again() -> None:
    """Hole 1: the save area is bound to the environment's guaranteed mapping."""
    k, box = aegis(), {}

    def owner(os: Any) -> None:
        os.set_exception_handler("overflow", lambda os, kind: None)
        ppn, h = os.aegis(Sys.PAGE_ALLOC, 4000)     # (a frame no boot takes)
        os.aegis(Sys.GUARANTEE, SAVE_VPN, ppn, h, True)
        os.aegis(Sys.ENV_SETUP, os.handle, {}, {}, SAVE_VPN)
        os.aegis(Sys.PAGE_FREE, h)              # breaks the guarantee: unbinds the area
        box["ppn"] = ppn
        _turns(os, box, "ready")
        os.trigger("overflow")                  # must not write into the new owner's page
        box["fired"] = True

    def other(os: Any) -> None:
        _turns(os, box, "ppn")
        ppn, h = os.aegis(Sys.PAGE_ALLOC, box["ppn"])
        os.aegis(Sys.TLB_WRITE, 0x500, ppn, h, VALID | WRITABLE)
        for i in range(3):
            os.store((0x500 << 12) + 4 * i, 0xABCD0000 + i)
        box["ready"] = True
        _turns(os, box, "fired")
        box["words"] = [os.load((0x500 << 12) + 4 * i) for i in range(3)]

    k.boot(owner)
    k.boot(other)
    assert k.run().reason == "finished"
    assert not k.faults, k.faults
    assert box["words"] == [0xABCD0000, 0xABCD0001, 0xABCD0002]


class _Liar(int):
    """An int whose comparisons lie."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return int(self)


class _Raiser:
    """An object whose comparisons raise."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("boom")

    __hash__ = None                             # type: ignore[assignment]


def test_hostile_messages_cannot_kill_or_fool_the_parent() -> None:
    """Hole 2: a child's garbage is dropped; a forged exit status is ignored."""
    box: dict[str, Any] = {}

    def sibling(os: Any) -> int:
        _turns(os, box, "forged")
        return 7

    def liar(os: Any, sib: int) -> None:
        garbage = [("exit",), ("exit", [sib], 1), ("exit", {sib: 1}, 1),
                   ("exit", _Liar(sib), "forged"), ("exit", _Raiser(), 1),
                   (_Raiser(), sib, 1), ("exit", sib, "forged"), ([1], 2, 3),
                   ("exit", os.pid, "early")]
        for words in garbage:
            os.aegis(Sys.PCT_ASYNC, os.parent, words, True)
        box["forged"] = True
        os.compute(10_000)

    def parent(os: Any) -> None:
        sib = os.spawn(sibling)
        bad = os.fork(liar, sib)
        box["sib"] = os.wait(sib)
        box["bad"] = os.wait(bad)
        box["dropped"] = os.dropped

    r = run_program(parent, kernel="exokernel")
    assert r.result.reason == "finished", r.faults
    assert not r.faults, r.faults
    assert box["sib"][1] == 7 and box["bad"][1] == 0
    assert box["dropped"] >= 8


def _root_of(os: Any, va: int) -> tuple[int, int]:
    """(ppn, handle) of the frame ExOS maps at ``va`` (read from its page table)."""
    pt = os.vm.pt
    i = pt.find(va >> 12)
    return pt.entry(i)[0], pt.cap(i)


def test_a_fork_child_cannot_write_its_parents_frames() -> None:
    """Hole 3: copy-on-write is enforced by read-only capabilities."""
    box: dict[str, Any] = {}

    def child(os: Any, va: int) -> None:
        ppn, h = _root_of(os, va)
        box["bind"] = errno(os.aegis, Sys.TLB_WRITE, 0x600, ppn, h, VALID | WRITABLE)
        box["derive"] = errno(os.aegis, Sys.CAP_DERIVE, h, ("read", "write"))
        os.store(va, 99)                        # its own copy (copy-on-write)
        box["child_sees"] = os.load(va)

    def parent(os: Any) -> None:
        va = os.mmap(PAGE)
        os.store(va, 42)
        os.wait(os.fork(child, va))
        box["parent_sees"] = os.load(va)

    r = run_program(parent, kernel="exokernel")
    assert r.result.reason == "finished" and not r.faults, r.faults
    assert box["bind"] == "EPERM" and box["derive"] == "EPERM"
    assert box["child_sees"] == 99 and box["parent_sees"] == 42


def test_a_spawned_process_cannot_rewrite_shared_library_code() -> None:
    """Hole 4: ExOS's text pages are read-only to every process but their owner."""
    box: dict[str, Any] = {}

    def other(os: Any) -> None:
        ppn, h = _root_of(os, 0x400 << 12)
        box["bind"] = errno(os.aegis, Sys.TLB_WRITE, 0x600, ppn, h, VALID | WRITABLE)

    def parent(os: Any) -> None:
        os.wait(os.spawn(other))

    r = run_program(parent, kernel="exokernel")
    assert r.result.reason == "finished" and not r.faults, r.faults
    assert box["bind"] == "EPERM"


def test_a_copy_on_write_frame_left_alone_is_written_in_place() -> None:
    """The last owner of a shared frame regains write (no needless copy)."""
    box: dict[str, Any] = {}

    def child(os: Any, va: int) -> None:
        _turns(os, box, "parent_copied")
        before = os.aegis(Sys.CAP_INFO, _root_of(os, va)[1])
        os.store(va, 5)
        box["child"] = (before[2], _root_of(os, va)[0], os.load(va))

    def parent(os: Any) -> None:
        va = os.mmap(PAGE)
        os.store(va, 1)
        pid = os.fork(child, va)
        box["orig"] = _root_of(os, va)[0]
        os.store(va, 2)                         # the parent copies; the child owns it alone
        box["parent_copied"] = True
        os.wait(pid)

    r = run_program(parent, kernel="exokernel")
    assert r.result.reason == "finished" and not r.faults, r.faults
    rights, ppn, value = box["child"]
    assert "write" in rights and ppn == box["orig"] and value == 5


def test_a_corrupt_pipe_header_garbles_data_but_never_kills_the_other_end() -> None:
    """Hole 5: ring header words are clamped and validated by each end."""
    box: dict[str, Any] = {"got": []}
    corruptions = [(0, 0xFFFF0000), (0x10, 0x8), (0xFFFFFFF0, 0x7FFFFFFF)]

    def child(os: Any, rfd: int, wfd: int, va: int) -> None:
        for k, (head, tail) in enumerate(corruptions):
            os.store(va + 4, head)
            os.store(va + 8, tail)
            box["corrupt"] = k
            _turns(os, box, f"read{k}")
        os.close(wfd)

    def parent(os: Any) -> None:
        rfd, wfd = os.pipe()
        va = os.ipc.fd_entry(rfd)[1]
        pid = os.fork(child, rfd, wfd, va)
        os.close(wfd)
        for k in range(len(corruptions)):
            while box.get("corrupt") != k:
                os.yield_()
            box["got"].append(len(os.read(rfd, 3 * PAGE)))
            box[f"read{k}"] = True
        box["wait"] = os.wait(pid)

    r = run_program(parent, kernel="exokernel")
    assert r.result.reason == "finished" and not r.faults, r.faults
    assert all(0 < n <= PAGE for n in box["got"])


def test_a_pct_chain_is_bounded_with_a_clean_error() -> None:
    """Hole 6: mutually recursive PCTs stop at MAX_PCT_DEPTH with EAGAIN."""
    from exolab.kernels.exokernel.limits import MAX_PCT_DEPTH
    box: dict[str, Any] = {"depths": []}

    def server(os: Any, me: str, other: str) -> None:
        def entry(depth: int) -> int:
            try:
                return os.aegis(Sys.PCT_SYNC, box[other], (depth + 1,))
            except Exception as ex:             # (the SyscallError at the bound)
                box["errno"] = getattr(ex, "errno", None)
                return depth
        os.aegis(Sys.ENV_SETUP, os.handle, {"sync": entry}, {}, None)
        box[me] = os.aegis(Sys.CAP_DERIVE, os.handle, ("pct",))
        _turns(os, box, "done")

    def client(os: Any) -> None:
        _turns(os, box, "a")
        _turns(os, box, "b")
        box["reached"] = os.aegis(Sys.PCT_SYNC, box["a"], (1,))
        box["done"] = True

    k = aegis()
    k.boot(server, "a", "b")
    k.boot(server, "b", "a")
    k.boot(client)
    assert k.run().reason == "finished"
    assert not k.faults, k.faults
    assert box["errno"] == "EAGAIN" and box["reached"] == MAX_PCT_DEPTH


def _reachable(root: Any, limit: int = 20000) -> list[Any]:
    """Every object reachable from ``root`` through public attributes and the
    items of containers (what a verified program can name)."""
    import types
    seen, out, todo = {id(root)}, [], [root]
    while todo and len(out) < limit:
        x = todo.pop()
        out.append(x)
        kids: list[Any] = []
        if isinstance(x, (list, tuple, set, frozenset)):
            kids = list(x)
        elif isinstance(x, dict):
            kids = list(x.keys()) + list(x.values())
        elif isinstance(x, (int, str, bytes, float, bool, type(None), types.FunctionType,
                            types.BuiltinFunctionType, types.MethodType, type)):
            kids = []
        else:
            for name in dir(x):
                if not name.startswith("_"):
                    try:
                        kids.append(getattr(x, name))
                    except Exception:
                        pass
        for kid in kids:
            if id(kid) not in seen:
                seen.add(id(kid))
                todo.append(kid)
    return out


def test_nothing_public_in_exos_leads_to_the_machine_or_the_kernel() -> None:
    """An ExOS instance exposes the ABI and a user-mode CPU view only."""
    from exolab.kernels.exokernel.caps import Capability
    from exolab.kernels.exokernel.env import Environment
    from exolab.kernels.exokernel.kernel import Aegis
    from exolab.machine.cpu import CPU
    from exolab.machine.machine import Machine
    from exolab.machine.threads import SimThread
    box: dict[str, Any] = {}
    forbidden = (CPU, Machine, Aegis, Environment, SimThread, Capability)

    def main(os: Any) -> None:
        os.thread_create(lambda os: None)
        rfd, wfd = os.pipe()
        os.shm_attach(os.shm_create(PAGE))
        os.wait(os.fork(lambda os: 0))
        box["leaks"] = [type(x).__name__ for x in _reachable(os)
                        if isinstance(x, forbidden) or type(x).__name__ == "PhysicalMemory"]

    r = run_program(main, kernel="exokernel", trusted=True)   # _reachable walks dir()
    assert r.result.reason == "finished" and not r.faults, r.faults
    assert box["leaks"] == []


def test_destroy_completes_however_deep_the_stack() -> None:
    """Hole 6: destroy at any remaining stack depth frees everything."""
    from exolab.kernels.exokernel.env import DEAD_ENV

    def room() -> int:
        """How many more frames this stack can take."""
        def probe(depth: int) -> int:
            try:
                return probe(depth + 1)
            except RecursionError:
                return depth
        return probe(0)

    def at_headroom(n: int, fn: Any) -> None:
        """Call ``fn`` with only about ``n`` frames of recursion limit left."""
        def down(depth: int) -> None:
            if depth <= 0:
                fn()
                return
            down(depth - 1)
        down(room() - n)

    for headroom in range(4, 40, 3):
        k = aegis()
        parent = k.new_env("parent", None)
        env = k.new_env("victim", parent)
        k.new_env("unstarted", env)
        for vpn in range(0x100, 0x110):
            cap = k.phys.alloc(env)
            k.bind._install(env, vpn, cap.obj, cap, 1)
        free = k.phys.free_count() + 16
        at_headroom(headroom, lambda: k.destroy(env, 0, exited=True, unwind=False))
        assert env.state == DEAD_ENV and not env.roots and not env.cached
        assert k.phys.free_count() == free and len(k.envs) == 1
        assert parent.inbox and parent.inbox[-1].words[1] == env.eid


def test_nobody_can_hijack_or_revoke_anothers_rpc_service() -> None:
    """Hole 4: the registry is written by its owner only, on attested requests."""
    box: dict[str, Any] = {}

    def server(os: Any) -> None:
        os.rpc_serve("echo", lambda os, w: w + 1, 3)

    def thief(os: Any) -> None:
        _turns(os, box, "served")
        box["serve"] = errno(os.rpc_serve, "echo", lambda os, w: -1, 1)
        victim = os.lrpc.conns[os.rpc_connect("echo")][0]
        os.aegis(Sys.PCT_ASYNC, os.lrpc.registrar_h, ("reg", b"echo", 0, victim), True)
        os.aegis(Sys.PCT_ASYNC, os.lrpc.registrar_h, ("reg", [1], {}, "x"), True)
        box["thief_done"] = True
        os.store(os.registry_va, 0)            # the page is read-only: this faults

    def main(os: Any) -> None:
        s = os.spawn(server)
        h = os.rpc_connect("echo")
        box["first"] = os.rpc_call(h, 1)
        box["served"] = True
        t = os.spawn(thief)
        box["thief"] = os.wait(t)[1]
        h2 = os.rpc_connect("echo")
        box["after"] = (os.rpc_call(h, 10), os.rpc_call(h2, 20))
        os.wait(s)

    r = run_program(main, kernel="exokernel")
    assert r.result.reason == "finished", r.faults
    assert box["first"] == 2 and box["after"] == (11, 21)
    assert box["serve"] == "EINVAL" and box["thief_done"]
    assert "SIGSEGV" in str(box["thief"]) or "fault" in str(box["thief"])
