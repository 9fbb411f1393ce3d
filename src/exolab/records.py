"""Statistics records: every component's ``statistics()`` returns a frozen dataclass.

Records nest (the machine's holds each CPU's and TLB's; a kernel's holds its
scheduler's). Tools that print or subtract them want flat names.

Interface::

    flatten(record, prefix="") -> [(dotted name, value)]   its scalar fields, nested ones
                                                             named ``outer.inner``
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

__all__ = ["flatten"]


def flatten(record: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted name, value) for every scalar field of a (nested) statistics dataclass."""
    rows: list[tuple[str, Any]] = []
    for f in fields(record):
        value = getattr(record, f.name)
        if is_dataclass(value):
            rows += flatten(value, f"{prefix}{f.name}.")
        elif isinstance(value, (int, float, str)):
            rows.append((prefix + f.name, value))
    return rows
