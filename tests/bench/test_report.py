"""Report tables: data-driven columns, paper columns, notes."""
from __future__ import annotations

import io

from rich.console import Console

from exolab.bench.report import benchmarks, columns, fmt_value, print_report
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
