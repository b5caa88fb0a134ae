"""The basic profile's action for each attribute, from PS3.15 Table E.1-1 (shipped as data).

``ps3_15_table_e1_1.json`` is generated from the standard by
``scripts/make_deidentification_table.py``; nothing here restates the standard's actions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["ProfileTable", "profile_table", "Rule"]

_TABLE_FILE = Path(__file__).with_name("ps3_15_table_e1_1.json")

#: Table E.1-1's compound actions, resolved without knowing the IOD's attribute type
#: (the standard picks by type: 1 -> D, 2 -> Z, 3 -> X). The choice that keeps a valid
#: object for every type is taken: a dummy where D is allowed, else a zero-length value.
_COMPOUND = {"X/Z": "Z", "X/D": "D", "Z/D": "D", "X/Z/D": "D", "X/Z/U*": "U"}


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1: the attribute's name, basic action and option actions."""

    name: str
    basic: str
    options: dict[str, str]

    def action(self, enabled: frozenset[str]) -> str:
        """The action with the ``enabled`` option codes: an option's K or C wins over the basic one."""
        for code in sorted(enabled):
            if code in self.options:
                return self.options[code]
        return _COMPOUND.get(self.basic, self.basic)


class ProfileTable:
    """Lookup of Table E.1-1 rows by tag, including its ``(50xx,xxxx)``-style patterns."""

    def __init__(self, data: dict) -> None:
        self.edition: str = data["edition"]
        self.standard: str = data["standard"]
        self.option_names: dict[str, str] = data["options"]
        private = data["private_attributes"]
        self.private = Rule("Private Attributes", private["basic"], private["options"])
        self._exact: dict[int, Rule] = {}
        self._patterns: list[tuple[int, int, int, int, Rule]] = []
        for text, row in data["attributes"].items():
            rule = Rule(row["name"], row["basic"], row["options"])
            group, element = text.strip("()").split(",")
            if "X" in group or "X" in element:
                self._patterns.append((*_pattern(group), *_pattern(element), rule))
            else:
                self._exact[int(group + element, 16)] = rule

    def __len__(self) -> int:
        return len(self._exact) + len(self._patterns)

    def rule(self, tag: int) -> Rule | None:
        """The row for ``tag`` (a pydicom BaseTag or int), or None when the profile keeps it."""
        found = self._exact.get(int(tag))
        if found is not None:
            return found
        group, element = int(tag) >> 16, int(tag) & 0xFFFF
        for gmask, gvalue, emask, evalue, rule in self._patterns:
            if group & gmask == gvalue and element & emask == evalue:
                return rule
        return None


def _pattern(hex_digits: str) -> tuple[int, int]:
    """``"60XX"`` -> (mask 0xFF00, value 0x6000)."""
    mask = int("".join("0" if c == "X" else "F" for c in hex_digits), 16)
    value = int(hex_digits.replace("X", "0"), 16)
    return mask, value


@cache
def profile_table() -> ProfileTable:
    """The shipped Table E.1-1 (read once)."""
    return ProfileTable(json.loads(_TABLE_FILE.read_text()))
