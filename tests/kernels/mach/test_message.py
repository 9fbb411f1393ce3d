"""Message headers and typed bodies: encode, decode, refuse what is malformed."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from exolab.errors import SyscallError
from exolab.kernels.mach import message as msg
from exolab.kernels.mach.limits import HEADER_SIZE, MAX_ITEMS, MAX_MSG


def test_header_round_trip() -> None:
    raw = msg.header(0x103, 0x107, HEADER_SIZE + 8, msg.COPY_SEND, msg.MAKE_SEND_ONCE, 42)
    h = msg.parse_header(raw, 8)
    assert (h.remote, h.local, h.rbits, h.lbits, h.msg_id) == \
        (0x103, 0x107, msg.COPY_SEND, msg.MAKE_SEND_ONCE, 42)


@pytest.mark.parametrize("raw, body_len, field", [
    (b"short", 0, "header"),
    ("not bytes", 0, "header"),
    (msg.header(1, 0, HEADER_SIZE + 9, msg.COPY_SEND), 8, "size"),
    (msg.header(1, 0, HEADER_SIZE, 99), 0, "bits"),
    (msg.header(1, 0, HEADER_SIZE, msg.COPY_SEND, 77), 0, "bits"),
    (msg.header(1, 0, HEADER_SIZE + MAX_MSG + 1, msg.COPY_SEND), MAX_MSG + 1, "size"),
])
def test_malformed_headers_are_einval_naming_the_field(raw: object, body_len: int,
                                                       field: str) -> None:
    with pytest.raises(SyscallError) as ex:
        msg.parse_header(raw, body_len)
    assert ex.value.errno == "EINVAL" and ex.value.fields["field"] == field


def test_reserved_bits_are_refused() -> None:
    raw = bytearray(msg.header(1, 0, HEADER_SIZE, msg.COPY_SEND))
    raw[3] = 1
    with pytest.raises(SyscallError):
        msg.parse_header(bytes(raw), 0)


@given(st.lists(st.binary(max_size=40), max_size=MAX_ITEMS))
def test_bodies_round_trip(chunks: list[bytes]) -> None:
    body = b"".join(msg.item_bytes(c) for c in chunks)
    assert [d for _t, d in msg.parse_body(body)] == chunks


@given(st.binary(max_size=64))
def test_any_bytes_decode_or_fail_cleanly(body: bytes) -> None:
    try:
        items = msg.parse_body(body)
    except SyscallError as ex:
        assert ex.errno == "EINVAL"
    else:
        assert all(t == msg.TYPE_BYTES or t in msg.DISPOSITIONS for t, _d in items)


def test_truncated_and_overlong_items() -> None:
    with pytest.raises(SyscallError):
        msg.parse_body(msg.item_bytes(b"abcdef")[:-4])
    with pytest.raises(SyscallError):
        msg.parse_body(b"".join(msg.item_bytes(b"x") for _ in range(MAX_ITEMS + 1)))
