"""XN's on-disk encoding (store.py): the region, catalogue slots, the stored free map."""
from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, strategies as st

from exolab.errors import DiskImageError
from exolab.kernels.exokernel.xn.store import (MAGIC, PAYLOAD_BYTES, check_payload, decode_map,
                                               decode_payload, encode_map, encode_payload,
                                               header, layout, payload_blocks, read_header)


def test_the_region_is_the_disks_tail_and_small() -> None:
    lay = layout(1024, 8192)
    assert lay is not None
    assert lay.blocks == 8192 and lay.start + lay.count == 8192
    assert lay.slot_blocks == 1 + PAYLOAD_BYTES // 1024 and lay.map_blocks == 2
    assert list(lay.slot(0))[-1] + 1 == lay.slot(1)[0]
    assert lay.map_block(0) == lay.slot(1)[-1] + 1 and lay.map_block(1) == 8191
    assert lay.start in lay and 8191 in lay and lay.start - 1 not in lay and True not in lay
    big = layout(4096, 16384)
    assert big is not None and big.count < 16384 // 100
    assert layout(1024, 64) is None             # a region over a quarter: none


def test_a_catalogue_round_trips() -> None:
    types = [("a", "def acl(d, o, p):\n    return True\n"), ("é b", "x = 1\n")]
    roots = [("flat", 1, "a", 5), ("r2", 40, "é b", 0)]
    assert decode_payload(encode_payload(types, roots)) == (types, roots)


@pytest.mark.parametrize("doc", [
    b'{"v":2,"types":[],"roots":[]}', b'{"v":1,"types":[],"roots":[],"x":1}',
    b'{"v":1,"types":[["a"]],"roots":[]}', b'{"v":1,"types":[["a",1]],"roots":[]}',
    b'{"v":1,"types":[],"roots":[["r",1.0,"a",0]]}', b'{"v":1,"types":[],"roots":[["r",true,"a",0]]}',
    b'{"v":1,"types":{},"roots":[]}', b'[1]', b'not json', b'\xff\xfe'])
def test_a_malformed_payload_is_refused(doc: bytes) -> None:
    with pytest.raises(DiskImageError):
        decode_payload(zlib.compress(doc))


def test_a_payload_that_inflates_too_far_is_refused() -> None:
    bomb = zlib.compress(b'{"v":1,"types":[["a","' + b"x" * (2 << 20) + b'"]],"roots":[]}')
    with pytest.raises(DiskImageError):
        decode_payload(bomb)


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_disk_image_error(raw: bytes) -> None:
    try:
        decode_payload(raw)
    except DiskImageError:
        pass


def test_a_header_round_trips_and_damage_is_refused() -> None:
    lay = layout(1024, 4096)
    assert lay is not None
    payload = encode_payload([("t", "x = 1\n")], [])
    h = header(lay, 7, payload)
    assert len(h) == 1024 and h.startswith(MAGIC)
    gen, n, crc = read_header(lay, h) or (0, 0, 0)
    assert gen == 7 and n == len(payload)
    raw = b"".join(payload_blocks(lay, payload))
    assert check_payload(n, crc, raw) == payload
    with pytest.raises(DiskImageError):
        check_payload(n, crc, b"\1" + raw[1:])
    assert read_header(lay, bytes(1024)) is None            # no header: nothing stored
    for i in (9, 20, 33):                                    # gen, length, geometry
        bad = bytearray(h)
        bad[i] ^= 1
        with pytest.raises(DiskImageError):
            read_header(lay, bytes(bad))
    other = layout(1024, 8192)                               # another disk's header
    assert other is not None
    with pytest.raises(DiskImageError):
        read_header(lay, header(other, 1, payload))


@given(st.dictionaries(st.integers(0, 2999), st.sampled_from([1, 2]), max_size=300))
def test_the_stored_free_map_round_trips(taken: dict[int, int]) -> None:
    states = [taken.get(i, 0) for i in range(3000)]
    lay = layout(512, 3000)
    assert lay is not None and lay.map_blocks == 1
    blocks = encode_map(lay, bytes(states))
    flags = decode_map(lay, 0, blocks[0])
    assert flags == bytes(1 if s else 0 for s in states)


def test_a_stale_or_torn_map_block_is_not_believed() -> None:
    lay = layout(1024, 20000)
    assert lay is not None and lay.map_blocks == 3
    blocks = encode_map(lay, bytes([1]) * 20000)
    assert decode_map(lay, 1, blocks[0]) is None             # another block's index
    torn = blocks[1][:512] + bytes(512)
    assert decode_map(lay, 1, torn) is None
    assert decode_map(lay, 0, bytes(1024)) is None
    last = decode_map(lay, 2, blocks[2])
    assert last is not None and len(last) == 20000 - 2 * lay.bits_per_map_block()
    assert struct.unpack_from("<I", blocks[1], 4)[0] == 1
