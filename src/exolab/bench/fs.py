"""Suite ``fs``: the file ABI on every kernel that has it (issue 14's figures).

Each benchmark is an ABI program run on a fresh ``dec5000`` machine with a
fresh ext2 image attached (:func:`on_disk`, the programs' harness: 8 MiB,
4 KiB blocks, made by ``services/ext2`` like ``exolab mkfs``), the same for
every kernel, behind the machine's drive model (controller, seek, rotation,
transfer, the volatile write cache: machine/disk.py), so the disk-bound rows
compare what each placement asks of one drive. A kernel whose declaration
refuses the file calls reports n/a. Values are microseconds per operation,
simulated time:

- ``create``      open(O_CREAT) + close of a new empty file
- ``write_small`` create a file, write 1 KiB, close
- ``read_small``  open, read 1 KiB, close (files just written: cached)
- ``delete``      unlink a 1 KiB file
- ``seq_write``   one 64 KiB write of a 1 MiB file, the final fsync amortized
- ``seq_read``    one 64 KiB read of that file (cached)
- ``listdir``     list a directory of 1,000 entries
- ``fsync``       write 1 KiB to a file, then fsync it (the sync's latency:
                  the ordered phases of services/ext2/order.py, each a flush)

``exolab explain BENCH`` shows where the time goes (crossings, copies,
XN's registry reads and ownership checks, the buffer cache's, and disk
requests). The exokernel runs ExOS's ext2 over XN on that image.

Interface::

    BENCHMARKS, PROGRAMS, ITERATION, NEEDS, DISK_BYTES, DISK_BLOCK
    on_disk(program, n, *, kernel, profile, seed) -> ProgramRun   the harness
    run_fs(ctx) -> SuiteOutput            (registered as ``fs``)
"""
from __future__ import annotations

from typing import Any, Callable

from exolab.abi import FILE_CALLS, O_CREAT, O_RDONLY, O_WRONLY
from exolab.apps.microbench import report
from exolab.bench.papers import paper_rows, suite_profile
from exolab.bench.registry import ALL_KERNELS, SuiteContext, SuiteOutput, microsecond_rows, suite

__all__ = ["BENCHMARKS", "PROGRAMS", "ITERATION", "NEEDS", "DISK_BYTES", "DISK_BLOCK",
           "on_disk", "run_fs"]

BENCHMARKS = ("create", "write_small", "read_small", "delete", "seq_write", "seq_read",
              "listdir", "fsync")
KIB = b"k" * 1024
CHUNK = 1 << 16
SEQ_CHUNKS = 16                 # a 1 MiB file
ENTRIES = 1000
DISK_BYTES = 8 << 20            # the image every kernel's run gets (the monolithic
DISK_BLOCK = 4096               # kernel's scratch disk's size and block size)


def _name(i: int) -> str:
    """The i-th small file's path."""
    return "/f" + str(i)


def _make(os: Any, path: str, data: bytes) -> None:
    """Create ``path`` holding ``data``."""
    fd = os.open(path, O_CREAT | O_WRONLY, 0o644)
    os.write(fd, data)
    os.close(fd)


def create(os: Any, n: int) -> None:
    """open(O_CREAT) + close of ``n`` new empty files."""
    _make(os, "/warm", b"")
    t0 = os.time()
    for i in range(n):
        os.close(os.open(_name(i), O_CREAT | O_WRONLY, 0o644))
    report(os, (os.time() - t0) / n)


def write_small(os: Any, n: int) -> None:
    """Create ``n`` files of 1 KiB each."""
    _make(os, "/warm", KIB)
    t0 = os.time()
    for i in range(n):
        _make(os, _name(i), KIB)
    report(os, (os.time() - t0) / n)


def read_small(os: Any, n: int) -> None:
    """Read ``n`` files of 1 KiB each (just written)."""
    for i in range(n):
        _make(os, _name(i), KIB)
    t0 = os.time()
    for i in range(n):
        fd = os.open(_name(i), O_RDONLY, 0)
        os.read(fd, 1024)
        os.close(fd)
    report(os, (os.time() - t0) / n)


def delete(os: Any, n: int) -> None:
    """Unlink ``n`` files of 1 KiB each."""
    for i in range(n):
        _make(os, _name(i), KIB)
    t0 = os.time()
    for i in range(n):
        os.unlink(_name(i))
    report(os, (os.time() - t0) / n)


def seq_write(os: Any, n: int) -> None:
    """Write ``n`` 1 MiB files in 64 KiB writes, each fsynced; per write."""
    data = b"s" * CHUNK
    os.listdir("/")                 # the mount, outside the timed loop
    t0 = os.time()
    for i in range(n):
        fd = os.open("/seq" + str(i % 2), O_CREAT | O_WRONLY, 0o644)
        for _ in range(SEQ_CHUNKS):
            os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.unlink("/seq" + str(i % 2))
    report(os, (os.time() - t0) / (n * SEQ_CHUNKS))


def seq_read(os: Any, n: int) -> None:
    """Read a 1 MiB file ``n`` times in 64 KiB reads; per read."""
    _make(os, "/seq", b"s" * (CHUNK * SEQ_CHUNKS))
    t0 = os.time()
    for _ in range(n):
        fd = os.open("/seq", O_RDONLY, 0)
        while os.read(fd, CHUNK):
            pass
        os.close(fd)
    report(os, (os.time() - t0) / (n * (SEQ_CHUNKS + 1)))


def listdir(os: Any, n: int) -> None:
    """List a directory of 1,000 entries ``n`` times."""
    os.mkdir("/d", 0o755)
    for i in range(ENTRIES):
        os.close(os.open("/d/entry" + str(i), O_CREAT | O_WRONLY, 0o644))
    os.listdir("/d")
    t0 = os.time()
    for _ in range(n):
        os.listdir("/d")
    report(os, (os.time() - t0) / n)


def fsync(os: Any, n: int) -> None:
    """Write 1 KiB to a file and fsync it, ``n`` times."""
    fd = os.open("/log", O_CREAT | O_WRONLY, 0o644)
    os.write(fd, KIB)
    os.fsync(fd)
    t0 = os.time()
    for _ in range(n):
        os.write(fd, KIB)
        os.fsync(fd)
    report(os, (os.time() - t0) / n)
    os.close(fd)


PROGRAMS: dict[str, Callable[..., None]] = {
    "create": create, "write_small": write_small, "read_small": read_small,
    "delete": delete, "seq_write": seq_write, "seq_read": seq_read, "listdir": listdir,
    "fsync": fsync}
ITERATION = {"seq_write": "one 64 KiB write (1/16 of a 1 MiB file and its fsync)",
             "seq_read": "one 64 KiB read (the 17th of each pass finds the end)",
             "listdir": "one listing of 1,000 names",
             "fsync": "a 1 KiB write and its fsync",
             "write_small": "open(O_CREAT) + 1 KiB write + close",
             "read_small": "open + 1 KiB read + close"}
NEEDS = {b: frozenset(FILE_CALLS) for b in BENCHMARKS}
for _program in PROGRAMS.values():        # data the verifier copies with the program
    _program.harness = "exolab.bench.fs:on_disk"    # type: ignore[attr-defined]


def on_disk(program: Any, n: int, *, kernel: str, profile: str, seed: int) -> Any:
    """Run ``program(os, n)`` on ``kernel`` with a fresh ext2 image attached (removed
    afterwards); the ProgramRun."""
    import os
    import tempfile

    from exolab.runner import run_program
    from exolab.services.ext2.image import make_image
    with tempfile.TemporaryDirectory(prefix="exolab-fs-") as tmp:
        path = os.path.join(tmp, "fs.img")
        make_image(path, DISK_BYTES, DISK_BLOCK)
        return run_program(program, n, kernel=kernel, profile=profile, seed=seed,
                           disk=path)
SIZES = {"create": (200, 20), "write_small": (200, 20), "read_small": (200, 20),
         "delete": (200, 20), "seq_write": (4, 1), "seq_read": (8, 2),
         "listdir": (20, 2), "fsync": (50, 5)}


@suite("fs", kernels=(ALL_KERNELS,), default_profile=suite_profile("fs"),
       description="fs: the file ABI: small files, sequential I/O, listing, fsync",
       programs=PROGRAMS, iteration=ITERATION, unit="us", sizes=SIZES,
       default_size=(100, 10), needs=NEEDS)
def run_fs(ctx: SuiteContext) -> SuiteOutput:
    """Measure every file benchmark on every requested kernel, in microseconds."""
    results, notes = microsecond_rows(ctx, BENCHMARKS)
    return SuiteOutput(results, paper_rows(ctx.suite), notes)
