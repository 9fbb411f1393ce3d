"""ASHs: verified handlers run by Aegis on arrival; overrun or fault removes them."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.errors import SyscallError
from exolab.kernels.exokernel.ash import ASH_BOUND, csum_add
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.pfilter import Sender, bind_filter

from .test_dpf_bind import boot, udp_filter, udp_frame

ECHO = '''
def handler(msg):
    n = msg.length - 42
    s = msg.copy(42, 42, n)          # the payload, checksummed as it is copied
    msg.store(1000, 2, s)            # (where the test can read the sum)
    msg.store(36, 2, 9)              # the reply goes to port 9
    msg.send(0, 42 + n)
'''


def _sum(data: bytes) -> int:
    """Ones'-complement sum, computed the slow way."""
    data += b"\x00" * (len(data) & 1)
    s = 0
    for i in range(0, len(data), 2):
        s = csum_add(s, int.from_bytes(data[i:i + 2], "big"))
    return s


def test_a_handler_replies_from_the_interrupt_with_the_checksum_integrated() -> None:
    out: dict[str, Any] = {}
    payload = b"ping-pong-counter-0001"

    def main(os: Any) -> int:
        echo = bind_filter(os, udp_filter(7))
        replies = bind_filter(os, udp_filter(9))
        window = echo.attach_handler(ECHO)
        os.cpu.store_bytes(window, udp_frame(7, payload=b"")[:42])   # reply headers
        Sender(os).send(udp_frame(7, payload=payload))
        out["reply"] = replies.recv()
        out["sum"] = os.load(window + 1000, 2)
        out["echo"] = echo.info()
        return 0

    m, k = boot(main)
    assert k.run().reason == "finished", k.faults
    reply = out["reply"]
    assert reply[36:38] == (9).to_bytes(2, "big") and reply[42:42 + len(payload)] == payload
    # the sum of the payload as padded to the Ethernet minimum (60 bytes) by the NIC
    sent = udp_frame(7, payload=payload).ljust(60, b"\x00")
    assert int.from_bytes(out["sum"].to_bytes(2, "little"), "big") == _sum(sent[42:])
    assert out["echo"] == ("bound", 0, 0, "")       # handled, never put in the ring
    h = k.net.gone.get(1) or k.net.bindings[1]
    assert h.handler.runs == 1 and 0 < h.handler.spent < ASH_BOUND


def _outcome(source: str, frames: int = 2) -> dict[str, Any]:
    """Bind ``source`` on port 7, send ``frames`` frames to it; what happened."""
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        ring = bind_filter(os, udp_filter(7))
        try:
            ring.attach_handler(source)
        except SyscallError as ex:
            out["bind"] = ex.fields["errno"]
            return 0
        tx = Sender(os)
        for _ in range(frames):
            tx.send(udp_frame(7))
            os.compute(2000)
            os.yield_()
        out["info"] = ring.info()
        out["dropped"] = os.dropped
        return 0

    m, k = boot(main)
    assert k.run().reason == "finished", k.faults
    s = k.net.statistics()
    out["unclaimed"], out["failures"] = s.unclaimed, s.handler_failures
    return out


@pytest.mark.parametrize("body, reason", [
    ("    for i in range(5000):\n        msg.load(0, 1)\n", "handler overran its bound"),
    ("    for i in range(5000):\n        try:\n            msg.load(0, 1)\n"
     "        except Exception:\n            pass\n    msg.deliver()\n",
     "handler overran its bound"),
    ("    msg.load(5000, 2)\n", "handler fault: load outside its bounds"),
    ("    msg.copy(0, 8000, 10)\n", "handler fault: copy destination outside its bounds"),
    ("    raise ValueError('boom')\n", "handler fault: ValueError: boom"),
    ("    msg.length = 7\n", "handler fault: AttributeError"),
    ("    msg.load(0, True)\n", "handler fault: load size must be 1, 2 or 4"),
    ("    msg.send(0, 10)\n", "handler fault: a frame is 14..1514 bytes"),
    ("    return 1 // 0\n", "handler fault: ZeroDivisionError"),
])
def test_a_failing_handler_is_removed_and_its_owner_told(body: str, reason: str) -> None:
    out = _outcome("def handler(msg):\n" + body)
    state, delivered, dropped, why = out["info"]
    assert state == "removed" and why.startswith(reason), why
    assert out["dropped"] == 1          # ExOS got the ("filter", fid, why) notice
    assert out["failures"] == 1         # the failing frame was dropped with it
    assert out["unclaimed"] == 1        # and the next frame is nobody's


def test_a_handler_that_delivers_leaves_the_filter_bound() -> None:
    out = _outcome("def handler(msg):\n    msg.wake()\n    msg.deliver()\n")
    assert out["info"] == ("bound", 2, 0, "")
    assert out["unclaimed"] == out["failures"] == 0


@pytest.mark.parametrize("source", [
    "def handler(msg):\n    while True:\n        pass\n",
    "def handler(msg):\n    return handler(msg)\n",
    "import os\ndef handler(msg):\n    pass\n",
    "def handler(msg):\n    return msg._frame\n",
    "def handler(msg):\n    return msg.__class__\n",
    "def handler(msg):\n    for i in range(10 ** 9):\n        pass\n",
    "def handler(msg):\n    open('/etc/passwd')\n",
    "def handler(msg):\n    n = msg.length\n    for i in range(n):\n        pass\n",
    "def not_a_handler(msg):\n    pass\n",
    "x = (\n",
])
def test_unsafe_handlers_are_refused_at_bind(source: str) -> None:
    assert _outcome(source)["bind"] == "EINVAL"


def test_ash_bind_decodes_its_arguments() -> None:
    out: list[str] = []

    def main(os: Any) -> int:
        ring = bind_filter(os, udp_filter(7))
        ppn, h = os.aegis(Sys.PAGE_ALLOC, None)
        ro = os.aegis(Sys.CAP_DERIVE, h, ("read",))
        ok = "def handler(msg):\n    pass\n"
        for args in ((999, ok, []), (ring.fid, b"x", []), (ring.fid, "", []),
                     (ring.fid, ok, [h] * 5), (ring.fid, ok, [ro]), (ring.fid, ok, [h]),
                     (ring.fid, ok, [])):
            try:
                os.aegis(Sys.ASH_BIND, *args)
                out.append("ok")
            except SyscallError as ex:
                out.append(ex.fields["errno"])
        return 0

    m, k = boot(main)
    assert k.run().reason == "finished", k.faults
    assert out == ["ENOENT", "EINVAL", "EINVAL", "EINVAL", "EPERM", "ok", "EBUSY"]


def _valid(data: bytes) -> bool:
    """A header or datagram whose ones'-complement sum (with its checksum) is 0xFFFF."""
    return _sum(data) == 0xFFFF


def test_the_udp_echo_handler_answers_with_valid_checksums() -> None:
    from exolab.libos.exos.pfilter import UDP_ECHO
    out: dict[str, Any] = {}
    payload = bytes(range(60))
    ip = bytes([0x45, 0]) + (28 + 60).to_bytes(2, "big") + bytes(4) + bytes([9, 17]) + \
        bytes(2) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
    ip = ip[:10] + (0xFFFF - _sum(ip)).to_bytes(2, "big") + ip[12:]
    udp = (5000).to_bytes(2, "big") + (7).to_bytes(2, "big") + (68).to_bytes(2, "big") + \
        bytes(2)
    frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp + payload

    def main(os: Any) -> int:
        echo = bind_filter(os, udp_filter(7))
        replies = bind_filter(os, udp_filter(5000))
        echo.attach_handler(UDP_ECHO)
        Sender(os).send(frame)
        out["reply"] = replies.recv()
        out["echo"] = echo.info()
        return 0

    m, k = boot(main)
    assert k.run().reason == "finished", k.faults
    r = out["reply"]
    assert r[:6] == b"\x04" * 6 and r[6:12] == b"\x02" * 6
    assert r[26:30] == bytes([10, 0, 0, 2]) and r[30:34] == bytes([10, 0, 0, 1])
    assert r[34:36] == (7).to_bytes(2, "big") and r[36:38] == (5000).to_bytes(2, "big")
    assert r[42:102] == payload and r[22] == 64
    assert _valid(r[14:34])                                   # IP header checksum
    pseudo = r[26:34] + bytes([0, 17]) + (68).to_bytes(2, "big")
    assert _valid(pseudo + r[34:102])                         # UDP checksum
    assert out["echo"][0] == "bound"
