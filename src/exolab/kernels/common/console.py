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

Interface::

    Console(sink=None)          a list[str] of completed lines
      write(writer, data)       append ``data`` (bytes) from ``writer`` (any hashable)
      flush(writer)             ``writer`` ended: its unterminated tail becomes a line
      sink                      callable(line) or None; sink_error: what a sink raised
    MAX_LINE                    bytes an unterminated tail may hold before it is a line
"""
from __future__ import annotations

from typing import Any, Callable, Hashable

__all__ = ["Console", "MAX_LINE"]

#: an unterminated tail longer than this is emitted as a line of its own, so a
#: program that never writes a newline cannot grow the host's memory without bound
MAX_LINE = 1 << 16


class Console(list[str]):
    """Completed console lines, in order; see the module docstring."""

    __slots__ = ("_partial", "sink", "sink_error")

    def __init__(self, sink: Callable[[str], Any] | None = None) -> None:
        super().__init__()
        self._partial: dict[Hashable, bytes] = {}   # writer -> unterminated tail
        self.sink = sink                            # called per completed line
        self.sink_error: Exception | None = None    # what a dropped sink raised

    def write(self, writer: Hashable, data: bytes) -> None:
        """Append ``data`` from ``writer``, completing a line at every newline."""
        buf = self._partial.pop(writer, b"") + data
        *lines, rest = buf.split(b"\n")
        for line in lines:
            self._emit(line)
        while len(rest) > MAX_LINE:
            self._emit(rest[:MAX_LINE])
            rest = rest[MAX_LINE:]
        if rest:
            self._partial[writer] = rest

    def flush(self, writer: Hashable) -> None:
        """``writer`` ended: emit its unterminated tail, if any, as a line."""
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
