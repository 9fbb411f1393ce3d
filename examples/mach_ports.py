"""Mach ports, rights and messages, a port-set server and a user-level pager.

Covers: the Mach-style kernel's own calls (``kernels/mach``): ports whose
receive right a task allocates (``os.port_allocate``), send rights published
through the name server (``os.port_register`` / ``os.port_lookup``), RPC
with a send-once reply right (``os.msg_rpc``, ``os.msg_reply_receive``), a
send right carried inside a message, a port set one server thread receives
from, a forged port name refused (``EBADF``), and an external pager: a task
maps memory backed by a pager task (``os.vm_allocate_pager``), whose page
faults arrive at the pager as ``memory_object_data_request`` messages.

Scenario: init spawns a server holding two ports in one port set — a
"calc" port it publishes and a private port it hands the client as a send
right inside the first reply. The client calls calc twice, then sends to the
private port; the one server thread answers both ports from the set. The
client tries a name it never received and gets EBADF. Then a pager task
publishes its port; init maps two pages backed by it and reads them: each
first touch is a fault the kernel turns into a message to the pager, which
answers with the page's contents. Last, the anatomy of one 8-byte message
on this machine: copies, kernel-buffer pages and the TLB misses it took.

Run it: ``python examples/mach_ports.py``.
"""
from __future__ import annotations

from typing import Any

MAKE_SEND = 20              # the disposition that makes a send right from a receive right


def server(os: Any) -> int:
    """Serve the calc port and a private port, both from one port set."""
    calc, private = os.port_allocate(), os.port_allocate()
    both = os.port_set_allocate()
    os.port_set_add(both, calc)
    os.port_set_add(both, private)
    os.port_register("calc", calc)
    _id, reply, data, _rights = os.msg_receive(both)
    os.print("server: got", data.decode(), "- replying with a send right")
    os.msg_reply(reply, b"", 0, ((MAKE_SEND, private),))
    for _ in range(3):
        _id, reply, data, _rights = os.msg_receive(both)
        if reply is None:
            os.print("server: on the private port:", data.decode())
        else:
            os.msg_reply(reply, str(int(data.decode()) * 2).encode())
    return 0


def pager(os: Any) -> int:
    """A user-level pager: answer two data requests with the page's offset."""
    port = os.port_allocate()
    os.port_register("pager", port)
    for _ in range(2):
        msg_id, reply, data, _rights = os.msg_receive(port)
        offset = int.from_bytes(data, "little")
        os.print("pager: request", msg_id, "for offset", offset)
        os.msg_reply(reply, ("page at offset %d" % offset).encode())
    return 0


def lookup(os: Any, service: str) -> int:
    """A send right to ``service``, waiting until it is published."""
    while True:
        try:
            return os.port_lookup(service)
        except Exception:
            os.yield_()


def main(os: Any) -> int:
    os.spawn(server, name="server")
    calc = lookup(os, "calc")
    _id, _data, rights = os.msg_rpc(calc, b"hello")
    private = rights[0]
    os.print("client: calc says", os.msg_rpc(calc, b"21")[1].decode(),
             "and", os.msg_rpc(calc, b"50")[1].decode())
    os.msg_send(private, b"a note")
    try:
        os.msg_send(0x7777, b"forged")
    except Exception as ex:
        os.print("client: a forged name:", ex.errno)
    os.wait()
    os.spawn(pager, name="pager")
    region = os.vm_allocate_pager(8192, lookup(os, "pager"))
    for page in range(2):
        text = os.load_bytes(region + page * 4096, 24).rstrip(b"\0").decode()
        os.print("init: read", repr(text))
    os.wait()
    return 0


if __name__ == "__main__":
    from exolab.kernels.mach import MachKernel
    from exolab.machine.machine import Machine
    from exolab.safe.load import load_function

    k = MachKernel(Machine("dec5000"))
    k.boot(load_function(main), name="init")
    result = k.run()
    for line in k.console:
        print(line)
    st = k.statistics().ipc
    print("ran:", result.reason, "- faults:", k.faults)
    print(f"messages: {st.sent} sent, {st.received} received; bytes copied into "
          f"kernel buffers {st.bytes_copied_in}, out of them {st.bytes_copied_out}")
    print(f"kernel buffers: {st.zone.allocated} allocated, {st.zone.freed} freed")
