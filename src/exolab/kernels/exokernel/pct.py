"""Protected control transfer (PCT): entering another environment at its entry.

A PCT changes the program counter to an agreed entry point of the callee,
donates the rest of the caller's time slice, and installs the callee's
addressing context (its ASID). Aegis saves no registers (the paper's path is
30 instructions, :mod:`.paths`); arguments travel in registers — here, as
Python values — and so does the reply.

- *Synchronous* (:func:`call`): the caller waits; the callee runs its
  ``sync`` entry on the caller's thread of control (a *borrowed* context
  pushed on the callee's context stack), and its return is its PCT back to
  the caller, charged as a crossing of its own (trap entry and exit from the
  profile plus the 30-instruction path). If the callee faults or is
  destroyed during the call, the caller gets ESRCH and keeps running.
- *Asynchronous* (:func:`send`): the message is queued for the callee's
  ``async`` entry, the callee is woken, and, when asked, the rest of the
  slice is donated to it; the caller continues when its turn comes again.

Interface::

    CalleeAbort(env)                unwinds a borrowed context whose env died
    call(k, env, handle, words) -> reply
    send(k, env, handle, words, donate) -> bool
    run_entry(k, env, fn, *words)   any upcall; a fault in it destroys env
    MAX_INBOX, MAX_WORDS

(A short module: the paper's point is that a PCT is little work.)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from exolab.abi import as_flag
from exolab.errors import SyscallError, safe_str, type_name
from exolab.kernels.exokernel.env import LIVE, Context, Environment, Message
from exolab.kernels.exokernel.limits import MAX_INBOX, MAX_PCT_DEPTH, MAX_WORDS
from exolab.machine.threads import ThreadExit

if TYPE_CHECKING:
    from exolab.kernels.exokernel.kernel import Aegis

__all__ = ["CalleeAbort", "call", "send", "run_entry", "MAX_INBOX", "MAX_WORDS"]



_PCT = ("pct",)                         # the right a synchronous PCT needs


class CalleeAbort(BaseException):
    """Raised on a borrowed context to unwind the entry of an environment that died.

    A BaseException, so the callee's own ``except Exception`` cannot stop it;
    the PCT frame of the caller below catches it.
    """

    def __init__(self, env: Environment) -> None:
        super().__init__(env.eid)
        self.env = env


def _decode(k: "Aegis", env: Environment, handle: Any, words: Any, right: str,
            entry: str) -> Environment:
    """Validate a PCT: a live callee reachable through ``handle`` with ``entry`` set."""
    if type(words) is not tuple or len(words) > MAX_WORDS:
        _bad_words(words)
    callee = k.caps.lookup(handle, "env", (right,)).obj
    if callee.state != LIVE or entry not in callee.entries or callee is env:
        _refuse(env, callee, entry)
    return callee


def _bad_words(words: Any) -> None:
    """Raise the error of a PCT whose registers are not a short tuple."""
    raise SyscallError("EINVAL", f"a PCT carries at most {MAX_WORDS} registers",
                       words=type_name(words))


def _refuse(env: Environment, callee: Environment, entry: str) -> None:
    """Raise the error of a PCT to a dead callee, one without ``entry``, or oneself."""
    if callee.state != LIVE or entry not in callee.entries:
        raise SyscallError("ESRCH", "callee is gone or has no such entry",
                           eid=callee.eid, entry=entry)
    raise SyscallError("EINVAL", "an environment cannot PCT to itself", eid=env.eid)


def call(k: "Aegis", env: Environment, handle: Any, words: Any) -> Any:
    """Synchronous PCT: run the callee's sync entry now; return its reply."""
    if type(words) is not tuple or len(words) > MAX_WORDS:   # _decode, inlined
        _bad_words(words)                                    # (the PCT path)
    callee = k.caps.lookup(handle, "env", _PCT).obj
    if callee.state != LIVE or "sync" not in callee.entries or callee is env:
        _refuse(env, callee, "sync")
    cpu = k.cpu
    stack = env.ctx                                 # nested on this thread: one deeper
    depth = stack[-1].depth + 1 if stack and stack[-1].borrowed else 1
    if depth > MAX_PCT_DEPTH:
        raise SyscallError("EAGAIN", "protected control transfers nested too deep",
                           limit=MAX_PCT_DEPTH)
    spare = k.spare_contexts                        # a borrowed context, reused: no
    if spare:                                       # allocation per PCT (the PCT path)
        ctx = spare.pop()
        ctx.thread, ctx.sleeping, ctx.depth = cpu.current, False, depth  # type: ignore
    else:
        ctx = Context(cpu.current, False, True, depth)  # type: ignore[arg-type]
    env.in_call += 1
    callee.ctx.append(ctx)
    k.pcts += 1
    k.current = callee                              # enter the callee: its ASID
    asid = callee.asid if callee.asid_gen == k.asids.gen else k.asids.of(callee)
    if cpu.asid != asid:
        cpu.set_asid(asid)
    failed: BaseException | None = None
    try:
        reply = cpu.upcall(callee.entries["sync"], *words)
    except CalleeAbort as ab:
        if ab.env is not callee:
            raise
        failed = ab
    except ThreadExit:
        raise                                   # the caller itself is being killed
    except Exception as ex:                     # the callee faulted in its entry
        failed = ex
    finally:                                    # the callee's PCT back to the caller
        stack = callee.ctx
        if stack and stack[-1] is ctx:
            stack.pop()
        elif ctx in stack:
            stack.remove(ctx)
        spare.append(ctx)                       # on no stack now (spares never outnumber
        env.in_call -= 1                        # the PCTs once in flight at the same time)
        clk = cpu.clock                         # cpu.charge(k.c_crossing), inlined
        clk.now += k.c_crossing
        if clk.now >= clk.deadline:
            cpu.service()
        k.current = env
        asid = env.asid if env.asid_gen == k.asids.gen else k.asids.of(env)
        if cpu.asid != asid:
            cpu.set_asid(asid)
        if callee.state != LIVE:
            k.finish_if_done(callee)
        elif not callee.slots and not callee.queued:
            k.sched.note(callee)                # (its own context is on top again)
    if failed is not None:
        if callee.state == LIVE:
            k.destroy(callee, f"fault in sync entry: {type_name(failed)}: "
                              f"{safe_str(failed)}")
        raise SyscallError("ESRCH", "callee died during the call", eid=callee.eid)
    return reply


def send(k: "Aegis", env: Environment, handle: Any, words: Any, donate: Any) -> bool:
    """Asynchronous PCT: queue a message for the callee's async entry and wake it."""
    donate = as_flag(donate, "donate")
    callee = _decode(k, env, handle, words, "wake", "async")
    if len(callee.inbox) >= MAX_INBOX:
        raise SyscallError("EAGAIN", "callee's message queue is full", eid=callee.eid)
    callee.inbox.append(Message("pct", words, env.eid))
    k.pcts += 1
    k.sched.wake(callee)
    if donate and callee.runnable:
        return k.sched.yield_(env, callee)
    return False


def run_entry(k: "Aegis", env: Environment, fn: Any, *words: Any) -> Any:
    """Upcall ``fn`` of ``env``; a fault in it destroys ``env`` (never the kernel)."""
    try:
        return k.cpu.upcall(fn, *words)
    except (ThreadExit, CalleeAbort):
        raise
    except Exception as ex:             # (ProgramFault included)
        k.destroy(env, f"fault in upcall: {type_name(ex)}: {safe_str(ex)}")
        return None
