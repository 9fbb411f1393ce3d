"""External pagers: a fault becomes a data request; a dead pager faults only its client."""
from __future__ import annotations

from typing import Any

from exolab.errors import SyscallError

from tests.kernels.common import errno
from tests.kernels.mach._support import boot


def _pager(os: Any, pages: int) -> int:
    port = os.port_allocate()
    os.port_register("pager", port)
    for _ in range(pages):
        msg_id, reply, data, _r = os.msg_receive(port)
        os.msg_reply(reply, b"P%d" % int.from_bytes(data, "little"))
    return 0


def _lookup(os: Any) -> int:
    while True:
        try:
            return os.port_lookup("pager")
        except SyscallError:
            os.yield_()


def test_faults_are_answered_by_the_pager_once_per_page() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        os.spawn(_pager, 2)
        va = os.vm_allocate_pager(8192, _lookup(os))
        out["first"] = os.load_bytes(va, 2)
        out["again"] = os.load_bytes(va + 100, 1)       # resident: no request
        out["second"] = os.load_bytes(va + 4096, 5)
        os.store(va + 4096, 0x41)                        # the page is writable
        out["written"] = os.load_bytes(va + 4096, 1)
        os.wait()
        return 0

    k = boot(main)
    assert out == {"first": b"P0", "again": b"\0", "second": b"P4096",
                   "written": b"A"}
    st = k.pagers.statistics()
    assert (st.requests, st.supplied, st.failed) == (2, 2, 0) and not k.faults


def _dying_pager(os: Any) -> int:
    port = os.port_allocate()
    os.port_register("pager", port)
    os.msg_receive(port)                # takes the request, dies without answering
    return 0


def test_a_pager_dying_mid_request_faults_its_client_and_nobody_else() -> None:
    out: dict[str, Any] = {}

    def client(os: Any) -> int:
        va = os.vm_allocate_pager(4096, _lookup(os))
        os.load(va)                     # the pager answers nothing: SIGSEGV
        return 0

    def main(os: Any) -> int:
        os.spawn(_dying_pager)
        pid = os.spawn(client)
        out["status"] = os.wait(pid)[1]
        os.wait()
        out["me"] = os.getpid()
        return 0

    k = boot(main)
    assert out["status"] == "SIGSEGV" and out["me"] == 1
    assert [f[1] for f in k.faults] == ["SIGSEGV"]


def test_a_pager_needs_a_send_right() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        out["forged"] = errno(os.vm_allocate_pager, 4096, 0x999)
        out["zero"] = errno(os.vm_allocate_pager, 0, os.port_insert_send(os.port_allocate()))
        return 0

    boot(main)
    assert out == {"forged": "EBADF", "zero": "EINVAL"}
