"""Hostile installs on SPIN's events are refused or contained; a bystander's result
stays exact.

Each case is one finding of the security probe of the event system: a core event
installed on without its capability (directly, or through the kernel domain's
Event.Install at user level), a handler or guard that raises an error result, a
handler that is not a plain function of its installer, a program's handler run
on another process's strand, handler and extension slots never given back,
extension output charged to an interrupted bystander, contexts and ranges
without a bound, and a program object whose attribute hook raises inside a
decode. Each runs next to a bystander whose output must stay exact.
"""
from __future__ import annotations

from typing import Any

import pytest

from exolab.abi import PROT_READ, PROT_RW
from exolab.errors import SyscallError
from exolab.kernels.spin import Spin
from exolab.kernels.spin.core import TOP_VPN
from exolab.kernels.spin.dispatch import Dispatcher, Owner
from exolab.kernels.spin.limits import MAX_OWNER_CONTEXTS, MAX_OWNER_HANDLERS
from exolab.machine.machine import Machine
from exolab.runner import run_program

from ..common import pipe_bystander
from exolab.safe.load import load_function

PAGE = 4096


_bystander = pipe_bystander


def _load(os: Any, source: str) -> int:
    d = os.domain_create(source)
    os.domain_resolve(os.domain_kernel(), d)
    return d


# -- F1: core events need the capability their owner demands ----------------------

GRAB = '''
INTERFACE = "Evil"
EXPORTS = {"Init": 0}
IMPORTS = {"Event.Install": 4, "Translation.Destroy": 1}


def Grab(ctx, vaddr, write):
    Translation.Destroy(ctx)
    return False


def Init():
    Event.Install("Translation.ProtectionFault", Grab, None, None)
'''


def _victim(os: Any) -> None:
    va = os.mmap(4 * PAGE, PROT_RW)
    for i in range(4):
        os.store(va + i * PAGE, 1000 + i)

    def on_fault(ctx: Any, vaddr: int, write: bool) -> bool:
        os.mprotect(vaddr & ~(PAGE - 1), PAGE, PROT_RW)
        return True

    os.event_install("Translation.ProtectionFault", os.context_self(), on_fault, None)
    os.mprotect(va + 3 * PAGE, PAGE, PROT_READ)
    os.store(va + 3 * PAGE, 2000)
    os.print("victim", [os.load(va + i * PAGE) for i in range(4)])


def _nothing(s: Any) -> None:
    return None


def _core_main(os: Any, log: list[Any]) -> None:
    try:
        os.domain_call(_load(os, GRAB), "Evil.Init")
    except SyscallError as ex:
        log.append(("extension", ex.errno))
    for event in ("Strand.Checkpoint", "Translation.BadAddress", "PhysAddr.Reclaim"):
        try:
            os.domain_call(os.domain_kernel(), "Event.Install", event, _nothing, None, None)
        except SyscallError as ex:
            log.append((event, ex.errno))
    b = os.spawn(_bystander, name="bystander")
    os.wait(os.spawn(_victim, name="victim"))
    os.wait(b)


def test_core_events_refuse_installs_without_their_capability() -> None:
    log: list[Any] = []
    run = run_program(_core_main, log, kernel="spin", profile="alpha")
    assert log == [("extension", "EPERM"), ("Strand.Checkpoint", "EPERM"),
                   ("Translation.BadAddress", "EPERM"), ("PhysAddr.Reclaim", "EPERM")]
    assert sorted(run.console) == ["bystander 1275", "victim [1000, 1001, 1002, 2000]"]
    assert run.faults == []


# -- F2: a raising handler or guard is its owner's fault ---------------------------

TICKER = '''
INTERFACE = "Ticker"
EXPORTS = {"Init": 0, "Fire": 1}
IMPORTS = {"Event.Declare": 2, "Event.Raise": 2}
state = {}


def Init():
    state["cap"] = Event.Declare("Ticker.Tick", False)


def Fire(n):
    return Event.Raise(state["cap"], n)
'''
RAISER = '''
from exolab.errors import SyscallError
INTERFACE = "Evil"
EXPORTS = {"Init": 0}
IMPORTS = {"Event.Install": 4}


def Boom(n):
    raise SyscallError("EAGAIN", "try later")


def Fine(n):
    return "evil"


def Init():
    if MODE == "guard":
        Event.Install("Ticker.Tick", Fine, Boom, None)
    else:
        Event.Install("Ticker.Tick", Boom, None, None)
'''
HONEST = '''
INTERFACE = "Honest"
EXPORTS = {"Init": 0}
IMPORTS = {"Event.Install": 4}


def Count(n):
    return n * 10


def Init():
    Event.Install("Ticker.Tick", Count, None, None)
'''


def _raiser_main(os: Any, mode: str, log: list[Any]) -> None:
    b = os.spawn(_bystander, name="bystander")
    ticker = _load(os, TICKER)
    os.domain_call(ticker, "Ticker.Init")
    os.domain_call(_load(os, RAISER.replace("MODE", repr(mode))), "Evil.Init")
    os.domain_call(_load(os, HONEST), "Honest.Init")
    for n in range(3):
        log.append(os.domain_call(ticker, "Ticker.Fire", n))
    os.wait(b)


@pytest.mark.parametrize("mode", ["guard", "handler"])
def test_a_handler_or_guard_raising_an_error_result_is_unloaded(mode: str) -> None:
    log: list[Any] = []
    run = run_program(_raiser_main, mode, log, kernel="spin", profile="alpha")
    assert log == [0, 10, 20]                   # the honest handler ran every time
    assert run.console == ["bystander 1275"] and run.faults == []
    k: Any = run.kernel
    assert k.statistics().dispatch.unloaded == 1
    evil = [o for o in k.extensions if o.name == "Evil"]
    assert len(evil) == 1 and not evil[0].loaded and "EAGAIN" in evil[0].faults[0]
    assert [b.owner.name for b in k.dispatcher.events["Ticker.Tick"].handlers] == ["Honest"]


def test_the_dispatcher_unloads_an_untrusted_owner_for_any_exception() -> None:
    d = Dispatcher(lambda n: None, 17, 30)
    ev = d.declare("E", lambda: "default", combine=list)
    bad, good = Owner("bad"), Owner("good")

    def refuse() -> Any:
        raise SyscallError("EINVAL", "an error result")

    d.install(ev, refuse, owner=bad)
    d.install(ev, lambda: "ok", guard=refuse, owner=Owner("guard"))
    d.install(ev, lambda: "ok", owner=good)
    assert d.raise_(ev) == ["ok"] and d.raise_(ev) == ["ok"]
    assert not bad.loaded and good.loaded and ev.handlers[0].owner is good
    assert d.statistics().unloaded == 2 and bad.bindings == []


# -- F3: the installer is named explicitly; handlers are its plain functions ---------

CALLABLE = '''
INTERFACE = "Evil"
EXPORTS = {"Init": 0}
IMPORTS = {"Event.Install": 4, "Event.Declare": 2}


class Looper:
    def __call__(self, n):
        while True:
            pass


def Init():
    Event.Declare("Evil.Tick", False)
    Event.Install("Evil.Tick", Looper(), None, None)
'''


class _Callable:
    def __call__(self, n: Any) -> None:
        return None


def _raising(n: Any) -> None:
    raise ValueError("a program's handler faults")


def _ownerless_main(os: Any, log: list[Any]) -> None:
    b = os.spawn(_bystander, name="bystander")
    try:
        os.domain_call(_load(os, CALLABLE), "Evil.Init")
    except SyscallError as ex:
        log.append(("instance", ex.errno))
    ticker = _load(os, TICKER)
    os.domain_call(ticker, "Ticker.Init")
    k = os.domain_kernel()
    for fn in (_Callable(), os.getpid):
        try:
            os.domain_call(k, "Event.Install", "Ticker.Tick", fn, None, None)
        except SyscallError as ex:
            log.append(("program", ex.errno))
    os.domain_call(k, "Event.Install", "Ticker.Tick", _raising, None, None)
    log.append(os.domain_call(ticker, "Ticker.Fire", 1))    # the default: None
    os.wait(b)


def test_a_handler_must_be_a_plain_function_of_its_named_installer() -> None:
    log: list[Any] = []
    run = run_program(_ownerless_main, log, kernel="spin", profile="alpha")
    assert log == [("instance", "EINVAL"), ("program", "EINVAL"), ("program", "EINVAL"),
                   None]
    assert run.console == ["bystander 1275"] and run.faults == []
    k: Any = run.kernel
    assert k.dispatcher.events["Ticker.Tick"].handlers == []    # the program's: unloaded
    assert k.statistics().dispatch.unloaded == 1
    assert all(b.owner is not None for ev in k.dispatcher.events.values()
               for b in ev.handlers)


# -- F4: a program's handler runs as that program ----------------------------------


def _resumer(os: Any, act: str, seen: list[Any]) -> None:
    me = os.getpid()

    def on_resume(s: Any) -> None:
        pid = os.getpid()
        seen.append(pid == me)
        if pid != me and act == "exit":
            os.exit(66)

    os.event_install("Strand.Resume", os.strand_self(), on_resume)
    for _ in range(100):
        os.compute(20_000)
        os.yield_()


def _resume_main(os: Any, act: str, seen: list[Any]) -> None:
    b = os.spawn(_bystander, name="bystander")
    h = os.spawn(_resumer, act, seen, name="resumer")
    os.print("statuses", os.wait(b)[1], os.wait(h)[1])


@pytest.mark.parametrize("act", ["getpid", "exit"])
def test_a_programs_strand_handler_runs_only_as_that_program(act: str) -> None:
    seen: list[Any] = []
    run = run_program(_resume_main, act, seen, kernel="spin", profile="alpha")
    assert "bystander 1275" in run.console and "statuses 0 0" in run.console
    assert seen and all(seen)           # it ran, and always on its own strand
    assert run.faults == []


def _checkpoint_blocker(os: Any, log: list[Any]) -> None:
    r, w = os.pipe()

    def on_checkpoint(s: Any) -> None:
        try:
            os.read(r, 1)               # blocking mid-switch: refused
        except SyscallError as ex:
            log.append(ex.errno)

    os.event_install("Strand.Checkpoint", os.strand_self(), on_checkpoint)
    for _ in range(3):
        os.yield_()


def _blocker_main(os: Any, log: list[Any]) -> None:
    b = os.spawn(_bystander, name="bystander")
    os.wait(os.spawn(_checkpoint_blocker, log, name="blocker"))
    os.wait(b)


def test_a_strand_handler_cannot_block_inside_the_switch() -> None:
    log: list[Any] = []
    run = run_program(_blocker_main, log, kernel="spin", profile="alpha")
    assert log and set(log) == {"EBUSY"}
    assert run.console == ["bystander 1275"] and run.faults == []


# -- F5: handler and extension slots are given back ---------------------------------


def _squatter(os: Any, log: list[Any]) -> None:
    me = os.strand_self()
    n = 0
    try:
        for _ in range(300):
            os.event_install("Strand.Block", me, _nothing)
            n += 1
    except SyscallError as ex:
        log.append((n, ex.errno))
    for _ in range(1100):
        try:
            os.event_install("No.Such.Event", me, _nothing)
        except SyscallError:
            pass


def _slots_main(os: Any, log: list[Any]) -> None:
    b = os.spawn(_bystander, name="bystander")
    os.wait(os.spawn(_squatter, log, name="squatter"))
    os.wait(os.spawn(_squatter, log, name="squatter2"))
    d = os.domain_create(TICKER)
    os.domain_resolve(os.domain_kernel(), d)
    os.domain_call(d, "Ticker.Init")
    os.wait(b)


def test_handler_and_extension_slots_are_given_back() -> None:
    log: list[Any] = []
    run = run_program(_slots_main, log, kernel="spin", profile="alpha")
    assert log == [(MAX_OWNER_HANDLERS, "EAGAIN")] * 2
    assert run.console == ["bystander 1275"] and run.faults == []
    k: Any = run.kernel
    assert k.dispatcher.events["Strand.Block"].handlers == [] or all(
        b.owner.trusted for b in k.dispatcher.events["Strand.Block"].handlers)
    assert [o.name for o in k.extensions] == ["Ticker"]    # no owner per failed call
    assert k._proc_owners == {} or list(k._proc_owners) == [1]


FAULTS_LATER = '''
INTERFACE = "Later"
EXPORTS = {"Init": 0, "Crash": 0}
IMPORTS = {"Event.Install": 4}


def H(n):
    return n


def Init():
    Event.Install("Ticker.Tick", H, None, None)


def Crash():
    return 1 // 0
'''


def _later_main(os: Any, log: list[Any]) -> None:
    ticker = _load(os, TICKER)
    os.domain_call(ticker, "Ticker.Init")
    d = _load(os, FAULTS_LATER)
    os.domain_call(d, "Later.Init")
    try:
        os.domain_call(d, "Later.Crash")
    except SyscallError as ex:
        log.append(ex.errno)
    log.append(os.domain_call(ticker, "Ticker.Fire", 5))


def test_an_extension_unloaded_by_a_call_leaves_no_binding() -> None:
    log: list[Any] = []
    run = run_program(_later_main, log, kernel="spin", profile="alpha")
    assert log == ["EFAULT", None]
    assert run.kernel.dispatcher.events["Ticker.Tick"].handlers == []  # type: ignore[attr-defined]


# -- F8: extension output is the extension's ---------------------------------------

SPAM = '''
INTERFACE = "Evil"
EXPORTS = {"Init": 0}
IMPORTS = {"Event.Install": 4, "Console.Print": 1}
big = "x" * 262143


def Spam(frame):
    Console.Print(big)
    return True


def Init():
    Event.Install("Ether.PacketArrived", Spam, None, None)
'''


def _spammer(os: Any) -> int:
    os.domain_call(_load(os, SPAM), "Evil.Init")
    return 0


def _printer(os: Any) -> int:
    for _ in range(40):
        os.compute(200_000)
    try:
        os.print("bystander done", os.getpid())
    except SyscallError as ex:
        return 7 if ex.errno == "EFBIG" else 8
    return 0


def _console_boot(os: Any) -> int:
    os.wait(os.spawn(_spammer, name="spammer"))
    os.print("bystander status", os.wait(os.spawn(_printer, name="bystander"))[1])
    return 0


def test_extension_output_is_charged_to_the_extension_not_the_interrupted() -> None:
    machine = Machine("alpha")
    nic = machine.attach_nic()
    for i in range(8):
        nic.deliver(b"\x00" * 60, at=2_000_000 + 500_000 * i)
    k = Spin(machine)
    k.boot(load_function(_console_boot), name="main")
    k.run()
    lines = [line for line in k.console if "bystander" in line]
    assert lines == ["bystander done 3", "bystander status 0"]


# -- F6: contexts and ranges are bounded per owner and given back at exit ---------


def _hoarder(os: Any, log: list[Any]) -> None:
    k = os.domain_kernel()
    made = 0
    try:
        for _ in range(MAX_OWNER_CONTEXTS + 10):
            os.domain_call(k, "Translation.Create")
            made += 1
    except SyscallError as ex:
        log.append((made, ex.errno))
    for _ in range(100):                      # 100 x 4097 pages: past the area's top
        os.domain_call(k, "VirtAddr.Deallocate", os.domain_call(k, "VirtAddr.Allocate", 4096))
    log.append("reused")
    for _ in range(20):
        os.domain_call(k, "VirtAddr.Allocate", 4096)


def _hoard_main(os: Any, log: list[Any]) -> None:
    b = os.spawn(_bystander, name="bystander")
    os.wait(os.spawn(_hoarder, log, name="hoarder"))
    os.wait(b)


def test_contexts_and_ranges_are_bounded_and_given_back_at_exit() -> None:
    log: list[Any] = []
    run = run_program(_hoard_main, log, kernel="spin", profile="alpha")
    assert log == [(MAX_OWNER_CONTEXTS, "EAGAIN"), "reused"]
    assert run.console == ["bystander 1275"] and run.faults == []
    core: Any = run.kernel.core  # type: ignore[attr-defined]
    assert core._ranges == {} and core._held == {}
    assert not any(c._owner is not None for c in core._contexts.values())
    assert core._next_vpn <= TOP_VPN


# -- Low: from_module decodes no program hook --------------------------------------


class _Hostile:
    def __call__(self, x: int) -> int:
        return x

    def __getattr__(self, name: str) -> Any:
        return 1 // 0


def _module_main(os: Any, log: list[Any]) -> None:
    b = os.spawn(_bystander, name="bystander")
    for procs in ({"f": _Hostile()}, {"f": os.getpid}):
        try:
            os.domain_from_module("Evil", procs)
        except SyscallError as ex:
            log.append(ex.errno)
    d = os.domain_from_module("Mine", {"Add": _add})
    log.append(os.domain_call(d, "Mine.Add", 2, 3))
    os.wait(b)


def _add(a: int, b: int) -> int:
    return a + b


def test_from_module_takes_only_plain_functions() -> None:
    log: list[Any] = []
    run = run_program(_module_main, log, kernel="spin", profile="alpha")
    assert log == ["EINVAL", "EINVAL", 5]
    assert run.console == ["bystander 1275"] and run.faults == []
