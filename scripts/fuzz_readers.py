"""Mutation fuzzing of the readers: every damaged file must load correctly or be refused clearly.

Copies of small real files from ``../shared/data`` (NIfTI, NRRD, MetaImage, DICOM, PNG,
JPEG, plus TIFF / compressed MHA / gzip and ASCII NRRD / detached .nhdr made from them)
are mutated with a seeded RNG: byte flips (anywhere or in the header), truncation at a
random offset, a block of bytes deleted or inserted, and header fields (sizes, type,
encoding, spacing, origin, direction, scaling, DICOM Rows / Columns / NumberOfFrames /
bits / photometric / PixelSpacing / rescale / transfer syntax ...) set to 0, -1, NaN,
inf, 1e308, 32767, 2**31 - 1, empty or garbage. Each mutant is read by
:func:`napari_medimg.io.read` in a pool of worker subprocesses (``RLIMIT_AS`` of a few
GiB, a per-case time limit) and the outcome classified:

``loaded``
    Read; when the mutation cannot have changed the voxel values (a cut file, a geometry
    field) the array must equal the original's, else the case is a ``wrong_data`` failure.
``refused``
    :class:`~napari_medimg.io.errors.ImageReadError` whose message names the file.
failures
    ``crash`` (the worker died: signal or abort), ``hang`` (over the time limit),
    ``raw:<Type>`` (any other exception), ``unnamed`` (an ImageReadError that does not
    name the file), ``wrong_data`` (silent damage).

Usage::

    python scripts/fuzz_readers.py --cases 3000 --workers 2 --seed 0

The in-CI version is ``tests/io/test_fuzz.py`` (a few hundred cases).

Measured on 2 shared CPU cores, 2 workers, RLIMIT_AS 3 GiB, 10 s per case. Zero failures
(crash, hang, raw exception, unnamed message, wrong data) in every run below; the same
code before these checks gave crashes (Rust RLE decoder panic), a hang (MetaImage
TransformMatrix with 1e308) and raw ValueError / TypeError / OverflowError /
NotImplementedError from DICOM and NIfTI mutants.

``--cases 4000 --seed 0`` (30 s)::

    format     loaded  refused  total
    dicom         509      675   1184
    jpeg           91       57    148
    metaimage     190      402    592
    nifti         199      397    596
    nrrd           61      827    888
    png             0      296    296
    tiff          167      129    296
    all          1217     2783   4000

``--cases 5000 --seed 3`` (59 s): dicom 584 / 896, jpeg 111 / 74, metaimage 237 / 503,
nifti 262 / 482, nrrd 81 / 1030, png 0 / 370, tiff 208 / 162 (loaded / refused);
3517 refused, 1483 loaded, 0 failures.

CI corpus (``tests/io/test_fuzz.py``: ``--cases 600 --seed 2024``, about 10 s): dicom
73 / 103, jpeg 13 / 9, metaimage 28 / 60, nifti 35 / 57, nrrd 15 / 119, png 0 / 44,
tiff 30 / 14; 406 refused, 194 loaded, 0 failures.

Of the 2783 refusals of the 4000-case run, 134 (5 %) still end in the generic "SimpleITK
could not decode it" message (with SimpleITK's own reason, mostly malformed NRRD
``space`` / ``kinds`` fields); every other one names the specific problem. No PNG mutant
loads: every flip breaks a chunk CRC or the zlib stream, which Pillow checks.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import gzip
import json
import os
import queue
import random
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

#: Real files mutated (all small; licences permit copies for tests).
SOURCES = {
    "nifti": [
        "mr/small_nifti/anatomical.nii",
        "mr/small_nifti/reoriented_anat_moved.nii",
        "mr/small_nifti/anatomical_label.nii.gz",
        "ct/totalseg_example/pulmonary_artery.nii.gz",
    ],
    "nrrd": [
        "mr/pyradiomics/prostate_phantom_subvolume.nrrd",
        "mr/pyradiomics/breast1_label.nrrd",
        "mr/pyradiomics/brain1_label.nrrd",
    ],
    "metaimage": [
        "ultrasound/plus_mha/SpinePhantomFreehandReconstructed.mha",
        "ultrasound/plus_mha/BkCurvilinearScanConvertedData.igs.mha",
    ],
    "dicom": [
        "dicom/single_files/pydicom__MR_small.dcm",
        "dicom/single_files/pydicom__CT_small.dcm",
        "dicom/single_files/pydicom__MR_small_RLE.dcm",
        "dicom/single_files/pydicom__MR_small_bigendian.dcm",
        "dicom/single_files/pydicom__MR_small_jp2klossless.dcm",
        "dicom/single_files/pydicom__no_meta.dcm",
        "dicom/single_files/pydicom-data__emri_small.dcm",
        "dicom/single_files/pydicom-data__gdcm-US-ALOKA-16.dcm",
    ],
    "png": ["ultrasound/monai_2d_png/neck_input.png", "ultrasound/busi_breast/masks/benign_001.png"],
    "jpeg": ["xray/cxr_lungs_montgomery/images/1.jpg"],
}

FAILURES = ("crash", "hang", "unnamed", "wrong_data")
_ODD_NUMBERS = ["0", "-1", "nan", "inf", "-inf", "1e308", "32767", "2147483647", "", "x!"]


# ===================================================================== corpus
def build_corpus(folder: Path) -> list[tuple[str, Path]]:
    """Copy the sources into ``folder`` and derive the variants SimpleITK writes.

    Returns
    -------
    list of (format, path)
        One entry per corpus file (a detached ``.nhdr`` counts as its header).
    """
    import numpy as np
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    corpus: list[tuple[str, Path]] = []
    for fmt, names in SOURCES.items():
        for name in names:
            source = DATA / name
            if source.is_file():
                target = folder / f"{fmt}_{source.name}"
                shutil.copyfile(source, target)
                corpus.append((fmt, target))
    prostate = sitk.ReadImage(str(DATA / SOURCES["nrrd"][0]))
    small = prostate[:24, :20, :6]
    for name, compress in (("prostate_zlib.mha", True), ("prostate_raw.mhd", False), ("prostate_gz.nrrd", True)):
        sitk.WriteImage(small, str(folder / name), useCompression=compress)
        corpus.append(("metaimage" if name.endswith((".mha", ".mhd")) else "nrrd", folder / name))
    array = sitk.GetArrayFromImage(small)
    text = " ".join(str(int(v)) for v in array.ravel())
    header = (
        f"NRRD0004\ntype: {array.dtype.name}\ndimension: 3\nsizes: 24 20 6\n"
        "space: left-posterior-superior\nspace directions: (0.5,0,0) (0,0.5,0) (0,0,2)\n"
        "space origin: (1,2,3)\n"
    )
    (folder / "prostate_ascii.nrrd").write_text(header + "encoding: ascii\n\n" + text + "\n")
    (folder / "prostate_detached.raw").write_bytes(array.astype("<" + array.dtype.str[1:]).tobytes())
    (folder / "prostate_detached.nhdr").write_text(
        header + "endian: little\nencoding: raw\ndata file: prostate_detached.raw\n"
    )
    corpus += [("nrrd", folder / "prostate_ascii.nrrd"), ("nrrd", folder / "prostate_detached.nhdr")]
    from PIL import Image

    picture = np.asarray(Image.open(DATA / SOURCES["png"][0]).convert("L"))[:128, :128]
    Image.fromarray(picture).save(folder / "neck.tif")
    Image.fromarray(picture.astype(np.uint16) * 200).save(folder / "neck16.tif")
    corpus += [("tiff", folder / "neck.tif"), ("tiff", folder / "neck16.tif")]
    return corpus


# ================================================================== mutation
@dataclasses.dataclass
class Case:
    """One mutant: where it is, what was done, and whether its voxels must be unchanged."""

    index: int
    fmt: str
    original: str
    path: str
    mutation: str
    same_voxels: bool


def _data_start(fmt: str, raw: bytes) -> int:
    """Where the voxel data start (0 when unknown); mutations before it are 'header' ones."""
    if fmt == "nrrd" or fmt == "metaimage":
        marker = b"\n\n" if fmt == "nrrd" else b"ElementDataFile = LOCAL\n"
        at = raw.find(marker)
        return at + len(marker) if at >= 0 else 0
    if fmt == "nifti" and raw[:2] != b"\x1f\x8b":
        return 352
    return min(len(raw), 1024)


def _flip(rng: random.Random, raw: bytes, fmt: str) -> tuple[bytes, str, bool]:
    data = bytearray(raw)
    header = rng.random() < 0.5
    end = _data_start(fmt, raw) or len(data)
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(end if header else len(data))
        data[at] ^= 1 << rng.randrange(8)
    return bytes(data), f"flip bytes ({'header' if header else 'anywhere'})", False


def _truncate(rng: random.Random, raw: bytes, fmt: str) -> tuple[bytes, str, bool]:
    cut = rng.randrange(1, len(raw))
    return raw[:cut], f"truncate at {cut}/{len(raw)}", True


def _splice(rng: random.Random, raw: bytes, fmt: str) -> tuple[bytes, str, bool]:
    at = rng.randrange(len(raw))
    size = rng.randint(1, 64)
    if rng.random() < 0.5:
        return raw[:at] + raw[at + size :], f"delete {size} bytes at {at}", False
    return raw[:at] + bytes(rng.randrange(256) for _ in range(size)) + raw[at:], f"insert {size} bytes at {at}", False


_GEOMETRY_WORDS = ("spacing", "origin", "offset", "direction", "transformmatrix", "space ", "position", "orientation")


def _edit_text_header(rng: random.Random, raw: bytes, fmt: str) -> tuple[bytes, str, bool]:
    start = _data_start(fmt, raw) or min(len(raw), 4096)
    head, body = raw[:start].decode("latin-1"), raw[start:]
    lines = head.split("\n")
    sep = ": " if fmt == "nrrd" else " = "
    candidates = [i for i, line in enumerate(lines) if sep.strip() in line and not line.startswith("#")
                  and "ElementDataFile" not in line and "data file" not in line]
    if not candidates:
        return _flip(rng, raw, fmt)
    i = rng.choice(candidates)
    key, _, value = lines[i].partition(sep.strip())
    parts = value.split()
    if key.strip().lower() in ("encoding", "type", "elementtype", "endian", "compresseddata", "binarydata"):
        new = rng.choice(["ascii", "raw", "gzip", "bzip2", "hex", "txt", "MET_DOUBLE", "int64", "big",
                          "True", "False", "block", "", "nonsense"])
    elif parts and rng.random() < 0.6:
        parts[rng.randrange(len(parts))] = rng.choice(_ODD_NUMBERS)
        new = " ".join(parts)
    else:
        new = rng.choice(_ODD_NUMBERS)
    lines[i] = key + sep.strip() + " " + new
    geometry = any(w in key.strip().lower() for w in _GEOMETRY_WORDS)
    return "\n".join(lines).encode("latin-1") + body, f"header {key.strip()!r} = {new!r}", geometry


# NIfTI-1 fields: name, offset, struct code, geometry-only
_NIFTI_FIELDS = [
    ("dim0", 40, "h", False), ("dim1", 42, "h", False), ("dim2", 44, "h", False), ("dim3", 46, "h", False),
    ("dim4", 48, "h", False), ("datatype", 70, "h", False), ("bitpix", 72, "h", False),
    ("pixdim1", 80, "f", True), ("pixdim2", 84, "f", True), ("pixdim3", 88, "f", True), ("qfac", 76, "f", True),
    ("vox_offset", 108, "f", False), ("scl_slope", 112, "f", False), ("scl_inter", 116, "f", False),
    ("qform_code", 252, "h", True), ("sform_code", 254, "h", True), ("quatern_b", 256, "f", True),
    ("quatern_d", 264, "f", True), ("qoffset_x", 268, "f", True), ("qoffset_z", 276, "f", True),
    ("srow_x0", 280, "f", True), ("srow_x3", 292, "f", True), ("srow_y1", 300, "f", True),
    ("srow_z3", 324, "f", True), ("sizeof_hdr", 0, "i", False),
]


def _edit_nifti(rng: random.Random, raw: bytes, fmt: str) -> tuple[bytes, str, bool]:
    compressed = raw[:2] == b"\x1f\x8b"
    data = bytearray(gzip.decompress(raw) if compressed else raw)
    order = "<" if struct.unpack("<i", bytes(data[:4]))[0] == 348 else ">"
    name, offset, code, geometry = rng.choice(_NIFTI_FIELDS)
    if code == "f":
        value = rng.choice([0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e38, 1e-30, 3.0])
    else:
        value = rng.choice([0, -1, 1, 2, 7, 8, 32767, -32768] + ([2**31 - 1] if code == "i" else []))
    struct.pack_into(order + code, data, offset, value)
    out = bytes(data)
    if compressed:
        out = gzip.compress(out, compresslevel=1, mtime=0)
    # a changed scaling changes the values, a changed qfac / code may flip axes: only pixdim / offsets keep them
    keeps_voxels = geometry and name.startswith(("pixdim", "qoffset", "srow_x3", "srow_z3"))
    return out, f"nifti {name} = {value}", keeps_voxels


_DICOM_EDITS = [
    ("Rows", ["0", "nan", "65535", None]), ("Columns", ["0", "nan", "1", None]),
    ("NumberOfFrames", ["0", "nan", "-1", "1000", "", None]), ("BitsAllocated", ["0", "7", "64", None]),
    ("BitsStored", ["0", "17", "64", None]), ("HighBit", ["99", None]), ("PixelRepresentation", ["2", None]),
    ("SamplesPerPixel", ["0", "3", "4", None]), ("PlanarConfiguration", ["1", "7"]),
    ("PhotometricInterpretation", ["PALETTE COLOR", "YBR_FULL", "RGB", "MONOCHROME1", "XYZ", None]),
    ("PixelSpacing", [["1"], ["0", "0"], ["nan", "1"], ["inf", "inf"], ["-1", "2"], None]),
    ("RescaleSlope", ["nan", "inf", "0", "-1e308", None]), ("RescaleIntercept", ["nan", "-inf", "1e308"]),
    ("ImagePositionPatient", [["nan", "0", "0"], ["1"], ["inf", "0", "0"], None]),
    ("ImageOrientationPatient", [["0"] * 6, ["nan"] * 6, ["1", "0", "0"], None]),
    ("TransferSyntaxUID", ["1.2.3.4", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5", "", None]),
    ("WindowCenter", ["nan", ""]), ("SliceThickness", ["nan", "-1"]),
]
_GEOMETRY_TAGS = ("PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient", "SliceThickness", "WindowCenter")


def _edit_dicom(rng: random.Random, raw: bytes, fmt: str) -> tuple[bytes, str, bool]:
    import io

    import pydicom
    from pydicom.dataelem import DataElement

    try:
        ds = pydicom.dcmread(io.BytesIO(raw), force=True)
    except Exception:
        return _flip(rng, raw, fmt)
    keyword, values = rng.choice(_DICOM_EDITS)
    value = rng.choice(values)
    target = ds.file_meta if keyword == "TransferSyntaxUID" else ds
    if value is None:
        if keyword in target:
            delattr(target, keyword)
    else:
        tag = pydicom.datadict.tag_for_keyword(keyword)
        vr = pydicom.datadict.dictionary_VR(tag)
        if vr in ("US", "UL", "SS", "SL") and not isinstance(value, list):
            # write the raw bytes so that nonsense numbers reach the file (pydicom would refuse them)
            vr = "DS" if not value.lstrip("-").isdigit() else vr
        try:
            if vr in ("US", "UL", "SS", "SL"):
                target[tag] = DataElement(tag, vr, int(value) % (1 << 16 if vr in ("US", "SS") else 1 << 32))
            else:
                target[tag] = DataElement(tag, vr, value)
        except Exception:
            return _flip(rng, raw, fmt)
    out = io.BytesIO()
    try:
        ds.save_as(out, enforce_file_format=False)
    except Exception:
        return _flip(rng, raw, fmt)
    return out.getvalue(), f"dicom {keyword} = {value!r}", keyword in _GEOMETRY_TAGS


def _edit_header(rng: random.Random, raw: bytes, fmt: str) -> tuple[bytes, str, bool]:
    if fmt in ("nrrd", "metaimage"):
        return _edit_text_header(rng, raw, fmt)
    if fmt == "nifti":
        return _edit_nifti(rng, raw, fmt)
    if fmt == "dicom":
        return _edit_dicom(rng, raw, fmt)
    return _flip(rng, raw, fmt)


_MUTATORS = [(_flip, 3), (_truncate, 3), (_splice, 1), (_edit_header, 4)]


def make_cases(corpus: list[tuple[str, Path]], n: int, seed: int, folder: Path) -> list[Case]:
    """Write ``n`` mutants of the corpus files into ``folder`` (one sub-folder each).

    A detached ``.nhdr`` / ``.mhd`` is mutated in its header or its data file.
    """
    rng = random.Random(seed)
    mutators = [m for m, weight in _MUTATORS for _ in range(weight)]
    cases = []
    for index in range(n):
        fmt, original = corpus[index % len(corpus)]
        case_rng = random.Random(rng.getrandbits(64))
        mutate = case_rng.choice(mutators)
        where = folder / f"{index:05d}"
        where.mkdir(parents=True, exist_ok=True)
        target = where / original.name
        companions = _companions(original)
        for companion in companions:
            shutil.copyfile(companion, where / companion.name)
        victim = original
        if companions and case_rng.random() < 0.5:
            victim = companions[0]
        raw = victim.read_bytes()
        victim_fmt = fmt if victim == original else "raw"
        data, what, same = mutate(case_rng, raw, victim_fmt)
        if victim != original:
            shutil.copyfile(original, target)
            what = f"data file: {what}"
        (where / victim.name).write_bytes(data)
        cases.append(Case(index, fmt, str(original), str(target), f"{mutate.__name__[1:]}: {what}", same))
    return cases


def _companions(path: Path) -> list[Path]:
    """The data file(s) of a detached header in the same folder."""
    if path.suffix == ".nhdr":
        return [path.with_suffix(".raw")]
    if path.suffix == ".mhd":
        return sorted(p for p in path.parent.glob(path.stem + ".*") if p.suffix in (".raw", ".zraw"))
    return []


# ==================================================================== worker
_GIB = 1 << 30


def worker_main(memory_gib: float) -> None:
    """Read cases given as JSON lines on stdin; answer one JSON line each."""
    import resource
    import warnings

    resource.setrlimit(resource.RLIMIT_AS, (int(memory_gib * _GIB), int(memory_gib * _GIB)))
    warnings.simplefilter("ignore")
    import numpy as np
    import SimpleITK as sitk

    sitk.ProcessObject_SetGlobalWarningDisplay(False)
    from napari_medimg.io import ImageReadError, read

    # answers go to a private copy of stdout; whatever a library prints goes to stderr
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    originals: dict[str, np.ndarray] = {}
    print(json.dumps({"ready": True}), file=answers, flush=True)
    for line in sys.stdin:
        case = json.loads(line)
        result = {"index": case["index"]}
        try:
            volume = read(case["path"])
        except ImageReadError as exc:
            message = str(exc)
            result["outcome"] = "refused" if Path(case["path"]).name in message else "unnamed"
            result["detail"] = message[:300]
        except MemoryError:
            result["outcome"], result["detail"] = "raw:MemoryError", "the memory budget let it through"
        except Exception as exc:  # noqa: BLE001 - classifying every other exception is the point
            result["outcome"], result["detail"] = f"raw:{type(exc).__name__}", str(exc)[:300]
        else:
            result["outcome"], result["detail"] = "loaded", ""
            if case["same_voxels"]:
                if case["original"] not in originals:
                    originals[case["original"]] = read(case["original"]).array
                expected = originals[case["original"]]
                same = volume.array.shape == expected.shape and np.array_equal(volume.array, expected, equal_nan=True)
                if not same:
                    result["outcome"] = "wrong_data"
                    result["detail"] = f"loaded {volume.array.shape} differing from the original {expected.shape}"
            del volume
        print(json.dumps(result), file=answers, flush=True)


class _Worker:
    """One worker subprocess; restarted after a crash or a hang."""

    def __init__(self, memory_gib: float, start_timeout: float = 120.0) -> None:
        self.memory_gib = memory_gib
        self.start_timeout = start_timeout
        self.process: subprocess.Popen | None = None

    def _start(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", "--memory-gib", str(self.memory_gib)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )
        line = self._read_line(self.start_timeout)
        if line is None or "ready" not in line:
            raise RuntimeError("a fuzz worker did not start")

    def _read_line(self, timeout: float) -> str | None:
        assert self.process is not None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        return self.process.stdout.readline() or None

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def run(self, case: Case, timeout: float) -> dict:
        if self.process is None or self.process.poll() is not None:
            self._start()
        assert self.process is not None and self.process.stdin is not None
        started = time.monotonic()
        try:
            self.process.stdin.write(json.dumps(dataclasses.asdict(case)) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass
        line = self._read_line(timeout)
        seconds = time.monotonic() - started
        if line is None:
            try:
                code = self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
            self.stop()
            if code is None:
                return {"index": case.index, "outcome": "hang", "detail": f"over {timeout:.0f} s", "seconds": seconds}
            return {"index": case.index, "outcome": "crash", "detail": f"worker exit code {code}", "seconds": seconds}
        result = json.loads(line)
        result["seconds"] = seconds
        return result


def run_cases(cases: list[Case], *, workers: int = 2, timeout: float = 10.0, memory_gib: float = 3.0,
              progress: bool = False) -> list[dict]:
    """Read every case in a pool of worker subprocesses and classify its outcome."""
    todo: queue.Queue = queue.Queue()
    for case in cases:
        todo.put(case)
    results: list[dict] = []
    lock = threading.Lock()

    def serve() -> None:
        worker = _Worker(memory_gib)
        try:
            while True:
                try:
                    case = todo.get_nowait()
                except queue.Empty:
                    return
                result = worker.run(case, timeout)
                result.update(fmt=case.fmt, mutation=case.mutation, path=case.path)
                with lock:
                    results.append(result)
                    if progress and len(results) % 250 == 0:
                        print(f"  {len(results)}/{len(cases)} cases", file=sys.stderr, flush=True)
        finally:
            worker.stop()

    threads = [threading.Thread(target=serve) for _ in range(max(1, workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results, key=lambda r: r["index"])


def is_failure(outcome: str) -> bool:
    """True for every outcome except ``loaded`` and ``refused``."""
    return outcome not in ("loaded", "refused")


def summarise(results: list[dict]) -> str:
    """A table of counts by format and outcome, then the failures."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        counts[r["fmt"]][r["outcome"]] += 1
    outcomes = sorted({o for c in counts.values() for o in c}, key=lambda o: (is_failure(o), o))
    lines = [f"{'format':<10}" + "".join(f"{o:>14}" for o in outcomes) + f"{'total':>8}"]
    for fmt in sorted(counts):
        lines.append(f"{fmt:<10}" + "".join(f"{counts[fmt][o]:>14}" for o in outcomes) + f"{sum(counts[fmt].values()):>8}")
    total = collections.Counter(r["outcome"] for r in results)
    lines.append(f"{'all':<10}" + "".join(f"{total[o]:>14}" for o in outcomes) + f"{len(results):>8}")
    failures = [r for r in results if is_failure(r["outcome"])]
    lines.append(f"failures: {len(failures)}")
    for r in failures[:40]:
        lines.append(f"  #{r['index']} {r['fmt']} {r['outcome']}: {r['mutation']} -> {r['detail'][:160]}")
    slowest = max(results, key=lambda r: r.get("seconds", 0)) if results else None
    if slowest:
        lines.append(f"slowest case: {slowest.get('seconds', 0):.1f} s (#{slowest['index']} {slowest['mutation']})")
    return "\n".join(lines)


def fuzz(n: int, seed: int, *, workers: int = 2, timeout: float = 10.0, memory_gib: float = 3.0,
         folder: Path | None = None, progress: bool = False) -> list[dict]:
    """Build the corpus, make ``n`` mutants and read them all; returns the results."""
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="medimg-fuzz-")) if own else folder
    try:
        corpus = build_corpus(folder / "corpus")
        cases = make_cases(corpus, n, seed, folder / "cases")
        return run_cases(cases, workers=workers, timeout=timeout, memory_gib=memory_gib, progress=progress)
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the fuzzer and print counts by format and outcome."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--memory-gib", type=float, default=3.0, help="RLIMIT_AS of each worker")
    parser.add_argument("--keep", type=Path, help="keep the corpus and mutants in this folder")
    parser.add_argument("--json", type=Path, help="write every result to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.memory_gib)
        return 0
    started = time.monotonic()
    results = fuzz(args.cases, args.seed, workers=args.workers, timeout=args.timeout,
                   memory_gib=args.memory_gib, folder=args.keep, progress=True)
    print(summarise(results))
    print(f"{len(results)} cases in {time.monotonic() - started:.0f} s with {args.workers} workers (seed {args.seed})")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if any(is_failure(r["outcome"]) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
