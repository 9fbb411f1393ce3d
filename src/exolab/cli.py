"""The ``exolab`` command (Typer; output through rich).

Commands::

    exolab bench [SUITE ...] [--profile P] [--seed S] [--json FILE] [--plot FILE]
                 [--quick] [--full] [--kernel K ...] [--list]
        run benchmark suites (all when none is named) and print one table each
        (a row per benchmark and kernel: exolab.bench.report); --json writes the
        report (see exolab.bench.results), --plot an image (exolab.bench.plot);
        both paths are checked before anything runs; on a terminal a transient
        progress line shows the suite and row being measured
    exolab explain BENCHMARK [--kernel K ...] [-n N] [--json FILE]
        what one loop iteration does on each kernel (exolab.bench.anatomy:
        crossings, copies, disk requests, file-system and XN counters);
        -n at most EXPLAIN_MAX_N; progress on a terminal; ^C exits 130
    exolab run PROGRAM [ARGS ...] [--kernel K] [--profile P] [--seed S]
               [--trace out.json] [--max-cycles N] [--disk IMAGE]
        run an ABI program (path/to/file.py[:func] or package.module[:func],
        resolved by exolab.abi.load_program; ARGS that look like ints are
        ints) on a kernel from exolab.kernels.kernel_names(); print its
        console output as it is produced, then the machine's counters, each
        process's exit status and the faults (with the program's own source
        lines); exit 0 when it finished cleanly, 1 when a process faulted,
        the run deadlocked or hit the cycle budget (EXIT_FAULT), 130 on ^C
        (after the output so far and the summary)
    exolab trace PROGRAM [ARGS ...] [--out trace.json] [--profile P] [--seed S]
                 [--kernel K] [--max-cycles N]
        run a built-in scenario or an ABI program (as for run) with tracing
        on, print its output and a summary, write a Perfetto / Chrome
        trace-event JSON file (open it at ui.perfetto.dev); exit 0 once the
        trace is written, faults or not
    exolab mkfs IMAGE --size S [--from DIR] [--block-size B]
        make an ext2 image for run --disk (a malformed or foreign --disk image
        is refused with one line, nothing written to it: docs/files.md)
    exolab crash [-n N] [--seed S] [--mode drop|tear|both]
        the crash soak (exolab.crash): power cuts during a file workload; exit 1
        if e2fsck -p could not repair an image or an fsynced byte was lost
    exolab profiles [NAME]
        print the hardware cost table(s) and each kernel's path table on them,
        every row with its source
    exolab contract check FILE ...
        check Singularity channel contracts (exolab.kernels.singularity.contract):
        print each contract's messages, states and transitions, or every error
        with its file, line and column (exit 2)
    exolab --version

Any :class:`~exolab.errors.ExolabError` (unknown suite, profile, program...)
prints one red line on stderr and exits with status 2, never a traceback.

``--max-cycles N`` is the run's cycle budget (default
:data:`DEFAULT_MAX_CYCLES`; 0 lifts it): a run that reaches it stops, says
"stopped: cycle budget of N reached", and still prints its summary and
writes its trace.

``trace``'s PROGRAM is resolved by :func:`resolve_program`: a built-in
scenario (:data:`exolab.demo.SCENARIOS`) runs on the bare machine; anything
else is loaded like ``run``'s PROGRAM and runs on ``--kernel`` (default
monolithic). ``run --trace`` writes the same file beside run's summary.

Interface::

    app                                 the Typer application
    main()                              console-script entry point
    resolve_program(program, kernel=None, args=(), max_cycles=None, on_line=None,
                    trusted=False) -> (profile, seed, trace) -> run
    load_abi_program(spec, trusted=False) -> Program   verified (exolab.safe) unless
                                        trusted; import failures as ConfigError
    program_args(texts) -> list         "12" -> 12, anything else stays a string
    EXIT_ERROR                          exit status of an ExolabError (2)
    EXIT_FAULT                          exit status of run when a process faulted (1)
    EXIT_INTERRUPTED                    exit status of run/trace after ^C (130)
    DEFAULT_MAX_CYCLES                  the cycle budget of run/trace (2 * 10**8)
    EXPLAIN_MAX_N                       the largest `explain -n` (10**5)

Help is tidied for every command (:class:`_Group`): flags without a type,
``PROGRAM [ARGS]...`` usage lines.

This module is over the 400-line guide: it is one Typer app, and each command
is a thin shell (options, then one call into the library) that reads best
beside the others it shares helpers with.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperArgument, TyperCommand, TyperGroup

from exolab import __version__
from exolab.errors import ConfigError, ExolabError, safe_str
from exolab.kernels import kernel_names
from exolab.records import flatten

__all__ = ["app", "main", "resolve_program", "program_args", "load_abi_program",
           "EXIT_ERROR", "EXIT_FAULT", "EXIT_INTERRUPTED", "DEFAULT_MAX_CYCLES",
           "EXPLAIN_MAX_N"]

EXIT_ERROR = 2
EXIT_FAULT = 1                  # exolab run: a process faulted, deadlock, or the budget
EXIT_INTERRUPTED = 130          # the shell's status for a command ended by SIGINT
#: cycle budget of `exolab run` / `trace` (--max-cycles; 0 lifts it): 8 s simulated
#: on dec5000, 0.11 s on athlon64; the paper-sized benchmark programs need at most
#: 3 * 10**7, the examples 7 * 10**5 (why this value: docs/design.md)
DEFAULT_MAX_CYCLES = 200_000_000
#: the largest -n of `exolab explain` (pipe: about 20 s per kernel on a laptop)
EXPLAIN_MAX_N = 100_000
#: exit statuses listed in a summary before "... and N more"
SHOWN_EXITS = 16
F = TypeVar("F", bound=Callable[..., Any])

class _Argument(TyperArgument):
    """A positional argument shown as NAME (required) or [NAME] in usage lines."""

    def _usage_display_name(self) -> str:
        """PROGRAM, [ARGS]...: the usual notation, not typer's {program}."""
        name = self.display_name_raw
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        """No type column: the help text says what the argument is."""
        return None


def _tidy(command: Any) -> Any:
    """Make a command's help read like a well-kept CLI's: flags show no type, arguments
    are upper-case metavars (PROGRAM, [ARGS]...), options show FILE, N, NAME."""
    for param in getattr(command, "params", ()):
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = (param.name or "arg").upper()
            param.__class__ = _Argument
        elif getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif param.metavar is None:
            param.metavar = _METAVARS.get(param.name or "", "VALUE")
    if type(command) is TyperCommand:
        command.__class__ = _Command        # (a subclass with no state of its own)
    return command


#: option metavars by parameter name (anything else: VALUE)
_METAVARS = {"profile": "NAME", "seed": "N", "json_path": "FILE", "plot": "FILE",
             "kernel": "NAME", "trace_path": "FILE", "out": "FILE", "max_cycles": "N",
             "n": "N"}


class _Group(TyperGroup):
    """The exolab group: every command's help tidied (:func:`_tidy`)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command ``cmd_name``, its help tidied."""
        return _tidy(super().get_command(ctx, cmd_name))

    def get_params(self, ctx: Any) -> list[Any]:
        """The group's own options (--version, --help), flags shown without a type."""
        return _tidy_params(super().get_params(ctx))


def _tidy_params(params: list[Any]) -> list[Any]:
    """Flags (--help, --version) shown without a type."""
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    return params


class _Command(TyperCommand):
    """A command whose --help is shown without a type."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The command's parameters, --help included, flags shown without a type."""
        return _tidy_params(super().get_params(ctx))


app = typer.Typer(name="exolab", add_completion=False, no_args_is_help=True,
                  pretty_exceptions_enable=False, cls=_Group,
                  help="A laboratory of operating-system structures on one simulated "
                       "machine.")


#: width of tables written to a file or a pipe (a CI log): wide enough for every column
PIPE_WIDTH = 160


def _out() -> Console:
    """A console on the current stdout (created per call so test runners capture it);
    not a terminal and no COLUMNS: PIPE_WIDTH wide rather than rich's 80."""
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=PIPE_WIDTH if piped else None)


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


def _write(action: Callable[[], object], path: Path) -> None:
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
    full: Annotated[bool, typer.Option(
        "--full", help="Largest sizes (speed: 10k processes, 1M frames; slow).")] = False,
    kernel: Annotated[Optional[list[str]], typer.Option(
        "--kernel", "-k",
        help="Kernel(s) to measure (repeatable; default: all).")] = None,
    list_: Annotated[bool, typer.Option(
        "--list", help="List the suites and exit.")] = False,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", help="Draw the figures into this image (.png, .svg, .pdf...; no "
                       "extension: .png).")] = None,
) -> None:
    """Run benchmark suites and print their tables.

    On a terminal a progress line shows the suite and row being measured;
    piped, only the tables are printed. --json and --plot paths are checked
    before anything runs.
    """
    from exolab.bench.registry import get_suite, registered, run_suites
    from exolab.bench.report import print_report
    if list_:
        _list_suites()
        return
    if json_path is not None:
        _check_output(json_path)
    plot_path = None
    if plot is not None:
        from exolab.bench.plot import check_suites
        from exolab.bench.plot import plot_path as resolve_plot
        _check_output(plot)                     # a directory, before .png is added
        plot_path = resolve_plot(plot)
        check_suites([get_suite(n).name for n in suites or ()])
        _check_output(plot_path)
    infos = [get_suite(n) for n in dict.fromkeys(suites or ())] or \
        list(registered().values())
    out = _out()
    with _bench_progress(out, len(infos)) as progress:
        report = run_suites(suites or None, profile, seed, kernels=kernel or None,
                            quick=quick, full=full, progress=progress)
    print_report(report, out)
    if json_path is not None:
        _write(lambda: report.write_json(json_path), json_path)
        out.print(f"wrote {escape(str(json_path))}")
    if plot_path is not None:
        from exolab.bench.plot import plot_report
        written = plot_path
        _write(lambda: plot_report(report, written), written)
        out.print(f"wrote {escape(str(written))}")


def _check_output(path: Path) -> None:
    """Refuse, before anything runs, an output file that cannot be written: a directory,
    a missing directory, no permission (ConfigError naming the path)."""
    reason = None
    if path.is_dir():
        reason = "it is a directory"
    elif not path.parent.is_dir():
        reason = f"no such directory: {path.parent}"
    elif not os.access(path.parent, os.W_OK) or (path.exists()
                                                 and not os.access(path, os.W_OK)):
        reason = "permission denied"
    if reason is not None:
        raise ConfigError("cannot write the output file", path=str(path), reason=reason)


@contextlib.contextmanager
def _bench_progress(out: Console, suites: int) -> Iterator[Callable[[str, str, str], None]
                                                           | None]:
    """On a terminal, a transient rich progress display of the suite and row being
    measured (yields its callback for run_suites); otherwise nothing (yields None)."""
    if not out.is_terminal:
        yield None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                               TextColumn, TimeElapsedColumn)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TextColumn("suites"), TimeElapsedColumn(),
                  console=out, transient=True) as bar:
        task = bar.add_task("starting", total=suites)
        seen: list[str] = []

        def step(suite: str, benchmark: str, kernel: str) -> None:
            if suite not in seen:
                if seen:
                    bar.advance(task)
                seen.append(suite)
            row = f": {benchmark} on {kernel}" if benchmark else ""
            bar.update(task, description=escape(f"{suite}{row}"))
            bar.refresh()
        yield step


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


@app.command()
@_friendly
def explain(
    benchmark: Annotated[str, typer.Argument(
        help="A benchmark of the paper tables (pipe, shm, lrpc, trap, syscall, pct, ...).")],
    kernel: Annotated[Optional[list[str]], typer.Option(
        "--kernel", "-k", help="Kernel(s) to dissect (repeatable; default: all).")] = None,
    profile: Annotated[Optional[str], typer.Option(
        "--profile", "-p", help="Cost profile (default: the suite's paper machine).")] = None,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Simulation seed.")] = 0,
    n: Annotated[Optional[int], typer.Option(
        "-n", min=1, max=EXPLAIN_MAX_N,
        help=f"Loop iterations of the smaller run (default: the quick size; at most "
             f"{EXPLAIN_MAX_N:,}).")] = None,
    json_path: Annotated[Optional[Path], typer.Option(
        "--json", help="Also write the counts as JSON to this file.")] = None,
) -> None:
    """Show what one iteration of a benchmark does on each kernel: the structure behind it.

    Each kernel runs the program with n and 2n iterations; on a terminal a
    progress line shows the kernel being measured and the time left. ^C stops
    it (exit status 130).
    """
    from exolab.bench.anatomy import program_of
    if json_path is not None:
        _check_output(json_path)
    out = _out()
    if benchmark.startswith("fig5_"):       # the Singularity pipeline: base vs config
        from exolab.kernels.singularity import pipeline
        suite, iteration = "isolation", pipeline.ITERATION
        found = pipeline.anatomies(benchmark[5:], n or 30, profile or "athlon64", seed)
    else:
        _, suite, iteration = program_of(benchmark)
        found = _dissect(out, benchmark, kernel or kernel_names(), profile, seed, n)
    if not found:
        raise ConfigError("no kernel provides this benchmark", benchmark=benchmark)
    for table in _explain_tables(out, benchmark, suite, seed, iteration, found):
        out.print(table)
    if json_path is not None:
        doc = {"benchmark": benchmark, "suite": suite, "profile": found[0].profile,
               "seed": seed, "iteration": iteration,
               "kernels": {a.kernel: {"per_op": a.per_op, "per_iteration": a.counts}
                           for a in found}}
        _write(lambda: json_path.write_text(json.dumps(doc, indent=1) + "\n"), json_path)
        out.print(f"wrote {escape(str(json_path))}")


def _dissect(out: Console, benchmark: str, kernels: list[str], profile: str | None,
             seed: int, n: int | None) -> list[Any]:
    """The anatomy of ``benchmark`` on each kernel that provides it, with a transient
    progress display on a terminal; ^C prints what stopped and exits 130."""
    from exolab.bench.anatomy import anatomy
    found = []
    try:
        with _kernel_progress(out, benchmark, kernels) as step:
            for k in kernels:
                step(k)
                a = anatomy(benchmark, k, profile, seed, n)
                if a is not None:
                    found.append(a)
    except KeyboardInterrupt:
        Console(stderr=True, highlight=False).print(
            f"[red]stopped: interrupted[/] (^C) while dissecting {escape(benchmark)}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    return found


@contextlib.contextmanager
def _kernel_progress(out: Console, benchmark: str,
                     kernels: list[str]) -> Iterator[Callable[[str], None]]:
    """On a terminal, a transient progress display over ``kernels`` (with the time
    left once one is done); yields the callback told each kernel as it starts."""
    if not out.is_terminal:
        yield lambda kernel: None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                               TextColumn, TimeElapsedColumn, TimeRemainingColumn)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("left"),
                  TimeRemainingColumn(), console=out, transient=True) as bar:
        task = bar.add_task(benchmark, total=len(kernels))
        started: list[str] = []

        def step(kernel: str) -> None:
            if started:
                bar.advance(task)
            started.append(kernel)
            bar.update(task, description=escape(f"{benchmark} on {kernel} (n, 2n)"))
            bar.refresh()
        yield step


def _explain_table(benchmark: str, suite: str, seed: int, iteration: str,
                   found: list[Any]) -> Table:
    """One table of per-iteration counts, a column per kernel of ``found``."""
    table = Table(title=f"{benchmark} ({suite}, {found[0].profile}, seed {seed})",
                  title_justify="left", caption=f"events per loop iteration; one "
                  f"iteration: {iteration}", caption_justify="left")
    table.add_column("")
    for a in found:
        table.add_column(a.kernel, justify="right")
    table.add_row("table value (cycles/op)", *(f"{a.per_op:,.1f}" for a in found))
    labels = list(dict.fromkeys(label for a in found for label in a.counts))
    for label in labels:
        values = [a.counts.get(label) for a in found]
        if any(values):
            table.add_row(escape(label), *("—" if v is None else f"{v:,.2f}".rstrip("0")
                                           .rstrip(".") for v in values))
    return table


def _explain_tables(out: Console, benchmark: str, suite: str, seed: int,
                    iteration: str, found: list[Any]) -> list[Table]:
    """The explain table, split into kernel groups (one table each) when all kernels
    side by side would not fit ``out``'s width."""
    table = _explain_table(benchmark, suite, seed, iteration, found)
    unbounded = out.options.update_width(10 ** 6)
    if len(found) == 1 or out.measure(table, options=unbounded).maximum <= out.width:
        return [table]
    half = (len(found) + 1) // 2
    return (_explain_tables(out, benchmark, suite, seed, iteration, found[:half])
            + _explain_tables(out, benchmark, suite, seed, iteration, found[half:]))


# -- run --------------------------------------------------------------------------

_INT = re.compile(r"[+-]?[0-9]+")


def program_args(texts: list[str]) -> list[int | str]:
    """Command-line arguments for a program: ints when they look like ints."""
    return [int(t) if _INT.fullmatch(t) else t for t in texts]


def load_abi_program(spec: str, trusted: bool = False) -> Any:
    """The program ``spec`` names, verified and loaded by :mod:`exolab.safe` (or, when
    ``trusted``, imported as host code by :func:`exolab.abi.load_program`); any
    import-time failure is a ConfigError, a rejection a VerifyError."""
    from exolab.abi import load_program
    _check_program_path(spec.partition(":")[0])
    try:
        return load_program(spec) if trusted else _load_verified(spec)
    except ExolabError:
        raise
    except (Exception, SystemExit) as ex:   # it raised, exited or did not compile
        raise ConfigError("cannot load program", program=spec,
                          reason=f"{type(ex).__name__}: {ex}") from None


_SPEC = "path/to/file.py[:func] or package.module[:func]"


def _check_program_path(target: str) -> None:
    """Say what is wrong with a program's path before loading it: empty, a directory,
    a file that is not Python source, a path to nothing (ConfigError)."""
    path = Path(target)
    if not target.strip():
        raise ConfigError(f"no program named: expected {_SPEC}")
    if path.is_dir():
        raise ConfigError("the program is a directory, not a Python file (.py)",
                          path=target)
    if path.exists() and path.suffix != ".py":
        raise ConfigError("the program is not a Python file (.py)", path=target)
    if not path.exists() and (path.suffix == ".py" or os.sep in target):
        raise ConfigError("program file not found", path=target)


def _load_verified(spec: str) -> Any:
    """``path.py[:func]`` or ``package.module[:func]``, verified from its source file."""
    import importlib.util

    from exolab.safe.load import load_program_file
    target, _, func = spec.partition(":")
    if target.endswith(".py"):
        if not Path(target).is_file():
            raise ConfigError("program file not found", path=target)
        return load_program_file(target, func or "main")
    try:
        found = importlib.util.find_spec(target)
    except (ImportError, ValueError) as ex:
        raise ConfigError("program module not found", module=target,
                          reason=str(ex)) from None
    if found is None or not found.origin or not found.origin.endswith(".py"):
        raise ConfigError("program module not found", module=target)
    return load_program_file(found.origin, func or "main")


def _where(where: Any) -> str:
    """A fault address for the summary."""
    return f"{where:#x}" if isinstance(where, int) else repr(where)


class _Echo:
    """The console sink of run/trace: print each line as it completes, count them."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, line: str) -> None:
        typer.echo(line)
        self.count += 1

    def rest(self, lines: list[str]) -> None:
        """Print the lines not streamed (a kernel without a sink, a dropped sink)."""
        for line in lines[self.count:]:
            self(line)


def _short(filename: str) -> str:
    """A source file's name relative to the working directory when it is inside it."""
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd()))
    except (OSError, ValueError):
        return filename


def _sites(run: Any) -> dict[int, list[tuple[str, int, str]]]:
    """The program's own frames where each process's threads ended, by pid (a thread
    that faulted first, then one that was killed or exited)."""
    from exolab.machine.threads import program_site
    sites: dict[int, list[tuple[str, int, str]]] = {}
    threads = run.machine.threads.all()
    for faulted in (True, False):
        for t in threads:
            track = getattr(t.owner, "trace_track", None)
            if (t.fault is not None) != faulted or not callable(track):
                continue
            frames = program_site(t)
            if frames:
                sites.setdefault(track()[0], frames)
    return sites


def _site(frames: list[tuple[str, int, str]]) -> str:
    """The innermost program frames (at most three, outermost first) as one line."""
    return " > ".join(f"{_short(f)}:{line} in {fn}" for f, line, fn in frames[-3:])


def _fault_rows(table: Table, run: Any, who: str = "pid") -> None:
    """Add a row per fault, each followed by the program's source line that faulted."""
    faults = getattr(run.kernel, "faults", [])
    sites = _sites(run) if faults and hasattr(run.machine, "threads") else {}
    for ident, what, where in faults:
        at = "" if where is None else f" at {_where(where)}"
        table.add_row("[red]fault[/]", escape(f"{who} {ident}: {safe_str(what)}{at}"))
        site = sites.get(ident)
        if site:
            table.add_row("  in", escape(_site(site)))


def _exit_rows(table: Table, run: Any) -> None:
    """Add a row per ended process with its exit status (the first SHOWN_EXITS)."""
    exits = getattr(run.kernel, "exits", None) or []
    for pid, name, status in exits[:SHOWN_EXITS]:
        table.add_row("exit", escape(f"pid {pid} ({safe_str(name)}): {safe_str(status)}"))
    if len(exits) > SHOWN_EXITS:
        table.add_row("exit", f"... and {len(exits) - SHOWN_EXITS:,} more")


def _summary_table(title: str, program: str, run: Any) -> Table:
    """A two-column summary table opened with the program, why it ended and its time."""
    m = run.machine
    table = Table(title=f"{title} ({m.profile.name}, seed {m.seed})",
                  title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("program", escape(program))
    table.add_row("run", run.result.reason)
    if getattr(run, "verified", True) is False:
        table.add_row("verified", "no: --trusted, unverified host code")
    table.add_row("cycles", f"{m.cycles:,}")
    table.add_row("simulated time", f"{m.us(m.cycles):,.2f} \N{MICRO SIGN}s")
    return table


def _run_summary(spec: str, kernel: str, run: Any) -> Table:
    """A table of the run: why it ended, time, machine counters, kernel counters, faults."""
    m = run.machine
    stats = m.statistics()
    table = _summary_table(f"run on {kernel}", spec, run)
    for label, name in (("traps", "traps"), ("exceptions", "exceptions"),
                        ("interrupts", "interrupts"), ("TLB misses", "tlb_misses"),
                        ("context switches", "context_switches")):
        table.add_row(label, f"{sum(getattr(c, name) for c in stats.cpus):,}")
    table.add_row("frames touched", f"{stats.memory.frames_touched:,} of "
                                    f"{stats.memory.frames:,}")
    stat = getattr(run.kernel, "statistics", None)
    record = stat() if callable(stat) else None
    if record is not None and is_dataclass(record):
        for name, value in flatten(record):
            table.add_row(f"{kernel}: {name}",
                          f"{value:,}" if isinstance(value, int) else escape(str(value)))
    _exit_rows(table, run)
    _fault_rows(table, run)
    return table


def _ending(run: Any, budget: int | None) -> str | None:
    """The line saying why a run did not end cleanly (budget, deadlock, ^C), if so."""
    reason = run.result.reason
    if reason == "budget":
        return f"[red]stopped: cycle budget of {budget or 0:,} reached[/] " \
               f"(--max-cycles N raises it, 0 lifts it)"
    if reason == "interrupted":
        return "[red]stopped: interrupted[/] (^C): the output and counters so far"
    if reason not in ("finished", "halted"):
        return f"[red]the run ended in {reason}[/]: " \
               f"{run.result.live_threads} thread(s) never finished"
    return None


def _budget(max_cycles: int) -> int | None:
    """The machine's cycle budget for --max-cycles (0: none)."""
    return max_cycles or None


_MAX_CYCLES_HELP = (f"Cycle budget: stop the run there (default {DEFAULT_MAX_CYCLES:,}; "
                    "0: no budget).")


@app.command()
@_friendly
def run(
    program: Annotated[str, typer.Argument(
        help="path/to/file.py[:func] or package.module[:func] (func defaults to main).")],
    args: Annotated[Optional[list[str]], typer.Argument(
        help="Arguments for the program (ints when they look like ints; put -- "
             "before negative numbers).", show_default=False)] = None,
    kernel: Annotated[str, typer.Option(
        "--kernel", "-k", help="Kernel to run on: "
                               + ", ".join(kernel_names()) + ".")] = "monolithic",
    profile: Annotated[str, typer.Option("--profile", "-p",
                                         help="Cost profile.")] = "dec5000",
    seed: Annotated[int, typer.Option("--seed", "-s", help="Simulation seed.")] = 0,
    trace_path: Annotated[Optional[Path], typer.Option(
        "--trace", help="Also write a Perfetto / Chrome trace-event JSON file.")] = None,
    max_cycles: Annotated[int, typer.Option(
        "--max-cycles", min=0, help=_MAX_CYCLES_HELP, show_default=False)] = DEFAULT_MAX_CYCLES,
    trusted: Annotated[bool, typer.Option(
        "--trusted", help="Run the program as unverified host code (see "
                          "docs/security.md).")] = False,
    disk: Annotated[Optional[Path], typer.Option(
        "--disk", help="Attach an ext2 image file as the machine's disk (checked "
                       "first; synced at the end; see docs/files.md).")] = None,
) -> None:
    """Run an ABI program on a kernel; print its output and the machine's counters.

    Output is printed as the program produces it. Exit status: 0 when the run
    finished and no process faulted; 1 when a process was stopped by a fault
    (or the run ended in deadlock, threads blocked for ever, or reached the
    cycle budget); 130 after ^C (the output so far and the summary are
    printed first); 2 for a usage or configuration error.
    """
    from exolab.runner import RunInterrupted, run_program
    if kernel not in kernel_names():
        raise ConfigError("unknown kernel", name=kernel, expected=kernel_names())
    main_fn = load_abi_program(program, trusted)
    echo = _Echo()
    try:
        result = run_program(main_fn, *program_args(args or []), kernel=kernel,
                             profile=profile, seed=seed, trace=trace_path is not None,
                             max_cycles=_budget(max_cycles), on_line=echo, trusted=trusted,
                             disk=None if disk is None else str(disk))
    except RunInterrupted as ex:
        result = ex.run
    echo.rest(result.console)
    out = _out()
    out.print(_run_summary(program, kernel, result))
    if trace_path is not None:
        from exolab.trace.perfetto import write_chrome_trace
        path, tracer = trace_path, result.machine.tracer
        assert tracer is not None               # run_program(trace=True) made one
        names = getattr(result.kernel, "trap_names", None)
        _write(lambda: write_chrome_trace(tracer, result.machine.profile, path,
                                          trap_names=names), path)
        out.print(f"wrote {escape(str(path))}")
    ending = _ending(result, _budget(max_cycles))
    if ending is not None:
        out.print(ending)
    if result.result.reason == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
    if result.faults or ending is not None:
        raise typer.Exit(EXIT_FAULT)


@app.command()
@_friendly
def mkfs(
    image: Annotated[Path, typer.Argument(help="The image file to create (must not exist).")],
    size: Annotated[str, typer.Option("--size", help="Image size: 8M, 64MiB, 1G, bytes.")],
    source: Annotated[Optional[Path], typer.Option(
        "--from", help="Copy this host directory's files, directories and hard "
                       "links in (mke2fs -d does every file type).")] = None,
    block_size: Annotated[int, typer.Option(
        "--block-size", "-b", help="File-system block size: 1024, 2048 or 4096.")] = 1024,
) -> None:
    """Make an ext2 image (revision 1, what mke2fs -t ext2 makes) for run --disk,
    ending where XN's region begins, so the exokernel keeps its catalogues on it."""
    from exolab.kernels.exokernel.xn.store import layout
    from exolab.services.ext2.image import make_image, parse_size
    nbytes = parse_size(size)
    region = layout(block_size, nbytes // block_size) if block_size in (1024, 2048, 4096) else None
    info = make_image(image, nbytes, block_size, None if source is None else str(source),
                      tail=0 if region is None else region.count)
    room = "" if region is None else f"; XN's region: the last {region.count} blocks"
    _out().print(f"made {escape(str(image))}: ext2, {info.blocks:,} blocks of "
                 f"{info.block_size} bytes, {info.inodes:,} inodes, "
                 f"{info.free_blocks:,} blocks free{room}")


@app.command()
@_friendly
def crash(
    trials: Annotated[int, typer.Option("-n", min=1, help="Power cuts to try.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seed of the cut points.")] = 0,
    mode: Annotated[str, typer.Option(
        "--mode", help="drop (the drive cache is lost), tear, or both.")] = "both",
) -> None:
    """Crash soak: power cuts during a mixed file workload on the monolithic kernel;
    e2fsck judges each image and every fsynced byte is checked (docs/files.md)."""
    from exolab.crash import soak
    r = soak(trials, seed, mode)
    out = _out()
    out.print(f"{r.trials} power cuts ({r.cuts_before_end} before the workload ended): "
              f"{r.clean} images clean, {r.repaired} repaired by e2fsck -p, "
              f"{r.rejected} rejected; {r.synced_files} fsynced files "
              f"({r.synced_bytes:,} bytes), {r.lost_bytes} bytes lost; "
              f"{r.undocumented} images with findings beyond docs/files.md")
    for kind, count in r.findings:
        out.print(f"  {count:5d}  {escape(kind)}")
    if r.rejected or r.lost_bytes or r.undocumented:
        raise typer.Exit(EXIT_FAULT)


# -- trace ------------------------------------------------------------------------

def resolve_program(program: str, kernel: str | None = None,
                    args: tuple[Any, ...] = (), max_cycles: int | None = None,
                    on_line: Callable[[str], Any] | None = None,
                    trusted: bool = False) -> Any:
    """Return a function ``(profile, seed, trace) -> run`` that runs ``program``.

    A built-in scenario (:data:`exolab.demo.SCENARIOS`) runs on the bare
    machine (``kernel`` None or ``"none"``, no arguments). Anything else is an
    ABI program, loaded as ``exolab run`` loads it (:func:`load_abi_program`)
    and run by :func:`exolab.runner.run_program` with ``args`` on ``kernel``
    (default ``monolithic``), the cycle budget ``max_cycles`` and each console
    line to ``on_line`` as it completes.
    """
    from exolab.demo import SCENARIOS
    if program in SCENARIOS:
        if kernel not in (None, "none"):
            raise ConfigError("built-in scenarios run on the bare machine only",
                              kernel=kernel, expected=["none"])
        if args:
            raise ConfigError("built-in scenarios take no arguments", program=program,
                              args=list(args))
        return SCENARIOS[program]
    name = "monolithic" if kernel is None else kernel
    if name not in kernel_names():
        raise ConfigError("unknown kernel", name=name, expected=kernel_names())
    try:
        main_fn = load_abi_program(program, trusted)
    except ConfigError as ex:
        if ex.message == "cannot load program":     # found, but it failed to import
            raise
        raise ConfigError(f"unknown program {program!r}: not a built-in scenario "
                          f"({', '.join(sorted(SCENARIOS))}), and {ex.message}",
                          **ex.fields) from None

    def scenario(profile: str, seed: int, trace: bool) -> Any:
        from exolab.runner import run_program
        return run_program(main_fn, *args, kernel=name, profile=profile, seed=seed,
                           trace=trace, max_cycles=max_cycles, on_line=on_line,
                           trusted=trusted)
    return scenario


def _trace_summary(program: str, kernel: str, run: Any, out_path: Path) -> Table:
    """A table of the traced run: cycles, time, events by kind, faults."""
    m = run.machine
    where = "the bare machine" if kernel == "none" else kernel
    table = _summary_table(f"trace on {where}", program, run)
    counts = m.tracer.counts()
    for kind in sorted(counts):
        table.add_row(f"  {kind.name}", f"{counts[kind]:,}")
    stats = m.tracer.statistics()
    table.add_row("events", f"{stats.recorded:,} ({stats.dropped:,} dropped)")
    who = "thread" if kernel == "none" else "pid"      # scenarios record thread ids
    _exit_rows(table, run)
    _fault_rows(table, run, who)
    table.add_row("written", escape(str(out_path)))
    return table


@app.command()
@_friendly
def trace(
    program: Annotated[str, typer.Argument(
        help="A built-in scenario (demo), or an ABI program as for `exolab run`: "
             "path/to/file.py[:func] or package.module[:func].")],
    args: Annotated[Optional[list[str]], typer.Argument(
        help="Arguments for an ABI program (ints when they look like ints).",
        show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o",
                                      help="Trace file to write.")] = Path("trace.json"),
    profile: Annotated[str, typer.Option("--profile", "-p",
                                         help="Cost profile.")] = "dec5000",
    seed: Annotated[int, typer.Option("--seed", "-s", help="Simulation seed.")] = 0,
    kernel: Annotated[Optional[str], typer.Option(
        "--kernel", "-k", help="Kernel to run an ABI program on: "
                               + ", ".join(kernel_names())
                               + " (default monolithic; scenarios: none).")] = None,
    max_cycles: Annotated[int, typer.Option(
        "--max-cycles", min=0, help=_MAX_CYCLES_HELP, show_default=False)] = DEFAULT_MAX_CYCLES,
    trusted: Annotated[bool, typer.Option(
        "--trusted", help="Run the program as unverified host code (see "
                          "docs/security.md).")] = False,
) -> None:
    """Run a program with tracing on and write a Perfetto (Chrome trace-event) file.

    An ABI program's console output is printed first, then a summary. The
    trace is written whether or not a process faulted (the summary lists the
    faults, the cycle budget or ^C); exit status 2 for a usage or configuration
    error, 130 after ^C.
    """
    from exolab.demo import SCENARIOS
    from exolab.runner import RunInterrupted
    from exolab.trace.perfetto import write_chrome_trace
    echo = _Echo()
    scenario = resolve_program(program, kernel, tuple(program_args(args or [])),
                               _budget(max_cycles), echo, trusted)
    try:
        run = scenario(profile, seed, True)
    except RunInterrupted as ex:
        run = ex.run
    names = getattr(getattr(run, "kernel", None), "trap_names", None)
    _write(lambda: write_chrome_trace(run.machine.tracer, run.machine.profile, out,
                                      trap_names=names), out)
    echo.rest(list(getattr(run, "console", [])))
    label = "none" if program in SCENARIOS else (kernel or "monolithic")
    console = _out()
    console.print(_trace_summary(program, label, run, out))
    result = getattr(run, "result", None)
    if result is not None and result.reason in ("budget", "interrupted"):
        console.print(_ending(run, _budget(max_cycles)))
        if result.reason == "interrupted":
            raise typer.Exit(EXIT_INTERRUPTED)


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


def _paths_table(kernel: str, profile: Any, rows: dict[str, tuple[int, Any]]) -> Table:
    """One kernel's software path table on ``profile``, every row with its source."""
    table = Table(title=f"{kernel} kernel paths on {profile.name} (cycles)",
                  title_justify="left")
    table.add_column("row")
    table.add_column("cycles", justify="right")
    table.add_column("source", overflow="fold")
    for row, (cycles, source) in rows.items():
        table.add_row(row, str(cycles), escape(str(source)))
    return table


@app.command()
@_friendly
def profiles(
    name: Annotated[Optional[str], typer.Argument(
        help="Profile to show (default: all).", show_default=False)] = None,
) -> None:
    """Print each cost profile and every kernel's path table on it, with sources.

    Each hardware cost profile is printed first, then every kernel's software
    path table on it, each number with its source.
    """
    from exolab.bench.calibrate import path_tables
    from exolab.machine.costs import PROFILES, get_profile
    chosen = [get_profile(name)] if name else list(PROFILES.values())
    out = _out()
    for p in chosen:
        out.print(_profile_table(p))
        for kernel, rows in path_tables(p.name).items():
            out.print(_paths_table(kernel, p, rows))


@app.command()
@_friendly
def soak(
    programs: Annotated[int, typer.Option("--programs", help="Hostile programs.")] = 1000,
    messages: Annotated[int, typer.Option("--messages", help="Hostile message cases.")] = 1000,
    sips: Annotated[int, typer.Option(
        "--sips", help="Hostile SIP cases (on kernels of sealed SIPs: Singularity).")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Soak seed.")] = 0,
    kernel: Annotated[Optional[list[str]], typer.Option(
        "--kernel", "-k", help="Kernel to soak (repeatable; default: every registered).",
        show_default=False)] = None,
    failures: Annotated[Optional[Path], typer.Option(
        "--failures", help="Write every failure (seed, source, detail) to this JSON file.",
        show_default=False)] = None,
    spread: Annotated[bool, typer.Option(
        "--spread", help="Run each case on one kernel in turn, not on every kernel.")
    ] = False,
) -> None:
    """Run generated hostile programs and hostile messages beside bystanders on every
    kernel (issue 9), and hostile SIPs on the kernels of sealed SIPs; print how the
    runs ended; exit 1 if any failed."""
    from exolab import soak as s
    for k in kernel or ():
        if k not in kernel_names():
            raise ConfigError("unknown kernel", name=k, expected=kernel_names())
    stats = s.soak(programs, messages, seed, kernel or None, spread=spread, sips=sips,
                   on_case=s.progress(sys.stderr) if sys.stderr.isatty() else None)
    table = Table(title=f"soak (seed {seed}, budget {s.BUDGET:,} cycles)",
                  title_justify="left")
    for header in s.REPORT_COLUMNS:
        table.add_column(header)
    for row in s.report_rows(stats):
        table.add_row(*row)
    out = _out()
    out.print(table)
    out.print(escape(s.summary(stats)))
    if failures is not None:
        _write(lambda: failures.write_text(s.failures_json(stats)), failures)
    if stats.failures:
        raise typer.Exit(1)

# -- contract ---------------------------------------------------------------------

contract_app = typer.Typer(no_args_is_help=True,
                           help="Singularity channel contracts (.sg files).")


@contract_app.command("check")
@_friendly
def contract_check(
    files: Annotated[list[Path], typer.Argument(
        help="Contract files; a contract they name is also looked for as Name.sg "
             "beside them.", show_default=False)],
) -> None:
    """Check contracts: print each one's messages, states and transitions, or
    every error (exit status 2)."""
    from exolab.kernels.singularity.contract import diagnose
    catalogue, errors = diagnose(files)
    if catalogue is None:
        for ex in errors:
            _fail(ex)
        raise typer.Exit(EXIT_ERROR)
    out = _out()
    for name in catalogue:
        c = catalogue[name]
        out.print(f"[bold]contract {escape(name)}[/] ({escape(c.file)}): "
                  f"{len(c.messages)} messages, {len(c.states)} state(s); compiled: "
                  f"{c.machine_states} states, {c.edges()} transitions", soft_wrap=True)
        for sig in c.signatures():
            out.print(f"  {escape(sig)}", soft_wrap=True)
        for state in c.states:
            out.print(f"  state {escape(state)}"
                      + (" (initial)" if state == c.initial else ""))
            for _, text in (t for t in c.transitions() if t[0] == state):
                out.print(f"    {escape(text)}", soft_wrap=True)


app.add_typer(contract_app, name="contract")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except ExolabError as ex:          # raised outside a command (defensive)
        _fail(ex)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
