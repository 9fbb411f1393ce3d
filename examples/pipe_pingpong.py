"""Two processes bounce a counter through a pair of pipes.

Covers: pipe, fork (shared descriptors), blocking read/write, close, end of
file, wait and exit status on the monolithic kernel's ABI.

Scenario: the parent forks a child that shares both pipes. Each round the
parent writes the counter into the "ping" pipe and blocks reading "pong"; the
child, blocked on "ping", wakes, adds one and writes it back. After the last
round the parent closes its write end: the child's next read returns end of
file, and the child exits with the number of rounds it served, which the
parent collects with wait.

Run it: ``python examples/pipe_pingpong.py [ROUNDS]`` or
``exolab run examples/pipe_pingpong.py [ROUNDS]``.
"""
from __future__ import annotations

from exolab.abi import ABI

#: the ABI features this example needs (the conformance kit skips it, with the
#: reason, on a kernel that declares one of them refused)
NEEDS = ("fork",)             # shared descriptors: the child inherits both pipes

WIDTH = 4                       # bytes per counter on the wire


def pong(os: ABI, rfd: int, wfd: int, unused: tuple[int, ...]) -> int:
    """The child: answer every counter with counter + 1 until end of file."""
    for fd in unused:           # fork shared the parent's ends too; drop them, or
        os.close(fd)            # our own write end would keep "ping" from ever ending
    served = 0
    while msg := os.read(rfd, WIDTH):
        value = int.from_bytes(msg, "little")
        os.print(f"  child  {os.getpid()}: got {value}, sending {value + 1}")
        os.write(wfd, (value + 1).to_bytes(WIDTH, "little"))
        served += 1
    os.print(f"  child  {os.getpid()}: end of file after {served} rounds")
    return served


def main(os: ABI, rounds: int = 3) -> int:
    """The parent: ``rounds`` round trips, then close and collect the child."""
    ping_r, ping_w = os.pipe()
    pong_r, pong_w = os.pipe()
    child = os.fork(pong, ping_r, pong_w, (ping_w, pong_r))
    os.close(ping_r)
    os.close(pong_w)
    value = 0
    for i in range(rounds):
        os.print(f"parent {os.getpid()}: round {i}, sending {value}")
        os.write(ping_w, value.to_bytes(WIDTH, "little"))
        value = int.from_bytes(os.read(pong_r, WIDTH), "little") + 1
    os.close(ping_w)            # the last writer: the child sees end of file
    pid, status = os.wait(child)
    os.print(f"parent {os.getpid()}: child {pid} exited with status {status}; "
             f"counter is {value}")
    return 0


if __name__ == "__main__":
    import sys

    from exolab.runner import run_program
    run = run_program(main, *(int(a) for a in sys.argv[1:]))
    print("\n".join(run.console))
