"""ExOS lrpc: procedure calls into another address space over synchronous PCT.

A server publishes a service in the *registry*, a page every ExOS process
shares (created by the first process, co-owned by every spawn): a name, a
service number and a PCT capability for the server's environment. A client
looks the name up (yielding while anybody else can run and so might still
serve it; ESRCH once nobody can) and calls with a synchronous PCT into the
server's single entry point, which dispatches on the service number and
returns the reply word in a register.

- ``rpc_call`` (lrpc): the server is untrusted, so the caller saves the
  callee-saved registers before the transfer and restores them after (Table 8).
- ``rpc_call_trusted`` (tlrpc, Table 12): the callee is trusted to save them.
- ``pct_call``: a bare transfer to a service with no stub work (Table 6); a
  service served with handler ``None`` just bumps a counter word.

Interface::

    REG_SLOTS, REG_SIZE, REG_NAME
    LRPC(os)
      serve(name, handler, count)     connect(name) -> handle      entry(sid, word)
      call(handle, word)              call_trusted(handle, word)   pct(handle)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.abi import wrap_word
from exolab.errors import SyscallError
from exolab.kernels.common.args import WORD_MAX, WORD_MIN, opt_func, opt_nat
from exolab.kernels.common.args import word as _word
from exolab.kernels.exokernel.syscall import Sys
from exolab.libos.exos.layout import (
    CALLEE_SAVED,
    MISC_PCT_COUNT,
    MISC_VA,
    SAVE_CALLEE,
    SAVE_VA,
    cost,
)
from exolab.safe.sealed import Sealed

if TYPE_CHECKING:
    from exolab.libos.exos.exos import ExOS

__all__ = ["LRPC", "REG_SLOTS", "REG_SIZE", "REG_NAME"]

# registry page: REG_SLOTS entries of 64 bytes: used(4) sid(4) handle(8) name(48)
REG_SLOTS, REG_SIZE, REG_NAME = 48, 64, 48
REG_WAITERS = REG_SLOTS * REG_SIZE       # then 16 wake handles of clients waiting
MAX_WAITERS = 16
REG_TURNS = 256                          # turns a registrant waits for its entry
_PCT_SYNC = int(Sys.PCT_SYNC)            # a plain int (an IntEnum lookup per call is slow)
_PCT_COUNT_VA = MISC_VA + MISC_PCT_COUNT   # the counter word a bare entry bumps
_GONE = ("ESRCH", "EBADF")               # a PCT's errors that mean the server went away


class LRPC(metaclass=Sealed):
    """One process's rpc services and connections."""

    def __init__(self, os: "ExOS") -> None:
        self.os = os
        self.cpu = os.cpu
        self.c_call = cost(os.profile, "proc_call")
        self.c_disp = cost(os.profile, "rpc_dispatch")
        self.conns: list[tuple[int, int]] = []     # rpc handle -> (pct handle, sid)
        self.services: list[list[Any]] = []        # sid -> [handler, count, served]
        self.registrar = False                     # we own (write) the registry page
        self.registrar_h = 0                       # {wake} handle of the registry's owner

    def _reg_find(self, name: bytes) -> int:
        """Registry slot holding ``name`` (-1 if none): compares names in memory."""
        reg, cpu = self.os.registry_va, self.cpu
        for s in range(REG_SLOTS):
            a = reg + s * REG_SIZE
            if cpu.load(a) and cpu.load_bytes(a + 16, REG_NAME).rstrip(b"\0") == name:
                return s
        return -1

    def _name(self, name: Any) -> bytes:
        """Decode a service name (a str of 1..48 UTF-8 bytes, no NUL)."""
        raw = b""
        if type(name) is str:
            try:
                raw = name.encode()
            except UnicodeError:            # (a lone surrogate)
                raw = b""
        if not 0 < len(raw) <= REG_NAME or b"\0" in raw:
            raise SyscallError("EINVAL", "bad service name", name=name)
        return raw

    def _alive(self, handle: int) -> bool:
        """Whether a registered server's PCT handle still names a live environment."""
        try:
            self.os.trap(Sys.CAP_INFO, handle)
            return True
        except SyscallError:
            return False

    def serve(self, name: Any, handler: Any, count: Any = None) -> None:
        """Publish ``name`` and serve calls on the sync entry until ``count`` are done."""
        raw, os, cpu = self._name(name), self.os, self.cpu
        opt_func(handler, "handler")
        opt_nat(count, "count")
        s = self._reg_find(raw)
        if s >= 0 and self._alive(cpu.load(os.registry_va + s * REG_SIZE + 8, 8)):
            raise SyscallError("EINVAL", "name already served", name=name)
        if s < 0:
            s = next((i for i in range(REG_SLOTS)
                      if not cpu.load(os.registry_va + i * REG_SIZE)), -1)
            if s < 0:
                raise SyscallError("ENOMEM", "rpc registry full")
        sid = len(self.services)
        self.services.append([handler, count, 0])
        pct_h = os.trap(Sys.CAP_DERIVE, os.handle, ("pct",))
        if self.registrar:
            self._publish(s, raw, sid, pct_h, os.pid)
            os.set_entries({"sync": self.entry})
        else:                                   # (callable before it is published)
            os.set_entries({"sync": self.entry})
            self._ask_registrar(raw, sid, pct_h, name)
        for w in range(MAX_WAITERS):
            self.os.ipc.wake_sleeper(os.registry_va + REG_WAITERS + 8 * w)
        svc, spins, seen = self.services[sid], 0, 0
        while count is None or svc[2] < count:
            spins = 1 if svc[2] != seen else spins + 1     # turns with no call served
            seen = svc[2]               # (calls arrive by PCT, even to a sleeper)
            os.block(None, lambda: count is not None and svc[2] >= count, spins)

    def _publish(self, s: int, raw: bytes, sid: int, pct_h: int, owner: int) -> None:
        """Write registry slot ``s`` (the registrar only: the page is read-only to
        everyone else); its used word is the owner's environment id."""
        cpu, a = self.cpu, self.os.registry_va + s * REG_SIZE
        cpu.store_bytes(a + 16, raw.ljust(REG_NAME, b"\0"))
        cpu.store(a + 4, sid)
        cpu.store(a + 8, pct_h, 8)
        cpu.store(a, owner)

    def become_registrar(self) -> None:
        """The first process owns the registry: it alone writes it, on request
        (its wake capability is handed down at every spawn and fork)."""
        self.registrar = True
        self.registrar_h = self.os.wake_handle

    def _ask_registrar(self, raw: bytes, sid: int, pct_h: int, name: Any) -> None:
        """Ask the registrar (asynchronous PCT: it learns our id from Aegis) to
        publish ``raw``; wait until the entry is ours (EINVAL if another's)."""
        os, cpu = self.os, self.cpu
        try:
            os.trap(Sys.PCT_ASYNC, self.registrar_h, ("reg", raw, sid, pct_h), True)
        except SyscallError:
            raise SyscallError("ESRCH", "the rpc registrar is gone", name=name) from None
        for _ in range(REG_TURNS):
            s = self._reg_find(raw)
            if s >= 0 and cpu.load(os.registry_va + s * REG_SIZE + 8, 8) == pct_h:
                return
            if s >= 0 and self._alive(cpu.load(os.registry_va + s * REG_SIZE + 8, 8)):
                raise SyscallError("EINVAL", "name already served", name=name)
            os.procs.block(None, lambda: False, sleep=False)
        raise SyscallError("ESRCH", "the rpc registrar did not answer", name=name)

    def on_register(self, sender: int, words: tuple[Any, ...]) -> bool:
        """The registrar's side: publish (name, sid, pct handle) for ``sender``
        (attested by Aegis) if the handle names the sender and the name is free."""
        if not self.registrar or len(words) != 3:
            return False
        raw, sid, pct_h = words
        if type(raw) is not bytes or not 0 < len(raw) <= REG_NAME or b"\0" in raw \
                or type(sid) is not int or not 0 <= sid < 1 << 31 or type(pct_h) is not int:
            return False
        try:
            kind, eid, rights, _n = self.os.trap(Sys.CAP_INFO, pct_h)
        except SyscallError:
            return False
        if kind != "env" or eid != sender or "pct" not in rights:
            return False
        s = self._reg_find(raw)
        if s >= 0 and self._alive(self.cpu.load(self.os.registry_va + s * REG_SIZE + 8, 8)):
            return False                            # served by someone alive: theirs
        if s < 0:
            s = next((i for i in range(REG_SLOTS)
                      if not self.cpu.load(self.os.registry_va + i * REG_SIZE)), -1)
            if s < 0:
                return False
        self._publish(s, raw, sid, pct_h, sender)
        for w in range(MAX_WAITERS):
            self.os.ipc.wake_sleeper(self.os.registry_va + REG_WAITERS + 8 * w)
        return True

    def entry(self, *words: Any) -> int:
        """The server's single sync entry: dispatch to the service, return its word.

        Anyone holding the PCT capability (it is in the shared registry) may call
        it with any registers, so it decodes them: a bad service number, word
        or register count is answered with -1, never a fault of the server. It
        runs on the caller's (borrowed) thread and says so in ``os.in_entry``
        (a subclass that replaces it must too).
        """
        os, cpu = self.os, self.cpu
        os.in_entry += 1
        try:
            cpu.charge(self.c_disp)
            if len(words) != 2:
                return -1
            sid, word = words
            services = self.services
            svc = services[sid] if type(sid) is int and 0 <= sid < len(services) else None
            if svc is None or type(word) is not int or not WORD_MIN <= word <= WORD_MAX:
                return -1                       # (is_word, inlined: the PCT path)
            handler = svc[0]
            if handler is None:                 # a bare entry: bump a counter word
                reply = cpu.load(_PCT_COUNT_VA) + 1
                cpu.store(_PCT_COUNT_VA, reply)
            else:
                cpu.charge(self.c_call)
                reply = wrap_word(handler(os, word))
            svc[2] += 1
            if svc[1] is not None and svc[2] >= svc[1]:
                os.trap(Sys.WAKE, os.wake_handle)
            return reply
        finally:
            os.in_entry -= 1

    def connect(self, name: Any) -> int:
        """Find ``name`` in the registry, waiting (by yielding, never asleep) while
        anybody else can run and so might serve it; ESRCH once nobody can."""
        raw, os = self._name(name), self.os
        while True:
            s = self._reg_find(raw)
            a = os.registry_va + s * REG_SIZE
            if s >= 0 and self._alive(self.cpu.load(a + 8, 8)):
                self.conns.append((self.cpu.load(a + 8, 8), self.cpu.load(a + 4)))
                return len(self.conns) - 1
            if not os.procs.block(None, lambda: False, sleep=False):
                raise SyscallError("ESRCH", "nobody left who could serve the name",
                                   name=name)

    def _conn(self, handle: Any) -> tuple[int, int]:
        """Decode an rpc handle."""
        if type(handle) is not int or not 0 <= handle < len(self.conns):
            raise SyscallError("EBADF", "not an rpc handle", handle=handle)
        return self.conns[handle]

    def _pct(self, h: int, sid: int, word: Any) -> int:
        """The PCT itself; a dead server is EPIPE (as a broken connection)."""
        try:
            return self.os.trap(_PCT_SYNC, h, (sid, word))  # type: ignore[no-any-return]
        except SyscallError as ex:
            if ex.errno in _GONE:
                raise SyscallError("EPIPE", "server went away") from None
            raise

    def call(self, handle: Any, word: Any) -> int:
        """lrpc: save the callee-saved registers (untrusted callee), PCT, restore."""
        h, sid = self._conn(handle)
        _word(word)
        cpu = self.cpu
        cpu.charge(self.c_call)
        for r in range(CALLEE_SAVED):
            cpu.store(SAVE_VA + SAVE_CALLEE + 4 * r, r)
        reply = self._pct(h, sid, word)
        for r in range(CALLEE_SAVED):
            cpu.load(SAVE_VA + SAVE_CALLEE + 4 * r)
        return reply

    def call_trusted(self, handle: Any, word: Any) -> int:
        """tlrpc (Table 12): the callee is trusted to save its own registers."""
        h, sid = self._conn(handle)
        _word(word)
        self.cpu.charge(self.c_call)
        return self._pct(h, sid, word)

    def pct(self, handle: Any) -> int:
        """A bare synchronous PCT to the service (Table 6): no stub work at all.

        ``_conn`` and ``_pct``, inlined: this is the path Table 6 (and the
        ``pct_round_trip`` speed row) times, so it spends no extra frames.
        """
        conns = self.conns
        if type(handle) is not int or not 0 <= handle < len(conns):
            raise SyscallError("EBADF", "not an rpc handle", handle=handle)
        h, sid = conns[handle]
        try:
            return self.os.trap(_PCT_SYNC, h, (sid, 0))  # type: ignore[no-any-return]
        except SyscallError as ex:
            if ex.errno in _GONE:
                raise SyscallError("EPIPE", "server went away") from None
            raise
