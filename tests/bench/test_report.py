"""Report tables: data-driven columns, paper columns, notes."""
from __future__ import annotations

import io

from rich.console import Console

from exolab.bench.papers import ratios
from exolab.bench.plot import plot_report
from exolab.bench.report import (Row, benchmarks, columns, fmt_value, print_report,
                                 ratio_verdict, rows, short_name)
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


def _render(report: Report, width: int) -> str:
    buf = io.StringIO()
    print_report(report, Console(file=buf, width=width))
    return buf.getvalue()


def test_rows_and_columns_follow_the_data() -> None:
    rep = _report()
    cols = columns(rep, "ipc")
    assert [c.header for c in cols] == ["benchmark", "kernel", "measured", "paper",
                                        "vs paper", "mono/K (paper)", "note"]
    assert benchmarks(rep, "ipc") == ["pipe", "shm", "lrpc"]
    assert rows(rep, "ipc") == [Row("pipe", "monolithic"), Row("pipe", "exokernel"),
                                Row("shm", "exokernel"), Row("lrpc", "exokernel")]
    cells = {c.header: c.cell(Row("lrpc", "exokernel")) for c in cols}
    assert cells == {"benchmark": "lrpc", "kernel": "exo", "measured": "—",
                     "paper": "6.3", "vs paper": "—", "mono/K (paper)": "",
                     "note": "not measured yet"}
    pipe_exo = {c.header: c.cell(Row("pipe", "exokernel")) for c in cols}
    assert pipe_exo["kernel"] == "exo" and pipe_exo["paper"] == "14.2"
    assert pipe_exo["vs paper"] == "0.93x"


def test_print_report() -> None:
    text = _render(_report(), 160)
    for s in ("ipc", "pipe", "210", "13.2", "mono = monolithic (paper: Ultrix)",
              "exo = exokernel (paper: ExOS)", "199", "profile dec5000",
              "not measured yet", "seed 0; us"):
        assert s in text, s


def _wide_report(kernels: list[str]) -> Report:
    """A report of the real singularity suite measured on ``kernels``."""
    results = [Result("singularity", b, k, 1000.0 * (i + 1) + 0.5, "cycles")
               for b in ("api_call", "thread_yield", "ping_pong", "process_creation")
               for i, k in enumerate(kernels)]
    from exolab.bench.papers import paper_rows
    return Report("athlon64", 0, results, paper_rows("singularity"),
                  {("singularity", ""): "profile athlon64"})


def test_tables_fit_80_columns_with_eight_kernels() -> None:
    kernels = ["monolithic", "exokernel", "singularity", "spin", "l4", "mach",
               "unikernel", "graphene"]
    text = _render(_wide_report(kernels), 80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text                        # nothing cut
    header = next(line for line in lines if "benchmark" in line)
    for h in ("benchmark", "kernel", "measured", "paper", "vs paper", "mono/K (paper)"):
        assert h in header, h
    for k in ("mono", "exo", "sing", "spin", "l4", "mach", "uni", "gphn"):
        assert any(line.split()[:2][-1:] == [k] or f" {k} " in line for line in lines), k
    assert "process_creation" in text and "5,380,000" in text   # Windows, paper-only
    for k in kernels[1:]:
        assert f"= {k}" in text                   # the key names every kernel


def test_short_names_are_distinct() -> None:
    names = ["monolithic", "exokernel", "singularity", "spin", "l4", "mach",
             "unikernel", "graphene", "none"]
    assert len({short_name(k) for k in names}) == len(names)
    assert all(len(short_name(k)) <= 5 for k in names)


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
                 if c.header == "mono/K (paper)"][0]
    assert ratio_col.cell(Row("pipe", "exokernel")) == "14.0 (14.0) ok"
    assert ratio_col.cell(Row("lrpc", "exokernel")) == "66.7 (46–60) ok"    # section 7
    assert ratio_col.cell(Row("pipe", "monolithic")) == ""
    reversed_winner = [c for c in columns(_exos_report(10.0, 14.2), "exos-ipc")
                       if c.header == "mono/K (paper)"][0]
    assert reversed_winner.cell(Row("pipe", "exokernel")).endswith("OFF")
    assert ratio_verdict(1.4, 1.0) == "ok" and ratio_verdict(1.6, 1.0) == "OFF"
    assert ratio_verdict(0.9, 1.1) == "OFF"                   # a different winner


def _markers_by_row(ax) -> dict[int, set[str]]:
    """Row (y) -> the marker styles drawn on it."""
    out: dict[int, set[str]] = {}
    for line in ax.get_lines():
        marker = line.get_marker()
        if marker in (None, "None", "", " "):
            continue
        for y in line.get_ydata():
            out.setdefault(int(round(float(y))), set()).add(str(marker))
    return out


def _full_report() -> Report:
    """Every benchmark of the exos suites measured on both kernels near the paper."""
    from exolab.bench.papers import figures, paper_rows, system_kernel
    results = {}
    for f in figures():
        kernel = system_kernel(f.system)
        if f.suite.startswith("exos") and kernel is not None:
            results[(f.suite, f.benchmark, kernel)] = Result(
                f.suite, f.benchmark, kernel, f.value * 1.1, f.unit)
    results[("exos-ipc", "lrpc", "monolithic")] = Result("exos-ipc", "lrpc",
                                                           "monolithic", 399.0, "us")
    return Report("dec5000", 0, list(results.values()),
                  paper_rows("exos-ipc") + paper_rows("exos-vm"), {})


def test_plot_every_row_has_a_label_and_a_marker() -> None:
    import matplotlib.pyplot as plt

    from exolab.bench.plot import figure
    rep = _full_report()
    fig = figure(rep)
    try:
        axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
        assert len(axes) == 4                      # two suites, two panels each
        for ax in axes:
            labels = [t.get_text() for t in ax.get_yticklabels()]
            assert labels and all(labels) and len(set(labels)) == len(labels)
            rows = _markers_by_row(ax)
            assert set(rows) == set(range(len(labels))), (ax.get_title(loc="left"), rows)
            assert all("o" in m for m in rows.values())           # measured: a dot
            ticks = [t.get_text() for t in ax.get_xticklabels()]
            assert "1" in ticks and not any("10^" in t or "×" in t or "$" in t
                                            for t in ticks), ticks
        ratio_ax = next(ax for ax in axes if "slower" in ax.get_title(loc="left")
                        and ax.get_title(loc="left").startswith("exos-ipc"))
        labels = [t.get_text() for t in ratio_ax.get_yticklabels()]
        by_row = _markers_by_row(ratio_ax)
        lrpc = labels.index("lrpc: monolithic / exokernel")
        assert "|" in by_row[lrpc]                 # the paper's range (46-60x, section 7)
        pipe = labels.index("pipe: monolithic / exokernel")
        assert "D" in by_row[pipe]                 # the paper's ratio
        assert fig.legends and {t.get_text() for t in fig.legends[0].get_texts()} >= {
            "measured", "paper's ratio", "paper's range", "within 1.5x"}
    finally:
        plt.close(fig)


def test_plot_writes_a_png(tmp_path) -> None:
    path = tmp_path / "bench.png"
    plot_report(_exos_report(199.0, 14.2), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_rows_follow_kernel_order_not_data_order() -> None:
    rep = Report("dec5000", 0,
                 [Result("exos-vm", "dirty", "exokernel", 8.6, "us"),
                  Result("exos-vm", "prot1", "exokernel", 12.0, "us"),
                  Result("exos-vm", "prot1", "monolithic", 30.0, "us")],
                 [PaperRow("exos-vm", "dirty", "ExOS", "DEC5000/125", 9.8, "us", "T10"),
                  PaperRow("exos-vm", "prot1", "Ultrix", "DEC5000/125", 32.0, "us", "T10")],
                 {})
    assert [r.kernel for r in rows(rep, "exos-vm")] == ["exokernel", "monolithic",
                                                         "exokernel"]
    assert [r.kernel for r in rows(rep, "exos-vm")][1:] == ["monolithic", "exokernel"]
