"""The console every kernel multiplexes by line: buffered per writer, streamed per line.

A kernel's console is the list of lines its programs printed, in the order
they were completed (the ``console`` of the Kernel protocol, which the
runner, the benchmark harness and the tests read). Bytes arrive per writer
(a process, an environment): each writer's unterminated tail waits in its
own buffer, so two writers' half-lines never mix, and a writer that ends
has its tail flushed as a last line. An optional *sink* is called with each
completed line as it is completed, so ``exolab run`` can show output while
the run goes on; a sink that raises is dropped (streaming stops, the lines
are still kept) rather than let a host error reach the writer's kernel path.

The console is kept in the host's memory, so it has quotas, as a file has a
size limit and a disk a size: one writer may add :data:`MAX_WRITER` bytes over
its life (past that a write is refused whole with ``EFBIG``, the console
unchanged), and the console holds :data:`MAX_BYTES` at most, each line counted
with :data:`LINE_OVERHEAD` bytes more for the host's string and slot (past that,
``ENOSPC``). A program that floods the console gets a typed error where it
would otherwise have grown the host's memory until the host stopped it; the
lines already kept, a bystander's among them, stay. A writer's count is
dropped when it ends (``flush``), so the quota's table holds live writers only.

Interface::

    Console(sink=None)          a list[str] of completed lines
      write(writer, data)       append ``data`` (bytes) from ``writer`` (any hashable);
                                SyscallError EFBIG / ENOSPC past a quota (nothing kept)
      flush(writer)             ``writer`` ended: its unterminated tail becomes a line
      sink                      callable(line) or None; sink_error: what a sink raised
      held, refused             bytes counted against MAX_BYTES; writes refused
    MAX_LINE                    bytes an unterminated tail may hold before it is a line
    MAX_WRITER, MAX_BYTES, LINE_OVERHEAD   the quotas above
"""
from __future__ import annotations

from typing import Any, Callable, Hashable

from exolab.errors import SyscallError

__all__ = ["Console", "MAX_LINE", "MAX_WRITER", "MAX_BYTES", "LINE_OVERHEAD"]

#: an unterminated tail longer than this is emitted as a line of its own, so a
#: program that never writes a newline cannot grow the host's memory without bound
MAX_LINE = 1 << 16
#: bytes one writer (a process, an environment, a thread) may write over its life
MAX_WRITER = 1 << 20
#: bytes the console holds, each line counted LINE_OVERHEAD bytes more
MAX_BYTES = 64 << 20
#: the host's cost of a line beyond its text: a str header and the list's slot
LINE_OVERHEAD = 64


class Console(list[str]):
    """Completed console lines, in order; see the module docstring."""

    __slots__ = ("_partial", "_written", "sink", "sink_error", "held", "refused")

    def __init__(self, sink: Callable[[str], Any] | None = None) -> None:
        super().__init__()
        self._partial: dict[Hashable, bytes] = {}   # writer -> unterminated tail
        self._written: dict[Hashable, int] = {}     # live writer -> bytes it wrote
        self.sink = sink                            # called per completed line
        self.sink_error: Exception | None = None    # what a dropped sink raised
        self.held = 0                               # bytes counted against MAX_BYTES
        self.refused = 0                            # writes refused by a quota

    def write(self, writer: Hashable, data: bytes) -> None:
        """Append ``data`` from ``writer``, completing a line at every newline;
        refuse it whole (EFBIG, ENOSPC) if it would pass a quota."""
        self._admit(writer, data)
        buf = self._partial.pop(writer, b"") + data
        *lines, rest = buf.split(b"\n")
        for line in lines:
            self._emit(line)
        while len(rest) > MAX_LINE:
            self._emit(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        if rest:
            self._partial[writer] = rest

    def _admit(self, writer: Hashable, data: bytes) -> None:
        """Count ``data`` against the writer's quota and the console's, or raise."""
        n = len(data)
        mine = self._written.get(writer, 0) + n
        if mine > MAX_WRITER:
            self.refused += 1
            raise SyscallError("EFBIG", "console output past this writer's quota",
                               limit=MAX_WRITER, written=mine - n)
        held = self.held + n + LINE_OVERHEAD * (data.count(b"\n") + n // MAX_LINE + 1)
        if held > MAX_BYTES:
            self.refused += 1
            raise SyscallError("ENOSPC", "the console is full", limit=MAX_BYTES)
        self._written[writer], self.held = mine, held

    def flush(self, writer: Hashable) -> None:
        """``writer`` ended: emit its unterminated tail, if any, as a line, and forget
        its quota count."""
        self._written.pop(writer, None)
        rest = self._partial.pop(writer, b"")
        if rest:
            self._emit(rest)

    def _emit(self, raw: bytes) -> None:
        """Record one completed line and hand it to the sink."""
        line = raw.decode(errors="replace")
        self.append(line)
        sink = self.sink
        if sink is not None:
            try:
                sink(line)
            except Exception as ex:     # a host error (a closed pipe): stop streaming
                self.sink, self.sink_error = None, ex
