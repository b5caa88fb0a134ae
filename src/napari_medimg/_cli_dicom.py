"""The DICOM commands of ``napari-medimg``: anonymize, export-seg, export-sr."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parsers", "cmd_anonymize"]


def _region(text: str) -> tuple[int, int, int, int]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"{text!r}: give ROW0,COL0,ROW1,COL1 (pixels, end excluded)")
    return values  # type: ignore[return-value]


def add_parsers(sub) -> None:
    """Add ``anonymize`` (and the export commands) to the command's subparsers."""
    anonymize = sub.add_parser(
        "anonymize",
        help="de-identified copy of a DICOM file or folder (PS3.15 basic profile): anonymize INPUT OUTPUT",
        description="Write a de-identified copy of INPUT (a DICOM file or a folder, searched recursively) to "
        "OUTPUT with the same layout, by the DICOM PS3.15 Basic Application Level Confidentiality Profile "
        "(Table E.1-1 of the edition shipped). UIDs are replaced consistently (keyed hash), private "
        "attributes removed except a safe list, PatientIdentityRemoved and DeidentificationMethod set; "
        "pixel data is copied byte for byte unless --mask-region is given. Non-DICOM files are not "
        "copied. A JSON report (no original values) is written beside OUTPUT.",
    )
    anonymize.add_argument("input", help="DICOM file or folder")
    anonymize.add_argument("output", help="the copy: a file for a file, a folder for a folder (outside INPUT)")
    anonymize.add_argument("--profile", choices=("basic",), default="basic", help="the PS3.15 profile (basic)")
    dates = anonymize.add_mutually_exclusive_group()
    dates.add_argument("--retain-dates", action="store_true", help="keep dates and times (full dates option)")
    dates.add_argument(
        "--shift-dates", type=int, metavar="DAYS", help="move every date by DAYS (modified dates option)"
    )
    anonymize.add_argument("--keep-uids", action="store_true", help="keep the original UIDs (retain UIDs option)")
    anonymize.add_argument("--retain-device-identity", action="store_true", help="keep serial numbers, station names")
    anonymize.add_argument("--retain-institution-identity", action="store_true", help="keep the institution")
    anonymize.add_argument(
        "--retain-patient-characteristics", action="store_true", help="keep sex, age, size, weight"
    )
    anonymize.add_argument(
        "--remove-all-private", action="store_true", help="remove the safe private attributes too (mosaics then lose their geometry)"
    )
    anonymize.add_argument(
        "--mask-region", type=_region, action="append", default=[], metavar="ROW0,COL0,ROW1,COL1",
        help="blank this pixel rectangle in every frame (burned-in text); repeatable",
    )
    anonymize.add_argument(
        "--key-file", type=Path, help="secret for the UID map: the same key gives the same new UIDs in every run"
    )
    anonymize.add_argument(
        "--overwrite", action="store_true", help="replace existing files of the copy (never the input)"
    )


def cmd_anonymize(args: argparse.Namespace) -> int:
    """Run ``anonymize``; exit 1 when some file could not be read."""
    from .io.deidentify import DeidentifyOptions, deidentify, report_path_for

    options = DeidentifyOptions(
        retain_dates=args.retain_dates,
        shift_dates_days=args.shift_dates,
        keep_uids=args.keep_uids,
        retain_device_identity=args.retain_device_identity,
        retain_institution_identity=args.retain_institution_identity,
        retain_patient_characteristics=args.retain_patient_characteristics,
        retain_safe_private=not args.remove_all_private,
        mask_regions=tuple(args.mask_region),
    )
    key = None
    if args.key_file is not None:
        key = args.key_file.read_bytes()
        if len(key) < 16:
            raise ValueError(f"{args.key_file}: the key must hold at least 16 bytes of secret")
    run = deidentify(args.input, args.output, options, key=key, overwrite=args.overwrite)
    print(f"napari-medimg anonymize: {run.summary()}")
    for record in run.files:
        if record.status == "failed":
            print(f"  failed: {record.source}: {record.message}")
    print(f"report: {report_path_for(args.output)}")
    return 1 if any(r.status == "failed" for r in run.files) else 0
