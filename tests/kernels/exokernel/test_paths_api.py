"""Aegis's path table, its public API, and the generated interface description."""
from __future__ import annotations

import exolab.kernels.exokernel as exo
import exolab.libos.exos as exos
from exolab.kernels import KERNELS, make_kernel
from exolab.kernels.exokernel import PATHS, Sys
from exolab.kernels.exokernel.paths import cycles
from exolab.kernels.exokernel.syscall import TABLE, describe
from exolab.libos.exos.layout import PATHS as EXOS_PATHS
from exolab.machine.costs import get_profile
from exolab.machine.machine import Machine


def test_every_path_has_a_source_and_the_paper_counts() -> None:
    assert all(n > 0 and src for n, src in PATHS.values())
    assert all(n > 0 and src for n, src in EXOS_PATHS.values())
    assert (PATHS["exc_dispatch"][0], PATHS["stlb_probe"][0], PATHS["pct"][0]) == (18, 18, 30)
    assert sum(1 for _n, src in PATHS.values() if src.startswith("[paper]")) == 5


def test_the_null_system_call_is_table_4() -> None:
    p = get_profile("dec5000")
    assert (p.trap_entry + cycles(p, "syscall_fast") + p.trap_exit) / p.mhz == 1.6
    assert round((p.trap_entry + cycles(p, "syscall_stack") + p.trap_exit) / p.mhz, 1) == 2.3


def test_public_api_and_registration() -> None:
    assert set(exo.__all__) == {"Aegis", "AegisStats", "Sys", "RIGHTS", "rights_table",
                                "PATHS"}
    assert all(hasattr(exo, n) for n in exo.__all__)
    # ExOS and the components a specialised library OS subclasses (vm_class, ...)
    assert exos.__all__ == ["ExOS", "VM", "IPC", "LRPC", "Procs", "libos_of"]
    assert exos.ExOS.vm_class is exos.VM and exos.ExOS.procs_class is exos.Procs
    assert KERNELS["exokernel"] == "exolab.kernels.exokernel:Aegis"
    k = make_kernel("exokernel", Machine("dec5000", frames=1024))
    assert k.name == "exokernel" and k.console == [] and k.faults == []


def test_the_interface_description_covers_the_table() -> None:
    rows = describe()
    assert [r[0] for r in rows] == sorted(int(n) for n in TABLE)
    assert all(r[4] for r in rows)                  # every handler documents itself
    assert {r[1] for r in rows} == {s.name for s in Sys}


def test_the_doc_lists_every_call_and_right() -> None:
    from pathlib import Path

    from exolab.kernels.exokernel.caps import rights_table
    doc = (Path(__file__).resolve().parents[3] / "docs" / "exokernel.md").read_text()
    for num, name, nargs, path, _doc in describe():
        assert f"| {num} | `{name}` | {nargs} | {path} |" in doc, name
    for kind, right, meaning in rights_table():
        assert f"| {kind} | `{right}` | {meaning} |" in doc, right
