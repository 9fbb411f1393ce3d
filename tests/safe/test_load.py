"""Loading: program files and function objects are verified, with what they reference."""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from exolab.cli import app
from exolab.errors import ConfigError, SyscallError, VerifyError
from exolab.runner import run_program
from exolab.safe import is_verified, load_function, load_program_file, load_program_source
from exolab.safe.runtime import namespace

GOOD = """\
from exolab.abi import ABI

def helper(os, n):
    return n * 2

def main(os: ABI, n: int = 3) -> int:
    os.print("twice", helper(os, n))
    return 0
"""


def _write(tmp_path: Path, text: str, name: str = "prog.py") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_a_program_file_loads_verified_and_runs(tmp_path: Path) -> None:
    main = load_program_file(_write(tmp_path, GOOD))
    assert is_verified(main)
    assert run_program(main, 4).console == ["twice 8"]


def test_each_load_gets_fresh_module_state(tmp_path: Path) -> None:
    path = _write(tmp_path, "seen = []\n\ndef main(os):\n    seen.append(1)\n"
                            "    os.print(len(seen))\n")
    assert run_program(load_program_file(path)).console == ["1"]
    assert run_program(load_program_file(path)).console == ["1"]


@pytest.mark.parametrize("body,line,reason", [
    ("import_ok = 1\nraise ValueError(3)\n", 2, "ValueError"),
    ("x = 1\n\n\nx = 1 // 0\n", 4, "ZeroDivisionError"),
])
def test_an_error_at_import_is_one_clean_error_naming_file_and_line(
        tmp_path: Path, body: str, line: int, reason: str) -> None:
    path = _write(tmp_path, body + "def main(os):\n    pass\n")
    with pytest.raises(ConfigError) as info:
        load_program_file(path)
    assert info.value.program == path and info.value.line == line
    assert info.value.reason.startswith(reason)


def test_a_rejected_file_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "def main(os):\n    return os._k\n")
    with pytest.raises(VerifyError) as info:
        load_program_file(path)
    assert (info.value.file, info.value.line) == (path, 2)


def test_a_missing_or_private_function_is_a_config_error(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    for func in ("nope", "_hidden"):
        with pytest.raises(ConfigError, match="no such function"):
            load_program_file(path, func)


def test_source_text_loads_like_a_file() -> None:
    main = load_program_source(GOOD, "text.py")
    assert run_program(main).console == ["twice 6"]


def test_the_runtime_importer_refuses_what_the_verifier_would() -> None:
    imp = namespace("m")["__builtins__"]["__import__"]
    got = imp("math", None, None, ("sqrt", "factorial"))
    assert got.sqrt is math.sqrt and vars(got).keys() == {"sqrt", "factorial"}
    assert got.factorial is not math.factorial      # the guarded one
    for name, fromlist in (("sys", ("path",)), ("math", ()), ("math", ("_x",))):
        with pytest.raises(VerifyError):
            imp(name, None, None, fromlist)


def test_restricted_builtins_lack_the_escapes() -> None:
    b = namespace("m")["__builtins__"]
    assert "len" in b and "range" in b
    assert not {"open", "eval", "exec", "setattr", "vars",
                "globals", "print", "id", "BaseException", "SystemExit"} & set(b)


# -- function objects -------------------------------------------------------------

HOST = sys


def uses_host(os: Any) -> Any:
    return HOST.modules


def uses_math(os: Any) -> float:
    return math.sqrt(16.0)


def even(os: Any, n: int) -> bool:
    return True if n == 0 else odd(os, n - 1)


def odd(os: Any, n: int) -> bool:
    return False if n == 0 else even(os, n - 1)


def mutual(os: Any) -> None:
    os.print(even(os, 10), odd(os, 7))


def test_a_reference_to_a_host_object_is_rejected_naming_it() -> None:
    with pytest.raises(VerifyError, match="reference to HOST"):
        load_function(uses_host)
    with pytest.raises(VerifyError, match="reference to HOST"):
        run_program(uses_host)


def test_trusted_runs_host_code_and_says_so() -> None:
    run = run_program(uses_host, trusted=True)
    assert run.faults == [] and run.verified is False


def test_allowlisted_modules_constants_and_mutual_recursion_are_accepted() -> None:
    assert run_program(uses_math).faults == []
    assert run_program(mutual).console == ["True True"]
    fn = load_function(mutual)
    assert is_verified(fn) and fn is not mutual and load_function(fn) is fn


def test_a_closure_may_share_a_plain_container_with_its_caller() -> None:
    out: dict[str, Any] = {}

    def prog(os: Any) -> None:
        out["pid"] = os.getpid()
    run_program(prog)
    assert out == {"pid": 1}


def test_a_container_holding_host_code_is_rejected() -> None:
    tools = [sys.exit]

    def prog(os: Any) -> None:
        tools[0](0)
    with pytest.raises(VerifyError, match="tools"):
        run_program(prog)


def test_a_function_without_source_is_rejected() -> None:
    ns: dict[str, Any] = {}
    exec("def main(os):\n    pass\n", ns)            # noqa: S102 - no source on purpose
    with pytest.raises(VerifyError, match="without source"):
        run_program(ns["main"])


class Counter:
    """A program's own class: verified from its source, methods instrumented."""

    def __init__(self) -> None:
        self.n = 0

    def bump(self, os: Any) -> int:
        self.n += os.getpid()
        return self.n


def uses_class(os: Any) -> None:
    c = Counter()
    c.bump(os)
    os.print(type(c).__name__, c.bump(os), type(c) is Counter)


def test_same_module_classes_are_loaded_verified() -> None:
    assert run_program(uses_class).console == ["Counter 2 True"]
    fn = load_function(uses_class)
    assert fn.__globals__["Counter"] is not Counter


def raises_syscall_error(os: Any) -> None:
    try:
        os.close(99)
    except SyscallError as ex:
        os.print(ex.errno)


def test_allowlisted_errors_are_the_real_ones() -> None:
    assert run_program(raises_syscall_error).console == ["EBADF"]


# -- the command line ---------------------------------------------------------------

def test_exolab_run_verifies_and_rejects_with_file_and_line(tmp_path: Path) -> None:
    bad = _write(tmp_path, "import sys\n\ndef main(os):\n    sys.exit(0)\n", "bad.py")
    result = CliRunner().invoke(app, ["run", bad])
    assert result.exit_code == 2 and f"{bad}:1:" in result.output + str(result.stderr)


def test_exolab_run_trusted_runs_host_code_and_the_summary_says_so(tmp_path: Path) -> None:
    host = _write(tmp_path, "import sys\n\ndef main(os):\n    os.print(len(sys.argv) > 0)\n",
                  "host.py")
    result = CliRunner().invoke(app, ["run", host, "--trusted"])
    assert result.exit_code == 0, result.output
    assert "True" in result.output and "unverified host code" in result.output
    plain = CliRunner().invoke(app, ["run", _write(tmp_path, GOOD)])
    assert plain.exit_code == 0 and "unverified" not in plain.output


def test_sys_exit_at_import_no_longer_exits_exolab(tmp_path: Path) -> None:
    path = _write(tmp_path, "import sys\nsys.exit(0)\n\ndef main(os):\n    pass\n",
                  "quit.py")
    verified = CliRunner().invoke(app, ["run", path])
    assert verified.exit_code == 2 and "import sys is not allowed" in verified.output + str(
        verified.stderr)
    trusted = CliRunner().invoke(app, ["run", path, "--trusted"])
    assert trusted.exit_code == 2 and "cannot load program" in trusted.output + str(
        trusted.stderr)


def _bench_programs() -> dict[str, Any]:
    from exolab.apps import microbench
    from exolab.bench import aegis, speed
    progs = {f"microbench.{k}": v for k, v in microbench.PROGRAMS.items()}
    progs.update({f"aegis.{k}": v for k, v in aegis.PROGRAMS.items()})
    progs.update({f"speed.{k}": v for k, v in vars(speed).items()
                  if callable(v) and getattr(v, "__module__", "") == speed.__name__
                  and k in ("_getpids", "_pingpong", "_round_robin_loads", "_pcts")})
    return progs


@pytest.mark.parametrize("name", sorted(_bench_programs()))
def test_every_benchmark_program_verifies(name: str) -> None:
    assert is_verified(load_function(_bench_programs()[name]))
