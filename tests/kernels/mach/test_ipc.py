"""The message path between tasks: two copies, rights moved, sets, queue limits."""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError
from exolab.kernels.mach.limits import QUEUE_LIMIT

from tests.kernels.common import errno
from tests.kernels.mach._support import boot


def _server(os: Any, n: int) -> int:
    port = os.port_allocate()
    os.port_register("echo", port)
    got = os.msg_receive(port)
    for _ in range(n - 1):
        got = os.msg_reply_receive(got[1], got[2][::-1], port)
    os.msg_reply(got[1], got[2][::-1])
    return 0


def _connect(os: Any, name: str) -> int:
    while True:
        try:
            return os.port_lookup(name)
        except SyscallError:
            os.yield_()


def test_rpc_between_tasks_copies_twice() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        os.spawn(_server, 3)
        dest = _connect(os, "echo")
        out["replies"] = [os.msg_rpc(dest, b"abc%d" % i)[1] for i in range(3)]
        os.wait()
        return 0

    k = boot(main)
    assert out["replies"] == [b"0cba", b"1cba", b"2cba"]
    st = k.ipc.statistics()
    # each message is copied in once and out once: the body bytes both ways
    assert st.bytes_copied_in == st.bytes_copied_out
    assert st.zone.allocated == st.zone.freed and not k.faults


def test_cost_grows_by_two_copies_per_byte() -> None:
    from exolab.kernels.mach import measure
    small, big = measure.ipc_cycles(8, rounds=8), measure.ipc_cycles(2056, rounds=8)
    per_byte = (big - small) / 2048
    copy = 1024 / 1024          # dec5000 copy_per_kib / 1024: one cycle a byte
    assert 1.9 * copy <= per_byte <= 2.2 * copy


def test_port_sets_receive_from_any_member_and_rights_travel() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        a, b = os.port_allocate(), os.port_allocate()
        os.port_insert_send(b)
        pset = os.port_set_allocate()
        os.port_set_add(pset, a)
        os.port_set_add(pset, b)
        os.msg_send(b, b"to-b", rights=((20, a),))      # MAKE_SEND of a, carried
        got = os.msg_receive(pset)
        out["first"] = got[2]
        out["carried"] = got[3]
        os.msg_send(got[3][0], b"via-carried")
        out["second"] = os.msg_receive(pset)[2]
        out["empty"] = errno(os.msg_receive, pset, True)
        return 0

    boot(main)
    assert out == {"first": b"to-b", "carried": out["carried"], "second": b"via-carried",
                   "empty": "EAGAIN"}
    assert len(out["carried"]) == 1


def test_a_full_queue_fails_the_send_and_changes_nothing() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        p = os.port_insert_send(os.port_allocate())
        for _ in range(QUEUE_LIMIT):
            os.msg_send(p, b"x")
        out["full"] = errno(os.msg_send, p, b"y")
        out["drained"] = sum(1 for _ in range(QUEUE_LIMIT) if os.msg_receive(p, True))
        out["then"] = errno(os.msg_receive, p, True)
        return 0

    boot(main)
    assert out == {"full": "EAGAIN", "drained": QUEUE_LIMIT, "then": "EAGAIN"}


def test_unix_calls_are_rpcs_to_the_ux_server() -> None:
    def main(os: Any) -> int:
        for _ in range(5):
            os.getpid()
        return 0

    k = boot(main)
    st = k.statistics()
    assert st.ux.calls >= 5 and st.ipc.sent >= 10 and st.ipc.received == st.ipc.sent


def test_a_kernel_call_is_answered_in_place_as_ipc_kobject_server_does() -> None:
    """A MIG call on a kernel-served port is a real request and reply, but the request
    is never queued nor received into a space: the kernel's space keeps only its own
    port, every kmsg goes back to the zone, and the caller receives one reply."""
    from exolab.abi import PROT_READ, PROT_RW

    def main(os: Any) -> int:
        va = os.mmap(4 * 4096, PROT_RW)
        for _ in range(5):
            os.mprotect(va, 4096, PROT_READ)
            os.mprotect(va, 4096, PROT_RW)
        return 0

    k = boot(main)
    assert not k.faults
    stats = k.statistics()
    assert stats.kernel_server.calls >= 11 and stats.kernel_server.errors == 0
    assert [n for n, _r in k.ipc.space(k.kserver.task).names()] == [k.kserver.port_name]
    assert not k.kserver.port.queue
    assert stats.ipc.zone.allocated == stats.ipc.zone.freed
    assert stats.ipc.sent == stats.ipc.received

