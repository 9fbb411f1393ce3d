"""Protected control transfer: synchronous calls, asynchronous messages, failures."""
from __future__ import annotations

from typing import Any

from exolab.kernels.exokernel import Sys

from ._support import aegis, bystander, errno, run


def test_sync_pct_round_trip_costs_two_crossings() -> None:
    out: dict[str, Any] = {}

    def server(os: Any) -> None:
        os.rpc_serve("null", None, 101)

    def main(os: Any) -> None:
        pid = os.spawn(server)
        h = os.rpc_connect("null")
        os.pct_call(h)
        t0 = os.time()
        for _ in range(100):
            os.pct_call(h)
        out["cycles"] = (os.time() - t0) / 100
        os.wait(pid)

    r = run(main)
    p = r.machine.profile
    crossing = p.trap_entry + 30 + p.trap_exit + p.asid_switch
    assert out["cycles"] >= 2 * crossing
    assert out["cycles"] / 2 / p.mhz < 1.4 * 1.5      # Table 6: 1.4 us one way


def test_async_messages_reach_the_async_entry_in_order() -> None:
    k = aegis()
    box: dict[str, Any] = {"got": []}

    def receiver(os: Any) -> None:
        os.aegis(Sys.ENV_SETUP, os.handle,
                 {"async": lambda sender, *w: box["got"].append((sender, w))}, {}, None)
        box["h"] = os.aegis(Sys.CAP_DERIVE, os.handle, ("wake",))
        while len(box["got"]) < 3:
            os.aegis(Sys.SLEEP)

    def sender(os: Any) -> None:
        while "h" not in box:
            os.yield_()
        box["sender"] = os.pid
        for i in range(3):
            os.aegis(Sys.PCT_ASYNC, box["h"], ("msg", i), False)
        box["no_right"] = errno(os.aegis, Sys.PCT_SYNC, box["h"], ())

    k.boot(receiver)
    k.boot(sender)
    assert k.run().reason == "finished"
    assert box["got"] == [(box["sender"], ("msg", i)) for i in range(3)]
    assert box["no_right"] == "EPERM"


def test_a_callee_that_dies_in_its_entry_fails_the_call_not_the_caller() -> None:
    out: dict[str, Any] = {}

    def server(os: Any) -> None:
        def handler(os: Any, w: int) -> int:
            if w == 2:
                raise ValueError("server bug")
            return w + 1
        os.rpc_serve("fragile", handler, 5)

    def main(os: Any) -> None:
        pid = os.spawn(server)
        h = os.rpc_connect("fragile")
        out["ok"] = os.rpc_call(h, 1)
        out["dead"] = errno(os.rpc_call, h, 2)
        out["after"] = errno(os.rpc_call, h, 3)
        out["status"] = os.wait(pid)[1]

    r = run(main)
    assert out["ok"] == 2 and out["dead"] == out["after"] == "EPIPE"
    assert "fault in sync entry" in str(out["status"])
    assert any("ValueError" in what for _e, what, _w in r.faults)


def test_a_callee_exiting_inside_its_entry_returns_esrch() -> None:
    k = aegis()
    out: dict[str, Any] = {}

    def quitter(os: Any) -> None:
        os.rpc_serve("q", lambda os, w: os.exit(5), 1)

    def main(os: Any) -> None:
        pid = os.spawn(quitter)
        h = os.rpc_connect("q")
        out["call"] = errno(os.rpc_call, h, 0)
        out["wait"] = os.wait(pid)
        bystander(os, 3, out)

    k.boot(main)
    assert k.run().reason == "finished"
    assert out["call"] == "EPIPE" and out["wait"][1] == 5 and out["intact"]
    assert k.statistics().envs_live == 0


def test_a_callee_destroyed_while_blocked_in_its_entry_releases_the_caller() -> None:
    k = aegis()
    out: dict[str, Any] = {}

    def server(os: Any, r: int) -> None:
        os.rpc_serve("stuck", lambda os, w: len(os.read(r, 4)), 2)

    def main(os: Any) -> None:
        r, w = os.pipe()
        out["server"] = os.fork(server, r)
        h = os.rpc_connect("stuck")
        out["call"] = errno(os.rpc_call, h, 0)   # the server never gets its data
        out["wait"] = os.wait(out["server"])[1]
        os.close(w)

    k.boot(main)
    k.run(until=3 * k.sched.slice)
    victim = k.envs[out["server"]]
    assert victim.top is not None and victim.top.borrowed   # blocked inside the entry
    k.destroy(victim, "killed by the operator", unwind=False)
    assert k.run().reason == "finished"
    assert out["call"] == "EPIPE" and out["wait"] == "killed by the operator"
    assert k.statistics().envs_live == 0 and k.machine.panic is None


def test_an_rpc_handler_may_block_and_yield_inside_the_entry() -> None:
    out: dict[str, Any] = {}

    def server(os: Any, r: int) -> None:
        def handler(os: Any, w: int) -> int:
            data = os.read(r, 4)
            os.yield_()
            return int.from_bytes(data, "little") + w
        os.rpc_serve("blk", handler, 3)

    def feeder(os: Any, w: int) -> None:
        for i in range(3):
            os.compute(50_000)
            os.write(w, (100 * (i + 1)).to_bytes(4, "little"))

    def main(os: Any) -> None:
        r, w = os.pipe()
        s, f = os.fork(server, r), os.fork(feeder, w)
        h = os.rpc_connect("blk")
        out["r"] = [os.rpc_call(h, i) for i in range(3)]
        out["w"] = (os.wait(s)[1], os.wait(f)[1])

    run(main)
    assert out == {"r": [100, 201, 302], "w": (0, 0)}
