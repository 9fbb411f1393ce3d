"""Two threads of one process bounce a counter through a pair of pipes.

Covers: thread_create, pipe (the threads of a process share its descriptors),
blocking read/write, close, end of file, spawn, wait and exit status: only
calls every kernel provides, a sealed Singularity SIP's included (no fork, no
shared memory, no fault handlers).

Scenario: the main thread spawns a helper process that sums squares and
exits with the sum, then makes two pipes and starts a "pong" thread. Each
round the main thread writes the counter into "ping" and blocks reading
"pong"; the pong thread, blocked on "ping", wakes, adds one and writes it
back. After the last round the main thread closes its write end: the pong
thread's next read returns end of file, it closes "pong" and ends, and the
main thread, reading "pong" to its end, knows the thread is done. It then
collects the helper's status with wait.

Run it: ``python examples/thread_pingpong.py [ROUNDS]`` or
``exolab run examples/thread_pingpong.py [ROUNDS]``.
"""
from __future__ import annotations

from exolab.abi import ABI

#: the ABI features this example needs beyond what every kernel provides: none
NEEDS: tuple[str, ...] = ()

WIDTH = 4                       # bytes per counter on the wire


def pong(os: ABI, rfd: int, wfd: int) -> None:
    """The pong thread: answer every counter with counter + 1 until end of file."""
    served = 0
    while msg := os.read(rfd, WIDTH):
        value = int.from_bytes(msg, "little")
        os.print(f"  pong thread: got {value}, sending {value + 1}")
        os.write(wfd, (value + 1).to_bytes(WIDTH, "little"))
        served += 1
    os.print(f"  pong thread: end of file after {served} rounds")
    os.close(wfd)               # the main thread's read of "pong" ends too


def squares(os: ABI, n: int) -> int:
    """The helper process: its exit status is the sum of the first ``n`` squares."""
    return sum(i * i for i in range(n))


def main(os: ABI, rounds: int = 3) -> int:
    """``rounds`` round trips with the pong thread, then collect the helper."""
    helper = os.spawn(squares, 10)
    ping_r, ping_w = os.pipe()
    pong_r, pong_w = os.pipe()
    os.thread_create(pong, ping_r, pong_w)
    value = 0
    for i in range(rounds):
        os.print(f"main thread: round {i}, sending {value}")
        os.write(ping_w, value.to_bytes(WIDTH, "little"))
        value = int.from_bytes(os.read(pong_r, WIDTH), "little") + 1
    os.close(ping_w)            # the only writer: the pong thread sees end of file
    while os.read(pong_r, WIDTH):
        pass                    # until the pong thread has closed its end
    _pid, status = os.wait(helper)
    os.print(f"main thread: counter is {value}; the helper exited with status {status}")
    return 0


if __name__ == "__main__":
    import sys

    from exolab.runner import run_program
    run = run_program(main, *(int(a) for a in sys.argv[1:]))
    print("\n".join(run.console))
