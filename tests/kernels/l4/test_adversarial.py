"""Adversarial L4 programs: mapping pages they do not hold, flushing other spaces'
mappings, IPC with forged or stale ids, forged capabilities, foreign spaces.
Each attempt is a clean SyscallError; nothing else changes; a bystander's pages,
mappings and output are exactly what they are without the attacker."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from exolab.errors import SyscallError

from exolab.kernels.l4 import L4
from exolab.machine import Machine

from ._support import run

HEAP = 0x400000
DONE = 0x99


def _snapshot(k: Any) -> dict[tuple[int, int], Any]:
    """Every (space, vpn) -> (ppn, writable) outside sigma0, from the mapping database."""
    return {(sid, v): k.mapdb.lookup(sid, v) for sid in k.spaces if sid
            for v in k.mapdb.pages(sid)}


def _bystander(l4: Any, parent: int, log: list[Any]) -> None:
    """Writes a page, waits for the attack to be over, checks its page."""
    l4.store_bytes(HEAP, b"bystander data!!")
    l4.call(parent, words=(l4.myself(),))           # "ready": parent replies when done
    log.append(("bystander", l4.load_bytes(HEAP, 16)))
    l4.send(parent, words=(DONE,))


ATTACKS: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    "map a page it does not hold": lambda l4, v: l4.send(
        v["victim"], maps=((0x500, 1, True, False),), timeout=0),
    "grant a page it does not hold": lambda l4, v: l4.send(
        v["victim"], maps=((HEAP >> 12, 1, True, True),), timeout=0),
    "flush the bystander's page": lambda l4, v: l4.flush(HEAP >> 12),
    "unmap the bystander's page": lambda l4, v: l4.unmap(HEAP >> 12),
    "send to a forged id": lambda l4, v: l4.send(123457, words=(1,), timeout=0),
    "call a stale version": lambda l4, v: l4.call(v["victim"] ^ 1, words=(1,)),
    "receive from a forged id": lambda l4, v: l4.receive(99999, timeout=0),
    "signal a forged capability": lambda l4, v: l4.signal(77, 1),
    "receive on a forged endpoint": lambda l4, v: l4.receive(("ep", 3), timeout=0),
    "thread in a foreign space": lambda l4, v: l4.thread_create(v["space"], print),
    "destroy a foreign space": lambda l4, v: l4.space_destroy(v["space"]),
    "give a foreign capability": lambda l4, v: l4.cap_give(v["space"], 1),
    "attach an interrupt": lambda l4, v: l4.irq_attach(0),
    "a window in the kernel": lambda l4, v: l4.receive(buffer=(0, 0, 0xC0000), timeout=0),
    "words that are not ints": lambda l4, v: l4.send(v["victim"], words=("x",)),
    "a string beyond user memory": lambda l4, v: l4.send(
        v["victim"], string=(0xC0000000, 4)),
    "a raw trap with junk": lambda l4, v: l4._cpu.trap(3, None, None, None, None,
                                                       None, None),
}


def _scenario(attack: str | None) -> tuple[list[Any], list[Any], Any]:
    log: list[Any] = []
    errors: list[Any] = []
    before: dict[str, Any] = {}

    def attacker(l4: Any, v: dict[str, Any], parent: int) -> None:
        l4.store(HEAP + 0x10000, 1)                 # a page of its own, elsewhere
        l4.call(parent, words=(1,))                 # wait until the bystander is set up
        kernel = v["kernel"]
        before["map"] = _snapshot(kernel)
        try:
            ATTACKS[attack](l4, v)                  # type: ignore[index]
        except SyscallError as e:
            errors.append(e.errno)
        before["after"] = _snapshot(kernel)
        l4.send(parent, words=(DONE,))

    def root(l4: Any, v: dict[str, Any]) -> None:
        sp = l4.space_create("bystander")
        b = l4.thread_create(sp, _bystander, l4.myself(), log)
        ready = l4.receive(b)
        v.update(victim=b, space=sp)
        if attack is not None:
            a = l4.thread_create(l4.space_create("attacker"), attacker, v, l4.myself())
            m = l4.receive(a)
            l4.send(m.sender, timeout=0)            # go
            l4.receive(a)                           # done
        l4.send(ready.sender, timeout=0)            # the bystander checks its page
        l4.receive(b)

    k = L4(Machine("i486", frames=4096))
    v: dict[str, Any] = {"kernel": k}
    k.boot(root, v)
    assert k.run().reason == "finished"
    return log, errors, (before, k)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_the_attack_is_a_clean_error_and_nothing_else_changes(attack: str) -> None:
    solo_log, _, (_, solo) = _scenario(None)
    log, errors, (before, k) = _scenario(attack)
    assert len(errors) == 1 and errors[0] in ("EFAULT", "ESRCH", "EPERM", "EINVAL",
                                              "ENOSYS", "EAGAIN"), errors
    assert before["map"] == before["after"]         # no mapping anywhere changed
    assert log == solo_log == [("bystander", b"bystander data!!")]
    assert k.faults == [] and solo.faults == []
    k.mapdb.check()


def test_an_unknown_call_is_enosys_and_a_wrong_arity_einval() -> None:
    from exolab.kernels.l4 import syscall as sc
    got: list[Any] = []

    def root(l4: Any) -> None:
        for number, args in ((9999, ()), ("x", ()), (sc.MYSELF, (1,)), (sc.YIELD, ())):
            try:
                l4._cpu.trap(number, *args)
            except SyscallError as e:
                got.append((e.errno, e.fields.get("expected")))
    run(root)
    assert got == [("ENOSYS", None), ("ENOSYS", None), ("EINVAL", 0), ("EINVAL", 1)]


# -- the ABI's threads on L4: ended threads must leave the server and the caps ---------


def _abi_run(program: Callable[..., Any]) -> Any:
    """Run ``program(os)`` as the first process of the ABI on L4; the system."""
    from exolab.kernels import make_kernel
    k = make_kernel("l4", Machine("dec5000", frames=4096))
    k.boot(program)
    res = k.run()
    assert res.reason == "finished", (res, k.console, k.faults)
    return k


def test_a_thread_id_that_comes_back_is_a_new_thread_to_the_server() -> None:
    """A TCB's version wraps after 256 generations, so a thread id comes back; the
    UNIX server must have forgotten the ended thread by then (it used to refuse
    the new one, EPERM, and kept every ended thread in its tables)."""
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        ran = [0]

        def child(os: Any) -> None:
            ran[0] += 1

        for _ in range(600):
            os.thread_create(child)
            while ran[0] < _ + 1:
                os.thread_yield()
        out["ran"] = ran[0]

    k = _abi_run(main)
    assert out == {"ran": 600}
    assert all(len(p.threads) <= 1 for p in k.ux.procs.values())
    assert len(k.ux.pids_of_threads) <= 1


def test_park_notifications_of_ended_threads_are_reused_and_clean() -> None:
    """Every thread's park notification is a capability (256 per space): an ended
    thread's goes to the next thread that parks, with no bit of its own left on it
    (an unpark the ended thread never took must not wake its successor)."""
    out: dict[str, Any] = {"early": 0}

    def main(os: Any) -> None:
        for _ in range(400):
            box: list[str] = []

            def quick(os: Any) -> None:
                box.append("ran")           # never parks: main's token stays

            t = os.thread_create(quick)
            os.thread_unpark(t)             # before it runs: its notification's bit
            while not box:
                os.thread_yield()
            flag: list[str] = []

            def parker(os: Any) -> None:
                flag.append("in")
                os.thread_park()
                flag.append("woke")

            t2 = os.thread_create(parker)
            while not flag:
                os.thread_yield()
            for _ in range(3):
                os.thread_yield()
            out["early"] += "woke" in flag
            os.thread_unpark(t2)
            while "woke" not in flag:
                os.thread_yield()

    k = _abi_run(main)
    assert out == {"early": 0}
    caps = max(len(s.caps) for sid, s in k.spaces.items() if sid)
    assert caps < 16, caps


# -- threads that never enter the kernel: the timeslice takes the CPU back ----------------


def _hog(l4: Any) -> None:
    while True:
        l4.compute(1000)


def _bounded(root: Any) -> Any:
    """Run ``root`` to its end within 10^8 cycles (a starved bystander never ends)."""
    k = L4(Machine("i486", frames=4096))
    k.boot(root)
    res = k.run(until=100_000_000)
    assert res.reason == "finished", (res, k.faults)
    return k


def _squares(l4: Any, parent: int) -> None:
    total = 0
    for i in range(50):
        total += i * i
        l4.compute(100)
    l4.send(parent, words=(total,))


@pytest.mark.parametrize("hogs", [0, 1, 3])
def test_threads_that_never_block_are_preempted_and_a_bystander_is_exact(
        hogs: int) -> None:
    """Hostile threads that only compute (no IPC, no yield, no fault) beside a
    bystander in another space: each slice's end sends the running one to the back
    of the ready queue, so the bystander's result comes, exact, and the root then
    destroys the hostile space (the run ends)."""
    out: dict[str, Any] = {}

    def root(l4: Any) -> None:
        sp = l4.space_create("hogs")
        for _ in range(hogs):
            l4.thread_create(sp, _hog)
        b = l4.thread_create(l4.space_create("bystander"), _squares, l4.myself())
        out["total"] = l4.receive(b).words[0]
        l4.space_destroy(sp)

    k = _bounded(root)
    assert out == {"total": sum(i * i for i in range(50))}
    assert k.faults == []
    assert (k.statistics().preemptions > 0) == (hogs > 0)


def test_a_driver_programming_the_timer_keeps_the_slice() -> None:
    """The thread attached to irq 0 owns the interval timer's deadline, not the
    kernel's slice: a far one-shot it sets cannot stop the preemption of hogs, and
    when the driver ends its deadline goes with it."""
    out: dict[str, Any] = {}

    def root(l4: Any) -> None:
        l4.irq_attach(0)
        l4.timer(1 << 39)                           # one far shot: no tick from it
        sp = l4.space_create("hogs")
        for _ in range(2):
            l4.thread_create(sp, _hog)
        b = l4.thread_create(l4.space_create("bystander"), _squares, l4.myself())
        out["total"] = l4.receive(b).words[0]
        l4.space_destroy(sp)

    k = _bounded(root)
    assert out == {"total": sum(i * i for i in range(50))} and k.faults == []
    assert k.statistics().preemptions > 0
    assert not k.machine.timer.armed                # the ended driver's shot went too
    assert k.machine.clock.now < 1 << 39


def test_an_inactive_thread_runs_only_once_started_by_its_spaces_creator() -> None:
    """``thread_create(start=False)`` leaves the thread inactive (L4 X.2: made by
    ThreadControl, started by ExchangeRegisters): yields do not run it; a second
    start is EINVAL; a thread of another's space is EPERM to start; one never
    started goes with its destroyed space (nothing is left)."""
    log: list[Any] = []

    def worker(l4: Any, tag: str) -> None:
        log.append(tag)

    def stranger(l4: Any, v: dict[str, Any]) -> None:
        try:
            l4.thread_start(v["t"])
        except SyscallError as e:
            log.append(("stranger", e.errno))

    def root(l4: Any) -> None:
        sp = l4.space_create("w")
        t = l4.thread_create(sp, worker, "started", start=False)
        for _ in range(3):
            l4.yield_()
        log.append("yielded")
        v = {"t": t}
        s = l4.thread_create(l4.space_create("s"), stranger, v)
        l4.yield_()
        l4.thread_start(t)
        try:
            l4.thread_start(t)
        except SyscallError as e:
            log.append(("again", e.errno))
        l4.yield_()
        sp2 = l4.space_create("never")
        l4.thread_create(sp2, worker, "never", start=False)
        l4.space_destroy(sp2)
        del s

    k = _bounded(root)
    assert log == ["yielded", ("stranger", "EPERM"), ("again", "EINVAL"), "started"]
    assert k.statistics().processes_live == 0 and k.faults == []


# -- rpc: a client that dies inside its call must not end a bystander's server ----------

# The hostile client burns ``c`` cycles in one user-mode burst and then calls; the
# slice's end is delivered at the first charge point past it. On dec5000 (10 ms
# slices) c in [243,976, 244,008) lets the server reply first; [244,008, 244,051)
# preempts the server between its receive and its reply, and the client's other
# thread then exits the process (the old rpc_serve raised EAGAIN there); from
# 244,051 on the client dies before its call reaches the server. The sweep covers
# all three, with a step well inside the 43-cycle window.
RACE_SWEEP = range(243_800, 244_300, 8)


def _rpc_race(c: int, calls: int) -> dict[str, Any]:
    """A bystander server (``calls`` + 1 calls), a client that dies in its call, an
    honest client (``calls`` calls); a filler call when the hostile one never
    reached the server."""
    out: dict[str, Any] = {"seen": []}

    def server(os: Any) -> None:
        def inc(os: Any, w: int) -> int:
            out["seen"].append(w)
            return w + 1
        try:
            os.rpc_serve("svc", inc, calls + 1)
            out["server"] = "ok"
        except SyscallError as e:
            out["server"] = ("died", e.errno)

    def hostile(os: Any) -> None:
        h = os.rpc_connect("svc")

        def racer(os: Any) -> None:
            os.compute(c)
            out["racer"] = os.rpc_call(h, 100)

        os.thread_create(racer)
        os.thread_yield()                   # the racer runs; this thread is behind it
        os.exit(0)

    def honest(os: Any) -> None:
        h = os.rpc_connect("svc") if calls else 0
        out["honest"] = [os.rpc_call(h, i) for i in range(calls)]

    def main(os: Any) -> None:
        s = os.spawn(server)
        os.yield_()
        os.wait(os.spawn(hostile))
        os.wait(os.spawn(honest))
        if 100 not in out["seen"]:          # the hostile call never came: the 4th
            os.rpc_call(os.rpc_connect("svc"), 7)
        os.wait(s)

    k = _abi_run(main)
    assert k.faults == [], (c, k.faults)
    return out


@pytest.mark.parametrize("calls", [3, 0])
def test_a_client_that_dies_in_its_call_leaves_the_bystander_server_serving(
        calls: int) -> None:
    """The server's reply to a caller that is gone (dead, or no longer waiting)
    is dropped and it receives again, as Mach's server loop does: it used to
    raise EAGAIN out of rpc_serve, and the next honest client faulted ESRCH.
    With ``calls=0`` the hostile call is the last one (the final non-blocking
    send), which must end the loop quietly."""
    hits = 0
    for c in RACE_SWEEP:
        out = _rpc_race(c, calls)
        assert out["server"] == "ok", (c, out)
        assert out["honest"] == list(range(1, calls + 1)), (c, out)
        assert sorted(out["seen"]) in (list(range(calls)) + [100],
                                       list(range(calls)) + [7]), (c, out)
        hits += 100 in out["seen"] and "racer" not in out   # served, died unanswered
    assert hits > 5, hits                   # the sweep reaches the window
