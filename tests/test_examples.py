"""Every example runs and prints exactly its golden output (examples/golden/)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GOLDEN = EXAMPLES / "golden"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
ABI_EXAMPLES = ["pipe_pingpong", "fork_tree", "copy_on_access",     # main(os, *args)
                "thread_pingpong"]


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

# the ABI examples on every kernel: tests/kernels/conformance/test_examples.py
