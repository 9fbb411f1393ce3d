"""The kmsg quota's holes, each a hostile program next to a bystander whose output
must be exactly what it is alone: colluding tasks (one program's tree, or several
programs), senders that exit with messages queued, thread wakes and
notifications, and a read count past SSIZE_MAX on the program's own pipe."""
from __future__ import annotations

from typing import Any, Callable

from exolab.errors import SyscallError
from exolab.kernels.mach import MachKernel
from exolab.kernels.mach import message as msg
from exolab.kernels.mach.limits import (HEADER_SIZE, KMSG_FRAMES, KMSG_QUOTA, MAX_IO_COUNT)
from exolab.machine.machine import Machine
from tests.kernels.mach._support import lookup as _lookup

WORDS = [1, 2, 3]
TRIPS = [b"m0!", b"m1!", b"m2!"]


def _echo(os: Any) -> int:
    os.rpc_serve("echo", lambda os_, w: w + 1, 3)
    return 0


def _ports(os: Any) -> int:
    port = os.port_allocate()
    os.port_register("bystander", port)
    for _ in range(3):
        got = os.msg_receive(port)
        os.msg_reply(got[1], got[2] + b"!")
    return 0


def _bystander(os: Any) -> int:
    """Three rpc_calls, three message round trips, one UNIX call."""
    h = os.rpc_connect("echo")
    words = [os.rpc_call(h, i) for i in range(3)]
    dest = _lookup(os, "bystander")
    trips = [os.msg_rpc(dest, b"m%d" % i)[1] for i in range(3)]
    os.print("bystander", words, trips, os.getpid() > 0)
    return 0


def _main(os: Any, hostile: Callable[..., Any] | None, out: dict[str, Any],
          *args: Any) -> int:
    """Start ``hostile`` (if any) and wait until it says ``filled``; then the
    bystander and its servers; then tell the hostile it is ``done``."""
    h = None
    if hostile is not None:
        h = os.spawn(hostile, out, *args, name="hostile")
        while "filled" not in out:
            os.yield_()
        out["books"] = out["snap"]()
    _serve_bystander(os, out)
    if h is not None:
        os.wait(h)
    return 0


def _serve_bystander(os: Any, out: dict[str, Any]) -> None:
    """Start the bystander's servers, run the bystander to its end, stop the
    servers, and tell the hostiles they are ``done``."""
    servers = [os.spawn(_echo), os.spawn(_ports)]
    for _ in range(5):
        os.yield_()
    os.wait(os.spawn(_bystander, name="bystander"))
    for s in servers:
        os.wait(s)
    out["done"] = True


def _run(hostile: Callable[..., Any] | None, *args: Any) -> tuple[MachKernel, dict[str, Any]]:
    """Boot ``_main``; ``out["books"]``: (zone pages held, pages charged) when the
    hostile has filled what it could."""
    k = MachKernel(Machine("dec5000"))
    out: dict[str, Any] = {}
    out["snap"] = lambda: (KMSG_FRAMES - len(k.ipc.zone.free_ppns),
                           k.ipc.quota.statistics().pages)
    k.boot(_main, hostile, out, *args)
    k.run()
    k.machine.close()
    return k, out


def _exact(k: MachKernel) -> None:
    """The bystander's line is what it is alone; nothing faulted; the zone is whole."""
    assert [line for line in k.console if line.startswith("bystander")] == \
        ["bystander %s %s True" % (WORDS, TRIPS)]
    assert not k.faults
    z = k.ipc.statistics().zone
    assert z.allocated == z.freed and z.free_pages == KMSG_FRAMES


def _hold(os: Any, out: dict[str, Any]) -> None:
    """Yield until the top-level program says ``done`` (bounded: a run on a kernel
    where the bystander is stuck still ends)."""
    for _ in range(3000):
        if "done" in out:
            return
        os.yield_()


def test_the_bystander_alone() -> None:
    _exact(_run(None)[0])


def _colluder(os: Any, out: dict[str, Any]) -> int:
    """Queue one-page messages on two ports of its own until refused; hold them."""
    ports = [os.port_insert_send(os.port_allocate()) for _ in range(2)]
    held, errors = 0, set()
    for j in range(2 * KMSG_QUOTA + 4):
        try:
            os.msg_send(ports[j % 2], bytes(4000))
            held += 1
        except SyscallError as ex:
            errors.add(ex.errno)
    out.setdefault("held", []).append((held, sorted(errors)))
    _hold(os, out)
    return 0


def _one_tree(os: Any, out: dict[str, Any], n: int) -> int:
    kids = [os.spawn(_colluder, out) for _ in range(n)]
    while len(out.get("held", ())) < n:
        os.yield_()
    out["filled"] = True
    for c in kids:
        os.wait(c)
    return 0


def test_colluders_under_one_program_share_its_quota() -> None:
    """Twelve children of one hostile program (three took the zone before): they
    hold KMSG_QUOTA pages together, all charged, and the bystander is exact."""
    k, out = _run(_one_tree, 12)
    _exact(k)
    assert sum(h for h, _e in out["held"]) == KMSG_QUOTA
    assert {tuple(e) for h, e in out["held"]} == {("EAGAIN",)}
    assert out["books"] == (KMSG_QUOTA, KMSG_QUOTA)


def _main_programs(os: Any, out: dict[str, Any], n: int) -> int:
    """As ``_main``, the colluders spawned by the top-level program itself."""
    kids = [os.spawn(_colluder, out) for _ in range(n)]
    while len(out.get("held", ())) < n:
        os.yield_()
    out["books"] = out["snap"]()
    _serve_bystander(os, out)
    for c in kids:
        os.wait(c)
    return 0


def test_five_colluding_programs_leave_the_light_reserve_to_the_bystander() -> None:
    """Five separate programs (three took the zone before): two reach their quota,
    the other three stop at the light bound (3 pages) when only the light reserve
    is left, and the bystander, under no pressure, is exact."""
    k = MachKernel(Machine("dec5000"))
    out: dict[str, Any] = {"snap": lambda: (KMSG_FRAMES - len(k.ipc.zone.free_ppns),
                                            k.ipc.quota.statistics().pages)}
    k.boot(_main_programs, out, 5)
    k.run()
    k.machine.close()
    _exact(k)
    assert sorted(h for h, _e in out["held"]) == [3, 3, 3, KMSG_QUOTA, KMSG_QUOTA]
    assert out["books"] == (2 * KMSG_QUOTA + 9, 2 * KMSG_QUOTA + 9)


def _sender(os: Any, out: dict[str, Any]) -> int:
    """Queue one-page messages on the parent's sinks until refused, then exit."""
    sent = 0
    for i in range(KMSG_QUOTA):
        try:
            os.msg_send(os.port_lookup("sink%d" % (len(out["sent"]) % 4)), bytes(4000))
            sent += 1
        except SyscallError:
            pass
    out["sent"].append(sent)
    return 0


def _exiting_senders(os: Any, out: dict[str, Any]) -> int:
    """Four children one after another, each exiting with its messages queued on
    the hostile's ports (never received)."""
    out["sent"] = []
    for i in range(4):
        os.port_register("sink%d" % i, os.port_allocate())
    for _ in range(4):
        os.wait(os.spawn(_sender, out))
    out["filled"] = True
    _hold(os, out)
    return 0


def test_messages_a_sender_left_queued_stay_charged_to_its_principal() -> None:
    """Before, each exit dropped the charge and the next child queued 16 more: the
    third took the zone (44 pages held, 0 charged), the bystander failed ENOMEM.
    Now the messages stay queued and charged to the program: the first child's 16
    pages, the rest EAGAIN; the bystander is exact."""
    k, out = _run(_exiting_senders)
    _exact(k)
    assert out["sent"] == [KMSG_QUOTA, 0, 0, 0]
    assert out["books"] == (KMSG_QUOTA, KMSG_QUOTA)


def test_a_send_once_notification_is_paid_by_the_task_that_dropped_the_right() -> None:
    """Dropping a send-once right posts a notification (and would wake its port's
    receiver): an enqueue more than dropping a send right (it was free)."""
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        a, b = os.port_allocate(), os.port_allocate()
        sa = os.port_insert_send(a)
        for kind, lbits in (("send", msg.MAKE_SEND), ("once", msg.MAKE_SEND_ONCE)):
            os.mach_msg(msg.header(sa, b, HEADER_SIZE, msg.COPY_SEND, lbits), b"", None,
                        False)
            got = os.msg_receive(a)
            t0 = clock.now
            os.port_deallocate(got[1])
            out[kind] = clock.now - t0
        out["notice"] = os.msg_receive(b, True)[0]
        return 0

    k = MachKernel(Machine("dec5000"))
    clock = k.machine.cpu.clock
    k.boot(main)
    k.run()
    k.machine.close()
    assert not k.faults
    assert out["once"] - out["send"] == k.paths["mach_enqueue"]
    assert out["notice"] == 0x47                # MACH_NOTIFY_SEND_ONCE


def _reader(os: Any, out: dict[str, Any], n: Any) -> int:
    """read(r, n) on its own empty pipe, its write end open."""
    r, _w = os.pipe()
    out["read"] = "blocked"
    out["filled"] = True
    try:
        out["read"] = os.read(r, n)
    except SyscallError as ex:
        out["read"] = ex.errno
    return 0


def test_a_read_count_past_ssize_max_is_einval_before_it_blocks() -> None:
    """read(r, 10**20000) and read(r, SSIZE_MAX + 1) on the program's own empty
    pipe slept for ever (the run ended with the program stuck); now EINVAL at
    once, and the bystander is exact."""
    for n in (10 ** 20000, MAX_IO_COUNT + 1):
        k, out = _run(_reader, n)
        _exact(k)
        assert out["read"] == "EINVAL"


def test_a_read_with_no_writer_left_is_end_of_file() -> None:
    """A reader blocked on a pipe whose only writer (a sibling thread) closes it
    gets EOF; one whose writer writes first gets the bytes (SSIZE_MAX is a valid
    count)."""
    out: dict[str, Any] = {}

    def writer(os: Any, w: int, data: bytes) -> int:
        os.thread_yield()           # the reader is asleep by now
        if data:
            os.write(w, data)
        os.close(w)
        return 0

    def main(os: Any) -> int:
        for data in (b"", b"late"):
            r, w = os.pipe()
            os.thread_create(writer, w, data)
            out[data] = os.read(r, MAX_IO_COUNT)
            out[data, "then"] = os.read(r, MAX_IO_COUNT)
            os.close(r)
        return 0

    k = MachKernel(Machine("dec5000"))
    k.boot(main)
    k.run()
    k.machine.close()
    assert not k.faults
    assert out == {b"": b"", (b"", "then"): b"", b"late": b"late", (b"late", "then"): b""}
