"""NRRD headers (``.nrrd`` with attached data, ``.nhdr`` with a data file).

Checks: the magic line, dimension, sizes, type, encoding, endianness, byte / line
skips, finite space directions, origin and spacings, and that the data file holds the
declared voxel data (exact byte count for raw, a complete stream for gzip / bzip2,
printable values for ascii / hex).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from ._budget import check_memory
from ._facts import HeaderFacts, refuse
from ._numbers import MAX_COORDINATE, check_finite, check_positive_spacing, check_sizes, invalid_spacing
from ._streams import StreamProblem, decoded_length
from ._text import check_text_values

__all__ = ["check_nrrd"]

_MAX_HEADER = 1 << 20
_AGAIN = "Fix the header or export the image again from its source."

_TYPE_BYTES: dict[str, int] = {}
for _names, _size in (
    (("signed char", "int8", "int8_t", "uchar", "unsigned char", "uint8", "uint8_t"), 1),
    (("short", "short int", "signed short", "signed short int", "int16", "int16_t", "ushort",
      "unsigned short", "unsigned short int", "uint16", "uint16_t"), 2),
    (("int", "signed int", "int32", "int32_t", "uint", "unsigned int", "uint32", "uint32_t", "float"), 4),
    (("longlong", "long long", "long long int", "signed long long", "signed long long int", "int64",
      "int64_t", "ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t",
      "double"), 8),
):
    for _name in _names:
        _TYPE_BYTES[_name] = _size

_ENCODINGS = {
    "raw": "raw", "txt": "ascii", "text": "ascii", "ascii": "ascii", "hex": "hex",
    "gz": "gzip", "gzip": "gzip", "bz2": "bzip2", "bzip2": "bzip2",
}
_VECTOR = re.compile(r"\(([^()]*)\)|none", re.IGNORECASE)


def _read_header(path: Path) -> tuple[dict[str, str], list[str], int]:
    """Fields (lower-case keys), lines after ``data file: LIST``, and the data offset."""
    with open(path, "rb") as fh:
        head = fh.read(_MAX_HEADER)
    if not head.startswith(b"NRRD000"):
        raise refuse(path, "it does not start with the NRRD magic line 'NRRD000x'",
                     "Check that the file really is NRRD (its extension may be wrong).")
    fields: dict[str, str] = {}
    listed: list[str] = []
    position, in_list = 0, False
    lines = head.split(b"\n")
    for index, raw in enumerate(lines):
        position += len(raw) + 1
        if index == len(lines) - 1 and len(head) == _MAX_HEADER:
            raise refuse(path, f"its header does not end within {_MAX_HEADER} bytes", _AGAIN)
        line = raw.rstrip(b"\r").decode("latin-1")
        if index == 0:
            continue
        if not line.strip():
            return fields, listed, position
        if in_list:
            listed.append(line.strip())
            continue
        if line.startswith("#") or ":=" in line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise refuse(path, f"header line {index + 1} ({line[:60]!r}) is not a 'field: value' line", _AGAIN)
        key = key.strip().lower()
        fields[key] = value.strip()
        if key in ("data file", "datafile") and value.strip().split()[:1] == ["LIST"]:
            in_list = True
    return fields, listed, min(position, len(head))


def _int(path: Path, fields: dict, key: str, default: int | None = None) -> int:
    text = fields.get(key)
    if text is None:
        if default is None:
            raise refuse(path, f"its header has no '{key}' field", _AGAIN)
        return default
    try:
        return int(text)
    except ValueError:
        raise refuse(path, f"its '{key}' field ({text[:40]!r}) is not an integer", _AGAIN) from None


def _floats(path: Path, text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise refuse(path, f"its {what} ({text[:60]!r}) are not numbers", _AGAIN) from None


def _check_geometry(path: Path, fields: dict, dimension: int) -> tuple[int, ...]:
    """Finite directions / origin / spacings; spatial axes whose spacing is invalid.

    Axes without a direction (``none``) or with a NaN spacing are not spatial (a colour
    or vector axis); the indices returned count the spatial axes only.
    """
    spacings: list[float] = []
    if "space directions" in fields:
        vectors = _VECTOR.findall(fields["space directions"])
        matches = list(_VECTOR.finditer(fields["space directions"]))
        for match in matches:
            if match.group(0).lower() == "none":
                continue
            vector = _floats(path, match.group(1), "space directions")
            check_finite(path, vector, "space directions")
            spacings.append(math.sqrt(sum(v * v for v in vector)))
        check_positive_spacing(path, spacings, "spacing (length of a space direction)")
        if len(vectors) != dimension:
            raise refuse(
                path,
                f"its space directions give {len(vectors)} entries for {dimension} axes",
                _AGAIN,
            )
    elif "spacings" in fields:
        spacings = [v for v in _floats(path, fields["spacings"], "spacings") if not math.isnan(v)]
        if any(math.isinf(v) for v in spacings):
            raise refuse(path, f"its spacings ({fields['spacings']}) are infinite", _AGAIN)
        check_positive_spacing(path, [abs(v) for v in spacings], "spacings")
    if "space origin" in fields:
        origin = _floats(path, fields["space origin"].replace("(", " ").replace(")", " "), "space origin")
        check_finite(path, origin, "origin (space origin)", limit=MAX_COORDINATE)
    return invalid_spacing(spacings)


def _data_files(path: Path, fields: dict, listed: list[str]) -> list[Path] | None:
    """The detached data file(s), or None for data attached after the header."""
    value = fields.get("data file", fields.get("datafile"))
    if value is None:
        return None
    parts = value.split()
    if parts[:1] == ["LIST"]:
        names = listed
    elif len(parts) >= 4 and "%" in parts[0]:
        try:
            start, stop, step = (int(v) for v in parts[1:4])
        except ValueError:
            raise refuse(path, f"its data file pattern ({value[:60]!r}) is malformed", _AGAIN) from None
        if step == 0 or (stop - start) // step > 1 << 16 or (stop - start) * step < 0:
            raise refuse(path, f"its data file pattern ({value[:60]!r}) is malformed", _AGAIN)
        try:
            names = [parts[0] % i for i in range(start, stop + (1 if step > 0 else -1), step)]
        except (TypeError, ValueError):
            raise refuse(path, f"its data file pattern ({value[:60]!r}) is malformed", _AGAIN) from None
    else:
        names = [value]
    files = [(path.parent / name) for name in names]
    missing = [f.name for f in files if not f.is_file()]
    if missing or not files:
        raise refuse(
            path,
            f"its data file(s) {missing[:3] or names[:3]} named in the header are missing",
            "Keep the header (.nhdr) and its data file(s) together in one folder.",
        )
    return files


def _check_data(path: Path, source: Path, offset: int, encoding: str, expected: int, count: int,
                fields: dict) -> None:
    line_skip = _int(path, fields, "line skip", 0)
    byte_skip = _int(path, fields, "byte skip", 0)
    if line_skip < 0 or byte_skip < -1:
        raise refuse(path, f"its line skip ({line_skip}) or byte skip ({byte_skip}) is negative", _AGAIN)
    size = os.stat(source).st_size
    with open(source, "rb") as fh:
        fh.seek(offset)
        for _ in range(line_skip):
            if not fh.readline():
                break
        start = fh.tell()
        if encoding == "raw":
            if byte_skip == -1:
                start = size - expected
            else:
                start += byte_skip
            if start < 0 or size - start < expected:
                have = max(size - max(start, 0), 0)
                raise refuse(
                    path,
                    f"the data {'file ' + source.name + ' ' if source != path else ''}hold {have} bytes "
                    f"but the header declares {expected} ({100 * have / max(expected, 1):.0f} % present)",
                    "The file was cut (incomplete download, copy or write) or its sizes are wrong; "
                    "copy it again from its source.",
                )
            return
        if encoding in ("gzip", "bzip2"):
            try:
                have = decoded_length(fh, encoding)
            except StreamProblem as exc:
                raise refuse(path, f"its {encoding} voxel data are damaged: {exc}",
                             "Copy or export the file again from its source.") from None
            if have < expected + max(byte_skip, 0):
                raise refuse(
                    path,
                    f"its {encoding} voxel data hold {have} bytes once decompressed but the header "
                    f"declares {expected}",
                    "The file was written incompletely or its sizes are wrong; export it again.",
                )
            return
        check_text_values(path, fh, count if encoding == "ascii" else expected, hex_digits=encoding == "hex")


def check_nrrd(path: str | os.PathLike) -> HeaderFacts:
    """Check a ``.nrrd`` / ``.nhdr`` file (and its data file) before it is decoded.

    Parameters
    ----------
    path : str or PathLike
        The header file.

    Returns
    -------
    HeaderFacts
        Shape in the file's axis order, voxel size and axes with invalid spacing.

    Raises
    ------
    ImageReadError
        For a malformed header, an unknown encoding or type, non-finite geometry, an
        encoding that does not match the data, or voxel data missing from the file.
    """
    path = Path(path)
    fields, listed, offset = _read_header(path)
    dimension = _int(path, fields, "dimension")
    if not 1 <= dimension <= 16:
        raise refuse(path, f"its dimension is {dimension}; NRRD allows 1 to 16 axes", _AGAIN)
    sizes = [int(v) for v in _floats(path, fields.get("sizes", ""), "sizes") if float(v).is_integer()]
    if len(sizes) != dimension:
        raise refuse(path, f"its sizes ({fields.get('sizes', '')!r}) do not give {dimension} integers", _AGAIN)
    check_sizes(path, sizes, "sizes")
    type_name = fields.get("type", "").lower()
    if type_name not in _TYPE_BYTES:
        raise refuse(path, f"its voxel type {fields.get('type')!r} is not one NRRD readers support", _AGAIN)
    encoding = _ENCODINGS.get(fields.get("encoding", "").lower())
    if encoding is None:
        raise refuse(
            path,
            f"its encoding {fields.get('encoding')!r} is not one of raw, ascii, hex, gzip, bzip2",
            _AGAIN,
        )
    if _TYPE_BYTES[type_name] > 1 and encoding != "ascii":
        if fields.get("endian", "").lower() not in ("little", "big"):
            raise refuse(path, f"its endian field ({fields.get('endian')!r}) is not 'little' or 'big'", _AGAIN)
    invalid = _check_geometry(path, fields, dimension)
    facts = HeaderFacts("nrrd", tuple(sizes), _TYPE_BYTES[type_name], invalid)
    check_memory(path, facts)
    count = facts.decoded_bytes // facts.bytes_per_voxel
    files = _data_files(path, fields, listed)
    if files is None:
        _check_data(path, path, offset, encoding, facts.decoded_bytes, count, fields)
    elif len(files) == 1:
        _check_data(path, files[0], 0, encoding, facts.decoded_bytes, count, fields)
    elif encoding == "raw":
        have = sum(os.stat(f).st_size for f in files)
        if have < facts.decoded_bytes:
            raise refuse(path, f"its {len(files)} data files hold {have} bytes but the header declares "
                         f"{facts.decoded_bytes}", "Copy the data files again from their source.")
    return facts
