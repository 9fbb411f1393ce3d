"""The soak's SIP cases: hostile software-isolated processes beside a bystander SIP.

A kernel whose processes are sealed SIPs (no fork, no shared memory, no page
protection: Singularity) cannot run the soak's program and message cases,
whose bystanders fork. Its cases come from this grammar instead: the same
prelude of hostile helpers (``soak.PRELUDE``), a bystander SIP that uses only
what a SIP has — an rpc server SIP it spawns, a ``FileService`` channel to a
thread of its own carrying exchange-heap blocks, an ABI pipe between two of
its threads — and a hostile SIP that spawns one child SIP per hostile action
(so a fault ends that child only and the next action still runs) and waits
for it. The actions:

- **contract violations**: a message the contract's state does not allow,
  from the wrong side, unknown, with arguments of the wrong kind; endpoints
  of the wrong contract or side handed to a new SIP;
- **channel and endpoint misuse**: an endpoint sent over its own channel,
  used after it was sent, used by a thread that does not own it, closed twice,
  forged from a real one's type; Python objects sent over a channel;
- **exchange-heap misuse**: a block read after it was freed or sent, freed
  twice, sent twice in one message, forged; the heap exhausted;
- **processes**: spawn with shared (mutable) arguments, with the endpoints a
  manifest does not declare, a child whose code names a contract its
  manifest omits, spawn and thread bombs, wait and exit with hostile values;
- the general ABI calls with hostile arguments, wild memory, deep recursion,
  generators, loops and raised exceptions of the program cases.

Interface::

    ROUNDS_SIP, EXPECTED_SIP          the bystander's exact lines
    sip_source(rng, extensions) -> str    one case's full source
    capable(declaration) -> bool      the kernel has what a SIP case needs
"""
from __future__ import annotations

import random
from typing import Any, Callable

__all__ = ["EXPECTED_SIP", "ROUNDS_SIP", "NEEDS_SIP", "sip_source", "capable"]

ROUNDS_SIP = 12
#: the bystander's total: rpc replies (i + 1), blocks (i + 8 each), pipe bytes (i)
EXPECTED_SIP = [f"bystander {sum(3 * i + 9 for i in range(ROUNDS_SIP))}",
                "bystander status 5"]
#: extensions a kernel must declare for SIP cases
NEEDS_SIP = frozenset({"channel", "send", "receive", "close_endpoint", "endpoint",
                       "exheap_new", "exheap_read", "exheap_write", "exheap_free"})

SIP_PARTS = f'''

def plus_one(os, w):
    return wrap_word(w + 1)


def echo_srv(os, n):
    os.rpc_serve("soak-echo", plus_one, n)


def files_srv(os, ep, n):
    for i in range(n):
        msg = os.receive(ep)
        if msg is None:
            return
        os.send(ep, "Block", os.exheap_new(bytes([msg[1][0] % 256]) * 8), i + 1 < n)


def piper(os, w, n):
    for i in range(n):
        os.write(w, bytes([i]))
    os.close(w)


def bystander(os):
    srv = os.spawn(echo_srv, {ROUNDS_SIP})
    h = os.rpc_connect("soak-echo")
    a, b = os.channel("FileService")
    os.thread_create(files_srv, a, {ROUNDS_SIP})
    r, w = os.pipe()
    os.thread_create(piper, w, {ROUNDS_SIP})
    total = 0
    for i in range({ROUNDS_SIP}):
        total += os.rpc_call(h, i)
        os.send(b, "ReadBlock", i, 0)
        name, args = os.receive(b)
        data = os.exheap_read(args[0])
        os.exheap_free(args[0])
        total += data[0] + len(data)
        total += os.read(r, 1)[0]
        os.compute(3000)
    os.wait(srv)
    os.print("bystander", total)
    return 5


bystander.manifest = ("bystander", (), (), (), ("FileService",))


def fs_peer(os, ep):
    while True:
        msg = os.receive(ep)
        if msg is None:
            return
        os.send(ep, "NoBlock")


fs_peer.manifest = ("fs_peer", (("ep", "FileService", "Exp"),))


def user(os, ep):
    os.send(ep, "Hi", 1)


def main(os):
    b = os.spawn(bystander)
    h = os.spawn(hostile)
    os.print("bystander status", os.wait(b)[1])
    os.wait(h)
'''

_OK = "(SyscallError, HandlerBoom, RecursionError)"
_ARGS = ["0", "1", "-1", "1 << 64", "Liar(1)", "Boom()", "BadBytes(b'zz')", "[1]",
         "None", "'x'", "b'abc'", "1.5", "nop", "'FileService'", "'NicEvents'", "'Nope'",
         "(1, 2)", "True"]


def _a(rng: random.Random) -> str:
    """A hostile argument."""
    return rng.choice(_ARGS)


def _contract(rng: random.Random) -> list[str]:
    """A message the contract refuses, or endpoints a new SIP's manifest refuses."""
    fs = "a, b = os.channel('FileService')"
    return rng.choice([
        [fs, "os.send(b, 'Block', os.exheap_new(b'x'), True)"],   # Imp sends an out
        [fs, "os.send(b, 'ReadBlock', 1, 2)", "os.send(b, 'ReadBlock', 1, 2)"],  # state
        [fs, f"os.send(b, 'ReadBlock', {_a(rng)}, 0)"],            # argument kinds
        [fs, "c, d = os.channel('NicEvents')", "os.send(b, 'ReadBlock', d, 0)"],
        [fs, f"os.send(b, {_a(rng)})"],                            # unknown message
        [fs, "os.send(a, 'NoBlock')", "os.receive(b)"],            # Exp speaks first
        [fs, "os.send(b, 'ReadBlock', 0, 0)", "os.send(a, 'Block', 7, True)"],
        ["a, b = os.channel('NicEvents')", "os.send(a, 'NicEvent', 'ReceiveEvent')",
         "os.receive(b)", "os.send(a, 'NicEvent', 'LinkEvent')"],  # no AckEvent yet
        ["a, b = os.channel('NicEvents')", f"os.send(a, 'NicEvent', {_a(rng)})"],
        [fs, "os.spawn(fs_peer, a)", "os.send(b, 'ReadBlock', 0, 0)", "os.receive(b)",
         "os.send(b, 'ReadBlock', 0, 0)", "os.close_endpoint(b)"],   # honest
        [fs, "os.spawn(fs_peer, b)"],                              # the wrong side
        ["a, b = os.channel('NicEvents')", "os.spawn(fs_peer, a)"],  # the wrong contract
        ["os.spawn(fs_peer)"], [fs, "os.spawn(fs_peer, a, a)"],
        [f"os.channel({_a(rng)})"], [f"os.endpoint({_a(rng)})"],
    ])


def _endpoints(rng: random.Random) -> list[str]:
    """Endpoints misused: own channel, after sending, another thread's, forged."""
    ch = "a, b = os.channel()"
    return rng.choice([
        [ch, "os.send(a, 'X', b)"],
        [ch, "c, d = os.channel()", "os.send(a, 'X', d)", "os.send(d, 'Y')"],
        [ch, "c, d = os.channel()", "os.send(a, 'X', d, d)"],
        [ch, "os.thread_create(user, a)", "os.thread_yield()", "os.send(a, 'Mine')"],
        [ch, "os.thread_create(lambda os: os.send(a, 'Z'))", "os.thread_yield()"],
        [ch, "os.close_endpoint(a)", "os.close_endpoint(a)"],
        [ch, "os.close_endpoint(b)", "os.send(a, 'X', 1)"],
        [ch, "x = type(a)(1, 0)", "os.send(x, 'X')"],
        [ch, f"os.send(a, 'X', {rng.choice(['[1]', '{}', 'Boom()', 'nop', '1.5', 'b'])})"],
        [ch, "os.send(a, 'X', 1)", "os.receive(b)", "os.receive(Boom())"],
        [ch, "for i in range(2000):", "    os.send(a, 'X', i)"],
        ["xs = []", "while True:", "    xs.append(os.channel())"],
    ])


def _exheap(rng: random.Random) -> list[str]:
    """The exchange heap misused: after free, after send, twice, forged, exhausted."""
    new = "blk = os.exheap_new(b'abc')"
    return rng.choice([
        [new, "os.exheap_free(blk)", "os.exheap_read(blk)"],
        [new, "os.exheap_free(blk)", "os.exheap_free(blk)"],
        [new, "a, b = os.channel()", "os.send(a, 'X', blk)", "os.exheap_write(blk, b'z')"],
        [new, "a, b = os.channel()", "os.send(a, 'X', blk, blk)"],
        [new, "x = type(blk)(1, 0)", "os.exheap_read(x)"],
        [new, f"os.exheap_write(blk, {_a(rng)})"],
        [f"os.exheap_new({_a(rng)})"], [f"os.exheap_read({_a(rng)})"],
        ["xs = []", "while True:", "    xs.append(os.exheap_new(b'x' * 65536))"],
    ])


def _procs(rng: random.Random) -> list[str]:
    """Spawn, exit and wait, hostile: shared arguments, bombs, odd statuses."""
    return rng.choice([
        ["os.spawn(nop, [1, 2])"], ["os.spawn(nop, {1: 2})"],
        [f"for i in range({rng.choice(['8', '64', '400'])}):", "    os.spawn(spin)"],
        [f"for i in range({rng.choice(['8', '64', '400'])}):", "    os.thread_create(spin)"],
        [f"os.wait({_a(rng)})"], ["pid = os.spawn(crash)", "os.wait(pid)", "os.wait(pid)"],
        [f"os.exit({_a(rng)})"], [f"os.spawn({_a(rng)})"], ["os.wait(os.spawn(wild))"],
        ["os.fork(nop)"], ["os.shm_create(4096)"],
    ])


def _plain_action(rng: random.Random, extensions: frozenset[str]) -> list[str]:
    """One of the program cases' actions (general ABI abuse, memory, recursion...)."""
    from exolab import soak
    if rng.random() < 0.4:
        calls = dict(soak.CALLS, **{name: -2 for name in sorted(extensions)})
        return soak._abi_call(rng, calls)
    choices = [(soak._wild_memory, 4), (soak._deep, 2), (soak._generators, 1),
               (soak._raise, 1), (soak._loop, 1), (soak._memory, 1)]
    gen, = rng.choices([a for a, _w in choices], [w for _a, w in choices])
    return gen(rng)


ACTIONS: list[tuple[Callable[..., list[str]], int]] = [
    (_contract, 4), (_endpoints, 3), (_exheap, 3), (_procs, 2)]


def sip_source(rng: random.Random, extensions: frozenset[str] = frozenset()) -> str:
    """A SIP case's full source: the prelude, the bystander, ``hostile`` and one child
    SIP per hostile action (a few without the manifest their code needs)."""
    from exolab import soak
    acts, hostile = [], ["va = 0"]
    for i in range(rng.randint(2, 8)):
        if rng.random() < 0.6:
            gen, = rng.choices([a for a, _w in ACTIONS], [w for _a, w in ACTIONS])
            body = soak._guarded(gen(rng), gen.__name__.strip("_"), _OK)
        else:
            body = _plain_action(rng, extensions)
        acts.append(f"def act{i}(os):\n    va = os.mmap(8192)\n"
                    + "\n".join(soak._indent(body)) + "\n")
        if rng.random() < 0.9:      # else: its code names contracts it does not declare
            acts.append(f"act{i}.manifest = ('act{i}', (), (), (), "
                        f"('FileService', 'NicEvents'))\n")
        hostile += soak._guarded([f"os.wait(os.spawn(act{i}))"], "spawn", _OK)
    return (soak.PRELUDE + SIP_PARTS + "\n\n" + "\n\n".join(acts)
            + "\n\ndef hostile(os):\n" + "\n".join(soak._indent(hostile)) + "\n")


def capable(declaration: Any) -> bool:
    """Whether a kernel declares every extension a SIP case uses."""
    return NEEDS_SIP <= declaration.extensions
