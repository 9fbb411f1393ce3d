"""The ``exolab`` command (Typer; output through rich).

Commands::

    exolab bench [SUITE ...] [--profile P] [--seed S] [--json FILE] [--quick]
                 [--kernel K ...] [--list]
        run benchmark suites (all when none is named) and print one table each;
        --json writes the report (see exolab.bench.results)
    exolab trace PROGRAM [--out trace.json] [--profile P] [--seed S] [--kernel K]
        run PROGRAM with tracing on, print a summary, write a Perfetto /
        Chrome trace-event JSON file (open it at ui.perfetto.dev)
    exolab profiles [NAME]
        print the cost table(s), every row with its source
    exolab --version

Any :class:`~exolab.errors.ExolabError` (unknown suite, profile, program...)
prints one red line on stderr and exits with status 2, never a traceback.

PROGRAM is resolved by :func:`resolve_program`: today a built-in scenario
(:data:`exolab.demo.SCENARIOS`); ABI programs and ``--kernel`` plug in there.

Interface::

    app                                 the Typer application
    main()                              console-script entry point
    resolve_program(program, kernel) -> Scenario
    EXIT_ERROR                          exit status of an ExolabError (2)
"""
from __future__ import annotations

import functools
import sys
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Callable, Optional, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from exolab import __version__
from exolab.errors import ConfigError, ExolabError

__all__ = ["app", "main", "resolve_program", "EXIT_ERROR"]

EXIT_ERROR = 2
F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(name="exolab", add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False,
                  help="A laboratory of operating-system structures on one simulated "
                       "machine.")


def _out() -> Console:
    """A console on the current stdout (created per call so test runners capture it)."""
    return Console(highlight=False)


def _fail(ex: ExolabError) -> None:
    """Print an error as one red line on stderr."""
    Console(stderr=True, highlight=False).print(
        f"[bold red]error:[/] {escape(str(ex))}", soft_wrap=True)


def _friendly(fn: F) -> F:
    """Turn an ExolabError raised by a command into a red line and exit status 2."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ExolabError as ex:
            _fail(ex)
            raise typer.Exit(EXIT_ERROR) from None
    return wrapper  # type: ignore[return-value]


def _write(action: Callable[[], None], path: Path) -> None:
    """Run a file-writing ``action``; an OSError becomes a ConfigError naming ``path``."""
    try:
        action()
    except OSError as ex:
        raise ConfigError("cannot write the output file", path=str(path),
                          reason=ex.strerror) from None


def _version(value: bool) -> None:
    """--version: print the version and stop."""
    if value:
        _out().print(f"exolab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """A laboratory of operating-system structures on one simulated machine."""


# -- bench ------------------------------------------------------------------------

def _list_suites() -> None:
    """Print the registered suites."""
    from exolab.bench.registry import DEFAULT_PROFILE, registered
    table = Table(title="benchmark suites", title_justify="left")
    for header in ("suite", "kernels", "profile", "description"):
        table.add_column(header)
    for s in registered().values():
        table.add_row(s.name, ", ".join(s.kernels), s.default_profile or DEFAULT_PROFILE,
                      s.description)
    _out().print(table)


@app.command()
@_friendly
def bench(
    suites: Annotated[Optional[list[str]], typer.Argument(
        help="Suites to run (default: all).", show_default=False)] = None,
    profile: Annotated[Optional[str], typer.Option(
        "--profile", "-p", help="Cost profile (default: each suite's own).")] = None,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Simulation seed.")] = 0,
    json_path: Annotated[Optional[Path], typer.Option(
        "--json", help="Write the report as JSON to this file.")] = None,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Small sizes: fast, noisy figures.")] = False,
    kernel: Annotated[Optional[list[str]], typer.Option(
        "--kernel", "-k",
        help="Kernel(s) to measure (repeatable; default: all).")] = None,
    list_: Annotated[bool, typer.Option(
        "--list", help="List the suites and exit.")] = False,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", help="Draw measured / paper figures into this PNG.")] = None,
) -> None:
    """Run benchmark suites and print their tables."""
    from exolab.bench.registry import run_suites
    from exolab.bench.report import print_report
    if list_:
        _list_suites()
        return
    report = run_suites(suites or None, profile, seed, kernels=kernel or None,
                        quick=quick)
    out = _out()
    print_report(report, out)
    if json_path is not None:
        _write(lambda: report.write_json(json_path), json_path)
        out.print(f"wrote {escape(str(json_path))}")
    if plot is not None:
        from exolab.bench.plot import plot_report
        _write(lambda: plot_report(report, plot), plot)
        out.print(f"wrote {escape(str(plot))}")


@app.command()
@_friendly
def calibrate(
    profile: Annotated[str, typer.Option(
        "--profile", "-p", help="Cost profile whose calibrated rows to fit.")] = "dec5000",
    seed: Annotated[int, typer.Option("--seed", "-s", help="Simulation seed.")] = 0,
) -> None:
    """Fit the profile rows pinned on paper figures; print the values to adopt."""
    from exolab.bench.calibrate import solve, targets
    table = Table(title=f"calibration of {profile}", title_justify="left")
    for header in ("row", "pinned on", "current", "fitted"):
        table.add_column(header)
    pinned = {t.field: f"{t.suite}/{t.benchmark} ({t.kernel})" for t in targets(profile)}
    for row, (old, new) in solve(profile, seed).items():
        table.add_row(row, pinned[row], str(old), str(new))
    _out().print(table)


# -- trace ------------------------------------------------------------------------

def resolve_program(program: str, kernel: str | None = None) -> Any:
    """Return the scenario function that runs ``program`` (on ``kernel``)."""
    from exolab.demo import SCENARIOS
    if kernel not in (None, "none"):
        raise ConfigError("built-in scenarios run on the bare machine only",
                          kernel=kernel, expected=["none"])
    if program in SCENARIOS:
        return SCENARIOS[program]
    raise ConfigError(f"unknown program {program!r}", program=program,
                      expected=sorted(SCENARIOS))


def _trace_summary(program: str, run: Any, out_path: Path) -> Table:
    """A table of the traced run: cycles, time, events by kind, faults."""
    m = run.machine
    table = Table(title=f"trace of {program} ({m.profile.name}, seed {m.seed})",
                  title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("run", run.result.reason)
    table.add_row("cycles", f"{m.cycles:,}")
    table.add_row("simulated time", f"{m.us(m.cycles):,.2f} us")
    counts = m.tracer.counts()
    for kind in sorted(counts):
        table.add_row(f"  {kind.name}", f"{counts[kind]:,}")
    stats = m.tracer.statistics()
    table.add_row("events", f"{stats.recorded:,} ({stats.dropped:,} dropped)")
    for tid, cause, vaddr in getattr(run.kernel, "faults", []):
        table.add_row("fault", f"thread {tid}: {cause} at {vaddr:#x}")
    table.add_row("written", str(out_path))
    return table


@app.command()
@_friendly
def trace(
    program: Annotated[str, typer.Argument(help="Program to run: a built-in scenario "
                                                "(demo).")],
    out: Annotated[Path, typer.Option("--out", "-o",
                                      help="Trace file to write.")] = Path("trace.json"),
    profile: Annotated[str, typer.Option("--profile", "-p",
                                         help="Cost profile.")] = "dec5000",
    seed: Annotated[int, typer.Option("--seed", "-s", help="Simulation seed.")] = 0,
    kernel: Annotated[Optional[str], typer.Option(
        "--kernel", "-k", help="Kernel to run the program on.")] = None,
) -> None:
    """Run a program with tracing on and write a Perfetto (Chrome trace-event) file."""
    from exolab.trace.perfetto import write_chrome_trace
    scenario = resolve_program(program, kernel)
    run = scenario(profile, seed, True)
    _write(lambda: write_chrome_trace(run.machine.tracer, run.machine.profile, out), out)
    _out().print(_trace_summary(program, run, out))


# -- profiles ---------------------------------------------------------------------

_NOT_COSTS = ("name", "description", "disk", "nic", "sources")


def _profile_table(p: Any) -> Table:
    """The cost table of one profile, every row with its source."""
    table = Table(title=f"{p.name}: {p.description}", title_justify="left")
    table.add_column("field")
    table.add_column("value", justify="right")
    table.add_column("source", overflow="fold")
    for f in fields(p):
        if f.name not in _NOT_COSTS:
            table.add_row(f.name, str(getattr(p, f.name)), p.sources.get(f.name, ""))
    for part in ("disk", "nic"):
        model = getattr(p, part)
        values = ", ".join(f"{f.name}={getattr(model, f.name)}" for f in fields(model))
        table.add_row(part, "", values)
    return table


@app.command()
@_friendly
def profiles(
    name: Annotated[Optional[str], typer.Argument(
        help="Profile to show (default: all).", show_default=False)] = None,
) -> None:
    """Print the cost profile tables with the source of every number."""
    from exolab.machine.costs import PROFILES, get_profile
    chosen = [get_profile(name)] if name else list(PROFILES.values())
    out = _out()
    for p in chosen:
        out.print(_profile_table(p))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except ExolabError as ex:          # raised outside a command (defensive)
        _fail(ex)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
