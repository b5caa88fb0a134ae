"""MetaImage headers (``.mha`` with local data, ``.mhd`` with a data file).

Checks: NDims, DimSize, element type and channels, finite spacing / offset / matrix,
and that the data hold the declared voxels: exact byte count for raw data, a complete
zlib stream of the declared decoded size for ``CompressedData = True``, printable
values for ``BinaryData = False``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._budget import check_memory
from ._facts import HeaderFacts, refuse
from ._numbers import MAX_COORDINATE, check_finite, check_positive_spacing, check_sizes, invalid_spacing
from ._streams import StreamProblem, decoded_length
from ._text import check_text_values

__all__ = ["check_metaimage"]

_MAX_HEADER = 1 << 20
_AGAIN = "Fix the header or export the image again from its source."
#: MetaIO element types and their sizes in bytes (metaTypes.h).
_ELEMENT_BYTES = {
    "MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
    "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}
_TRUE = ("true", "t", "1", "yes")
#: Entries of a direction (cosine) matrix are within [-1, 1]; some writers are sloppy,
#: SimpleITK hangs on absurd ones (1e308).
MAX_DIRECTION = 1e3


def _read_header(path: Path) -> tuple[dict[str, str], list[str], int]:
    """Fields (keys as written), file names after ``ElementDataFile = LIST``, data offset."""
    with open(path, "rb") as fh:
        head = fh.read(_MAX_HEADER)
    fields: dict[str, str] = {}
    position = 0
    lines = head.split(b"\n")
    for index, raw in enumerate(lines):
        position += len(raw) + 1
        line = raw.rstrip(b"\r").decode("latin-1")
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or not key.replace("_", "").isalnum():
            if not line.strip():
                continue
            raise refuse(path, f"header line {index + 1} ({line[:60]!r}) is not a 'Key = Value' line",
                         "Check that the file really is MetaImage, or export it again.")
        fields[key] = value.strip()
        if key == "ElementDataFile":
            listed: list[str] = []
            if value.split()[:1] == ["LIST"]:
                listed = [l.decode("latin-1").strip() for l in lines[index + 1 :] if l.strip()]
            return fields, listed, position
        if index == len(lines) - 1:
            break
    raise refuse(path, "its header has no ElementDataFile line (the last header line)",
                 "The file is cut or not MetaImage; copy or export it again.")


def _int(path: Path, fields: dict, key: str, default: int | None = None) -> int:
    text = fields.get(key)
    if text is None:
        if default is None:
            raise refuse(path, f"its header has no {key} field", _AGAIN)
        return default
    try:
        return int(text)
    except ValueError:
        raise refuse(path, f"its {key} ({text[:40]!r}) is not an integer", _AGAIN) from None


def _floats(path: Path, fields: dict, keys: tuple[str, ...], what: str) -> list[float] | None:
    for key in keys:
        if key in fields:
            try:
                return [float(v) for v in fields[key].split()]
            except ValueError:
                raise refuse(path, f"its {key} ({fields[key][:60]!r}) are not numbers", _AGAIN) from None
    return None


def _check_geometry(path: Path, fields: dict, ndims: int) -> tuple[int, ...]:
    spacing = _floats(path, fields, ("ElementSpacing", "ElementSize"), "spacing")
    invalid: tuple[int, ...] = ()
    if spacing is not None:
        check_finite(path, spacing, "spacing (ElementSpacing)")
        check_positive_spacing(path, spacing[:ndims], "ElementSpacing")
        invalid = invalid_spacing(spacing[: min(ndims, 3)])
    origin = _floats(path, fields, ("Offset", "Origin", "Position"), "origin")
    if origin is not None:
        check_finite(path, origin, "origin (Offset)", limit=MAX_COORDINATE)
    matrix = _floats(path, fields, ("TransformMatrix", "Rotation", "Orientation"), "direction")
    if matrix is not None:
        check_finite(path, matrix, "direction (TransformMatrix)")
        if any(abs(v) > MAX_DIRECTION for v in matrix):
            raise refuse(
                path,
                f"its TransformMatrix {matrix} is not a direction matrix (its entries are cosines, "
                "between -1 and 1)",
                _AGAIN,
            )
    return invalid


def _data_source(path: Path, fields: dict, listed: list[str], offset: int) -> tuple[list[Path], int]:
    value = fields["ElementDataFile"]
    if value == "LOCAL":
        return [path], offset
    parts = value.split()
    if parts[:1] == ["LIST"]:
        names = listed
    elif len(parts) >= 4 and "%" in parts[0]:
        try:
            start, stop, step = (int(v) for v in parts[1:4])
            if step <= 0 or stop < start or (stop - start) // step > 1 << 16:
                raise ValueError
            names = [parts[0] % i for i in range(start, stop + 1, step)]
        except (TypeError, ValueError):
            raise refuse(path, f"its ElementDataFile pattern ({value[:60]!r}) is malformed", _AGAIN) from None
    else:
        names = [value]
    files = [path.parent / name for name in names]
    missing = [f.name for f in files if not f.is_file()]
    if missing or not files:
        raise refuse(path, f"its data file(s) {missing[:3] or names[:3]} are missing",
                     "Keep the header (.mhd) and its data file(s) together in one folder.")
    return files, 0


def _check_data(path: Path, fields: dict, source: Path, offset: int, expected: int, count: int) -> None:
    header_size = _int(path, fields, "HeaderSize", 0)
    compressed = fields.get("CompressedData", "False").lower() in _TRUE
    binary = fields.get("BinaryData", "True").lower() in _TRUE
    size = os.stat(source).st_size
    start = offset + header_size if header_size >= 0 else size - expected
    if header_size < -1:
        raise refuse(path, f"its HeaderSize ({header_size}) is negative", _AGAIN)
    if compressed:
        declared = _int(path, fields, "CompressedDataSize", 0)
        if declared < 0 or (declared and size - start < declared):
            raise refuse(
                path,
                f"its CompressedDataSize ({declared}) is larger than the {size - start} bytes after the header",
                "The file was cut; copy it again from its source.",
            )
        with open(source, "rb") as fh:
            fh.seek(start)
            try:
                have = decoded_length(fh, "zlib", multi_member=False)
            except StreamProblem as exc:
                raise refuse(path, f"its compressed voxel data are damaged: {exc}",
                             "Copy or export the file again from its source.") from None
        if have != expected:
            raise refuse(
                path,
                f"its compressed voxel data hold {have} bytes once decompressed but the header "
                f"declares {expected} (DimSize x element size)",
                "The header does not match the data (wrong DimSize, ElementType or channels); "
                "export the image again.",
            )
        return
    if not binary:
        with open(source, "rb") as fh:
            fh.seek(max(start, 0))
            check_text_values(path, fh, count)
        return
    have = size - start
    if start < 0 or have < expected:
        have = max(size - max(start, 0), 0)
        raise refuse(
            path,
            f"the data {'file ' + source.name + ' ' if source != path else ''}hold {have} bytes but "
            f"the header declares {expected} ({100 * have / max(expected, 1):.0f} % present)",
            "The file was cut (incomplete download, copy or write) or its header is wrong; copy it again.",
        )


def check_metaimage(path: str | os.PathLike) -> HeaderFacts:
    """Check a ``.mha`` / ``.mhd`` file (and its data file) before it is decoded.

    Parameters
    ----------
    path : str or PathLike
        The header file.

    Returns
    -------
    HeaderFacts
        Shape (ITK order), voxel size and axes with invalid spacing.

    Raises
    ------
    ImageReadError
        For NDims outside 1..10, bad sizes, an unknown element type, non-finite
        geometry, or voxel data that do not match the header.
    """
    path = Path(path)
    fields, listed, offset = _read_header(path)
    ndims = _int(path, fields, "NDims")
    if not 1 <= ndims <= 10:
        raise refuse(path, f"its NDims is {ndims}; MetaImage allows 1 to 10 axes", _AGAIN)
    try:
        sizes = [int(v) for v in fields.get("DimSize", "").split()]
    except ValueError:
        raise refuse(path, f"its DimSize ({fields.get('DimSize', '')[:60]!r}) is not integers", _AGAIN) from None
    if len(sizes) < ndims:
        raise refuse(path, f"its DimSize gives {len(sizes)} sizes for NDims = {ndims}", _AGAIN)
    sizes = sizes[:ndims]
    check_sizes(path, sizes, "DimSize")
    element = fields.get("ElementType", "")
    if element not in _ELEMENT_BYTES:
        raise refuse(path, f"its ElementType {element!r} is not a MetaImage pixel type", _AGAIN)
    channels = _int(path, fields, "ElementNumberOfChannels", 1)
    if not 1 <= channels <= 1024:
        raise refuse(path, f"its ElementNumberOfChannels ({channels}) is not between 1 and 1024", _AGAIN)
    invalid = _check_geometry(path, fields, ndims)
    facts = HeaderFacts("metaimage", tuple(sizes), _ELEMENT_BYTES[element] * channels, invalid)
    check_memory(path, facts)
    files, start = _data_source(path, fields, listed, offset)
    count = facts.decoded_bytes // _ELEMENT_BYTES[element]
    if len(files) == 1:
        _check_data(path, fields, files[0], start, facts.decoded_bytes, count)
    elif fields.get("CompressedData", "False").lower() not in _TRUE:
        have = sum(os.stat(f).st_size for f in files)
        if have < facts.decoded_bytes:
            raise refuse(path, f"its {len(files)} data files hold {have} bytes but the header declares "
                         f"{facts.decoded_bytes}", "Copy the data files again from their source.")
    return facts
