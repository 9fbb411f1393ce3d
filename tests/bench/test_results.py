"""Result rows and the report JSON."""
from __future__ import annotations

import json

import pytest

from exolab.bench.results import PaperRow, Report, Result
from exolab.errors import ConfigError


def _report() -> Report:
    return Report("dec5000", 0,
                  [Result("speed", "trap", "none", 1234567, "events/s")],
                  [PaperRow("ipc", "pipe", "Ultrix", "DEC5000/125", 199.0, "us",
                            "Engler et al., SOSP'95, Table 8")])


def test_json_form(tmp_path) -> None:
    rep = _report()
    assert rep.to_json() == {
        "profile": "dec5000", "seed": 0,
        "results": [{"suite": "speed", "benchmark": "trap", "kernel": "none",
                     "value": 1234567.0, "unit": "events/s"}],
        "paper": [{"suite": "ipc", "benchmark": "pipe", "system": "Ultrix",
                   "machine": "DEC5000/125", "value": 199.0, "unit": "us",
                   "source": "Engler et al., SOSP'95, Table 8"}]}
    path = tmp_path / "r.json"
    rep.write_json(path)
    data = json.loads(path.read_text())
    assert list(data) == ["profile", "seed", "results", "paper"]
    assert isinstance(data["results"][0]["value"], float)
    assert Report.from_json(data) == rep


def test_rows_are_frozen_and_unique() -> None:
    r = Result("s", "b", "none", 1.0, "us")
    with pytest.raises(AttributeError):
        r.value = 2.0  # type: ignore[misc]
    with pytest.raises(ConfigError):
        Report("dec5000", 0, [r, r], [])
    with pytest.raises(ConfigError):
        Report.from_json({"profile": "x"})


def test_suite_views() -> None:
    rep = _report()
    assert rep.suites() == ["speed", "ipc"]
    assert rep.results_of("ipc") == [] and len(rep.paper_of("ipc")) == 1
