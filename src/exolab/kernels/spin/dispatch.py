"""SPIN's events, guards and dispatcher: the extension model.

An event is declared by an interface (its owner) and names a default handler
and, optionally, a rule for combining the results of several handlers. A
handler is installed on an event with an optional *guard*, a predicate over
the event's arguments; installing needs the capability the event's owner
demands (``EPERM`` otherwise). Raising an event runs every handler whose
guard holds, in installation order (one-to-one, one-to-many; one handler
may sit on several events: many-to-one); when none runs (or only faulting
ones did) the default handler runs. The result is the combiner over the
handlers' results, or the last one's.

Handlers and guards are extension code called as procedures: the raise costs
``spin_raise`` and each guard or handler one ``spin_proc_call``. A handler or
guard that raises anything is its extension's fault: the extension is
unloaded (every binding it holds is removed), the raise goes on with the
other handlers, and the kernel runs on.

Interface::

    Event(name, default, combine=None, cap=None)     declared by its owner
    Binding(event, handler, guard, owner)            one installed handler
    Dispatcher(charge, proc_call, raise_cost)
      declare(name, default, combine=None, cap=None) -> Event   (EEXIST-like EINVAL)
      install(event, handler, guard=None, cap=None, owner=None) -> Binding  (EPERM)
      remove(binding)          unload(owner) -> bindings removed
      raise_(event, *args) -> result          events, statistics() -> DispatchStats
    Fault(what, owner)       what an extension's fault leaves (kept in ``faults``)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from exolab.errors import SyscallError, safe_str, type_name
from exolab.kernels.spin.limits import MAX_EVENTS, MAX_HANDLERS
from exolab.machine.threads import ThreadExit

__all__ = ["Event", "Binding", "Dispatcher", "DispatchStats", "Owner", "invoke"]


class Owner:
    """Who installed a binding: an extension (or an application); ``loaded`` goes
    False when it faults, and every binding it holds goes with it."""

    __slots__ = ("name", "loaded", "faults", "trusted")

    def __init__(self, name: str, trusted: bool = False) -> None:
        self.name = name            # for records and messages only
        self.loaded = True          # False once unloaded (dispatcher/domain)
        self.faults: list[str] = []  # what made it unload
        self.trusted = trusted      # the kernel's own: an error in it is the caller's


@dataclass(slots=True, eq=False)
class Event:
    """A declared event; fields guarded by the dispatcher."""

    name: str
    default: Callable[..., Any]                     # runs when no handler's guard holds
    combine: Callable[[list[Any]], Any] | None      # results -> result (None: the last)
    cap: Any                                        # what install must present (None: any)
    handlers: list["Binding"] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Binding:
    """One handler installed on one event."""

    event: Event
    handler: Callable[..., Any]
    guard: Callable[..., Any] | None
    owner: Owner | None             # None: the kernel's own (trusted) handler


@dataclass(frozen=True, slots=True)
class DispatchStats:
    """Dispatcher counters."""

    events: int             # declared
    raised: int             # raises
    handled: int            # handler invocations
    guards: int             # guard evaluations
    defaults: int           # raises that fell to the default handler
    unloaded: int           # extensions unloaded for a fault


def invoke(owner: Owner | None, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Call extension code ``fn(*args)``; anything it raises (fuel and stack
    faults included) unloads ``owner`` and becomes SyscallError EFAULT."""
    try:
        return fn(*args)
    except ThreadExit:
        raise
    except SyscallError:
        raise                       # an error result of a call it made, passed on
    except BaseException as ex:     # noqa: BLE001 - whatever extension code raised
        if type(ex) is KeyboardInterrupt:
            raise
        if owner is not None and owner.trusted:     # bad arguments from the caller
            raise SyscallError("EINVAL", "bad arguments to a kernel procedure",
                               error=type_name(ex)) from None
        if owner is not None:
            owner.loaded = False
            owner.faults.append(f"{type_name(ex)}: {safe_str(ex)}"[:200])
        raise SyscallError("EFAULT", "extension faulted and was unloaded",
                           extension=owner.name if owner else "kernel",
                           error=type_name(ex)) from None


class Dispatcher:
    """Routes raised events to the handlers whose guards hold."""

    def __init__(self, charge: Callable[[int], None], proc_call: int,
                 raise_cost: int) -> None:
        self._charge = charge           # cpu.charge of the running CPU
        self._call = proc_call          # spin_proc_call
        self._raise = raise_cost        # spin_raise
        self.events: dict[str, Event] = {}
        self.raised = self.handled = self.guards = self.defaults = self.unloaded = 0

    def declare(self, name: str, default: Callable[..., Any],
                combine: Callable[[list[Any]], Any] | None = None, cap: Any = None) -> Event:
        """Declare event ``name`` (EINVAL if it exists, EAGAIN past MAX_EVENTS)."""
        if type(name) is not str or not name or name in self.events:
            raise SyscallError("EINVAL", "event name taken or invalid", name=name)
        if len(self.events) >= MAX_EVENTS:
            raise SyscallError("EAGAIN", "too many events", limit=MAX_EVENTS)
        ev = self.events[name] = Event(name, default, combine, cap)
        return ev

    def install(self, event: Event, handler: Callable[..., Any],
                guard: Callable[..., Any] | None = None, cap: Any = None,
                owner: Owner | None = None) -> Binding:
        """Install ``handler`` (guarded) on ``event``; EPERM without its capability."""
        if not callable(handler) or (guard is not None and not callable(guard)):
            raise SyscallError("EINVAL", "handler and guard must be callable")
        if event.cap is not None and cap is not event.cap:
            raise SyscallError("EPERM", "installing needs the event owner's capability",
                               event=event.name)
        if len(event.handlers) >= MAX_HANDLERS:
            raise SyscallError("EAGAIN", "too many handlers on the event",
                               event=event.name, limit=MAX_HANDLERS)
        b = Binding(event, handler, guard, owner)
        event.handlers.append(b)
        return b

    def remove(self, binding: Binding) -> None:
        """Uninstall ``binding`` (no effect if already gone)."""
        hs = binding.event.handlers
        if binding in hs:
            hs.remove(binding)

    def unload(self, owner: Owner) -> int:
        """Remove every binding ``owner`` holds; mark it unloaded; return the count."""
        owner.loaded = False
        n = 0
        for ev in self.events.values():
            keep = [b for b in ev.handlers if b.owner is not owner]
            n += len(ev.handlers) - len(keep)
            ev.handlers[:] = keep
        return n

    def raise_(self, event: Event, *args: Any) -> Any:
        """Run every handler of ``event`` whose guard holds (else the default);
        combine their results. A faulting handler or guard is unloaded."""
        self._charge(self._raise)
        self.raised += 1
        results: list[Any] = []
        ran = False
        for b in list(event.handlers):
            owner = b.owner
            if owner is not None and not owner.loaded:
                continue
            try:
                if b.guard is not None:
                    self._charge(self._call)
                    self.guards += 1
                    if invoke(owner, b.guard, args) is not True:
                        continue
                self._charge(self._call)
                self.handled += 1
                results.append(invoke(owner, b.handler, args))
                ran = True
            except SyscallError:
                if owner is not None and not owner.loaded:   # it faulted: contained
                    self.unloaded += 1
                    self.unload(owner)
                    continue
                raise
        if not ran:
            self.defaults += 1
            self._charge(self._call)
            return event.default(*args)
        return event.combine(results) if event.combine is not None else results[-1]

    def statistics(self) -> DispatchStats:
        """Return a frozen snapshot of the dispatcher's counters."""
        return DispatchStats(len(self.events), self.raised, self.handled, self.guards,
                             self.defaults, self.unloaded)
