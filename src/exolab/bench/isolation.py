"""Suite ``isolation``: Singularity's isolation knob (OSR'07 Fig 5, MSPC'06 Table 1).

The same Singularity kernel and programs with hardware isolation added back
(``kernels/singularity/isolation.py``), on the ``athlon64`` profile:

- ``fig5_<config>``  the WebFiles-shaped three-SIP pipeline
                     (``kernels/singularity/pipeline.py``: client, file system,
                     disk driver on the simulated disk), percent slowdown of busy
                     cycles per block read against the base (ring 0, paging off):
                     ``paging``, ``domain`` (the client in its own address space),
                     ``ring3`` (and in ring 3), ``hip`` (every SIP in its own ring-3
                     domain), OSR'07 Fig 5
- ``hip_<row>``      the four rows of the seed's table (api_call, thread_yield,
                     ping_pong, process_creation) with every SIP in its own ring-3
                     domain, cycles, MSPC'06 Table 1 "HIP-R3" (the base rows are
                     suite ``singularity``'s)

Every value is a prediction: the configurations add no constant, only what
the machine then does (TLB misses on the SIPs' heaps, the exchange heap's
pages and the kernel's endpoint records, page-table writes and invalidations
as exchange-heap pages come and go, address-space loads and the flushes they
imply on the untagged TLB, traps). ``exolab explain fig5_<config>`` shows
them per block read. The note of each row is its verdict
against the paper: ``ok`` within 1.5x, ``OFF`` otherwise.

Interface::

    BENCHMARKS                         the rows, in order
    run_isolation(ctx) -> SuiteOutput  (registered as ``isolation``)
"""
from __future__ import annotations

from typing import Any

from exolab.bench.papers import figures, paper_rows, suite_profile
from exolab.bench.registry import SuiteContext, SuiteOutput, suite

__all__ = ["BENCHMARKS", "run_isolation"]

_FIG5 = ("paging", "domain", "ring3", "hip")
_TABLE = ("api_call", "thread_yield", "ping_pong", "process_creation")
BENCHMARKS = tuple(f"fig5_{c}" for c in _FIG5) + tuple(f"hip_{r}" for r in _TABLE)
#: iterations (full, quick): pipeline files, table rows
_N_FILES = (120, 30)
_N_TABLE = {"api_call": (1000, 50), "thread_yield": (1000, 50), "ping_pong": (1000, 50),
            "process_creation": (20, 4)}


def _table_row(config: str, bench: str, profile: str, seed: int, n: int) -> float:
    """Cycles per operation of the table's program ``bench`` under ``config``."""
    from exolab.apps.microbench import PROGRAMS, VARIANTS
    from exolab.errors import ConfigError
    from exolab.kernels.singularity import Singularity
    from exolab.machine.machine import Machine
    from exolab.safe.load import load_function
    program = VARIANTS["ping_pong"][1] if bench == "ping_pong" else PROGRAMS[bench]
    k = Singularity(Machine(profile, seed=seed), isolation=config)
    k.boot(load_function(program), n)
    k.run()
    line = next((x for x in k.console if x.startswith("RESULT ")), None)
    if line is None:
        raise ConfigError("isolation: no result", benchmark=bench, config=config)
    return float(line.split()[1])


def _verdicts(values: dict[str, float], suite_name: str) -> dict[str, str]:
    """Each row's verdict against the paper's figure (1.5x either way)."""
    paper = {f.benchmark: f.value for f in figures(suite_name)}
    out = {}
    for bench, value in values.items():
        p = paper.get(bench)
        if p:
            dev = value / p
            out[bench] = ("ok" if 1 / 1.5 <= dev <= 1.5 else "OFF") + f" ({dev:.2f}x)"
    return out


@suite("isolation", kernels=("singularity",), default_profile=suite_profile("isolation"),
       description="isolation: Singularity with hardware isolation added back "
                   "(OSR'07 Fig 5, MSPC'06 Table 1 HIP-R3)")
def run_isolation(ctx: SuiteContext) -> SuiteOutput:
    """The Fig 5 slowdowns on the pipeline and the HIP-R3 rows, on Singularity."""
    from exolab.kernels.singularity import pipeline
    values: dict[str, float] = {}
    n = _N_FILES[1 if ctx.quick else 0]
    base = pipeline.measure("base", n, ctx.profile, ctx.seed)
    for config in _FIG5:
        slow = 100 * (pipeline.measure(config, n, ctx.profile, ctx.seed) / base - 1)
        values[f"fig5_{config}"] = round(slow, 1)
    for row in _TABLE:
        size = _N_TABLE[row][1 if ctx.quick else 0]
        values[f"hip_{row}"] = round(_table_row("hip", row, ctx.profile, ctx.seed, size), 1)
    results: list[Any] = [ctx.result(b, "singularity", values[b],
                                     "%" if b.startswith("fig5") else "cycles")
                          for b in BENCHMARKS if "singularity" in ctx.kernels]
    notes = _verdicts(values, ctx.suite)
    notes[""] = (f"fig5: busy cycles per block read, base {base:,.0f}; the order "
                 f"paging < domain < ring3 < hip is the paper's" if
                 [values[f"fig5_{c}"] for c in _FIG5] ==
                 sorted(values[f"fig5_{c}"] for c in _FIG5) else
                 f"fig5: busy cycles per block read, base {base:,.0f}; ORDER differs")
    return SuiteOutput(results, paper_rows(ctx.suite), notes)
