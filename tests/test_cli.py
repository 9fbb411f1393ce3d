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
        assert (r["suite"], r["unit"]) == ("speed", "events/s")
        assert r["kernel"] in ("none", "monolithic")
        assert isinstance(r["value"], float) and r["value"] > 0


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
