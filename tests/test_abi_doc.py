"""docs/abi.md stays in step with exolab.abi: every call, every errno, the example."""
from __future__ import annotations

import re
from pathlib import Path

from exolab.abi import ABI, ERRNOS
from exolab.runner import run_program
from exolab.safe import load_program_source

DOC = Path(__file__).resolve().parent.parent / "docs" / "abi.md"


def _text() -> str:
    return DOC.read_text()


def _calls() -> set[str]:
    """Every call of the ABI: its abstract methods and the optional ones with a default."""
    return {name for name, value in vars(ABI).items()
            if callable(value) and not name.startswith("_")}


def test_every_abi_call_has_a_row() -> None:
    rows = set(re.findall(r"^\| `([a-z_]+)\(", _text(), re.M))
    assert set(ABI.__abstractmethods__) <= _calls()
    assert {"set_exception_handler", "trigger"} <= _calls()     # optional: default ENOSYS
    assert rows == _calls()


def test_every_errno_is_in_the_table() -> None:
    table = _text().split("## Errno table", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(E[A-Z]+)` \| ([^|]+) \|", table, re.M)
    assert {e for e, _ in listed} == set(ERRNOS)
    for errno, meaning in listed:
        assert meaning.strip() == ERRNOS[errno], errno


def test_the_example_program_prints_what_the_page_says() -> None:
    text = _text()
    found = re.search(r"```python\n(# hello_pipe\.py\n.*?)```", text, re.S)
    assert found is not None
    code = found.group(1)
    main = load_program_source(code, "hello_pipe.py")      # verified, as `exolab run`
    run = run_program(main, "greetings", kernel="monolithic")
    shown = re.search(r"run\.console +# (\[.*\])", text)
    assert shown is not None and repr(run.console) == shown.group(1)
    assert run.faults == [] and run.result.reason == "finished"
