"""The suite registry: named benchmark suites and the runner that gathers a report.

A suite is a function ``fn(ctx) -> SuiteOutput`` registered with the
:func:`suite` decorator in one of the modules named in :data:`SUITE_MODULES`
(a later suite is one more module name there). The runner resolves the
profile and the kernels for each suite, calls it, checks the rows it returns,
and gathers everything into one :class:`~exolab.bench.results.Report`.

Kernels: each suite declares the kernels it can measure (``"none"`` is the
bare machine under TinyKernel; ``"*"`` is every kernel of the kernel registry
:data:`exolab.kernels.KERNELS`, resolved when the suite runs, so a new kernel
adds its column to every such suite). ``kernels=None`` runs every suite on all
of its kernels; a list restricts each suite to the ones it supports, and a
kernel no selected suite supports is a :class:`ConfigError`.

Programs: a suite that measures ABI programs declares them — benchmark ->
``main(os, n)`` printing ``RESULT <cycles per operation>`` — with what one
loop iteration is (``iteration``, for ``exolab explain``), its unit, its
iteration counts (``sizes``: benchmark -> (full, quick)) and the features a
benchmark needs beyond the ABI (``needs``: an extension, or
``"exception:<kind>"``). A kernel whose declaration does not provide them
gets n/a without running; :func:`run_benchmark` runs one program and reads
its result. ``anatomy``, ``calibrate`` and the CLI find programs here.

Interface::

    SUITE_MODULES                       modules that register suites
    DEFAULT_PROFILE                     profile of suites that name none
    ALL_KERNELS                         "*": every registered kernel
    suite(name, *, kernels=("none",), default_profile=None, description="",
          programs={}, iteration={}, unit="", sizes={}, default_size=(1000, 20),
          needs={}, variants={})
    SuiteContext(suite, profile, seed, kernels, quick, full=False)
      result(benchmark, kernel, value, unit) -> Result
      cost_profile -> CostProfile
    SuiteOutput(results, paper=[], notes={})     what a suite returns
    SuiteInfo(name, fn, declared, default_profile, description, programs, iteration,
              unit, sizes, default_size, needs)
      kernels -> tuple[str, ...]                 declared, "*" expanded
      profile -> str                             default_profile or DEFAULT_PROFILE
      iterations(benchmark, quick=False) -> int  runs_on(benchmark, kernel) -> bool
      iteration_of(benchmark) -> str
      program_for(benchmark, kernel) -> program  its variant where a call is refused
    registered() -> dict[str, SuiteInfo]         get_suite(name) -> SuiteInfo
    find_program(benchmark) -> SuiteInfo         the first suite declaring it
    program_suites() -> list[SuiteInfo]          suites that declare programs (calibrate)
    run_benchmark(info, benchmark, kernel, profile, seed, n) -> float | None
    microsecond_rows(ctx, benchmarks) -> (results, notes)   every benchmark's
                                        program on every kernel, in us (n/a noted)
    run_suite_program(program, n, kernel, profile, seed) -> ProgramRun
                                        one fresh machine, or the program's ``harness``
    run_suites(names, profile=None, seed=0, kernels=None, quick=False, full=False,
               progress=None)
    Progress = (suite, benchmark, kernel) -> None   told as each suite starts (benchmark
                                        "" and kernel "") and before each program row
"""
from __future__ import annotations

import importlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

from exolab.bench.results import PaperRow, Report, Result
from exolab.errors import ConfigError
from exolab.kernels import declaration, kernel_names
from exolab.machine.costs import CostProfile, get_profile

__all__ = ["SUITE_MODULES", "DEFAULT_PROFILE", "ALL_KERNELS", "ONE", "suite", "microsecond_rows",
           "SuiteContext", "SuiteOutput", "SuiteInfo", "registered", "get_suite",
           "find_program", "program_suites", "run_benchmark", "run_suites", "Progress",
           "run_suite_program"]

#: every module that registers suites; importing them fills the registry
SUITE_MODULES: tuple[str, ...] = (
    "exolab.bench.speed",
    "exolab.bench.tables",
    "exolab.bench.aegis",
    "exolab.bench.fs",
    "exolab.bench.isolation",
    "exolab.bench.l4",
    "exolab.bench.spin",
    "exolab.bench.net",
)

DEFAULT_PROFILE = "dec5000"
ALL_KERNELS = "*"
ONE = "one operation"       # what an iteration is unless the suite says otherwise


@dataclass(frozen=True, slots=True)
class SuiteContext:
    """What a suite is asked to run: where, with which seed, on which kernels."""

    suite: str                  # the suite's own name (rows must carry it)
    profile: str                # cost profile name
    seed: int
    kernels: tuple[str, ...]    # kernels to measure (a subset of the suite's)
    quick: bool                 # small N: tests and smoke runs
    full: bool = False          # the largest sizes (slow): the goals' own scale

    @property
    def cost_profile(self) -> CostProfile:
        """The profile record named by :attr:`profile`."""
        return get_profile(self.profile)

    def result(self, benchmark: str, kernel: str, value: float, unit: str) -> Result:
        """Build a result row of this suite."""
        return Result(self.suite, benchmark, kernel, float(value), unit)


@dataclass(frozen=True, slots=True)
class SuiteOutput:
    """The rows a suite produced; ``notes`` maps benchmark ("" = suite) to a remark."""

    results: list[Result]
    paper: list[PaperRow] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)


SuiteFn = Callable[[SuiteContext], SuiteOutput]
Progress = Callable[[str, str, str], None]
#: the progress callback of the run_suites call in flight (run_benchmark tells it)
_PROGRESS: ContextVar[Progress | None] = ContextVar("exolab_bench_progress", default=None)


@dataclass(frozen=True, slots=True)
class SuiteInfo:
    """A registered suite: its runner, kernels, profile and the programs it measures."""

    name: str
    fn: SuiteFn
    declared: tuple[str, ...]       # kernels the suite can measure ("*": all registered)
    default_profile: str | None     # None: DEFAULT_PROFILE
    description: str
    programs: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    iteration: Mapping[str, str] = field(default_factory=dict)  # benchmark -> one loop
    unit: str = ""
    sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    default_size: tuple[int, int] = (1000, 20)                  # (full, quick)
    needs: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # benchmark -> (ABI calls, program run where the kernel refuses one of them)
    variants: Mapping[str, tuple[frozenset[str], Callable[..., Any]]] = \
        field(default_factory=dict)

    def program_for(self, benchmark: str, kernel: str) -> Callable[..., Any]:
        """``benchmark``'s program on ``kernel``: its variant where the kernel's
        declaration refuses a call the program makes."""
        variant = self.variants.get(benchmark)
        if variant is not None and kernel != "none" and \
                declaration(kernel).refuses & variant[0]:
            return variant[1]
        return self.programs[benchmark]

    @property
    def kernels(self) -> tuple[str, ...]:
        """The kernels the suite measures, ``"*"`` expanded to the kernel registry."""
        out: list[str] = []
        for k in self.declared:
            out += kernel_names() if k == ALL_KERNELS else [k]
        return tuple(dict.fromkeys(out))

    @property
    def profile(self) -> str:
        """The profile the suite runs on unless told otherwise."""
        return self.default_profile or DEFAULT_PROFILE

    def iterations(self, benchmark: str, quick: bool = False) -> int:
        """How many operations a run of ``benchmark`` times."""
        return self.sizes.get(benchmark, self.default_size)[1 if quick else 0]

    def iteration_of(self, benchmark: str) -> str:
        """What one loop iteration of ``benchmark`` does."""
        return self.iteration.get(benchmark, ONE)

    def runs_on(self, benchmark: str, kernel: str) -> bool:
        """Whether ``kernel``'s declaration provides what ``benchmark`` needs."""
        needs = self.needs.get(benchmark, frozenset())
        return kernel == "none" or declaration(kernel).provides(needs)


_REGISTRY: dict[str, SuiteInfo] = {}
_loaded = False


def suite(name: str, *, kernels: Sequence[str] = ("none",),
          default_profile: str | None = None, description: str = "",
          programs: Mapping[str, Callable[..., Any]] | None = None,
          iteration: Mapping[str, str] | None = None, unit: str = "",
          sizes: Mapping[str, tuple[int, int]] | None = None,
          default_size: tuple[int, int] = (1000, 20),
          needs: Mapping[str, Iterable[str]] | None = None,
          variants: Mapping[str, tuple[frozenset[str], Callable[..., Any]]] | None = None
          ) -> Callable[[SuiteFn], SuiteFn]:
    """Register the decorated function as suite ``name`` (see the module docstring)."""
    def register(fn: SuiteFn) -> SuiteFn:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ConfigError("suite registered twice", suite=name)
        _REGISTRY[name] = SuiteInfo(
            name, fn, tuple(kernels), default_profile,
            description or (fn.__doc__ or "").strip(),
            MappingProxyType(dict(programs or {})), MappingProxyType(dict(iteration or {})),
            unit, MappingProxyType(dict(sizes or {})), default_size,
            MappingProxyType({b: frozenset(f) for b, f in (needs or {}).items()}),
            MappingProxyType(dict(variants or {})))
        return fn
    return register


def _load() -> None:
    """Import every module of :data:`SUITE_MODULES` (once)."""
    global _loaded
    if not _loaded:
        for module in SUITE_MODULES:
            importlib.import_module(module)
        _loaded = True


def registered() -> dict[str, SuiteInfo]:
    """Every registered suite, by name, in the order of :data:`SUITE_MODULES`
    (suites of other modules after them, in registration order), whatever
    order the modules happened to be imported in."""
    _load()
    rank = {module: i for i, module in enumerate(SUITE_MODULES)}
    ordered = sorted(_REGISTRY.items(),
                     key=lambda item: rank.get(item[1].fn.__module__, len(rank)))
    return dict(ordered)


def get_suite(name: str) -> SuiteInfo:
    """Return suite ``name`` or raise :class:`ConfigError` listing the choices."""
    suites = registered()
    if name not in suites:
        raise ConfigError(f"unknown suite {name!r}", suite=name, expected=sorted(suites))
    return suites[name]


def program_suites() -> list[SuiteInfo]:
    """Every registered suite that declares programs, in :func:`registered` order."""
    return [info for info in registered().values() if info.programs]


def find_program(benchmark: str) -> SuiteInfo:
    """The first registered suite that declares a program for ``benchmark``."""
    suites = registered().values()
    for info in suites:
        if benchmark in info.programs:
            return info
    known = sorted({b for info in suites for b in info.programs})
    raise ConfigError("unknown benchmark", benchmark=benchmark, expected=known)


def run_benchmark(info: SuiteInfo, benchmark: str, kernel: str, profile: str, seed: int,
                  n: int) -> float | None:
    """Run ``benchmark``'s program ``n`` times; its cycles per operation (None: n/a).

    n/a comes from the kernel's declaration, before anything runs; a program
    that then fails with ENOSYS shows a refusal its kernel did not declare.
    """
    if not info.runs_on(benchmark, kernel):
        return None
    hook = _PROGRESS.get()
    if hook is not None:
        hook(info.name, benchmark, kernel)
    run = run_suite_program(info.program_for(benchmark, kernel), n, kernel, profile, seed)
    for line in run.console:
        if line.startswith("RESULT "):
            return float(line.split()[1])
    raise ConfigError("benchmark program produced no result", benchmark=benchmark,
                      kernel=kernel, reason=run.result.reason, faults=run.faults[:3],
                      console=run.console[-3:])


def microsecond_rows(ctx: "SuiteContext", benchmarks: Iterable[str]
                     ) -> tuple[list[Result], dict[str, str]]:
    """Run each benchmark's program on every kernel of ``ctx``: its rows in
    microseconds, and a note per benchmark naming the kernels where it is n/a."""
    info = get_suite(ctx.suite)
    mhz = get_profile(ctx.profile).mhz
    results: list[Result] = []
    notes: dict[str, str] = {}
    for bench in benchmarks:
        for kernel in ctx.kernels:
            cycles = run_benchmark(info, bench, kernel, ctx.profile, ctx.seed,
                                   info.iterations(bench, ctx.quick))
            if cycles is None:
                notes[bench] = "; ".join(x for x in (notes.get(bench, ""),
                                                     f"{kernel}: n/a") if x)
                continue
            results.append(ctx.result(bench, kernel, round(cycles / mhz, 3), "us"))
    return results, notes


def run_suite_program(program: Any, n: int, kernel: str, profile: str, seed: int) -> Any:
    """Run a suite program with ``n`` on a fresh machine (``run_program``), or through
    the harness its ``harness`` attribute names (``"module:function"``, called as
    ``fn(program, n, kernel=, profile=, seed=)``) when it needs more than one
    machine (bench/net.py: a peer on a wire); a ProgramRun either way."""
    from exolab.runner import run_program
    harness = getattr(program, "harness", None)
    if type(harness) is str:
        module, _, name = harness.partition(":")
        fn = getattr(importlib.import_module(module), name)
        return fn(program, n, kernel=kernel, profile=profile, seed=seed)
    return run_program(program, n, kernel=kernel, profile=profile, seed=seed)


def _select_kernels(infos: list[SuiteInfo],
                    kernels: Iterable[str] | None) -> dict[str, tuple[str, ...]]:
    """Return suite -> kernels to run; raise on a kernel no selected suite has."""
    if kernels is None:
        return {s.name: s.kernels for s in infos}
    wanted = list(dict.fromkeys(kernels))
    known = sorted({k for s in infos for k in s.kernels})
    for k in wanted:
        if k not in known:
            raise ConfigError(f"unknown kernel {k!r} for the selected suites", kernel=k,
                              expected=known)
    return {s.name: tuple(k for k in wanted if k in s.kernels) for s in infos}


def _run_one(info: SuiteInfo, ctx: SuiteContext) -> SuiteOutput:
    """Run one suite and check that its rows belong to it and its kernels."""
    out = info.fn(ctx)
    for r in out.results:
        if r.suite != info.name or r.kernel not in ctx.kernels:
            raise ConfigError("suite returned a foreign row", suite=info.name,
                              row_suite=r.suite, kernel=r.kernel,
                              expected=list(ctx.kernels))
    return out


def run_suites(names: Sequence[str] | None, profile: str | None = None, seed: int = 0,
               kernels: Iterable[str] | None = None, quick: bool = False,
               full: bool = False, progress: Progress | None = None) -> Report:
    """Run the named suites (all when empty or None) and gather one report.

    ``profile=None`` runs each suite on its default profile; the report's
    ``profile`` then names every profile used, comma-separated. ``progress`` is
    told each suite as it starts and each program row before it runs.
    """
    token = _PROGRESS.set(progress)
    try:
        return _run_suites(names, profile, seed, kernels, quick, full, progress)
    finally:
        _PROGRESS.reset(token)


def _run_suites(names: Sequence[str] | None, profile: str | None, seed: int,
                kernels: Iterable[str] | None, quick: bool, full: bool,
                progress: Progress | None) -> Report:
    """run_suites without the progress context."""
    infos = [get_suite(n) for n in dict.fromkeys(names or ())] or \
        list(registered().values())
    if profile is not None:
        get_profile(profile)
    chosen = _select_kernels(infos, kernels)
    results: list[Result] = []
    paper: list[PaperRow] = []
    notes: dict[tuple[str, str], str] = {}
    used: list[str] = []
    for info in infos:
        if not chosen[info.name]:
            continue
        prof = profile or info.profile
        used.append(prof)
        if progress is not None:
            progress(info.name, "", "")
        ctx = SuiteContext(info.name, prof, seed, chosen[info.name], quick, full)
        out = _run_one(info, ctx)
        results += out.results
        paper += out.paper
        notes[(info.name, "")] = "; ".join(
            x for x in (f"profile {prof}", out.notes.get("", "")) if x)
        notes.update({(info.name, b): n for b, n in out.notes.items() if b})
    label = profile or ",".join(sorted(set(used))) or DEFAULT_PROFILE
    return Report(label, seed, results, paper, notes)
