"""The ABI examples print exactly their golden output on every kernel (and the CLI).

An example declares what it needs beyond the ABI every kernel provides in a
module-level ``NEEDS = (...)`` tuple of ABI calls / "exception:<kind>" (read
here from the source, without running it); on a kernel that declares one of
them refused the example is skipped with that reason, and
``test_an_example_really_needs_what_it_declares`` proves the declaration is
not a pretext: there the example ends with ENOSYS.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exolab.cli import app, load_abi_program
from exolab.runner import run_program

from .kit import kit_kernels, needs, refused

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GOLDEN = EXAMPLES / "golden"
ABI_EXAMPLES = ["pipe_pingpong", "fork_tree", "copy_on_access",     # main(os, *args)
                "thread_pingpong"]


def _golden(name: str) -> str:
    return (GOLDEN / f"{name}.txt").read_text()


def example_needs(name: str) -> tuple[str, ...]:
    """The example's module-level ``NEEDS`` tuple (empty if it declares none)."""
    tree = ast.parse((EXAMPLES / f"{name}.py").read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "NEEDS"):
            value = ast.literal_eval(node.value)
            assert type(value) is tuple and all(type(v) is str for v in value), value
            return value
    return ()


@pytest.mark.parametrize("name", ABI_EXAMPLES)
def test_an_example_really_needs_what_it_declares(name: str, kernel: str) -> None:
    """On a kernel refusing something the example needs, it ends with ENOSYS."""
    if not refused(kernel, *example_needs(name)):
        pytest.skip(f"{kernel} provides everything {name} needs")
    run = run_program(load_abi_program(str(EXAMPLES / f"{name}.py")), kernel=kernel)
    assert any("ENOSYS" in str(f) for f in run.faults), run.faults


@pytest.mark.parametrize("name", ABI_EXAMPLES)
def test_example_through_the_exolab_run_path(name: str, kernel: str) -> None:
    """Written once against the ABI, an example prints the same on every kernel."""
    needs(kernel, *example_needs(name))
    program = load_abi_program(str(EXAMPLES / f"{name}.py"))
    run = run_program(program, kernel=kernel)
    assert run.result.reason == "finished" and run.faults == []
    assert "\n".join(run.console) + "\n" == _golden(name)


@pytest.mark.parametrize("name", ABI_EXAMPLES)
def test_example_with_the_exolab_command(name: str, kernel: str) -> None:
    needs(kernel, *example_needs(name))
    res = CliRunner().invoke(app, ["run", str(EXAMPLES / f"{name}.py"), "--kernel", kernel])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(_golden(name))
    rest = res.stdout[len(_golden(name)):]
    assert "cycles" in rest and f"run on {kernel} " in rest


@pytest.mark.parametrize("name, args", [("pipe_pingpong", (7,)), ("pipe_pingpong", (0,)),
                                        ("fork_tree", (1,)), ("fork_tree", (0,)),
                                        ("copy_on_access", (6,))])
def test_example_prints_what_the_first_kernel_prints_with_other_arguments(
        name: str, args: tuple[int, ...], kernel: str) -> None:
    # (fork_tree deeper than 2 interleaves unrelated processes' lines in an order
    # each kernel's scheduler decides; the ABI promises no order between them)
    needs(kernel, *example_needs(name))
    program = load_abi_program(str(EXAMPLES / f"{name}.py"))
    first, run = (run_program(program, *args, kernel=k) for k in (kit_kernels()[0], kernel))
    for r in (first, run):
        assert r.result.reason == "finished" and r.faults == []
    assert run.console == first.console
