"""The crash soak: power cuts at random moments of a mixed file workload.

Each trial copies a fresh ext2 image, boots the monolithic kernel on it with
:func:`workload` (creates, appends, unlinks, renames, mkdir/rmdir, and files
written then ``fsync``ed, each recorded once fsync returned), runs to a cut
cycle drawn from the seeded generator, cuts the disk's power ("drop": the
drive's cache is lost; "tear": each cached block is lost, written or torn),
and then judges the image on the host:

- ``e2fsck -fn``: clean, or its findings are kept (numbers stripped) and
  ``e2fsck -p`` must repair the image without asking (exit 0/1) after which
  ``e2fsck -fn`` is clean ("repaired"); anything else is "rejected";
- every recorded (fsynced) file must read back byte-identical ("lost" bytes
  otherwise), through exolab's own ext2 on the repaired image.

Interface::

    workload(os, steps, record)         the program (record: host list of (path, bytes))
    CrashReport                         frozen totals + finding kinds (statistics record)
    soak(trials, seed=0, mode="both", workdir=None, steps=40) -> CrashReport
    e2fsprogs() -> dict | None          the tools, or None when not installed
"""
from __future__ import annotations

import random
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exolab.abi import O_APPEND, O_CREAT, O_WRONLY
from exolab.errors import ConfigError, ExolabError, SyscallError

__all__ = ["workload", "CrashReport", "soak", "e2fsprogs", "IMAGE_BYTES", "FINDINGS",
           "documented"]

IMAGE_BYTES = 4 << 20           # each trial's image: 4 MiB of 1 KiB blocks
_VARIANTS = 8                   # workload seeds (each measured once uncut)

#: what e2fsck -fn may find after a cut (numbers as N, names as 'X'), and why
#: the ordering allows it (docs/files.md); anything else counts as undocumented
FINDINGS = {
    r"Free (blocks|inodes) count wrong( for group #N)? \(N, counted=N\)\.":
        "summary counts are written last (phase 8)",
    r"Directories count wrong for group #N \(N, counted=N\)\.": "as above",
    r"(Block|Inode) bitmap differences:":
        "allocations are marked first and frees last: leaked blocks/inodes",
    r"Deleted inode N has zero dtime\.": "a new inode written at link count 0 (phase 3)",
    r"Entry 'X' in .* \(N\) has deleted/unused inode N\.":
        "a name written before its new inode came into use, or an unlinked inode "
        "freed before its name went (phases 3-7)",
    r"Inode N ref count is N, should be N\.": "a link count and its names in flight",
    r"Inode N, i_(size|blocks) is N, should be N\.":
        "an indirect block's pointers before the inode's size/count (phases 4-7)",
}
_FINDING_RES = [re.compile(k) for k in FINDINGS]


def documented(kind: str) -> bool:
    """Whether a normalized e2fsck finding is one the ordering allows."""
    return any(r.fullmatch(kind) for r in _FINDING_RES)


def e2fsprogs() -> dict[str, str] | None:
    """Paths of e2fsck (and mke2fs), or None if e2fsprogs is not installed."""
    found = {t: shutil.which(t) or shutil.which(f"/usr/sbin/{t}") or shutil.which(f"/sbin/{t}")
             for t in ("e2fsck",)}
    return None if not all(found.values()) else {k: str(v) for k, v in found.items()}


def workload(os: Any, steps: int, record: list[tuple[str, bytes]]) -> int:
    """A mixed file workload; each fsynced file is appended to ``record`` after fsync."""
    os.mkdir("/t", 0o755)
    os.mkdir("/s", 0o755)
    live: list[str] = []
    dirs: list[str] = []
    for i in range(steps):
        pick = os.random(2)
        act, arg = pick[0] % 10, pick[1]
        if act <= 2 or (act in (3, 4, 6) and not live):
            live.append(_put(os, f"/t/f{i}", os.random(arg * 40), False))
        elif act == 3:
            fd = os.open(live[arg % len(live)], O_WRONLY | O_APPEND, 0o644)
            os.write(fd, os.random(arg * 8))
            os.close(fd)
        elif act == 4:
            os.unlink(live.pop(arg % len(live)))
        elif act == 5:
            dirs.append(f"/t/d{i}")
            os.mkdir(dirs[-1], 0o755)
        elif act == 6:
            old = live.pop(arg % len(live))
            live.append(f"/t/r{i}")
            os.rename(old, live[-1])
        elif act in (7, 8):
            data = os.random(arg * 60 + 1)
            record.append((_put(os, f"/s/f{i}", data, True), data))
        elif dirs:
            os.rmdir(dirs.pop())
        else:
            live.append(_put(os, f"/t/b{i}", os.random(40_000), False))
    return 0


def _put(os: Any, path: str, data: bytes, sync: bool) -> str:
    """Create ``path`` with ``data`` (fsync it if ``sync``); return the path."""
    fd = os.open(path, O_CREAT | O_WRONLY, 0o644)
    os.write(fd, data)
    if sync:
        os.fsync(fd)
    os.close(fd)
    return path


@dataclass(frozen=True, slots=True)
class CrashReport:
    """What a crash soak found (every count a total over its trials)."""

    trials: int
    cuts_before_end: int        # cuts that fell before the workload finished
    clean: int                  # images e2fsck -fn accepted as they were
    repaired: int               # images e2fsck -p repaired without asking (then clean)
    rejected: int               # images neither (must be 0)
    synced_files: int           # fsynced files checked after the cut
    synced_bytes: int
    lost_bytes: int             # of those, bytes missing or different (must be 0)
    undocumented: int           # images with a finding not in FINDINGS (must be 0)
    findings: tuple[tuple[str, int], ...]   # e2fsck -fn finding kinds, most common first


def _run(image: Path, machine_seed: int, steps: int, until: int | None,
         mode: str) -> tuple[int, bool, list[tuple[str, bytes]]]:
    """Run the workload on ``image``, cutting power at ``until``; (cycles, cut, record)."""
    from exolab.kernels.monolithic import MonolithicKernel
    from exolab.machine.machine import Machine
    from exolab.services.ext2.image import probe
    m = Machine("dec5000", seed=machine_seed)
    disk = m.attach_disk(str(image), block_size=probe(image).block_size)
    k = MonolithicKernel(m)
    record: list[tuple[str, bytes]] = []
    k.boot(workload, steps, record, name="crash")
    try:
        result = k.run(until)
        cut = result.reason == "paused"
        if cut:
            disk.power_cut(mode)
        else:
            k.shutdown()
        return m.clock.now, cut, record
    finally:
        m.close()
        disk.close()


def _fsck(tools: dict[str, str], image: Path, *flags: str) -> tuple[int, str]:
    """e2fsck with ``flags`` on ``image``: (exit status, output)."""
    res = subprocess.run([tools["e2fsck"], *flags, str(image)], capture_output=True,
                         text=True, timeout=120)
    return res.returncode, res.stdout + res.stderr


_PASS = re.compile(r"^(Pass \d|e2fsck \d|\S+: \d+/\d+ files|\s*$|\n)")


def _kinds(report: str) -> list[str]:
    """The finding lines of an e2fsck -fn report, numbers and names stripped."""
    out = []
    for line in report.splitlines():
        if _PASS.match(line) or line.startswith(("Fix? no", "Clear? no", "\n")):
            continue
        line = re.sub(r"[-+]?\d+", "N", line.split("  ")[0]).strip()
        line = re.sub(r"'[^']*'", "'X'", line)
        if line and not line.endswith("? no") and "WARNING" not in line:
            out.append(line[:90])
        elif line.endswith("? no"):
            out.append(line.rsplit(".", 1)[0][:90] if "." in line else line[:90])
    return out


def _lost(image: Path, record: list[tuple[str, bytes]]) -> int:
    """Bytes of the recorded files that do not read back identical from ``image``."""
    from exolab.services.ext2 import Ext2, FileDevice
    from exolab.services.ext2.image import probe
    dev = FileDevice(image, probe(image).block_size)
    try:
        fs = Ext2.mount(dev)
        lost = 0
        for path, data in record:
            try:
                ino = fs.open(path)
                got = fs.read(ino, 0, len(data) + 1)
                fs.close(ino)
            except (SyscallError, ExolabError):
                got = b""
            lost += len(data) if got != data else 0
        return lost
    finally:
        dev.close()


def soak(trials: int, seed: int = 0, mode: str = "both", workdir: str | None = None,
         steps: int = 40) -> CrashReport:
    """Run ``trials`` power-cut trials (``mode``: drop, tear or both alternating)."""
    tools = e2fsprogs()
    if tools is None:
        raise ConfigError("the crash soak needs e2fsprogs (e2fsck)",
                          expected="apt-get install -y e2fsprogs")
    if mode not in ("drop", "tear", "both"):
        raise ConfigError("bad power-cut mode", mode=mode, expected=["drop", "tear", "both"])
    from exolab.services.ext2.image import make_image
    with tempfile.TemporaryDirectory(dir=workdir, prefix="exolab-crash-") as tmp:
        base, img = Path(tmp) / "base.img", Path(tmp) / "trial.img"
        make_image(base, IMAGE_BYTES, 1024)
        lengths = []
        for v in range(_VARIANTS):                  # each variant's uncut length
            shutil.copyfile(base, img)
            lengths.append(_run(img, seed * 1000 + v, steps, None, "drop")[0])
        return _trials(tools, base, img, lengths, trials, seed, mode, steps)


def _trials(tools: dict[str, str], base: Path, img: Path, lengths: list[int], trials: int,
            seed: int, mode: str, steps: int) -> CrashReport:
    """The trials proper (see soak)."""
    rng = random.Random(f"crash:{seed}")
    n = Counter[str]()
    kinds = Counter[str]()
    for t in range(trials):
        v = t % _VARIANTS
        cut_mode = mode if mode != "both" else ("drop", "tear")[t % 2]
        shutil.copyfile(base, img)
        _, cut, record = _run(img, seed * 1000 + v, steps,
                              rng.randrange(1, lengths[v] + 1), cut_mode)
        n["cut"] += cut
        rc, report = _fsck(tools, img, "-fn")
        if rc == 0:
            n["clean"] += 1
        else:
            found = set(_kinds(report))
            kinds.update(found)
            n["undocumented"] += not all(documented(k) for k in found)
            prc, _ = _fsck(tools, img, "-p")
            ok = prc in (0, 1) and _fsck(tools, img, "-fn")[0] == 0
            n["repaired" if ok else "rejected"] += 1
        n["files"] += len(record)
        n["bytes"] += sum(len(d) for _, d in record)
        n["lost"] += _lost(img, record)
    return CrashReport(trials, n["cut"], n["clean"], n["repaired"], n["rejected"],
                       n["files"], n["bytes"], n["lost"], n["undocumented"],
                       tuple(kinds.most_common()))
