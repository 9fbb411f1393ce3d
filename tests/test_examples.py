"""Every example runs and prints exactly its golden output (examples/golden/)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exolab.cli import app, load_abi_program
from exolab.kernels import kernel_names
from exolab.runner import run_program

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GOLDEN = EXAMPLES / "golden"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
ABI_EXAMPLES = ["pipe_pingpong", "fork_tree", "copy_on_access"]     # main(os, *args)


def _golden(name: str) -> str:
    path = GOLDEN / f"{name}.txt"
    assert path.is_file(), f"examples/{name}.py has no golden output {path}"
    return path.read_text()


def test_the_examples_are_there() -> None:
    names = {p.stem for p in SCRIPTS}
    assert set(ABI_EXAMPLES) <= names
    assert {p.stem for p in GOLDEN.glob("*.txt")} <= names    # no orphan goldens


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_docstring_says_what_it_covers(script: Path) -> None:
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    assert "Covers:" in doc and "Scenario:" in doc, script.name


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_script_prints_its_golden_output(script: Path) -> None:
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=EXAMPLES.parent)
    assert res.returncode == 0, res.stderr
    assert res.stdout == _golden(script.stem)


@pytest.mark.parametrize("kernel", kernel_names())
@pytest.mark.parametrize("name", ABI_EXAMPLES)
def test_example_through_the_exolab_run_path(name: str, kernel: str) -> None:
    """Written once against the ABI, an example prints the same on every kernel."""
    program = load_abi_program(str(EXAMPLES / f"{name}.py"))
    run = run_program(program, kernel=kernel)
    assert run.result.reason == "finished" and run.faults == []
    assert "\n".join(run.console) + "\n" == _golden(name)


@pytest.mark.parametrize("kernel", kernel_names())
@pytest.mark.parametrize("name", ABI_EXAMPLES)
def test_example_with_the_exolab_command(name: str, kernel: str) -> None:
    res = CliRunner().invoke(app, ["run", str(EXAMPLES / f"{name}.py"), "--kernel", kernel])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(_golden(name))
    rest = res.stdout[len(_golden(name)):]
    assert "cycles" in rest and f"run on {kernel} " in rest


@pytest.mark.parametrize("name, args", [("pipe_pingpong", (7,)), ("pipe_pingpong", (0,)),
                                        ("fork_tree", (1,)), ("fork_tree", (0,)),
                                        ("copy_on_access", (6,))])
def test_example_prints_the_same_on_every_kernel_with_other_arguments(
        name: str, args: tuple[int, ...]) -> None:
    # (fork_tree deeper than 2 interleaves unrelated processes' lines in an order
    # each kernel's scheduler decides; the ABI promises no order between them)
    program = load_abi_program(str(EXAMPLES / f"{name}.py"))
    runs = [run_program(program, *args, kernel=k) for k in kernel_names()]
    for run in runs:
        assert run.result.reason == "finished" and run.faults == []
        assert run.console == runs[0].console
