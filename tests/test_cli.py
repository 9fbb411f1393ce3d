"""The `exolab` command: bench, trace, profiles, --version, error exits."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from exolab import __version__
from exolab.cli import app, resolve_program
from exolab.errors import ConfigError

runner = CliRunner()


def test_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"exolab {__version__}"


def test_bench_speed_quick_json(tmp_path) -> None:
    path = tmp_path / "f.json"
    res = runner.invoke(app, ["bench", "speed", "--quick", "--json", str(path)])
    assert res.exit_code == 0, res.output
    assert "tlb_hit_load" in res.output and "target" in res.output
    data = json.loads(path.read_text())
    assert list(data) == ["profile", "seed", "results", "paper"]
    assert (data["profile"], data["seed"], data["paper"]) == ("dec5000", 0, [])
    assert {r["benchmark"] for r in data["results"]} >= {
        "trap", "tlb_hit_load", "tlb_miss_refill", "context_switch"}
    for r in data["results"]:
        assert list(r) == ["suite", "benchmark", "kernel", "value", "unit"]
        assert r["suite"] == "speed" and r["unit"] in ("events/s", "us", "x", "KiB")
        assert r["kernel"] in ("none", *kernel_names())
        assert isinstance(r["value"], float)
        assert r["value"] > 0 or r["benchmark"].startswith("run leak")  # RSS may shrink


def test_bench_all_suites_with_options(tmp_path) -> None:
    path = tmp_path / "g.json"
    res = runner.invoke(app, ["bench", "--quick", "--profile", "athlon64", "--seed",
                              "3", "--kernel", "none", "--json", str(path)])
    assert res.exit_code == 0, res.output
    data = json.loads(path.read_text())
    assert (data["profile"], data["seed"]) == ("athlon64", 3)


def test_bench_list() -> None:
    res = runner.invoke(app, ["bench", "--list"])
    assert res.exit_code == 0 and "speed" in res.output


@pytest.mark.parametrize("args, words", [
    (["bench", "nope", "--quick"], ["unknown suite", "nope", "speed"]),
    (["bench", "speed", "--quick", "--profile", "vax"], ["unknown cost profile", "vax",
                                                         "dec5000"]),
    (["bench", "speed", "--quick", "--kernel", "plan9"], ["unknown kernel", "plan9"]),
    (["trace", "nope"], ["unknown program", "nope", "demo"]),
    (["trace", "demo", "--profile", "vax"], ["unknown cost profile"]),
    (["profiles", "vax"], ["unknown cost profile", "athlon64"]),
])
def test_errors_exit_2_without_traceback(args, words, tmp_path) -> None:
    res = runner.invoke(app, args + (["--out", str(tmp_path / "x.json")]
                                     if args[0] == "trace" else []))
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert isinstance(res.exception, SystemExit)      # a clean exit, not a crash
    assert "error:" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    for w in words:
        assert w in res.stderr, (w, res.stderr)


def test_trace_demo(tmp_path) -> None:
    path = tmp_path / "t.json"
    res = runner.invoke(app, ["trace", "demo", "--out", str(path)])
    assert res.exit_code == 0, res.output
    for s in ("cycles", "CONTEXT_SWITCH", "TLB_MISS", "INTERRUPT", "fault", "finished"):
        assert s in res.output, s
    trace = json.loads(path.read_text())
    assert trace["displayTimeUnit"] == "ns" and trace["otherData"]["profile"] == "dec5000"
    phases = {e["ph"] for e in trace["traceEvents"]}
    assert phases == {"M", "B", "E", "i"}
    again = tmp_path / "t2.json"
    assert runner.invoke(app, ["trace", "demo", "-o", str(again)]).exit_code == 0
    assert again.read_bytes() == path.read_bytes()


def test_unwritable_output_paths(tmp_path) -> None:
    bad = str(tmp_path / "no" / "t.json")
    res = runner.invoke(app, ["trace", "demo", "--out", bad])
    assert res.exit_code == 2 and "cannot write" in res.stderr
    res = runner.invoke(app, ["bench", "speed", "--quick", "--json", bad])
    assert res.exit_code == 2 and "cannot write" in res.stderr


def test_profiles() -> None:
    res = runner.invoke(app, ["profiles"])
    assert res.exit_code == 0
    assert "dec5000" in res.output and "athlon64" in res.output
    assert "SOSP" in res.output and "trap_entry" in res.output
    one = runner.invoke(app, ["profiles", "athlon64"])
    assert one.exit_code == 0 and "dec5000" not in one.output


def test_resolve_program() -> None:
    assert callable(resolve_program("demo"))
    with pytest.raises(ConfigError):
        resolve_program("demo", kernel="exokernel")


# -- exolab run ----------------------------------------------------------------------

from pathlib import Path  # noqa: E402 - this part of the file tests `exolab run`

from exolab.cli import EXIT_FAULT, program_args  # noqa: E402
from exolab.kernels import declaration, kernel_names  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

PROGRAMS = '''
from exolab.abi import PROT_NONE

def show_args(os, *args):
    os.print(repr(args))
    os.print("[bold]not markup[/bold]")

def crash(os):
    os.print("before")
    os.load(0x7000_0000)

def deadlock(os):
    r, w = os.pipe()
    os.read(r, 1)

def child_faults(os):
    pid = os.spawn(crash)
    os.print("child", os.wait(pid))

def hello(os):
    os.print("hello from pid", os.getpid())

def spin(os):
    os.print("spinning")
    while True:
        os.yield_()

def divide(os, x):
    return 10 // x

def divides(os):
    os.print("dividing")
    return divide(os, 0)

def parent_of_two(os):
    a = os.spawn(hello)
    b = os.spawn(divides)
    os.wait(a)
    os.wait(b)
    return 3

def chatty(os, n):
    for i in range(n):
        os.print("line", i)
'''


@pytest.fixture
def progs(tmp_path: Path) -> Path:
    path = tmp_path / "progs.py"
    path.write_text(PROGRAMS)
    return path


def test_program_args_are_ints_when_they_look_like_ints() -> None:
    assert program_args(["12", "-3", "+4", "abc", "0x10", "1.5", ""]) == \
        [12, -3, 4, "abc", "0x10", "1.5", ""]


def test_run_an_example_prints_its_output_then_the_counters() -> None:
    res = runner.invoke(app, ["run", str(EXAMPLES / "pipe_pingpong.py"), "2"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "parent 1: round 0, sending 0"
    assert "  child  2: end of file after 2 rounds" in lines      # "2" became 2
    summary = res.stdout.split("counter is 4", 1)[1]
    for word in ("finished", "cycles", "µs", "traps", "exceptions", "TLB misses",
                 "context switches", "frames touched", "monolithic: syscalls"):
        assert word in summary, word


def test_run_a_module_function_with_profile_and_seed() -> None:
    res = runner.invoke(app, ["run", "exolab.apps.microbench:api_call", "5",
                              "--profile", "athlon64", "--seed", "7", "-k", "monolithic"])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("RESULT ")
    assert "athlon64, seed 7" in res.stdout


def test_run_passes_args_and_prints_program_output_verbatim(progs: Path) -> None:
    res = runner.invoke(app, ["run", f"{progs}:show_args", "12", "abc", "--", "-3"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[:2] == ["(12, 'abc', -3)", "[bold]not markup[/bold]"]


def test_run_exits_1_when_a_process_faults(progs: Path) -> None:
    res = runner.invoke(app, ["run", f"{progs}:crash"])
    assert res.exit_code == EXIT_FAULT == 1
    assert res.stdout.startswith("before\n")
    assert "fault" in res.stdout and "SIGSEGV" in res.stdout and "0x70000000" in res.stdout
    res = runner.invoke(app, ["run", f"{progs}:child_faults"])
    assert res.exit_code == 1 and "child (2, 'SIGSEGV')" in res.stdout


def test_run_exits_1_when_the_run_deadlocks(progs: Path) -> None:
    res = runner.invoke(app, ["run", f"{progs}:deadlock"])
    assert res.exit_code == 1
    assert "deadlock" in res.stdout


@pytest.mark.parametrize("kernel", kernel_names())
def test_run_on_every_registered_kernel(kernel: str, progs: Path) -> None:
    res = runner.invoke(app, ["run", f"{progs}:hello", "--kernel", kernel])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("hello from pid ")
    assert f"run on {kernel} (dec5000, seed 0)" in res.stdout


def test_run_writes_a_deterministic_trace(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    example = str(EXAMPLES / "fork_tree.py")
    for path in (a, b):
        res = runner.invoke(app, ["run", example, "1", "--trace", str(path)])
        assert res.exit_code == 0, res.output
        assert f"wrote {path}" in res.stdout.replace("\n", "")
    data = json.loads(a.read_text())
    assert data["otherData"]["profile"] == "dec5000"
    assert {"trap", "sched", "thread", "tlb"} <= {e.get("cat") for e in data["traceEvents"]}
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("argv, words", [
    (["run", "no/such/file.py"], ["program file not found"]),
    (["run", "exolab.no_such_module"], ["program module not found"]),
    (["run", "exolab.apps.microbench:no_such_function"], ["no such function"]),
    (["run", "exolab.apps.microbench:api_call", "--kernel", "plan9"],
     ["unknown kernel", "plan9", "monolithic"]),
    (["run", "exolab.apps.microbench:api_call", "--profile", "vax"],
     ["unknown cost profile"]),
])
def test_run_usage_errors_exit_2_with_one_line(argv: list[str], words: list[str]) -> None:
    res = runner.invoke(app, argv)
    assert res.exit_code == 2
    assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1
    for w in words:
        assert w in res.stderr, (w, res.stderr)


def test_run_a_file_that_fails_to_import_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('import-time bug')\n")
    res = runner.invoke(app, ["run", str(bad)])
    assert res.exit_code == 2 and "cannot load program" in res.stderr
    assert "import-time bug" in res.stderr
    res = runner.invoke(app, ["run", str(EXAMPLES / "fork_tree.py"), "--trace",
                              str(tmp_path / "no" / "t.json")])
    assert res.exit_code == 2 and "cannot write" in res.stderr


# -- exolab trace of ABI programs -----------------------------------------------------

def _chrome_events(path: Path) -> list[dict]:
    """The events of a Chrome trace-event JSON object file, checked for shape."""
    data = json.loads(path.read_text())
    assert data["displayTimeUnit"] == "ns"
    events = data["traceEvents"]
    assert isinstance(events, list) and events
    for e in events:
        assert e["ph"] in ("M", "B", "E", "i"), e
        assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0, e
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int), e
        assert isinstance(e["name"], str), e
    return events


@pytest.mark.parametrize("kernel", kernel_names())
def test_trace_an_abi_program_on_each_kernel(kernel: str, tmp_path: Path) -> None:
    if "fork" in declaration(kernel).refuses:       # the example's NEEDS (the kit's check)
        pytest.skip(f"{kernel} declares it refuses fork (ENOSYS), which the example needs")
    example = str(EXAMPLES / "pipe_pingpong.py")
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    for path, seed in ((a, "3"), (b, "3"), (c, "4")):
        res = runner.invoke(app, ["trace", example, "2", "--kernel", kernel, "--seed", seed,
                                  "--out", str(path)])
        assert res.exit_code == 0, res.output
    assert res.stdout.startswith("parent 1: round 0, sending 0\n")   # its console first
    for word in (f"trace on {kernel} (dec5000, seed 4)", "finished", "TRAP", "cycles"):
        assert word in res.stdout, word
    events = _chrome_events(a)
    assert {"B", "E", "i", "M"} <= {e["ph"] for e in events}
    assert {"trap", "thread"} <= {e.get("cat") for e in events}
    assert a.read_bytes() == b.read_bytes()                  # same seed: same bytes
    _chrome_events(c)
    traps = {e["name"] for e in events if e["ph"] == "B" and e["cat"] == "trap"}
    named = {"monolithic": "TRAP: write", "exokernel": "TRAP: yield"}.get(kernel)
    assert named is None or named in traps, traps           # calls by name, not number


def test_trace_a_module_function_defaults_to_the_monolithic_kernel(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    res = runner.invoke(app, ["trace", "exolab.apps.microbench:api_call", "3",
                              "-o", str(path), "-p", "athlon64"])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("RESULT ")
    assert "trace on monolithic (athlon64, seed 0)" in res.stdout
    assert json.loads(path.read_text())["otherData"]["profile"] == "athlon64"


@pytest.mark.parametrize("kernel", kernel_names())
def test_trace_of_a_faulting_program_is_still_written(kernel: str, tmp_path: Path) -> None:
    prog, path = tmp_path / "null.py", tmp_path / "t.json"
    prog.write_text("def main(os):\n    os.print('before')\n    os.load(0x10)\n")
    res = runner.invoke(app, ["trace", str(prog), "-k", kernel, "-o", str(path)])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("before\n") and "pid 1: SIGSEGV" in res.stdout
    _chrome_events(path)


@pytest.mark.parametrize("argv, words", [
    (["trace", "demo", "--kernel", "exokernel"], ["bare machine"]),
    (["trace", "demo", "7"], ["take no arguments"]),
    (["trace", str(EXAMPLES / "fork_tree.py"), "--kernel", "plan9"],
     ["unknown kernel", "plan9", "exokernel"]),
    (["trace", "no/such/file.py"], ["unknown program", "demo", "program file not found"]),
    (["trace", "exolab.apps.microbench:no_such_function"], ["no such function"]),
])
def test_trace_usage_errors_exit_2(argv: list[str], words: list[str], tmp_path: Path) -> None:
    res = runner.invoke(app, argv + ["--out", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert len(res.stderr.strip().splitlines()) == 1
    for w in words:
        assert w in res.stderr, (w, res.stderr)
    assert not (tmp_path / "x.json").exists()


def test_resolve_program_loads_abi_programs() -> None:
    scenario = resolve_program(str(EXAMPLES / "fork_tree.py"), "exokernel", (1,))
    run = scenario("dec5000", 0, False)
    assert run.console[-1] == "a tree of depth 1 has 3 processes"
    assert run.kernel.name == "exokernel"


# -- bounded, observable runs ------------------------------------------------------

def test_run_stops_at_its_cycle_budget_and_still_prints_the_summary(progs: Path,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    for kernel in kernel_names():
        res = runner.invoke(app, ["run", f"{progs}:spin", "-k", kernel,
                                  "--max-cycles", "2000000", "--trace", str(out)])
        assert res.exit_code == EXIT_FAULT, res.output
        assert res.stdout.startswith("spinning\n")
        assert "stopped: cycle budget of 2,000,000 reached" in res.stdout
        assert "budget" in res.stdout and "cycles" in res.stdout
        assert json.loads(out.read_text())["traceEvents"]
        out.unlink()


def test_trace_stops_at_its_cycle_budget_and_writes_the_trace(progs: Path,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    res = runner.invoke(app, ["trace", f"{progs}:spin", "-k", "exokernel",
                              "--max-cycles", "2000000", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "stopped: cycle budget of 2,000,000 reached" in res.stdout
    assert json.loads(out.read_text())["traceEvents"]


def test_the_default_budget_holds_every_example_and_stops_a_loop(progs: Path) -> None:
    from exolab.cli import DEFAULT_MAX_CYCLES, load_abi_program
    from exolab.runner import run_program
    for name in ("pipe_pingpong", "fork_tree", "copy_on_access"):
        for kernel in kernel_names():
            run = run_program(load_abi_program(str(EXAMPLES / f"{name}.py")), kernel=kernel,
                              max_cycles=DEFAULT_MAX_CYCLES)
            assert run.result.reason == "finished"
            assert run.machine.cycles * 100 < DEFAULT_MAX_CYCLES        # well under
    res = runner.invoke(app, ["run", "--help"])
    assert "--max-cycles" in res.stdout


def test_max_cycles_must_not_be_negative(progs: Path) -> None:
    res = runner.invoke(app, ["run", f"{progs}:hello", "--max-cycles", "-1"])
    assert res.exit_code == 2


def test_run_streams_lines_as_the_program_prints_them(progs: Path, monkeypatch) -> None:
    import exolab.runner as runner_mod
    from greenlet import getcurrent
    outside = getcurrent()                          # where the run was started from
    arrived: list[tuple[str, bool]] = []            # (line, printed from inside the run)
    original = runner_mod.run_program

    def spy(*args, on_line=None, **kw):
        def sink(line: str) -> None:
            arrived.append((line, getcurrent() is not outside))
            on_line(line)
        return original(*args, on_line=sink, **kw)
    monkeypatch.setattr(runner_mod, "run_program", spy)
    res = runner.invoke(app, ["run", f"{progs}:chatty", "3"])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("line 0\nline 1\nline 2\n")
    assert arrived == [("line 0", True), ("line 1", True), ("line 2", True)]


def test_ctrl_c_prints_the_output_so_far_and_the_summary(progs: Path, monkeypatch) -> None:
    import signal

    from exolab import cli

    def press_ctrl_c(self, line: str) -> None:     # the person at the keyboard, mid-run
        import typer
        typer.echo(line)
        self.count += 1
        signal.raise_signal(signal.SIGINT)
    monkeypatch.setattr(cli._Echo, "__call__", press_ctrl_c)
    res = runner.invoke(app, ["run", f"{progs}:spin", "-k", "monolithic"])
    assert res.exit_code == cli.EXIT_INTERRUPTED, res.output
    assert res.stdout.startswith("spinning\n")
    assert "interrupted" in res.stdout and "cycles" in res.stdout


def test_the_summary_shows_each_process_exit_status(progs: Path) -> None:
    for kernel in kernel_names():
        res = runner.invoke(app, ["run", f"{progs}:parent_of_two", "-k", kernel])
        assert res.exit_code == EXIT_FAULT, res.output
        exits = [line for line in res.stdout.splitlines() if "│ exit" in line]
        assert len(exits) == 3, res.stdout
        assert any("(hello): 0" in line for line in exits)
        assert any("(parent_of_two): 3" in line for line in exits)
        assert any("(divides): " in line and "ZeroDivisionError" in line for line in exits)


def test_a_fault_shows_the_programs_own_source_lines(progs: Path) -> None:
    for kernel in kernel_names():
        res = runner.invoke(app, ["run", f"{progs}:divides", "-k", kernel])
        assert res.exit_code == EXIT_FAULT, res.output
        where = [line for line in res.stdout.splitlines() if "│   in" in line]
        assert len(where) == 1, res.stdout
        assert "progs.py:" in where[0] and "in divides" in where[0] and "in divide" in where[0]
        assert "exolab" not in where[0]             # none of exolab's own frames
    res = runner.invoke(app, ["run", f"{progs}:crash"])
    assert "in crash" in res.stdout                 # a bad address: where it was touched
