"""Static checks keep main clean: pyflakes-class errors (ruff F) and mypy types."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m argv...`` at the project root."""
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_no_unused_imports_undefined_names_or_dead_assignments() -> None:
    res = _run("ruff", "check", "--select", "F", "--output-format", "concise",
               "src", "tests", "examples")
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_package_type_checks() -> None:
    res = _run("mypy", "src/exolab")
    assert res.returncode == 0, res.stdout + res.stderr
