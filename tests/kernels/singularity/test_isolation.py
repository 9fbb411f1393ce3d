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


def test_fig5_slowdowns_in_order_and_within_1_5x() -> None:
    got = pipeline.slowdowns(n=120)
    order = list(pipeline.FIG5)
    assert [got[c] for c in order] == sorted(got[c] for c in order)
    for config, paper in pipeline.FIG5.items():
        assert 1 / 1.5 <= got[config] / paper <= 1.5, (config, got[config], paper)


def test_unknown_configurations_are_refused() -> None:
    with pytest.raises(ConfigError):
        configure("ring-2")
    with pytest.raises(ConfigError):
        Singularity(Machine("athlon64"), isolation="nope")
