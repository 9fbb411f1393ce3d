"""The merged decision structure of every installed filter (placeholder: naive).

Interface::

    Naive()      insert(fid, terms), remove(fid), classify(frame) -> (fid | None, instructions)
    Trie         the merged classifier (for now the naive one)
"""
from __future__ import annotations

from exolab.kernels.exokernel import dpf

__all__ = ["Naive", "Trie"]


class Naive:
    """Every filter tried in turn (the reference semantics, dpf.winner)."""

    def __init__(self) -> None:
        self.filters: dict[int, tuple[dpf.Term, ...]] = {}

    def insert(self, fid: int, terms: tuple[dpf.Term, ...]) -> None:
        """Add filter ``fid``."""
        self.filters[fid] = terms

    def remove(self, fid: int) -> None:
        """Drop filter ``fid``."""
        del self.filters[fid]

    def classify(self, frame: bytes) -> tuple[int | None, int]:
        """The winning fid for ``frame`` and the instructions spent."""
        found = [(dpf.depth(t), fid) for fid, t in self.filters.items()
                 if dpf.matches(t, frame)]
        return dpf.winner(found), 6 * sum(len(t) for t in self.filters.values())


Trie = Naive
