"""The isolation knob: MSPC'06 Table 1 HIP-R3 and OSR'07 Fig 5, from what the machine does."""
from __future__ import annotations

from typing import Any

import pytest

from exolab.apps.microbench import PROGRAMS, VARIANTS
from exolab.errors import ConfigError
from exolab.kernels.singularity import Singularity
from exolab.kernels.singularity import pipeline
from exolab.kernels.singularity.isolation import configure
from exolab.machine.machine import Machine
from exolab.safe.load import load_function

#: MSPC'06 Table 1, Singularity HIP-R3 (cycles)
HIP_R3 = {"api_call": 304, "thread_yield": 638, "ping_pong": 2_580,
          "process_creation": 830_999}
N = {"api_call": 200, "thread_yield": 200, "ping_pong": 200, "process_creation": 10}


def _table(config: str, bench: str) -> tuple[float, Any]:
    program = VARIANTS["ping_pong"][1] if bench == "ping_pong" else PROGRAMS[bench]
    k = Singularity(Machine("athlon64"), isolation=config)
    k.boot(load_function(program), N[bench])
    k.run()
    line = next(x for x in k.console if x.startswith("RESULT "))
    return float(line.split()[1]), k


@pytest.mark.parametrize("bench", sorted(HIP_R3))
def test_hip_r3_rows_within_1_5x_of_mspc06(bench: str) -> None:
    hip, k = _table("hip", bench)
    base, _ = _table("base", bench)
    assert hip > base
    assert 1 / 1.5 <= hip / HIP_R3[bench] <= 1.5, (bench, hip)
    assert k.machine.statistics().cpus[0].traps > 0      # the crossings are real traps


def test_the_base_configuration_is_the_default_and_never_touches_the_tlb() -> None:
    _v, k = _table("base", "ping_pong")
    cpu = k.machine.statistics().cpus[0]
    assert (cpu.traps, cpu.tlb_misses, cpu.asid_loads) == (0, 0, 0)


def test_fig5_slowdowns_in_order_and_ring3_and_hip_within_1_5x() -> None:
    """The derived workload gives the paper's order; ring 3 and all-separate-domains
    land within 1.5x; paging and the client's own domain fall short (fewer TLB misses
    than the paper's: the kernel's own pages and the exchange heap do not go through
    the modelled TLB) -- the report shows those two as misses."""
    got = pipeline.slowdowns(n=120)
    order = list(pipeline.FIG5)
    assert [got[c] for c in order] == sorted(got[c] for c in order)
    assert all(got[c] > 0 for c in order)
    for config in ("ring3", "hip"):
        paper = pipeline.FIG5[config]
        assert 1 / 1.5 <= got[config] / paper <= 1.5, (config, got[config], paper)
    for config in ("paging", "domain"):
        assert got[config] < pipeline.FIG5[config]


def test_the_pipeline_reads_the_simulated_disk_and_each_configuration_does_its_part() -> None:
    wanted = pipeline.trace(30)
    seen = {}
    for config in ("base", "paging", "domain", "ring3", "hip"):
        busy, blocks, stats = pipeline.run(config, wanted)
        disk, cpu = stats.disks[0], stats.cpus[0]
        assert disk.reads > 0 and disk.bytes_read == 4096 * disk.reads
        assert cpu.interrupts >= disk.reads         # each read ends in IRQ_DISK
        seen[config] = (busy, blocks, disk.reads, cpu.traps, cpu.tlb_misses,
                        cpu.asid_loads)
    assert len({v[1:3] for v in seen.values()}) == 1     # the same work everywhere
    assert seen["base"][3:] == (0, 0, 0)
    assert seen["paging"][3] == 0 and seen["paging"][4] > 0 and seen["paging"][5] == 0
    assert seen["domain"][3] == 0 and seen["domain"][5] > 0
    assert 0 < seen["ring3"][3] < seen["hip"][3]
    busy = [seen[c][0] for c in ("base", "paging", "domain", "ring3", "hip")]
    assert busy == sorted(busy)


def test_a_smaller_cache_reads_the_disk_more() -> None:
    wanted = pipeline.trace(30)
    _b, blocks, big = pipeline.run("base", wanted)
    _b, blocks2, small = pipeline.run("base", wanted, cache_pages=8)
    assert blocks == blocks2 and small.disks[0].reads > big.disks[0].reads


def test_unknown_configurations_are_refused() -> None:
    with pytest.raises(ConfigError):
        configure("ring-2")
    with pytest.raises(ConfigError):
        Singularity(Machine("athlon64"), isolation="nope")
