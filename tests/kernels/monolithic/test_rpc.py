"""Tests of exolab.kernels.monolithic.rpc (and the libc stubs built on it)."""
from __future__ import annotations

from typing import Any

from exolab.abi import ABI

from ._support import errno, run, run_inspected


def _server(os: ABI, name: str, count: int | None) -> None:
    """Serve ``name``: answer each word w with 2 * w + 1, ``count`` times."""
    os.rpc_serve(name, lambda os, w: 2 * w + 1, count)


def test_calls_reach_another_address_space_and_words_come_back() -> None:
    seen: list[Any] = []

    def server(os: ABI) -> None:
        state = {"count": 0}

        def handler(hos: ABI, word: int) -> int:
            state["count"] += 1
            seen.append(("in server", hos.getpid()))
            return word * 10 + state["count"]

        os.rpc_serve("svc", handler, 3)

    def main(os: ABI) -> None:
        pid = os.spawn(server)
        h = os.rpc_connect("svc")
        seen.append([os.rpc_call(h, w) for w in (1, -2, 1 << 40)])
        seen.append(os.wait(pid))
        seen.append(pid)

    run(main)
    *inside, replies, (wpid, status), pid = seen
    assert replies == [11, -18, (1 << 40) * 10 + 3]
    assert inside == [("in server", pid)] * 3
    assert (wpid, status) == (pid, 0)


def test_connect_blocks_until_the_name_is_registered() -> None:
    seen: list[Any] = []

    def client(os: ABI) -> None:
        h = os.rpc_connect("late")              # the server does not exist yet
        seen.append(os.rpc_call(h, 20))

    def main(os: ABI) -> None:
        c = os.spawn(client)
        os.compute(100_000)
        s = os.spawn(_server, "late", 1)
        os.wait(c)
        os.wait(s)

    run(main)
    assert seen == [41]


def test_clients_are_served_one_connection_at_a_time() -> None:
    seen: list[tuple[str, int]] = []

    def client(os: ABI, tag: str) -> None:
        h = os.rpc_connect("ctr")
        for w in (1, 2):
            seen.append((tag, os.rpc_call(h, w)))

    def main(os: ABI) -> None:
        s = os.spawn(_server, "ctr", 4)
        a = os.spawn(client, "a")
        b = os.spawn(client, "b")
        for pid in (a, b, s):
            assert os.wait(pid)[1] == 0

    run(main)
    assert sorted(seen) == [("a", 3), ("a", 5), ("b", 3), ("b", 5)]


def test_a_server_that_dies_makes_calls_fail_with_epipe() -> None:
    seen: list[Any] = []

    def fragile(os: ABI) -> None:
        def handler(os: ABI, word: int) -> int:
            if word == 13:
                raise RuntimeError("unlucky")   # the server process faults
            return word
        os.rpc_serve("fragile", handler)

    def main(os: ABI) -> None:
        s = os.spawn(fragile)
        h = os.rpc_connect("fragile")
        seen.append(os.rpc_call(h, 1))
        seen.append(errno(os.rpc_call, h, 13))
        seen.append(errno(os.rpc_call, h, 2))
        seen.append(os.wait(s)[1])

    r = run(main)
    assert seen[:3] == [1, "EPIPE", "EPIPE"]
    assert "RuntimeError: unlucky" in seen[3]
    assert len(r.faults) == 1


def test_bad_rpc_calls_are_typed_errors() -> None:
    seen: dict[str, str] = {}

    def main(os: ABI) -> None:
        seen["call bad handle"] = errno(os.rpc_call, 99, 1)
        seen["connect empty"] = errno(os.rpc_connect, "")
        seen["connect long"] = errno(os.rpc_connect, "x" * 65)
        seen["connect not str"] = errno(os.rpc_connect, 5)
        seen["serve not str"] = errno(os.rpc_serve, None, lambda os, w: w, 1)

    run(main)
    assert seen == {"call bad handle": "EBADF", "connect empty": "EINVAL",
                    "connect long": "EINVAL", "connect not str": "EINVAL",
                    "serve not str": "EINVAL"}


def test_a_name_has_one_live_server_and_is_free_again_when_it_exits() -> None:
    seen: list[Any] = []

    def second(os: ABI) -> None:
        seen.append(errno(os.rpc_serve, "one", lambda os, w: w, 1))

    def main(os: ABI) -> None:
        s = os.spawn(_server, "one", 1)
        os.yield_()                             # the first server registers
        os.wait(os.spawn(second))
        seen.append(os.rpc_call(os.rpc_connect("one"), 1))
        os.wait(s)
        s2 = os.spawn(_server, "one", 1)        # re-registering after exit is fine
        seen.append(os.rpc_call(os.rpc_connect("one"), 2))
        seen.append(os.wait(s2)[1])

    run(main)
    assert seen == ["EINVAL", 3, 5, 0]


def test_a_connection_the_server_never_accepted_fails_when_the_server_exits() -> None:
    seen: list[Any] = []

    def main(os: ABI, k: Any) -> None:
        s = os.spawn(_server, "once", 1)        # serves one call, then exits
        first = os.rpc_connect("once")
        second = os.rpc_connect("once")         # queued behind the first
        seen.append(os.rpc_call(first, 4))
        os.wait(s)
        seen.append(errno(os.rpc_call, second, 5))
        os.close(first)
        os.close(first + 1)
        os.close(second)
        os.close(second + 1)
        seen.append(k.frames.in_use())

    run_inspected(main)
    assert seen == [9, "EPIPE", 0]
