"""A hostile task against the Mach kernel: forged names, rights it lacks, malformed
and oversized messages, ports dying mid-message. Each gets a clean errno; the
kernel's books balance; a bystander pair's exchange is exactly what it is alone."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.errors import SyscallError
from exolab.kernels.mach import message as msg
from exolab.kernels.mach.limits import HEADER_SIZE, MAX_MSG
from exolab.kernels.mach.server import MIG_BAD_ID

from tests.kernels.common import errno
from tests.kernels.mach._support import boot
from tests.kernels.mach._support import lookup as _lookup

ROUNDS = 6


def _bystander_server(os: Any) -> int:
    port = os.port_allocate()
    os.port_register("bystander", port)
    got = os.msg_receive(port)
    for _ in range(ROUNDS - 1):
        got = os.msg_reply_receive(got[1], got[2] + b"!", port)
    os.msg_reply(got[1], got[2] + b"!")
    os.print("server names", len(os.port_names()))
    return 0


def _bystander_client(os: Any, log: list[Any]) -> int:
    dest = _lookup(os, "bystander")
    for i in range(ROUNDS):
        log.append(os.msg_rpc(dest, b"m%d" % i))
        os.yield_()
    return 0


def _attacker(os: Any, out: dict[str, Any]) -> int:
    dest = _lookup(os, "bystander")        # a send right only
    mine = os.port_allocate()
    raw = msg.header
    out["forged"] = sorted({errno(os.msg_send, n, b"x") for n in (1, 0x100, 0x1FF,
                                                                   0xDEAD, 2**31)})
    out["receive_on_send_right"] = errno(os.msg_receive, dest, True)
    out["destroy_forged"] = errno(os.port_destroy, 0x7777)
    out["set_add_foreign"] = errno(os.port_set_add, os.port_set_allocate(), dest)
    out["make_send_without_receive"] = errno(
        os.mach_msg, raw(dest, 0, HEADER_SIZE, msg.MAKE_SEND), b"", None, False)
    out["short_header"] = errno(os.mach_msg, b"\0" * 8, b"", None, False)
    out["lying_size"] = errno(
        os.mach_msg, raw(dest, 0, HEADER_SIZE + 100, msg.COPY_SEND), b"", None, False)
    out["oversized"] = errno(
        os.mach_msg, raw(dest, 0, HEADER_SIZE + MAX_MSG + 4, msg.COPY_SEND),
        msg.item_bytes(bytes(MAX_MSG)), None, False)
    out["bad_item"] = errno(
        os.mach_msg, raw(dest, 0, HEADER_SIZE + 4, msg.COPY_SEND), b"\xff\0\0\0", None,
        False)
    out["carry_foreign_receive"] = errno(os.msg_send, dest, b"", 0,
                                         ((msg.MOVE_RECEIVE, dest),))
    out["not_bytes_header"] = errno(os.mach_msg, [1, 2, 3], b"", None, False)
    out["receive_forged"] = errno(os.msg_receive, 0x5555, True)
    out["junk_to_ux"] = os.msg_rpc(0x103, b"junk", 7)[0]   # the UX server's port
    os.msg_send(0x103, b"more junk")
    out["ux_still_serves"] = os.getpid() > 0
    os.msg_send(os.port_insert_send(mine), b"self")
    out["own_port_still_fine"] = os.msg_receive(mine, True)[2]
    return 0


def _main(os: Any, attack: bool, log: list[Any], out: dict[str, Any]) -> int:
    os.spawn(_bystander_server, name="server")
    os.thread_create(_bystander_client, log)
    if attack:
        os.spawn(_attacker, out, name="attacker")
    os.wait()
    if attack:
        os.wait()
    return 0


def test_hostile_calls_fail_cleanly_and_the_bystander_is_exact() -> None:
    alone: list[Any] = []
    k0 = boot(_main, False, alone, {})
    attacked: list[Any] = []
    out: dict[str, Any] = {}
    k1 = boot(_main, True, attacked, out)
    assert not k0.faults and not k1.faults
    assert attacked == alone == [(0, b"m%d!" % i, ()) for i in range(ROUNDS)]
    assert [line for line in k1.console if "server" in line] == \
        [line for line in k0.console if "server" in line]
    assert out == {
        "forged": ["EBADF"], "receive_on_send_right": "EPERM",
        "destroy_forged": "EBADF", "set_add_foreign": "EPERM",
        "make_send_without_receive": "EPERM", "short_header": "EINVAL",
        "lying_size": "EINVAL", "oversized": "EINVAL", "bad_item": "EINVAL",
        "carry_foreign_receive": "EPERM", "not_bytes_header": "EINVAL",
        "receive_forged": "EBADF", "own_port_still_fine": b"self",
        "junk_to_ux": MIG_BAD_ID, "ux_still_serves": True}
    for k in (k0, k1):
        z = k.ipc.statistics().zone
        assert z.allocated == z.freed           # no kernel buffer leaked


def _dying_server(os: Any) -> int:
    port = os.port_allocate()
    os.port_register("dies", port)
    for _ in range(3):
        os.yield_()                 # the client's request is queued by now
    os.port_destroy(port)           # dies with a request in its queue
    return 0


def test_a_port_dying_with_a_request_queued_wakes_the_client_with_epipe() -> None:
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        os.spawn(_dying_server)
        dest = _lookup(os, "dies")
        out["rpc"] = errno(os.msg_rpc, dest, b"hello")
        out["after"] = errno(os.msg_send, dest, b"again")
        os.wait()
        return 0

    k = boot(main)
    assert out == {"rpc": "EPIPE", "after": "EPIPE"} and not k.faults
    z = k.ipc.statistics().zone
    assert z.allocated == z.freed


def test_a_receiver_blocked_on_a_port_destroyed_by_its_sibling_gets_epipe() -> None:
    out: dict[str, Any] = {}

    def waiter(os: Any, port: int) -> int:
        out["recv"] = errno(os.msg_receive, port)
        return 0

    def main(os: Any) -> int:
        port = os.port_allocate()
        os.thread_create(waiter, port)
        os.thread_yield()           # the waiter blocks in its receive
        os.port_destroy(port)
        os.thread_yield()
        return 0

    k = boot(main)
    assert out == {"recv": "EPIPE"} and not k.faults


def test_a_server_that_exits_with_queued_requests_frees_them() -> None:
    out: dict[str, Any] = {}

    def server(os: Any) -> int:
        port = os.port_allocate()
        os.port_register("quits", port)
        for _ in range(4):
            os.yield_()
        return 0                    # exits without receiving

    def client(os: Any, i: int) -> int:
        out[i] = errno(os.msg_rpc, _lookup(os, "quits"), b"q")
        return 0

    def main(os: Any) -> int:
        os.spawn(server)
        for i in range(3):
            os.spawn(client, i)
        for _ in range(4):
            os.wait()
        return 0

    k = boot(main)
    assert out == {0: "EPIPE", 1: "EPIPE", 2: "EPIPE"}
    z = k.ipc.statistics().zone
    assert z.allocated == z.freed and not k.faults


@pytest.mark.parametrize("name", ["port_destroy", "port_deallocate", "port_insert_send"])
def test_name_calls_take_exact_ints(name: str) -> None:
    out: dict[str, Any] = {}

    class Liar(int):
        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            return 0x103

    def main(os: Any) -> int:
        os.port_allocate()
        out["e"] = errno(getattr(os, name), Liar(0x103))
        out["names"] = len(os.port_names())
        return 0

    boot(main)
    assert out["e"] == "EBADF"


def test_filling_the_kernel_buffer_zone_cannot_stop_unix_calls() -> None:
    """Three hogs (three programs), each to its quota (16 pages) where the zone
    lets it: two take every page a send under pressure may, the third one
    message of the light reserve before the zone refuses it, and UNIX calls,
    theirs and a bystander's, still run on the reserve."""
    out: dict[str, Any] = {}

    def hog(os: Any, i: int) -> int:
        errors = set()
        for _ in range(8):          # 8 ports x 16 two-page messages: past the quota
            p = os.port_insert_send(os.port_allocate())
            for _ in range(16):
                try:
                    os.msg_send(p, bytes(5000))
                except SyscallError as ex:
                    errors.add(ex.errno)
        out["hog%d" % i] = sorted(errors)
        out["hog%d_getpid" % i] = os.getpid() > 0
        while "done" not in out:
            os.thread_yield()       # holds its messages until told
        return 0

    def main(os: Any) -> int:
        hogs = []
        for i in range(3):
            hogs.append(os.spawn(hog, i))
            while "hog%d" % i not in out:
                os.yield_()
        out["pipe"] = os.write(os.pipe()[1], b"still served")
        out["done"] = True
        for h in hogs:
            os.wait(h)
        return 0

    k = boot(main)
    assert out == {"hog0": ["EAGAIN"], "hog1": ["EAGAIN"], "hog2": ["ENOMEM"],
                   "hog0_getpid": True, "hog1_getpid": True, "hog2_getpid": True,
                   "pipe": 12, "done": True}
    z = k.ipc.statistics().zone
    assert z.allocated == z.freed and not k.faults


def test_a_mach_trap_with_the_wrong_arity_is_einval_naming_the_count() -> None:
    from exolab.kernels.mach.kernel import MACH_BASE, MACH_TRAPS
    out: list[Any] = []

    def main(os: Any) -> int:
        for name, args in (("thread_self", (1,)), ("mach_msg", (None, b""))):
            try:
                os._trap(MACH_BASE + MACH_TRAPS.index(name), *args)
            except SyscallError as ex:
                out.append((ex.errno, ex.fields.get("expected"), ex.fields.get("actual")))
        return 0

    boot(main)
    assert out == [("EINVAL", 0, 1), ("EINVAL", 4, 2)]


# -- parking: wait ports under hostile use -------------------------------------------

STORM = 300


def _park_bystander(os: Any, log: list[Any]) -> int:
    """A task whose two threads hand a turn back and forth by park/unpark."""
    main = os.thread_id()
    turn = [0]

    def partner(os: Any) -> int:
        for i in range(ROUNDS):
            while turn[0] != 1:
                os.thread_park()
            log.append(("pong", i))
            turn[0] = 0
            os.thread_unpark(main)
        return 0

    t = os.thread_create(partner)
    for i in range(ROUNDS):
        turn[0] = 1
        os.thread_unpark(t)
        while turn[0] != 0:
            os.thread_park()
        log.append(("ping", i))
    return 0


def _park_attacker(os: Any, out: dict[str, Any]) -> int:
    """Unpark storms, parks in a loop, its own wait port destroyed or stuffed, a
    thread ending with a wake queued, and an exit with a thread parked."""
    me = os.thread_id()
    before = {n for n, _r in os.port_names()}
    for _ in range(STORM):                      # a storm on itself: one token
        os.thread_unpark(me)
    os.thread_park()                            # takes it at once
    wait = [n for n, _r in os.port_names() if n not in before]
    out["wait_port_rights"] = [r for n, r in os.port_names() if n in wait]
    state = {"parks": 0, "stop": False}

    def looper(os: Any) -> int:                 # parks in a loop until told to stop
        while not state["stop"]:
            os.thread_park()
            state["parks"] += 1
        return 0

    t = os.thread_create(looper)
    for _ in range(STORM):                      # a storm on a sibling, unparked or not
        os.thread_unpark(t)
        os.yield_()
    state["stop"] = True
    os.thread_unpark(t)
    while True:                                 # until it has ended (ESRCH)
        try:
            os.thread_unpark(t)
        except SyscallError as ex:
            out["ended"] = ex.errno
            break
        os.yield_()
    out["looper_parks_bounded"] = state["parks"] <= STORM + 2
    os.port_destroy(wait[0])                    # its own wait port: a fresh one next
    held = {n for n, _r in os.port_names()}
    os.thread_unpark(me)
    os.thread_park()
    fresh = [n for n, _r in os.port_names() if n not in held]
    out["fresh_port"] = len(fresh) == 1
    junk = os.port_allocate()                   # stuff the wait port by hand, a right
    os.msg_send(fresh[0], b"junk", 7, ((msg.MAKE_SEND, junk),))     # carried
    out["stuffed_full"] = errno(os.msg_send, fresh[0], b"more")
    os.thread_park()                            # a spurious wake; the right dropped
    out["names_after_junk"] = len(os.port_names())

    def queued(os: Any) -> int:                 # ends with a wake queued for it
        os.yield_()
        return 0

    q = os.thread_create(queued)
    os.thread_unpark(q)
    for _ in range(4):
        os.yield_()

    def sleeper(os: Any) -> int:                # still parked when the task exits
        os.thread_park()
        return 0

    for _ in range(3):
        s = os.thread_create(sleeper)
        os.thread_unpark(me)                    # and a wake queued on its own port
    os.thread_unpark(s)
    os.thread_unpark(s)
    for _ in range(4):
        os.yield_()
    os.thread_create(sleeper)
    os.yield_()
    os.exit(0)
    return 0


def _park_main(os: Any, attack: bool, log: list[Any], out: dict[str, Any]) -> int:
    os.spawn(_park_bystander, log, name="bystander")
    if attack:
        os.spawn(_park_attacker, out, name="attacker")
    os.wait()
    if attack:
        os.wait()
    return 0


def test_hostile_parking_is_contained_and_the_bystander_is_exact() -> None:
    alone: list[Any] = []
    k0 = boot(_park_main, False, alone, {})
    attacked: list[Any] = []
    out: dict[str, Any] = {}
    k1 = boot(_park_main, True, attacked, out)
    assert not k0.faults and not k1.faults
    assert alone == attacked == [e for i in range(ROUNDS)
                                 for e in (("pong", i), ("ping", i))]
    assert out == {"wait_port_rights": ["receive+send"], "ended": "ESRCH",
                   "looper_parks_bounded": True, "fresh_port": True,
                   "stuffed_full": "EAGAIN", "names_after_junk": 6}
    # (ux, reply, kernel, the fresh wait port, junk, and the task's cproc wait port:
    # the looper's kernel thread retired onto it, cprocs.py)
    for k in (k0, k1):
        z = k.ipc.statistics().zone
        assert z.allocated == z.freed           # no wake message leaked
        w = k.statistics().wait_ports
        assert w.live == 0 and w.reclaimed == w.ports
        assert k.statistics().idle_threads.idle == 0    # retired ones ended with tasks
        assert k.statistics().frames_in_use - k.statistics().frames_retained == 0
    w1 = k1.statistics().wait_ports
    assert w1.merged >= STORM - 1               # the storms queued one wake each


# -- threads: the retired-thread pool, wait ports, the reuse path's decoding -----------


def _abi_mach(program: Any) -> Any:
    """Run ``program(os)`` as the first task of the ABI on Mach; the kernel."""
    from exolab.kernels import make_kernel
    from exolab.machine import Machine
    k = make_kernel("mach", Machine("dec5000", frames=4096))
    k.boot(program)
    res = k.run()
    assert res.reason == "finished", (res, k.console, k.faults)
    return k


def _books(k: Any) -> dict[str, int]:
    """What the kernel holds for tasks: live ports, wait ports, idle kernel threads."""
    st = k.statistics()
    return {"ports": st.ipc.ports - st.ipc.dead_ports, "wait": st.wait_ports.live,
            "idle": st.idle_threads.idle,
            "frames": st.frames_in_use - st.frames_retained}


def test_thousands_of_threads_keep_the_pool_at_the_peak_and_leak_nothing() -> None:
    """About 1,200 threads in waves of at most 8, each parking once: the retired pool never
    holds more kernel threads than the peak that was live, the task's port names do
    not grow with the thread count, and everything goes with the task."""
    seen: dict[str, Any] = {"idle": 0, "names": set()}
    ks: list[Any] = []

    def main(os: Any) -> None:
        done = [0]

        def worker(os: Any) -> None:
            os.thread_park()
            done[0] += 1

        for wave in range(270):
            width = 1 + wave % 8
            target = done[0] + width
            tids = [os.thread_create(worker) for _ in range(width)]
            for t in tids:
                os.thread_unpark(t)
            while done[0] < target:
                os.thread_yield()
            for _ in range(3):
                os.thread_yield()
            seen["idle"] = max(seen["idle"], ks[0].idle.statistics().idle)
            seen["names"].add(len(os.port_names()))
        seen["done"] = done[0]

    from exolab.kernels import make_kernel
    from exolab.machine import Machine
    k = make_kernel("mach", Machine("dec5000", frames=4096))
    ks.append(k)
    before = _books(k)
    k.boot(main)
    assert k.run().reason == "finished", (k.console, k.faults)
    assert seen["done"] == sum(1 + w % 8 for w in range(270))
    assert seen["idle"] <= 8
    assert max(seen["names"]) - min(seen["names"]) <= 2, seen["names"]
    after = _books(k)
    assert after["wait"] == after["idle"] == 0 and after["frames"] == before["frames"]
    assert after["ports"] <= before["ports"] + 2       # (the services' own, if any)


def test_a_task_that_destroys_a_parked_threads_wait_port_only_wakes_it() -> None:
    """The wait ports are the task's ports (docs: mach/threads.py): destroying one
    under a parked thread wakes that thread; its next park gets a fresh port and
    still needs an unpark; other tasks never see any of it."""
    out: dict[str, Any] = {}

    def main(os: Any) -> None:
        log: list[str] = []

        def sleeper(os: Any) -> None:
            os.thread_park()
            log.append("woke")
            os.thread_park()
            log.append("woke again")

        names0 = {n for n, _kind in os.port_names()}
        t = os.thread_create(sleeper)
        for _ in range(5):
            os.thread_yield()
        fresh = [n for n, _kind in os.port_names() if n not in names0]
        out["fresh"] = len(fresh)
        for n in fresh:
            os.port_destroy(n)
        for _ in range(5):
            os.thread_yield()
        out["after destroy"] = list(log)
        for _ in range(5):
            os.thread_yield()
        out["still parked"] = list(log)
        os.thread_unpark(t)
        while len(log) < 2:
            os.thread_yield()
        out["log"] = log

    k = _abi_mach(main)
    assert out["fresh"] == 1
    assert out["after destroy"] == out["still parked"] == ["woke"]
    assert out["log"] == ["woke", "woke again"]
    assert _books(k)["wait"] == 0 and _books(k)["idle"] == 0


def test_hostile_thread_arguments_on_the_reuse_path_change_nothing() -> None:
    """thread_create with retired kernel threads waiting: bad entries and bad
    argument tuples are EINVAL before the wakeup is sent, so the pool and the wait
    port's queue are exactly as before, and the next good fork still reuses."""
    from tests.kernels.hostile import Hostile, LyingInt
    from exolab.kernels.monolithic.syscall import Sys as USys
    out: dict[str, Any] = {}
    ks: list[Any] = []

    def main(os: Any) -> None:
        def quick(os: Any, *a: Any) -> None:
            out.setdefault("ran", []).append(a)

        for _ in range(3):
            os.thread_create(quick, 1)
        while len(out.get("ran", ())) < 3:
            os.thread_yield()
        for _ in range(3):
            os.thread_yield()
        idle0 = ks[0].idle.statistics()
        raw = os._trap
        bad = [(quick, Hostile()), (quick, LyingInt(2)), (quick, {1: 2}), (quick, "ab"),
               (Hostile(), ()), (None, ()), (LyingInt(1), ()), (quick, None)]
        out["errs"] = sorted({err_of(raw, int(USys.THREAD_CREATE), *b) for b in bad})
        out["same"] = ks[0].idle.statistics() == idle0
        os.thread_create(quick, 2)
        while len(out["ran"]) < 4:
            os.thread_yield()
        out["reused"] = ks[0].idle.statistics().reused - idle0.reused

    def err_of(call: Any, *args: Any) -> str:
        try:
            call(*args)
        except SyscallError as e:
            return str(e.errno)
        return "no error"

    from exolab.kernels import make_kernel
    from exolab.machine import Machine
    k = make_kernel("mach", Machine("dec5000", frames=4096))
    ks.append(k)
    k.boot(main)
    assert k.run().reason == "finished", (k.console, k.faults)
    assert out["errs"] == ["EINVAL"]
    assert out["same"] and out["reused"] == 1
    assert out["ran"][-1] == (2,)


# -- the kmsg zone and the name spaces against tasks that leave things behind ----------


def _echo_server(os: Any) -> int:
    os.rpc_serve("echo", lambda os, w: w + 1, 3)
    return 0


def _echo_client(os: Any, log: list[Any]) -> int:
    h = os.rpc_connect("echo")
    log.extend(os.rpc_call(h, i) for i in range(3))
    return 0


def _echo_pair(os: Any, log: list[Any]) -> None:
    """The bystander: three ABI rpc calls (Mach messages) between two tasks."""
    s = os.spawn(_echo_server)
    for _ in range(5):
        os.yield_()
    os.wait(os.spawn(_echo_client, log))
    os.wait(s)


def _zone_whole(k: Any) -> bool:
    """Every kmsg freed and every zone page back."""
    from exolab.kernels.mach.limits import KMSG_FRAMES
    z = k.ipc.statistics().zone
    return z.allocated == z.freed and z.free_pages == KMSG_FRAMES


ORPHANS = 50


def _holding_pager(os: Any, n: int, out: dict[str, Any]) -> int:
    """Takes each data request and sits on it while its client dies; answers the
    even ones late and keeps the odd ones' rights to the end (its death sends them
    their send-once notifications)."""
    port = os.port_allocate()
    os.port_register("pgr", port)
    late = 0
    for i in range(n):
        reply = os.msg_receive(port)[1]
        for _ in range(20):
            os.thread_yield()
        if i % 2 == 0:
            try:
                os.msg_reply(reply, b"page data")
            except SyscallError as ex:
                late += ex.errno == "EPIPE"
                os.port_deallocate(reply)       # a dead name now: the pager drops it
    out["late"] = late
    out["pager_names"] = len(os.port_names()) <= 4 + n // 2
    return 0


def _orphan_client(os: Any) -> int:
    region = os.vm_allocate_pager(4096, _lookup(os, "pgr"))
    os.thread_create(lambda os: os.load(region))     # blocks in the pager fault
    os.thread_yield()
    os.thread_yield()
    os.exit(0)                  # the task ends under its faulting thread
    return 0


def _orphan_main(os: Any, attack: bool, log: list[Any], out: dict[str, Any]) -> int:
    if attack:
        p = os.spawn(_holding_pager, ORPHANS, out)
        for _ in range(5):
            os.yield_()
        for _ in range(ORPHANS):
            os.wait(os.spawn(_orphan_client))
        os.wait(p)
    _echo_pair(os, log)
    return 0


def test_tasks_dying_in_pager_faults_leave_no_kernel_buffers() -> None:
    """M1: the kernel's reply port of a fault dies with the fault, so neither the
    pager's late answer nor its death notice is left queued on it; 50 of them once
    drained the zone's reserve and crashed the simulator in a task's teardown."""
    alone: list[Any] = []
    k0 = boot(_orphan_main, False, alone, {})
    attacked: list[Any] = []
    out: dict[str, Any] = {}
    k1 = boot(_orphan_main, True, attacked, out)
    assert alone == attacked == [1, 2, 3]
    assert not k0.faults and not k1.faults
    assert out["late"] > 0 and out["pager_names"]
    assert _zone_whole(k0) and _zone_whole(k1)
    st = k1.statistics().ipc
    assert st.ports - st.dead_ports == k0.statistics().ipc.ports - \
        k0.statistics().ipc.dead_ports          # every reply port died


def test_a_pagers_answer_carrying_rights_leaves_nothing_in_flight() -> None:
    """A pager answers a fault with a receive right whose port holds messages and
    with send-once rights: the kernel destroys what it will never use (the port
    dies, its messages are freed) instead of keeping it in flight for ever."""
    out: dict[str, Any] = {}

    def pager(os: Any) -> int:
        port, notify = os.port_allocate(), os.port_allocate()
        os.port_register("pgr", port)
        for _ in range(3):
            reply = os.msg_receive(port)[1]
            stuffed = os.port_allocate()
            send = os.port_insert_send(stuffed)
            for _ in range(16):
                os.msg_send(send, bytes(3000))
            os.msg_reply(reply, b"page", 0, ((msg.MOVE_RECEIVE, stuffed),
                                             (msg.MAKE_SEND_ONCE, notify)))
        for _ in range(5):
            os.yield_()                 # the client takes the last answer
        out["notices"] = [os.msg_receive(notify, True)[0] for _ in range(3)]
        return 0

    def main(os: Any, log: list[Any]) -> int:
        p = os.spawn(pager)
        region = os.vm_allocate_pager(3 * 4096, _lookup(os, "pgr"))
        out["pages"] = [os.load_bytes(region + i * 4096, 4) for i in range(3)]
        os.wait(p)
        _echo_pair(os, log)
        return 0

    log: list[Any] = []
    k = boot(main, log)
    from exolab.kernels.mach.ipc import NOTIFY_SEND_ONCE
    assert out == {"pages": [b"page"] * 3, "notices": [NOTIFY_SEND_ONCE] * 3}
    assert log == [1, 2, 3] and not k.faults and _zone_whole(k)


UX_CALLS = 200


def _ux_stuffer(os: Any, out: dict[str, Any]) -> int:
    """Fills its own UX reply port's queue, then makes UNIX calls."""
    reply = os.port_names()[1][0]       # its UX reply port (the receive right)
    send = os.port_insert_send(reply)
    for _ in range(16):
        os.msg_send(send, b"x")
    out["full"] = errno(os.msg_send, send, b"x")
    pids = set()
    for _ in range(UX_CALLS):
        pids.add(os.getpid())           # each answered: a reply is a send-once message
    out["pids"] = len(pids)
    return 0


def _ux_bystander(os: Any, log: list[Any]) -> int:
    r, w = os.pipe()
    os.write(w, b"hello")
    log.append((os.read(r, 5), os.getpid() > 0))
    return 0


def _ux_main(os: Any, attack: bool, log: list[Any], out: dict[str, Any]) -> int:
    if attack:
        os.wait(os.spawn(_ux_stuffer, out))
    os.wait(os.spawn(_ux_bystander, log))
    _echo_pair(os, log)
    return 0


def test_a_full_reply_port_costs_the_ux_server_no_names(monkeypatch: Any) -> None:
    """M2: a task that fills its own reply port still gets its UNIX calls answered
    (no queue limit holds a reply back), and the server's space keeps one name. With
    the name spaces cut to 64 names, 200 calls once filled the server's space and
    every task's UNIX calls failed."""
    from exolab.kernels.mach import ports
    monkeypatch.setattr(ports, "MAX_NAMES", 64)
    alone: list[Any] = []
    k0 = boot(_ux_main, False, alone, {})
    attacked: list[Any] = []
    out: dict[str, Any] = {}
    k1 = boot(_ux_main, True, attacked, out)
    assert alone == attacked == [(b"hello", True), 1, 2, 3]
    assert out == {"full": "EAGAIN", "pids": 1}
    assert not k0.faults and not k1.faults
    assert len(k1.ipc.space(k1.ux.task).entries) == 1
    assert _zone_whole(k0) and _zone_whole(k1)


def test_a_receive_into_a_full_space_keeps_the_message(monkeypatch: Any) -> None:
    """M2: a receive that cannot name the rights a message carries fails EAGAIN and
    leaves the message queued (it was dequeued and lost, rights and kmsg)."""
    from exolab.kernels.mach import ports
    monkeypatch.setattr(ports, "MAX_NAMES", 16)
    out: dict[str, Any] = {}

    def main(os: Any) -> int:
        port = os.port_allocate()
        send = os.port_insert_send(port)
        carried = os.port_allocate()
        os.msg_send(send, b"with a right", 0, ((msg.MAKE_SEND, carried),))
        os.port_destroy(carried)        # (the carried right now needs a new name)
        fill = []
        while True:
            try:
                fill.append(os.port_allocate())
            except SyscallError:
                break
        out["full"] = errno(os.msg_receive, port, True)
        os.port_destroy(fill.pop())
        got = os.msg_receive(port, True)
        out["after"] = (got[2], len(got[3]))
        return 0

    k = boot(main)
    assert out == {"full": "EAGAIN", "after": (b"with a right", 1)}
    assert not k.faults and _zone_whole(k)


def _notifier(os: Any, rounds: int, out: dict[str, Any]) -> int:
    """Makes 16 send-once rights to its own port per message and drops each, so
    every drop is a send-once notification; holds them until told, then takes them."""
    from struct import pack
    a = os.port_allocate()
    b = os.port_insert_send(os.port_allocate())
    items = msg.item_port(msg.MAKE_SEND_ONCE, a) * 16
    made = 0
    for _ in range(rounds):
        os.mach_msg(pack("<IIIIII", msg.COPY_SEND, HEADER_SIZE + len(items), b, 0, 0, 0),
                    items, None, False)
        for so in os.msg_receive(b, True)[3]:
            os.port_deallocate(so)
            made += 1
    out["made"] = made
    while "done" not in out:
        os.thread_yield()
    got = []
    while True:
        try:
            got.append(os.msg_receive(a, True)[0])
        except SyscallError:
            break
    out["notices"] = len(got), set(got)
    return 0


def _notify_main(os: Any, attack: bool, log: list[Any], out: dict[str, Any]) -> int:
    if attack:
        n = os.spawn(_notifier, 10, out)
        for _ in range(50):
            os.yield_()
    os.wait(os.spawn(_ux_bystander, log))
    _echo_pair(os, log)
    out["done"] = True
    if attack:
        os.wait(n)
    return 0


def test_send_once_notifications_take_no_kernel_buffers() -> None:
    """M3: 160 dropped send-once rights are 160 notifications pending on one port;
    they take no zone page (they once drained the zone, reserve and all, and every
    UNIX call of every task failed ENOMEM), and each is received in the end."""
    from exolab.kernels.mach.ipc import NOTIFY_SEND_ONCE
    alone: list[Any] = []
    k0 = boot(_notify_main, False, alone, {})
    attacked: list[Any] = []
    out: dict[str, Any] = {}
    k1 = boot(_notify_main, True, attacked, out)
    assert alone == attacked == [(b"hello", True), 1, 2, 3]
    assert out == {"made": 160, "done": True, "notices": (160, {NOTIFY_SEND_ONCE})}
    assert not k0.faults and not k1.faults
    assert _zone_whole(k0) and _zone_whole(k1)


def _cycler(os: Any, out: dict[str, Any]) -> int:
    """Tries to queue receive rights in a cycle (two ports, then three), and exits
    with legal chains in flight (5 rounds of 3 one-page kmsgs: inside its quota;
    two cyclers run, one after the other)."""
    def move(dest: int, carried: int) -> Any:
        return os.msg_send(dest, b"", 0, ((msg.MOVE_RECEIVE, carried),))

    refused = []
    for _ in range(5):
        p, q, r = (os.port_allocate() for _ in range(3))
        for n in (p, q, r):
            os.port_insert_send(n)
        move(p, q)                      # q's receive right queued on p
        refused.append(errno(move, q, p))       # p's on q: a cycle
        move(q, r)                      # r's on q (q in flight on p): a chain
        refused.append(errno(move, r, p))       # p's on r: p -> r -> q -> p
        os.msg_send(r, bytes(2000))     # a message in the chain's last queue
    before = out.get("refused", ([], 0))
    out["refused"] = sorted(set(refused) | set(before[0])), len(refused) + before[1]
    return 0


def _cycle_main(os: Any, attack: bool, log: list[Any], out: dict[str, Any]) -> int:
    if attack:
        os.wait(os.spawn(_cycler, out))
        os.wait(os.spawn(_cycler, out))
    _echo_pair(os, log)
    return 0


def test_receive_rights_cannot_be_queued_in_a_cycle() -> None:
    """M4: a receive right sent to a port whose receive right it (transitively)
    carries is refused (Mach's circularity check), so every port in flight is
    reachable from a live task and dies with it; 22 such cycles once held the zone
    at its reserve after the task was gone, and every user message failed ENOMEM."""
    alone: list[Any] = []
    k0 = boot(_cycle_main, False, alone, {})
    attacked: list[Any] = []
    out: dict[str, Any] = {}
    k1 = boot(_cycle_main, True, attacked, out)
    assert alone == attacked == [1, 2, 3]
    assert out == {"refused": (["EINVAL"], 20)}
    assert not k0.faults and not k1.faults
    assert _zone_whole(k0) and _zone_whole(k1)
    st = k1.statistics().ipc
    assert st.ports - st.dead_ports == k0.statistics().ipc.ports - \
        k0.statistics().ipc.dead_ports


def _fault_flooder(os: Any, out: dict[str, Any]) -> int:
    """60 threads fault on pages of the task's own pager port, never received."""
    send = os.port_insert_send(os.port_allocate())
    region = os.vm_allocate_pager(64 * 4096, send)
    for i in range(60):
        os.thread_create(lambda os, va: os.load(va), region + i * 4096)
    while "done" not in out:
        os.thread_yield()
    return 0


def _flood_main(os: Any, attack: bool, log: list[Any], out: dict[str, Any]) -> int:
    if attack:
        f = os.spawn(_fault_flooder, out)
        for _ in range(50):
            os.yield_()
    os.wait(os.spawn(_ux_bystander, log))
    _echo_pair(os, log)
    out["done"] = True
    if attack:
        out["flooder"] = os.wait(f)[1]
    return 0


def test_faults_on_a_pager_that_never_receives_cannot_drain_the_reserve() -> None:
    """A data request is the faulting task's message: it may not take the zone's
    reserve, so faults piling up on a pager that never receives end in SIGSEGV for
    that task (they once took the whole zone, and every UNIX call failed ENOMEM)."""
    alone: list[Any] = []
    k0 = boot(_flood_main, False, alone, {})
    attacked: list[Any] = []
    out: dict[str, Any] = {}
    k1 = boot(_flood_main, True, attacked, out)
    assert alone == attacked == [(b"hello", True), 1, 2, 3]
    assert out == {"done": True, "flooder": "SIGSEGV"}
    assert not k0.faults and [f[1] for f in k1.faults] == ["SIGSEGV"]
    assert _zone_whole(k0) and _zone_whole(k1)


def _set_b(os: Any, out: dict[str, Any]) -> int:
    inbox = os.port_allocate()
    os.port_register("b", inbox)
    got = os.msg_receive(inbox)                 # carries P's receive right
    while "sent" not in out:
        os.thread_yield()
    try:
        out["b_on_p"] = os.msg_receive(got[3][0], True)[2]
    except SyscallError as ex:
        out["b_on_p"] = ex.errno
    return 0


def _set_a(os: Any, out: dict[str, Any]) -> int:
    b = _lookup(os, "b")
    p, s = os.port_allocate(), os.port_set_allocate()
    os.port_set_add(s, p)
    sp = os.port_insert_send(p)
    os.msg_send(b, b"", 0, ((msg.MOVE_RECEIVE, p),))     # P's receive right to B
    for _ in range(10):
        os.yield_()
    os.msg_send(sp, b"for B only")
    out["sent"] = True
    out["a_on_set"] = errno(os.msg_receive, s, True)
    q = os.port_allocate()
    qs = os.port_insert_send(q)
    os.msg_send(qs, b"", 0, ((msg.MAKE_SEND_ONCE, q),))
    so = os.msg_receive(q, True)[3][0]
    out["twice"] = errno(os.msg_send, qs, b"", 0,
                         ((msg.MOVE_SEND_ONCE, so), (msg.MOVE_SEND_ONCE, so)))
    out["once_still"] = len(os.msg_send(qs, b"", 0, ((msg.MOVE_SEND_ONCE, so),)) or ()) >= 0
    out["got_one"] = len(os.msg_receive(q, True)[3])
    out["send_twice_one_ref"] = errno(os.msg_send, qs, b"", 0,
                                      ((msg.MOVE_SEND, qs), (msg.MOVE_SEND, qs)))
    return 0


def _set_main(os: Any, log: list[Any], out: dict[str, Any]) -> int:
    os.spawn(_bystander_server, name="server")
    os.thread_create(_bystander_client, log)
    os.spawn(_set_b, out)
    for _ in range(5):
        os.yield_()
    os.spawn(_set_a, out)
    for _ in range(3):
        os.wait()
    return 0


def test_a_moved_receive_right_leaves_its_set_and_a_right_moves_once() -> None:
    """A port whose receive right was sent away no longer feeds the old task's
    port set (its new holder gets the message), and one send-once right named
    twice in a message is EINVAL (it had become two rights); the bystander pair
    is exact."""
    log: list[Any] = []
    out: dict[str, Any] = {}
    k = boot(_set_main, log, out)
    assert not k.faults
    assert log == [(0, b"m%d!" % i, ()) for i in range(ROUNDS)]
    assert out["a_on_set"] == "EAGAIN" and out["b_on_p"] == b"for B only"
    assert out["twice"] == "EINVAL" and out["got_one"] == 1
    assert out["send_twice_one_ref"] == "EINVAL"
    z = k.ipc.statistics().zone
    assert z.allocated == z.freed


def _quota_hog(os: Any, out: dict[str, Any]) -> int:
    """Sends one-page messages round-robin to four ports of its own that it never
    receives from, and keeps trying (yielding between tries) until told to stop:
    without a quota 44 of them take every page user sends may."""
    ports = [os.port_insert_send(os.port_allocate()) for _ in range(4)]
    sent, errors, i = 0, set(), 0
    while "done" not in out and i < 2000:       # (bounded: a run never hangs)
        try:
            os.msg_send(ports[i % 4], bytes(4000))      # 24 + 4 + 4000 bytes: one page
            sent += 1
        except SyscallError as ex:
            errors.add(ex.errno)
            out["full"] = True
        i += 1
        if i > 60:
            os.thread_yield()
    out["hog"] = sent, sorted(errors), "done" in out
    return 0


def _quota_bystander(os: Any) -> int:
    """Three rpc_calls and three message round trips to a server of its own."""
    h = os.rpc_connect("echo")
    words = [os.rpc_call(h, i) for i in range(3)]
    dest = _lookup(os, "bystander")
    trips = [os.msg_rpc(dest, b"m%d" % i)[1] for i in range(ROUNDS)]
    os.print("bystander", words, trips)
    return 0


def _quota_main(os: Any, attack: bool, out: dict[str, Any]) -> int:
    if attack:
        hog = os.spawn(_quota_hog, out, name="hog")
        while "full" not in out:
            os.yield_()
    servers = [os.spawn(_echo_server), os.spawn(_bystander_server, name="server")]
    for _ in range(5):
        os.yield_()
    os.wait(os.spawn(_quota_bystander, name="bystander"))
    for s in servers:
        os.wait(s)
    out["done"] = True
    if attack:
        os.wait(hog)
    return 0


def _quota_run(attack: bool, out: dict[str, Any]) -> tuple[Any, int]:
    """Boot ``_quota_main``; return the kernel and the zone's free pages at boot."""
    from exolab.kernels.mach import MachKernel
    from exolab.machine.machine import Machine
    k = MachKernel(Machine("dec5000"))
    k.boot(_quota_main, attack, out)
    start = k.ipc.statistics().zone.free_pages
    k.run()
    k.machine.close()
    return k, start


def test_a_task_past_its_kmsg_quota_cannot_starve_a_bystanders_rpc() -> None:
    """The bug: one task queueing one-page messages nobody receives took the whole
    shared zone, and a bystander's rpc_call failed ENOMEM. Now the hog stops at
    KMSG_QUOTA pages with EAGAIN (however long it keeps trying), the bystander's
    calls are exactly what they are alone, and the zone is whole after."""
    k0, start0 = _quota_run(False, {})
    out: dict[str, Any] = {}
    k1, start1 = _quota_run(True, out)
    expect = "bystander [1, 2, 3] [%s]" % ", ".join(repr(b"m%d!" % i) for i in range(ROUNDS))
    for k in (k0, k1):
        assert [line for line in k.console if line.startswith("bystander")] == [expect]
        assert not k.faults
    from exolab.kernels.mach.limits import KMSG_QUOTA
    assert out["hog"] == (KMSG_QUOTA, ["EAGAIN"], True)    # its quota, then EAGAIN
    q = k1.ipc.quota.statistics()
    assert q.peak == KMSG_QUOTA and q.refused > 0
    assert (q.principals, q.pages) == (0, 0)           # every account gone with its kmsgs
    assert k0.ipc.quota.statistics().refused == 0
    for k, start in ((k0, start0), (k1, start1)):
        z = k.ipc.statistics().zone
        assert z.allocated == z.freed and z.free_pages == start
        assert _zone_whole(k)


def _greedy(os: Any, out: dict[str, Any]) -> int:
    """A client that asks 20 times with a send-once reply right to a port of its own
    and never receives the replies: it pays for each reply, so its own requests
    stop at its quota; the server's replies (to it and to others) never fail."""
    from struct import pack
    dest = _lookup(os, "many")
    mine = os.port_allocate()
    asked, errors = 0, set()
    for _ in range(20):
        try:
            os.mach_msg(pack("<IIIIII", msg.COPY_SEND | msg.MAKE_SEND_ONCE << 8,
                             HEADER_SIZE + 8, dest, mine, 0, 0), msg.item_bytes(b"req!"),
                        None, False)
            asked += 1
        except SyscallError as ex:
            errors.add(ex.errno)
        while "answered" not in out or out["answered"] < asked:
            os.thread_yield()           # the server has answered every request
    out["greedy"] = asked, sorted(errors)
    while "done" not in out:
        os.thread_yield()
    return 0


def _many_server(os: Any, n: int, out: dict[str, Any]) -> int:
    port = os.port_allocate()
    os.port_register("many", port)
    failed = 0
    out["answered"] = 0
    for _ in range(n):
        got = os.msg_receive(port)
        try:
            os.msg_reply(got[1], bytes(3000))           # a one-page reply
        except SyscallError:
            failed += 1
        out["answered"] += 1
    os.print("replies failed", failed)
    return 0


def _many_client(os: Any, log: list[Any]) -> int:
    dest = _lookup(os, "many")
    for _ in range(4):
        log.append(len(os.msg_rpc(dest, b"hi")[1]))
    return 0


def _many_main(os: Any, out: dict[str, Any], log: list[Any]) -> int:
    s = os.spawn(_many_server, 16 + 8, out, name="server")
    for _ in range(5):
        os.yield_()
    g = os.spawn(_greedy, out)
    while "greedy" not in out:
        os.yield_()
    clients = [os.spawn(_many_client, log) for _ in range(2)]
    for c in clients:
        os.wait(c)
    os.wait(s)
    out["done"] = True
    os.wait(g)
    return 0


def test_a_reply_is_charged_to_the_client_that_made_its_send_once_right() -> None:
    """A client that never receives its replies holds them against its own quota
    (16 one-page replies, then its 17th request is EAGAIN); the server, replying
    to it and to two other clients, is charged nothing and never fails."""
    out: dict[str, Any] = {}
    log: list[Any] = []
    k = boot(_many_main, out, log)
    assert out["greedy"] == (16, ["EAGAIN"])
    assert log == [3000] * 8
    assert [line for line in k.console if "replies" in line] == ["replies failed 0"]
    assert not k.faults and _zone_whole(k)
    assert k.ipc.quota.statistics().pages == 0
