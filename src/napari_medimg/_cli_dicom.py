"""The DICOM commands of ``napari-medimg``: anonymize, export-seg, export-sr."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_parsers", "cmd_anonymize", "cmd_export_seg", "cmd_export_sr"]


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

    seg = sub.add_parser(
        "export-seg",
        help="labels drawn on a DICOM series as a DICOM SEG: export-seg LABELS SOURCE_DICOM_FOLDER OUT.dcm",
        description="Write LABELS (a labels file on the grid the series reads to, e.g. saved from napari) as a "
        "DICOM Segmentation referencing the series' images: one segment per label value with its name and "
        "colour (class-map sidecar of LABELS, or --class-map). `napari-medimg info OUT.dcm` / napari read it back "
        "as labels. Patient and study attributes are de-identified unless --identifiers.",
    )
    seg.add_argument("labels", help="labels file (.nii.gz, .nrrd, .mha ...) on the series' grid")
    seg.add_argument("source", help="folder of the DICOM series the labels were drawn on")
    seg.add_argument("output", help="the SEG file to write (.dcm)")
    seg.add_argument("--class-map", metavar="JSON", help="names and colours of the label values")
    seg.add_argument(
        "--algorithm-type", choices=("MANUAL", "SEMIAUTOMATIC", "AUTOMATIC"), default="MANUAL",
        help="how the labels were made (default MANUAL)",
    )
    seg.add_argument("--algorithm-name", default="napari-medimg", help="algorithm (model, recipe) for non-manual labels")
    seg.add_argument("--description", default="Segmentation", help="series description of the SEG")
    seg.add_argument("--identifiers", action="store_true", help="keep the patient and study attributes of the source")
    seg.add_argument("--overwrite", action="store_true", help="replace OUTPUT when it exists")

    sr = sub.add_parser(
        "export-sr",
        help="measurements of a SEG's objects as a DICOM SR (TID 1500) and CSV/JSON: export-sr SEG SOURCE OUT.dcm",
        description="Measure every object of SEG (volume, maximum diameter, intensity statistics in the source "
        "series' units) and write a DICOM Comprehensive 3D SR following TID 1500 that references the SEG's "
        "segments, plus optional CSV and JSON tables (units, software version, parameters).",
    )
    sr.add_argument("seg", help="DICOM SEG file")
    sr.add_argument("source", help="folder of the DICOM series the SEG references")
    sr.add_argument("output", help="the SR file to write (.dcm)")
    sr.add_argument("--csv", metavar="FILE", help="also write the full measurement table as CSV")
    sr.add_argument("--json", metavar="FILE", help="also write it as JSON with units and provenance")
    sr.add_argument(
        "--radiomics", nargs="?", const="", metavar="SETTINGS.yaml",
        help="add radiomics features (pyradiomics definitions; optional parameter file) to the SR and tables",
    )
    sr.add_argument("--identifiers", action="store_true", help="keep the patient and study attributes")
    sr.add_argument("--overwrite", action="store_true", help="replace existing outputs")


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


def cmd_export_seg(args: argparse.Namespace) -> int:
    """Run ``export-seg``."""
    from . import read
    from ._cli_outputs import check_output
    from .io.dicom_seg import write_seg
    from .io.label_map import read_label_map, sidecar_of

    check_output(args.output, [args.labels, args.source], overwrite=args.overwrite)
    labels = read(args.labels)
    class_map = args.class_map or sidecar_of(args.labels)
    classes = read_label_map(class_map) if class_map else None
    written = write_seg(
        labels, args.source, args.output, classes=classes, algorithm_type=args.algorithm_type,
        algorithm_name=args.algorithm_name, series_description=args.description,
        identifiers=args.identifiers, overwrite=args.overwrite,
    )
    import numpy as np

    n = len([v for v in np.unique(labels.array) if v != 0])
    print(f"napari-medimg export-seg: wrote {written} ({n} segment(s))")
    return 0


def cmd_export_sr(args: argparse.Namespace) -> int:
    """Run ``export-sr``."""
    from . import read
    from ._cli_outputs import check_output
    from .analysis.measure import measure_labels, write_csv
    from .io.dicom_seg import read_seg
    from .io.measurement_report import write_measurement_json, write_measurement_sr

    import numpy as np

    outputs = [args.output] + [p for p in (args.csv, args.json) if p]
    for output in outputs:
        check_output(output, [args.seg, args.source], overwrite=args.overwrite)
    image = read(args.source)
    labels = read_seg(args.seg, grid=image)  # the objects on the series' whole grid
    table = measure_labels(labels, image)
    parameters: dict = {"percentiles": [10, 50, 90], "shape": True}
    if args.radiomics is not None:
        from .analysis.radiomics import extract, load_settings

        settings = load_settings(args.radiomics or {})
        rows = []
        for value in table["label"]:
            settings["label"] = int(value)
            rows.append(extract(image, labels, settings))
        for key in rows[0]:
            table[key] = np.asarray([row.get(key, np.nan) for row in rows], dtype=np.float64)
        parameters["radiomics"] = {"settings": args.radiomics or "pyradiomics defaults", "features": len(rows[0])}
    write_measurement_sr(table, args.seg, args.source, args.output, identifiers=args.identifiers, overwrite=args.overwrite)
    if args.csv:
        write_csv(table, args.csv, overwrite=args.overwrite)
    if args.json:
        write_measurement_json(
            table, args.json, parameters=parameters,
            inputs={"seg": Path(args.seg).name, "image": Path(args.source).name}, overwrite=args.overwrite,
        )
    volumes = ", ".join(f"{int(v)}: {ml:.2f} mL" for v, ml in zip(table["label"], table["volume_ml"]))
    print(f"napari-medimg export-sr: wrote {', '.join(outputs)} ({volumes})")
    return 0
