"""Report tables: data-driven columns, paper columns, notes."""
from __future__ import annotations

import io

from rich.console import Console

from exolab.bench.papers import ratios
from exolab.bench.plot import plot_report
from exolab.bench.report import (benchmarks, columns, fmt_value, print_report,
                                 ratio_verdict)
from exolab.bench.results import PaperRow, Report, Result


def _report() -> Report:
    return Report(
        "dec5000", 0,
        [Result("ipc", "pipe", "monolithic", 210.5, "us"),
         Result("ipc", "pipe", "exokernel", 13.25, "us"),
         Result("ipc", "shm", "exokernel", 5.0, "us")],
        [PaperRow("ipc", "pipe", "Ultrix", "DEC5000/125", 199.0, "us", "T8"),
         PaperRow("ipc", "pipe", "ExOS", "DEC5000/125", 14.2, "us", "T8"),
         PaperRow("ipc", "lrpc", "ExOS", "DEC5000/125", 6.3, "us", "T8")],
        {("ipc", ""): "profile dec5000", ("ipc", "lrpc"): "not measured yet"})


def test_columns_follow_the_data() -> None:
    rep = _report()
    cols = columns(rep, "ipc")
    assert [c.header for c in cols] == ["benchmark", "monolithic", "exokernel",
                                        "paper: Ultrix", "paper: ExOS", "note"]
    assert benchmarks(rep, "ipc") == ["pipe", "shm", "lrpc"]
    cells = {c.header: c.cell("lrpc") for c in cols}
    assert cells == {"benchmark": "lrpc", "monolithic": "—", "exokernel": "—",
                     "paper: Ultrix": "—", "paper: ExOS": "6.3 us",
                     "note": "not measured yet"}


def test_print_report() -> None:
    buf = io.StringIO()
    print_report(_report(), Console(file=buf, width=160))
    text = buf.getvalue()
    for s in ("ipc", "pipe", "210 us", "13.2 us", "paper: Ultrix", "199 us",
              "profile dec5000", "not measured yet"):
        assert s in text, s


def test_fmt_value() -> None:
    assert fmt_value(1234567.8, "events/s") == "1,234,568 events/s"
    assert fmt_value(5.0, "us") == "5 us"
    assert fmt_value(0.01234, "") == "0.0123"


def _exos_report(mono_pipe: float, exo_pipe: float) -> Report:
    """A report of the real exos-ipc suite (paper figures from paper.json)."""
    return Report("dec5000", 0,
                  [Result("exos-ipc", "pipe", "monolithic", mono_pipe, "us"),
                   Result("exos-ipc", "pipe", "exokernel", exo_pipe, "us"),
                   Result("exos-ipc", "lrpc", "monolithic", 400.0, "us"),
                   Result("exos-ipc", "lrpc", "exokernel", 6.0, "us")], [], {})


def test_ratios_pair_kernels_and_paper_systems() -> None:
    rows = {r.benchmark: r for r in ratios(_exos_report(199.0, 14.2), "exos-ipc")}
    assert rows["pipe"].kernel == "exokernel"
    assert abs(rows["pipe"].measured - 199.0 / 14.2) < 1e-9
    assert abs(rows["pipe"].paper - 199.0 / 14.2) < 1e-9     # Ultrix / ExOS, Table 8
    assert rows["lrpc"].paper is None                         # no Ultrix lrpc figure


def test_ratio_column_gives_the_verdict() -> None:
    ratio_col = [c for c in columns(_exos_report(199.0, 14.2), "exos-ipc")
                 if c.header == "monolithic/exokernel"][0]
    assert ratio_col.cell("pipe") == "14.01 (paper 14.01) ok"
    assert ratio_col.cell("lrpc") == "66.67"
    reversed_winner = [c for c in columns(_exos_report(10.0, 14.2), "exos-ipc")
                       if c.header == "monolithic/exokernel"][0]
    assert reversed_winner.cell("pipe").endswith("OFF")
    assert ratio_verdict(1.4, 1.0) == "ok" and ratio_verdict(1.6, 1.0) == "OFF"
    assert ratio_verdict(0.9, 1.1) == "OFF"                   # a different winner


def test_plot_writes_a_png(tmp_path) -> None:
    path = tmp_path / "bench.png"
    plot_report(_exos_report(199.0, 14.2), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_columns_follow_kernel_order_not_data_order() -> None:
    rep = Report("dec5000", 0,
                 [Result("exos-vm", "dirty", "exokernel", 8.6, "us"),
                  Result("exos-vm", "prot1", "exokernel", 12.0, "us"),
                  Result("exos-vm", "prot1", "monolithic", 30.0, "us")],
                 [PaperRow("exos-vm", "dirty", "ExOS", "DEC5000/125", 9.8, "us", "T10"),
                  PaperRow("exos-vm", "prot1", "Ultrix", "DEC5000/125", 32.0, "us", "T10")],
                 {})
    headers = [c.header for c in columns(rep, "exos-vm")]
    assert headers.index("paper: Ultrix") < headers.index("paper: ExOS")
    assert headers.index("monolithic/Ultrix") < headers.index("exokernel/ExOS")
