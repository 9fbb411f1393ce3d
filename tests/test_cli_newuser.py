"""The `exolab` command as a new user meets it (issue 10): plots, 80 columns, progress,
long work, output paths checked first, program-path errors and help text."""
from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exolab.cli import EXIT_ERROR, EXIT_INTERRUPTED, EXPLAIN_MAX_N, app

ROOT = Path(__file__).resolve().parent.parent
SRC = str(ROOT / "src")
runner = CliRunner()


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=SRC, **extra)
    env.pop("NO_COLOR", None)
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "exolab.cli", *args]


def _on_a_terminal(args: list[str], columns: int = 80) -> tuple[int, str]:
    """Run the command with stdout and stderr on a pseudo-terminal; its exit status
    and everything it wrote (escape sequences included)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(_command(*args), stdout=slave, stderr=slave,
                            env=_env(COLUMNS=str(columns)))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(), b"".join(chunks).decode("utf-8", "replace")


def _fails(args: list[str], *words: str) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == EXIT_ERROR, res.output
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit)
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    for w in words:
        assert w in res.stderr, (w, res.stderr)
    return res.stderr


# -- output paths, checked before anything runs ---------------------------------------

@pytest.fixture
def no_benchmarks(monkeypatch):
    """Make running a benchmark an error: a check that must come first."""
    import exolab.bench.registry as registry

    def refuse(*args, **kwargs):
        raise AssertionError("a benchmark ran before the output paths were checked")
    monkeypatch.setattr(registry, "run_suites", refuse)


def test_plot_format_is_refused_before_running(tmp_path, no_benchmarks) -> None:
    err = _fails(["bench", "exos-ipc", "--plot", str(tmp_path / "x.txt")],
                 "cannot plot to a .txt file", "png", "svg", "pdf")
    assert not (tmp_path / "x.txt").exists() and "x.txt" in err


@pytest.mark.parametrize("option", ["--plot", "--json"])
def test_a_directory_is_refused_before_running(tmp_path, no_benchmarks, option) -> None:
    _fails(["bench", "exos-ipc", option, str(tmp_path)], "cannot write", "directory")


@pytest.mark.parametrize("option, name", [("--plot", "p.png"), ("--json", "r.json")])
def test_a_missing_directory_is_refused_before_running(tmp_path, no_benchmarks, option,
                                                       name) -> None:
    _fails(["bench", "exos-ipc", option, str(tmp_path / "no" / name)],
           "cannot write", "no such directory")


def test_explain_json_path_is_checked_first(tmp_path, monkeypatch) -> None:
    import exolab.bench.anatomy as anatomy
    monkeypatch.setattr(anatomy, "anatomy", lambda *a, **k: pytest.fail("it ran"))
    _fails(["explain", "pipe", "--json", str(tmp_path / "no" / "e.json")],
           "cannot write")


def test_a_suite_without_a_plot_is_refused(tmp_path, monkeypatch) -> None:
    import exolab.bench.plot as plot
    monkeypatch.setattr(plot, "plottable", lambda suite: False)
    _fails(["bench", "exos-ipc", "--plot", str(tmp_path / "p.png")], "no plot")


def test_plot_without_extension_writes_and_names_png(tmp_path) -> None:
    res = runner.invoke(app, ["bench", "exos-ipc", "--quick", "--kernel", "exokernel",
                              "--plot", str(tmp_path / "noext")])
    assert res.exit_code == 0, res.output
    written = tmp_path / "noext.png"
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "noext").exists()
    assert res.output.strip().endswith(f"wrote {written}")


def test_bench_speed_plot_has_the_speed_rows(tmp_path) -> None:
    path = tmp_path / "speed.svg"
    res = runner.invoke(app, ["bench", "speed", "--quick", "--plot", str(path)])
    assert res.exit_code == 0, res.output
    svg = path.read_text()
    for label in ("trap on none", "syscall on monolithic", "events per wall second"):
        assert label in svg, label


# -- tables at 80 columns and piped ----------------------------------------------------

def test_tables_fit_80_columns_on_the_real_command() -> None:
    proc = subprocess.run(_command("bench", "exos-ipc", "exos-vm", "aegis",
                                   "singularity", "--quick"),
                          capture_output=True, text=True, env=_env(COLUMNS="80"),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in proc.stdout
    headers = [line for line in lines if line.lstrip().startswith("benchmark")]
    assert len(headers) == 4
    for h in headers:
        for word in ("kernel", "measured", "paper", "vs paper", "mono/K (paper)"):
            assert word in h, (word, h)
    assert "mono = monolithic" in proc.stdout and "exo = exokernel" in proc.stdout
    assert "process_creation" in proc.stdout and "67.4 (46–60) ok" in proc.stdout
    assert "\x1b[" not in proc.stdout            # piped: no progress, no colour codes


def test_piped_tables_are_full_width() -> None:
    proc = subprocess.run(_command("bench", "speed", "--quick"), capture_output=True,
                          text=True, env={k: v for k, v in _env().items()
                                          if k != "COLUMNS"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) > 80
    assert "target >= 1,000,000 events/s: met" in proc.stdout or \
        "target >= 1,000,000 events/s: BELOW" in proc.stdout    # a note on one line
    assert proc.stderr == ""


# -- progress --------------------------------------------------------------------------

def test_bench_shows_progress_on_a_terminal_only() -> None:
    status, text = _on_a_terminal(["bench", "exos-ipc", "aegis", "--quick"])
    assert status == 0, text
    assert "exos-ipc: pipe on monolithic" in text and "aegis: " in text
    assert "suites" in text and "0/2" in text
    assert "exos-ipc  (seed 0; us)" in text                  # then the tables
    res = runner.invoke(app, ["bench", "exos-ipc", "--quick"])
    assert res.exit_code == 0 and "suites" not in res.output
    assert "pipe on monolithic" not in res.output


def test_explain_shows_progress_on_a_terminal() -> None:
    status, text = _on_a_terminal(["explain", "pipe"])
    assert status == 0, text
    assert "pipe on monolithic (n, 2n)" in text and "left" in text
    assert "table value (cycles/op)" in text


# -- explain: bounded, interruptible, split when wide -----------------------------------

def test_explain_n_is_bounded() -> None:
    res = runner.invoke(app, ["explain", "pipe", "-n", str(EXPLAIN_MAX_N + 1)])
    assert res.exit_code == EXIT_ERROR and f"{EXPLAIN_MAX_N}" in res.output
    assert "Traceback" not in res.output


def test_explain_stops_cleanly_on_ctrl_c() -> None:
    proc = subprocess.Popen(_command("explain", "pipe", "-n", str(EXPLAIN_MAX_N)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(),
                            preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                             signal.SIG_DFL))
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, (out, err)
    assert "Traceback" not in err and "stopped: interrupted" in err


def test_explain_splits_kernels_into_tables_that_fit(monkeypatch) -> None:
    import io

    from rich.console import Console

    from exolab.bench.anatomy import Anatomy
    from exolab.cli import _explain_tables
    found = [Anatomy("pipe", f"kernel{i}", "dec5000", "a round trip", 1234.5,
                     {"cycles": 2469.0, "traps": 4.0}) for i in range(8)]
    out = Console(file=io.StringIO(), width=80)
    tables = _explain_tables(out, "pipe", "exos-ipc", 0, "a round trip", found)
    assert len(tables) > 1
    for t in tables:
        out.print(t)
    text = out.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    for i in range(8):
        assert f"kernel{i}" in text


def test_readme_explain_example_matches_the_command() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```\n\$ exolab explain pipe\n(.*?)```", readme, re.S)
    assert block is not None
    res = runner.invoke(app, ["explain", "pipe"])
    assert res.exit_code == 0
    got = [line.rstrip() for line in res.output.splitlines()]
    assert got == block.group(1).rstrip("\n").splitlines()


# -- run: what is wrong with the path ---------------------------------------------------

@pytest.mark.parametrize("make, words", [
    (lambda d: str(d), ["a directory, not a Python file"]),
    (lambda d: "/dev/null", ["not a Python file", "/dev/null"]),
    (lambda d: "", ["no program named", "path/to/file.py"]),
    (lambda d: str(d / "notes.txt"), ["not a Python file"]),
    (lambda d: str(d / "missing" / "prog"), ["program file not found"]),
    (lambda d: str(d / "missing.py"), ["program file not found"]),
])
@pytest.mark.parametrize("command", ["run", "trace"])
def test_run_says_what_is_wrong_with_the_path(tmp_path, make, words, command) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    extra = ["--out", str(tmp_path / "t.json")] if command == "trace" else []
    _fails([command, make(tmp_path), *extra], *words)


# -- help -------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["bench"], ["run"], ["trace"], ["explain"],
                                     ["profiles"], ["calibrate"]])
def test_help_reads_like_a_well_kept_cli(command) -> None:
    proc = subprocess.run(_command(*command, "--help"), capture_output=True, text=True,
                          env=_env(COLUMNS="80"), timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "<bool>" not in text and "<str>" not in text and "<list" not in text
    assert not re.search(r"\{\w+\}", text), text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    if command in (["run"], ["trace"]):
        assert "PROGRAM [ARGS]..." in usage
    if command == ["bench"]:
        assert "[SUITES]..." in usage and "--plot" in text and "FILE" in text
    assert max(len(line) for line in text.splitlines()) <= 80
