"""Shared-memory segment keys no program can guess: the rule every kernel's shm uses.

A segment's key is what ``shm_attach`` names it by, so a small counter would
let any process attach any segment by counting. A key is instead a keyed
hash of the segment's serial number: the kernel's secret (``secret``: a
16-byte BLAKE2b digest of the machine's seed, personalised per kernel so two
kernels on one seed give different keys) keys a 64-bit BLAKE2b of the serial,
shifted to 63 bits (a positive ``int`` in the ABI's word range). A key is
never 0 and never one already in use; on such a collision (astronomically
rare) the next candidate is the serial plus 2**40. Runs are deterministic:
the same seed gives the same keys.

Interface::

    secret(seed, person) -> bytes                  the kernel's key for key hashing
    segment_key(secret, serial, taken) -> int      the key of segment ``serial``
"""
from __future__ import annotations

from hashlib import blake2b
from typing import Container

__all__ = ["secret", "segment_key"]


def secret(seed: int, person: bytes) -> bytes:
    """The 16-byte key a kernel hashes serials with: BLAKE2b of the machine's seed,
    personalised by ``person`` (at most 16 bytes; one per kernel)."""
    return blake2b(str(seed).encode(), digest_size=16, person=person).digest()


def segment_key(key: bytes, serial: int, taken: Container[int]) -> int:
    """The key of the ``serial``th segment: a 63-bit hash of it keyed by ``key``,
    never 0 and never in ``taken`` (a collision moves on by 2**40)."""
    while True:
        d = blake2b(serial.to_bytes(8, "little"), digest_size=8, key=key).digest()
        k = int.from_bytes(d, "little") >> 1
        if k and k not in taken:
            return k
        serial += 1 << 40
