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
``spin_raise`` and each guard or handler one ``spin_proc_call``. Every binding
names its :class:`Owner` explicitly (the installer: an extension, a process,
or one of the kernel's own trusted packages; never inferred from the code).
A handler or guard of an untrusted owner that raises *anything* (a
``SyscallError`` too) is its owner's fault: the owner is unloaded (every
binding it holds is removed and its slots given back), a raising guard
counts as False, the raise goes on with the other handlers, and the kernel
runs on. An :class:`~.bound.Overrun` (the invocation ran past its cycle
bound) is not contained here: it unloads the owner whose code was running and
goes on unwinding the whole invocation. Slots are bounded per event
(``MAX_HANDLERS``, untrusted bindings only) and per owner (``MAX_OWNER_HANDLERS``).

Interface::

    Owner(name, trusted=False, pid=None)             who installs; bindings it holds
    Event(name, default, combine=None, cap=None)     declared by its owner
    Binding(event, handler, guard, owner)            one installed handler
    Dispatcher(charge, proc_call, raise_cost)
      declare(name, default, combine=None, cap=None) -> Event   (EEXIST-like EINVAL)
      install(event, handler, guard=None, cap=None, owner) -> Binding  (EPERM, EAGAIN)
      remove(binding)          unload(owner) -> bindings removed
      faulted(owner)           count owner's fault and unload it
      raise_(event, *args) -> result          events, statistics() -> DispatchStats
    invoke(owner, fn, args)    call extension code (a fault unloads its owner)
    blame(owner, overrun)      name owner the culprit of an Overrun (unless named)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from exolab.errors import SyscallError, safe_str, type_name
from exolab.kernels.spin.bound import Overrun
from exolab.kernels.spin.limits import MAX_EVENTS, MAX_HANDLERS, MAX_OWNER_HANDLERS
from exolab.machine.threads import ThreadExit
from greenlet import GreenletExit

__all__ = ["Event", "Binding", "Dispatcher", "DispatchStats", "Owner", "invoke", "blame"]


class Owner:
    """Who installed a binding: an extension, a process, or the kernel's own
    package; ``loaded`` goes False when it faults, and every binding it holds
    goes with it."""

    __slots__ = ("name", "loaded", "faults", "trusted", "pid", "bindings")

    def __init__(self, name: str, trusted: bool = False, pid: int | None = None) -> None:
        self.name = name            # for records and messages only
        self.loaded = True          # False once unloaded (dispatcher/domain/exit)
        self.faults: list[str] = []  # what made it unload
        self.trusted = trusted      # the kernel's own: an error in it is the caller's
        self.pid = pid              # a process's owner: its pid (None: an extension)
        self.bindings: list[Binding] = []   # installed and not removed (dispatcher)


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
    owner: Owner                    # the installer, named explicitly (trusted: kernel)


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
    faults included) unloads ``owner`` and becomes SyscallError EFAULT; an
    Overrun goes on unwinding (``owner`` blamed if its code ran past the bound)."""
    try:
        return fn(*args)
    except ThreadExit:
        raise
    except SyscallError:
        raise                       # an error result of a call it made, passed on
    except Overrun as ex:
        if owner is not None and not owner.trusted:
            blame(owner, ex)
        raise
    except BaseException as ex:     # noqa: BLE001 - whatever extension code raised
        if type(ex) is KeyboardInterrupt:
            raise
        if owner is not None and owner.trusted:     # bad arguments from the caller
            raise SyscallError("EINVAL", "bad arguments to a kernel procedure",
                               error=type_name(ex)) from None
        if owner is not None:
            fault(owner, ex)
        raise SyscallError("EFAULT", "extension faulted and was unloaded",
                           extension=owner.name if owner else "kernel",
                           error=type_name(ex)) from None


def blame(owner: Owner, ex: Overrun) -> None:
    """``owner``'s code was running when ``ex`` was raised, unless a callee's
    was (then that one is already named): name it the culprit and unload it."""
    if ex.culprit is None:
        ex.culprit = owner
        fault(owner, ex)


def fault(owner: Owner, ex: BaseException) -> None:
    """Record ``ex`` as ``owner``'s fault and mark it unloaded."""
    owner.loaded = False
    owner.faults.append(f"{type_name(ex)}: {safe_str(ex)}"[:200])


_FAULTED = object()     # what _contained answers for code that raised
_SKIP = object()        # a binding whose guard did not hold, or that faulted


def _contained(owner: Owner, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Call an untrusted binding's ``fn(*args)``; anything it raises (an error
    result included) unloads ``owner`` and answers ``_FAULTED``; an Overrun
    goes on unwinding the invocation (``owner`` blamed unless a callee was)."""
    try:
        return fn(*args)
    except (ThreadExit, GreenletExit):
        raise
    except Overrun as ex:
        blame(owner, ex)
        raise
    except BaseException as ex:     # noqa: BLE001 - whatever extension code raised
        if type(ex) is KeyboardInterrupt:
            raise
        fault(owner, ex)
        return _FAULTED


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
        """Install ``handler`` (guarded) on ``event`` for ``owner``: EPERM without
        the event's capability, EAGAIN past the event's or the owner's slots."""
        if type(owner) is not Owner or not owner.loaded:
            raise SyscallError("EINVAL", "a binding needs its (loaded) installer")
        if not callable(handler) or (guard is not None and not callable(guard)):
            raise SyscallError("EINVAL", "handler and guard must be callable")
        if event.cap is not None and cap is not event.cap:
            raise SyscallError("EPERM", "installing needs the event owner's capability",
                               event=event.name)
        if not owner.trusted:
            self._admit(event, owner)
        b = Binding(event, handler, guard, owner)
        event.handlers.append(b)
        owner.bindings.append(b)
        return b

    def _admit(self, event: Event, owner: Owner) -> None:
        """Decode an untrusted binding's slots: EAGAIN past the event's or owner's."""
        if len(owner.bindings) >= MAX_OWNER_HANDLERS:
            raise SyscallError("EAGAIN", "too many handlers installed by this owner",
                               owner=owner.name, limit=MAX_OWNER_HANDLERS)
        hs = event.handlers
        if sum(1 for b in hs if not b.owner.trusted) >= MAX_HANDLERS:
            hs[:] = [b for b in hs if b.owner.loaded]      # give back unloaded slots
            if sum(1 for b in hs if not b.owner.trusted) >= MAX_HANDLERS:
                raise SyscallError("EAGAIN", "too many handlers on the event",
                                   event=event.name, limit=MAX_HANDLERS)

    def remove(self, binding: Binding) -> None:
        """Uninstall ``binding`` (no effect if already gone)."""
        hs = binding.event.handlers
        if binding in hs:
            hs.remove(binding)
        held = binding.owner.bindings
        if binding in held:
            held.remove(binding)

    def unload(self, owner: Owner) -> int:
        """Remove every binding ``owner`` holds; mark it unloaded; return the count."""
        owner.loaded = False
        held, owner.bindings = owner.bindings, []
        for b in held:
            hs = b.event.handlers
            if b in hs:
                hs.remove(b)
        return len(held)

    def raise_(self, event: Event, *args: Any) -> Any:
        """Run every handler of ``event`` whose guard holds (else the default);
        combine their results. An untrusted handler or guard that raises is
        unloaded (a guard's raise counts as False) and the others still run."""
        self._charge(self._raise)
        self.raised += 1
        results: list[Any] = []
        ran = False
        for b in list(event.handlers):
            owner = b.owner
            if not owner.loaded:
                self.unload(owner)          # unloaded elsewhere: its slots come back
                continue
            if owner.trusted:
                r = self._trusted(b, args)
            else:
                r = self._untrusted(b, args)
            if r is _SKIP:
                continue
            results.append(r)
            ran = True
        if not ran:
            self.defaults += 1
            self._charge(self._call)
            return event.default(*args)
        return event.combine(results) if event.combine is not None else results[-1]

    def _trusted(self, b: Binding, args: tuple[Any, ...]) -> Any:
        """Run a kernel package's binding (its errors are the caller's: raised)."""
        if b.guard is not None:
            self._charge(self._call)
            self.guards += 1
            if invoke(b.owner, b.guard, args) is not True:
                return _SKIP
        self._charge(self._call)
        self.handled += 1
        return invoke(b.owner, b.handler, args)

    def _untrusted(self, b: Binding, args: tuple[Any, ...]) -> Any:
        """Run an extension's or a program's binding; whatever it raises unloads
        its owner (a raising guard: False) and answers _SKIP."""
        owner = b.owner
        if b.guard is not None:
            self._charge(self._call)
            self.guards += 1
            if _contained(owner, b.guard, args) is not True:
                if not owner.loaded:
                    self.faulted(owner)
                return _SKIP
        self._charge(self._call)
        self.handled += 1
        r = _contained(owner, b.handler, args)
        if r is _FAULTED:
            self.faulted(owner)
            return _SKIP
        return r

    def faulted(self, owner: Owner) -> None:
        """Count a fault of ``owner`` and remove its bindings."""
        self.unloaded += 1
        self.unload(owner)

    def statistics(self) -> DispatchStats:
        """Return a frozen snapshot of the dispatcher's counters."""
        return DispatchStats(len(self.events), self.raised, self.handled, self.guards,
                             self.defaults, self.unloaded)
