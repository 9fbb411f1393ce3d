"""The figure files: paper.json plus one file per later suite, merged."""
import json

import pytest

from exolab.bench import papers
from exolab.errors import ConfigError


def test_merge_concatenates_rows_and_unions_maps():
    into = {"rows": [], "ratio_ranges": [], "systems": {}, "profiles": {}}
    papers._merge(into, {"rows": [1], "systems": {"A": "k"}}, "a.json")
    papers._merge(into, {"rows": [2], "systems": {"A": "k", "B": "m"}}, "b.json")
    assert into["rows"] == [1, 2]
    assert into["systems"] == {"A": "k", "B": "m"}


def test_a_system_mapped_twice_differently_is_refused():
    into = {"rows": [], "ratio_ranges": [], "systems": {"A": "k"}, "profiles": {}}
    with pytest.raises(ConfigError, match="b.json"):
        papers._merge(into, {"systems": {"A": "other"}}, "b.json")


def test_every_shipped_file_is_read():
    from importlib import resources
    folder = resources.files("exolab.bench").joinpath("data")
    total = sum(len(json.loads(f.read_text()).get("rows", []))
                for f in folder.iterdir() if f.name.endswith(".json"))
    assert len(papers.figures()) == total
