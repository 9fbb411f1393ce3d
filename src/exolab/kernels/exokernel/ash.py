"""Application-specific handlers (ASHs): a library's message handler run in Aegis.

An ASH (Wallach, Engler, Kaashoek, SIGCOMM'96; SOSP'95 §7) is code a
library OS downloads together with a packet filter. When the filter wins a
frame, Aegis runs the handler at once, in the interrupt, without scheduling
the environment: it may copy the payload straight to where the application
wants it (a *vectored* copy into the environment's memory), integrate the
checksum into that copy (one pass over the data, not two), send a reply
directly, and decide whether the frame also goes to the receive ring.

Safety. The handler is untrusted Python, verified at bind time under
:data:`exolab.safe.TERMINATING` (no ``while``, no recursion, ``for`` only
over constant ranges, a static bound on loop steps: it terminates) and run
with fuel; everything it does to the machine goes through the
:class:`Message` it is given, whose every operation checks its bounds and
charges its cycles against the handler's budget, :data:`ASH_BOUND` cycles
per message. A handler that overruns the bound or faults (an exception of
any kind, a bad offset, a revoked window) is removed — its filter with it,
the frame dropped — and its environment is told with an asynchronous notice
``("filter", fid, reason)`` (also in ``DPF_INFO``); the kernel goes on. A
handler that catches the overrun gains nothing: the message is dead from
then on and the removal is decided when the handler returns.

The system call (``ASH_BIND`` in :mod:`.syscall`)::

    ASH_BIND(fid, source, window) -> None
        fid     one of the caller's bound filters (ENOENT)
        source  Python text defining ``handler(msg)`` (at most MAX_SOURCE
                characters); EINVAL naming the verifier's reason if refused
        window  0..MAX_WINDOW page handles with the ``write`` right: the
                memory the handler may copy into, store into and send from,
                addressed as one range of bytes 0 .. 4096 * len(window)

What the handler sees (``msg``; offsets are bytes, fields big-endian)::

    msg.length                          the frame's length
    msg.load(offset, size) -> int       a field of the frame (size 1, 2 or 4)
    msg.copy(src, dst, n) -> int        frame[src:src+n] -> window[dst:...]; returns
                                        the ones'-complement sum of the bytes copied
                                        (the checksum integrated into the copy)
    msg.store(offset, size, value)      a field of the window
    msg.wsum(offset, n) -> int          ones'-complement sum of window bytes (a pass)
    msg.send(offset, n)                 transmit window[offset:offset+n] (14..1514)
    msg.deliver() -> bool               put the frame in the ring and wake the owner
    msg.wake()                          wake the owner without delivering

Interface::

    ASH_BOUND, MAX_SOURCE, MAX_WINDOW, PATHS
    Handler(fn, window)                 run(net, binding, frame)
    Message                             (the object a handler gets; sealed, slotted)
    bind(net, env, fid, source, window)     decode, verify, attach (sys_ash_bind)
    csum_add(a, b) -> int               ones'-complement addition of two sums
    sys_ash_bind
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.errors import (ConfigError, ProgramFault, SyscallError, VerifyError, safe_str,
                           type_name)
from exolab.hostint import host_interrupted
from exolab.kernels.exokernel import dpf
from exolab.kernels.exokernel.caps import checked_all
from exolab.safe.sealed import Sealed

if TYPE_CHECKING:
    from exolab.kernels.exokernel.dpf_rx import Binding, NetFilters
    from exolab.kernels.exokernel.env import Environment
    from exolab.kernels.exokernel.kernel import Aegis

__all__ = ["ASH_BOUND", "MAX_SOURCE", "MAX_WINDOW", "PATHS", "Handler", "Message", "bind",
           "csum_add", "sys_ash_bind"]

ASH_BOUND = 10_000      # cycles one invocation may charge (400 us on dec5000)
MAX_SOURCE = 16_384     # characters of a handler's source
MAX_WINDOW = 4          # pages of a handler's window

#: name -> (instructions, source): what an ASH's operations cost (estimates)
PATHS: dict[str, tuple[int, str]] = {
    "entry": (16, "call the handler from the interrupt: save the callee-saved "
                  "registers it may use, load its context, jal; return and restore"),
    "op":    (4,  "a sandboxed access: check offset + size against the frame or the "
                  "window (2), the load or store (1-2)"),
    "csum":  (1,  "per word copied: the addu that integrates the checksum into the copy "
                  "loop (the load is the copy's); the final fold is in op"),
    "wsum":  (4,  "per word of a separate checksum pass: lw, addu, sltu, addu"),
    "send":  (10, "fill a transmit descriptor and poke the NIC (as NET_SEND's nic_tx)"),
}


def csum_add(a: int, b: int) -> int:
    """Ones'-complement sum of two 16-bit ones'-complement sums."""
    s = a + b
    return (s & 0xFFFF) + (s >> 16)


def _sum(data: bytes) -> int:
    """Ones'-complement 16-bit sum of ``data`` (big-endian words, odd byte padded)."""
    if len(data) & 1:
        data += b"\x00"
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


class Message(metaclass=Sealed):
    """What a handler may touch: the frame, its window, the NIC (see the module doc)."""

    __slots__ = ("_length", "_frame", "_h", "_net", "_b", "_spent", "_dead", "_why",
                 "_delivered")

    def __init__(self) -> None:
        self._length = 0
        self._frame = b""
        self._h: Handler | None = None
        self._net: Any = None
        self._b: Any = None
        self._spent = 0
        self._dead = False
        self._why = ""
        self._delivered = False

    @property
    def length(self) -> int:
        """The frame's length in bytes (read-only)."""
        return self._length

    def _charge(self, instructions: int, extra_cycles: int = 0) -> None:
        """Charge an operation; past the bound the message dies (every later op too)."""
        if self._dead:
            raise ProgramFault("ash: message is dead", reason=self._why)
        net = self._net
        cycles = instructions * net.c_instr + extra_cycles
        self._spent += cycles
        net.k.cpu.charge(cycles)
        if self._spent > ASH_BOUND:
            self._dead, self._why = True, "handler overran its bound"
            raise ProgramFault("ash: handler overran its bound", bound=ASH_BOUND)

    def _fail(self, why: str, **fields: Any) -> ProgramFault:
        """Kill the message for a bad operation; the fault to raise."""
        self._dead, self._why = True, f"handler fault: {why}"
        return ProgramFault(f"ash: {why}", **fields)

    def _range(self, off: Any, n: Any, limit: int, what: str) -> None:
        """Check [off, off + n) lies inside ``limit`` bytes (exact ints)."""
        if type(off) is not int or type(n) is not int or n < 0 or off < 0 or \
                off + n > limit:
            raise self._fail(f"{what} outside its bounds", offset=safe_str(off),
                             length=safe_str(n), limit=limit)

    def load(self, offset: Any, size: Any) -> int:
        """A big-endian field of the frame."""
        self._charge(_C["op"])
        if size not in (1, 2, 4) or type(size) is not int:
            raise self._fail("load size must be 1, 2 or 4")
        self._range(offset, size, self._length, "load")
        return int.from_bytes(self._frame[offset:offset + size], "big")

    def copy(self, src: Any, dst: Any, n: Any) -> int:
        """Copy frame bytes into the window; the ones'-complement sum of them."""
        self._range(src, n, self._length, "copy source")
        h = self._handler()
        self._range(dst, n, h.size, "copy destination")
        p = self._net.k.machine.profile
        self._charge(_C["op"] + _C["csum"] * ((n + 3) >> 2), p.copy_cost(n))
        data = self._frame[src:src + n]
        h.write(self._net.memory, dst, data)
        self._net.memory.note_copy(n)
        return _sum(data)

    def store(self, offset: Any, size: Any, value: Any) -> None:
        """Store a big-endian field into the window."""
        self._charge(_C["op"])
        if size not in (1, 2, 4) or type(size) is not int or type(value) is not int:
            raise self._fail("store needs an int value and a size of 1, 2 or 4")
        h = self._handler()
        self._range(offset, size, h.size, "store")
        h.write(self._net.memory, offset, (value & ((1 << 8 * size) - 1)).to_bytes(size,
                                                                                  "big"))

    def wsum(self, offset: Any, n: Any) -> int:
        """Ones'-complement sum of window bytes (a separate pass over them)."""
        h = self._handler()
        self._range(offset, n, h.size, "checksum")
        self._charge(_C["op"] + _C["wsum"] * ((n + 3) >> 2))
        return _sum(h.read(self._net.memory, offset, n))

    def send(self, offset: Any, n: Any) -> None:
        """Transmit window bytes as a frame."""
        h = self._handler()
        self._range(offset, n, h.size, "send")
        if not 14 <= n <= dpf.MAX_FRAME or (offset & 4095) + n > 4096:
            raise self._fail("a frame is 14..1514 bytes inside one window page")
        self._charge(_C["send"])
        nic = self._net.nic
        if nic is None or not nic.transmit(h.paddr(offset), n):
            raise self._fail("transmit refused (no NIC or ring full)")
        self._net.note_tx()

    def deliver(self) -> bool:
        """Put the frame in the filter's ring and wake its owner (once)."""
        if self._dead:
            raise ProgramFault("ash: message is dead", reason=self._why)
        if self._delivered:
            return True
        self._delivered = True
        return bool(self._net.put(self._b, self._frame))

    def wake(self) -> None:
        """Wake the filter's owner."""
        self._charge(_C["op"])
        self._net.k.sched.wake(self._b.env)

    def _handler(self) -> "Handler":
        """The handler being run (set by Handler.run)."""
        if self._h is None:
            raise ProgramFault("ash: no handler")
        return self._h


class Handler:
    """A verified handler, its window and its reusable message; guarded by NetFilters."""

    __slots__ = ("fn", "window", "size", "msg", "runs", "spent")

    def __init__(self, fn: Any, window: list[Any]) -> None:
        self.fn = fn                        # the verified handler(msg)
        self.window = window                # page capabilities (write right)
        self.size = len(window) << 12       # bytes of the window
        self.msg = Message()                # reused: no allocation per message
        self.runs = 0
        self.spent = 0                      # cycles charged by all runs

    def paddr(self, offset: int) -> int:
        """Physical address of window byte ``offset``."""
        return self.window[offset >> 12].obj * 4096 + (offset & 4095)

    def write(self, memory: Any, offset: int, data: bytes) -> None:
        """Write ``data`` at window ``offset`` (page by page)."""
        pos = 0
        while pos < len(data):
            at = offset + pos
            take = min(len(data) - pos, 4096 - (at & 4095))
            memory.write(self.paddr(at), data[pos:pos + take])
            pos += take

    def read(self, memory: Any, offset: int, n: int) -> bytes:
        """Read ``n`` window bytes at ``offset``."""
        out = b""
        while n > 0:
            take = min(n, 4096 - (offset & 4095))
            out += memory.read(self.paddr(offset), take)
            offset, n = offset + take, n - take
        return out

    def run(self, net: "NetFilters", b: "Binding", frame: bytes) -> None:
        """Run the handler on ``frame``; remove it (and tell the owner) if it fails."""
        if not all(c.valid for c in self.window):
            net.remove(b, "handler window revoked")
            return
        m = self.msg
        m._length, m._frame, m._h, m._net, m._b = len(frame), frame, self, net, b
        m._spent, m._dead, m._why, m._delivered = 0, False, "", False
        self.runs += 1
        m._charge(_C["entry"])
        why = ""
        try:
            self.fn(m)
        except BaseException as ex:         # a program's code: anything may come out
            if type(ex) is KeyboardInterrupt and host_interrupted():
                raise
            why = m._why or f"handler fault: {type_name(ex)}: {safe_str(ex)}"
        self.spent += m._spent
        m._frame, m._net, m._b = b"", None, None
        if why or m._dead:
            net.note_handler_failure()
            net.remove(b, why or m._why)


_C = {name: n for name, (n, _) in PATHS.items()}


def bind(net: "NetFilters", env: "Environment", fid: Any, source: Any,
         window: Any) -> None:
    """Decode, verify and attach a handler to one of ``env``'s filters."""
    b = net.mine(env, fid)
    if b.handler is not None:
        raise SyscallError("EBUSY", "the filter already has a handler", fid=fid)
    if type(source) is not str or not 0 < len(source) <= MAX_SOURCE:
        raise SyscallError("EINVAL", "a handler is Python source of 1..MAX_SOURCE "
                           "characters", type=type_name(source), limit=MAX_SOURCE)
    if type(window) not in (list, tuple) or len(window) > MAX_WINDOW:
        raise SyscallError("EINVAL", "a window is a list of at most MAX_WINDOW page "
                           "handles", type=type_name(window), limit=MAX_WINDOW)
    caps = checked_all(net.k.caps, net.k.cpu, net.k.c_cap, window, "page", ("write",))
    fn = _verify(source)
    net.k.cpu.charge(len(source) * net.c_instr)     # verification: a pass over the text
    b.handler = Handler(fn, caps)


def _verify(source: str) -> Any:
    """The verified ``handler`` function of ``source`` (EINVAL with the reason)."""
    from exolab.safe import TERMINATING, load_program_source
    try:
        return load_program_source(source, "<ash>", "handler", TERMINATING)
    except (VerifyError, ConfigError) as ex:
        raise SyscallError("EINVAL", "handler refused by the verifier",
                           reason=safe_str(ex)) from None
    except RecursionError:
        raise SyscallError("EINVAL", "handler refused: nested too deeply") from None


def sys_ash_bind(k: "Aegis", env: "Environment", fid: Any, source: Any,
                 window: Any) -> None:
    """Attach a verified handler to one of the caller's filters."""
    bind(k.net, env, fid, source, window)
