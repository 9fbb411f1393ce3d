"""The socket calls, on every kernel that provides them (the others declare them refused).

Two machines on one wire, each running the kernel under test with its own
address; programs exchange UDP datagrams and ICMP echoes. Every errno of
docs/abi.md's socket table is provoked once. A kernel that refuses the
socket calls is skipped here with its declared reason; that it answers
ENOSYS is test_contract's ``test_refused_calls_are_enosys``.
"""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError
from exolab.kernels import make_kernel
from exolab.machine.machine import Machine
from exolab.machine.wire import Wire, run_together
from exolab.runner import run_program

from .kit import needs

A, B = "10.0.0.1", "10.0.0.2"
CALLS = ("socket", "bind", "sendto", "recvfrom")


def pair(kernel: str, prog_a: Any, prog_b: Any, *args: Any) -> tuple[Any, Any]:
    """Run ``prog_a`` on machine A and ``prog_b`` on B (wired together); the kernels."""
    wire = Wire(latency_us=1.0)
    ma, mb = Machine("dec5000", seed=1), Machine("dec5000", seed=2)
    ma.attach_nic(wire.a)
    mb.attach_nic(wire.b)
    ka, kb = make_kernel(kernel, ma, ip=A), make_kernel(kernel, mb, ip=B)
    kb.boot(prog_b, *args)
    ka.boot(prog_a, *args)
    results = run_together([ma, mb], until=2_000_000)
    assert [r.reason for r in results] == ["finished", "finished"], results
    assert ka.faults == [] and kb.faults == [], (ka.faults, kb.faults)
    return ka, kb


def errno(fn: Any, *args: Any) -> str:
    """The errno ``fn(*args)`` fails with, or "ok"."""
    try:
        fn(*args)
    except SyscallError as ex:
        return str(ex.errno)
    return "ok"


def echo_server(os: Any, n: int) -> None:
    s = os.socket("udp")
    os.bind(s, 7)
    for _ in range(n):
        data, (addr, port) = os.recvfrom(s, 2000)
        os.sendto(s, data.upper(), addr, port)
    os.close(s)


def test_udp_echo_between_two_machines(kernel: str) -> None:
    needs(kernel, *CALLS)

    def client(os: Any, n: int) -> None:
        s = os.socket("udp")
        port = os.bind(s, 0)
        os.print("ephemeral", 49152 <= port <= 65535)
        for i in range(n):
            msg = f"hello {i}".encode() * (i + 1)
            assert os.sendto(s, msg, B, 7) == len(msg)
            data, src = os.recvfrom(s, 2000)
            os.print(data == msg.upper(), src)
        os.close(s)

    ka, kb = pair(kernel, client, echo_server, 3)
    assert ka.console == ["ephemeral True"] + ["True ('10.0.0.2', 7)"] * 3


def test_short_receive_discards_the_rest(kernel: str) -> None:
    needs(kernel, *CALLS)

    def client(os: Any, n: int) -> None:
        s = os.socket("udp")
        os.sendto(s, b"abcdefgh", B, 7)
        os.print(os.recvfrom(s, 3)[0])
        os.sendto(s, b"ij", B, 7)
        os.print(os.recvfrom(s, 100)[0])

    ka, _ = pair(kernel, client, echo_server, 2)
    assert ka.console == ["b'ABC'", "b'IJ'"]


def test_icmp_echo_is_answered_by_the_peer_stack(kernel: str) -> None:
    """The peer's stack answers (on ExOS: the stack of a process that has one)."""
    needs(kernel, *CALLS)

    def pinger(os: Any, n: int) -> None:
        s = os.socket("icmp")
        for seq in range(n):
            os.sendto(s, b"ping", B, seq)
            os.print(os.recvfrom(s, 64))
        os.sendto(os.socket("udp"), b"done", B, 7)

    def peer(os: Any, n: int) -> None:
        s = os.socket("udp")
        os.bind(s, 7)
        os.recvfrom(s, 10)

    ka, kb = pair(kernel, pinger, peer, 2)
    assert ka.console == ["(b'', ('10.0.0.2', 0))", "(b'', ('10.0.0.2', 1))"]


def test_every_socket_errno(kernel: str) -> None:
    needs(kernel, *CALLS)
    out: dict[str, str] = {}

    def prog(os: Any, n: int) -> None:
        s, t = os.socket("udp"), os.socket("udp")
        r, w = os.pipe()
        out["kind"] = errno(os.socket, "tcp")
        out["kind_type"] = errno(os.socket, 5)
        out["bind"] = str(os.bind(s, 4000))
        out["rebind"] = errno(os.bind, s, 4001)
        out["inuse"] = errno(os.bind, t, 4000)
        out["port_range"] = errno(os.bind, t, 70000)
        out["port_type"] = errno(os.bind, t, True)
        out["notsock"] = errno(os.bind, r, 1)
        out["badf"] = errno(os.sendto, 60, b"x", B, 7)
        out["addr"] = errno(os.sendto, s, b"x", "10.0.0", 7)
        out["addr_type"] = errno(os.sendto, s, b"x", 167772162, 7)
        out["dport"] = errno(os.sendto, s, b"x", B, 0)
        out["size"] = errno(os.sendto, s, b"x" * 1473, B, 7)
        out["data"] = errno(os.sendto, s, 12, B, 7)
        out["unbound"] = errno(os.recvfrom, t, 10)
        out["n"] = errno(os.recvfrom, s, -1)
        os.close(s)
        out["closed"] = errno(os.sendto, s, b"x", B, 7)
        out["reuse"] = str(os.bind(t, 4000))        # the port came free with close

    pair(kernel, prog, lambda os, n: None, 0)
    assert out == {"kind": "EINVAL", "kind_type": "EINVAL", "bind": "4000",
                   "rebind": "EINVAL", "inuse": "EADDRINUSE", "port_range": "EINVAL",
                   "port_type": "EINVAL", "notsock": "ENOTSOCK", "badf": "EBADF",
                   "addr": "EINVAL", "addr_type": "EINVAL", "dport": "EINVAL",
                   "size": "EMSGSIZE", "data": "EFAULT", "unbound": "EINVAL",
                   "n": "EINVAL", "closed": "EBADF", "reuse": "4000"}


def test_a_forked_child_shares_the_socket(kernel: str) -> None:
    needs(kernel, *CALLS, "fork")

    def child(os: Any, s: int) -> None:
        os.close(s)                         # the parent's descriptor keeps it bound

    def client(os: Any, n: int) -> None:
        s = os.socket("udp")
        os.bind(s, 5000)
        os.wait(os.fork(child, s))
        os.sendto(s, b"still", B, 7)
        os.print(os.recvfrom(s, 10)[0])

    ka, _ = pair(kernel, client, echo_server, 1)
    assert ka.console == ["b'STILL'"]


def test_without_a_nic_the_calls_say_no_device(kernel: str) -> None:
    needs(kernel, *CALLS)
    out = {}
    run_program(lambda os: out.setdefault("e", errno(os.socket, "udp")), kernel=kernel,
                trusted=True)
    assert out["e"] == "ENODEV"
