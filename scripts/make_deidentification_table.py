"""Make the de-identification table from the DICOM standard's PS3.15 Table E.1-1.

The table is not typed by hand: it is converted from the machine-readable extraction of
Part 15 published by innolitics/dicom-standard (MIT licence), whose
``standard/confidentiality_profile_attributes.json`` is parsed from the standard's own
HTML (commit "Update standard to rev2024b", i.e. DICOM PS3.15 edition 2024b).

Usage::

    python scripts/make_deidentification_table.py confidentiality_profile_attributes.json \
        --edition 2024b --commit <git commit of the source>

writes ``src/napari_medimg/io/deidentify/ps3_15_table_e1_1.json``. Re-run it against a newer
extraction to follow a newer edition; ``tests/io/test_deidentify_table.py`` checks the result.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/napari_medimg/io/deidentify/ps3_15_table_e1_1.json"

#: column of the extraction -> the option's name in PS3.15 E.3 and its code (CID 7050)
OPTIONS = {
    "rtnSafePrivOpt": ("Retain Safe Private Option", "113111"),
    "rtnUIDsOpt": ("Retain UIDs Option", "113110"),
    "rtnDevIdOpt": ("Retain Device Identity Option", "113109"),
    "rtnInstIdOpt": ("Retain Institution Identity Option", "113112"),
    "rtnPatCharsOpt": ("Retain Patient Characteristics Option", "113108"),
    "rtnLongFullDatesOpt": ("Retain Longitudinal Temporal Information With Full Dates Option", "113106"),
    "rtnLongModifDatesOpt": ("Retain Longitudinal Temporal Information With Modified Dates Option", "113107"),
    "cleanDescOpt": ("Clean Descriptors Option", "113105"),
    "cleanStructContOpt": ("Clean Structured Content Option", "113104"),
    "cleanGraphOpt": ("Clean Graphics Option", "113103"),
}
_TAG = re.compile(r"^\(([0-9A-FX]{4}),([0-9A-FX]{4})\)$")
_ACTIONS = {"D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}


def convert(rows: list[dict], edition: str, commit: str) -> dict:
    """The extraction's rows as ``{tag: {name, basic, options}}`` with the options' codes."""
    attributes = {}
    private = None
    for row in rows:
        if row["name"] == "Private Attributes":  # "(gggg,eeee) where gggg is odd": a rule, not a tag
            private = {"basic": row["basicProfile"].strip(),
                       "options": {OPTIONS[k][1]: row[k].strip() for k in OPTIONS if row.get(k, "").strip()}}
            continue
        tag = row["tag"].upper().replace(" ", "")
        if not _TAG.match(tag):
            raise ValueError(f"unexpected tag {row['tag']!r} for {row['name']!r}")
        basic = row["basicProfile"].strip()
        if basic not in _ACTIONS:
            raise ValueError(f"unexpected basic-profile action {basic!r} for {row['name']!r}")
        options = {OPTIONS[key][1]: row[key].strip() for key in OPTIONS if row.get(key, "").strip()}
        attributes[tag] = {"name": row["name"], "basic": basic, "options": options}
    return {
        "standard": f"DICOM PS3.15 {edition}, Table E.1-1 (Application Level Confidentiality Profile Attributes)",
        "edition": edition,
        "source": f"innolitics/dicom-standard standard/confidentiality_profile_attributes.json at {commit} (MIT)",
        "made_by": "scripts/make_deidentification_table.py",
        "options": {code: name for name, code in OPTIONS.values()},
        "private_attributes": private,
        "attributes": dict(sorted(attributes.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="confidentiality_profile_attributes.json")
    parser.add_argument("--edition", required=True, help="the standard's edition, e.g. 2024b")
    parser.add_argument("--commit", required=True, help="git commit of the source file")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    table = convert(json.loads(args.source.read_text()), args.edition, args.commit)
    args.out.write_text(json.dumps(table, indent=0, sort_keys=False) + "\n")
    print(f"{args.out}: {len(table['attributes'])} attributes, PS3.15 {args.edition}")


if __name__ == "__main__":
    main()
