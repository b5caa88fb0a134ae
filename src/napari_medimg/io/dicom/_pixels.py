"""Pixel values: decoding, colour, MONOCHROME1 inversion and the modality rescale.

Conventions
-----------
* Stored values come from pydicom's ``pixel_array``, which already masks unused
  high bits of unsigned data and sign-extends signed data from ``HighBit`` (so a
  12-bit signed image gives -2048..2047), and converts YBR colour to RGB.
  Uncompressed greyscale data are read straight from their bytes with the same rule
  (:func:`_native_pixels`: the same values, without the decoder machinery).
* ``PALETTE COLOR`` is expanded to RGB with :func:`pydicom.pixels.apply_color_lut`
  (8- or 16-bit per channel, as the LUT says).
* ``MONOCHROME1`` (bright = low value, usual for CR/DX) is inverted on the stored
  values so that bright = high, as for every other image:
  ``inverted = max_possible + min_possible - stored`` where the possible range is
  that of ``BitsStored`` and ``PixelRepresentation`` (unsigned ``0 .. 2**bits - 1``,
  signed ``-2**(bits-1) .. 2**(bits-1) - 1``). The rescale (if any) follows.
* Rescale ``value = slope * stored + intercept``: the stored dtype is kept when the
  rescale is the identity; int16 when every slope is 1, every intercept integral and
  the result fits int16; float32 otherwise.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

from ..errors import ImageReadError

__all__ = [
    "decode_frames",
    "valid_rescale",
    "stored_range",
    "invert_monochrome1",
    "apply_rescale",
]

_DECODER_HINT = (
    "Install the decoders with `pip install pylibjpeg pylibjpeg-libjpeg "
    "pylibjpeg-openjpeg pylibjpeg-rle pyjpegls`."
)


#: Slopes or intercepts beyond this (in magnitude) are not a modality rescale but damage.
_MAX_RESCALE = 1e10


def valid_rescale(slope: float | None, intercept: float | None) -> tuple[float, float, bool]:
    """A usable rescale: non-finite, zero or absurd slope / intercept become the identity.

    Parameters
    ----------
    slope, intercept : float or None
        As read from the header (None when absent).

    Returns
    -------
    slope, intercept : float
        The rescale to apply.
    valid : bool
        False when the header's values were replaced (the reader then warns with
        ``invalid_rescale``): a NaN slope would otherwise turn every voxel into NaN.
    """
    slope = 1.0 if slope is None else float(slope)
    intercept = 0.0 if intercept is None else float(intercept)
    if np.isfinite(slope) and np.isfinite(intercept) and slope != 0 and abs(slope) <= _MAX_RESCALE and abs(intercept) <= _MAX_RESCALE:
        return slope, intercept, True
    return 1.0, 0.0, False


def _header_int(ds: Dataset, keyword: str, default: int) -> int:
    """An integer tag, or ``default`` when absent or not a number."""
    try:
        value = ds.get(keyword, default)
        return int(value if value not in (None, "") else default)
    except (TypeError, ValueError, OverflowError):
        return default


def stored_range(ds: Dataset) -> tuple[int, int]:
    """Smallest and largest value representable with ``BitsStored`` / ``PixelRepresentation``."""
    bits = _header_int(ds, "BitsStored", _header_int(ds, "BitsAllocated", 16))
    bits = bits if 1 <= bits <= 64 else 16
    if _header_int(ds, "PixelRepresentation", 0) == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def invert_monochrome1(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """Invert MONOCHROME1 stored values: ``max_possible + min_possible - stored``.

    Parameters
    ----------
    stored : numpy.ndarray
        Stored values (any shape).
    ds : pydicom.dataset.Dataset
        Gives ``BitsStored`` and ``PixelRepresentation``.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype.
    """
    low, high = stored_range(ds)
    return (np.int64(high + low) - stored.astype(np.int64)).astype(stored.dtype)


#: Uncompressed little-endian transfer syntaxes: their pixel data are the values themselves.
_NATIVE_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})


def _native_pixels(ds: Dataset) -> np.ndarray | None:
    """Stored values of uncompressed greyscale pixel data read straight from its bytes.

    The same array as pydicom's ``pixel_array`` (unused high bits masked for unsigned
    data, sign-extended for signed data) without its decoder machinery, which costs
    more than the copy on a 512 x 512 slice. None when the dataset is anything else
    (compressed, colour, big-endian, unusual bit layout, short or odd pixel data):
    pydicom then decodes it and reports what is wrong.
    """
    meta = getattr(ds, "file_meta", None)
    if meta is None or str(meta.get("TransferSyntaxUID", "")) not in _NATIVE_SYNTAXES:
        return None
    allocated = _header_int(ds, "BitsAllocated", 0)
    stored = _header_int(ds, "BitsStored", 0)
    signed = _header_int(ds, "PixelRepresentation", -1)
    rows, columns = _header_int(ds, "Rows", 0), _header_int(ds, "Columns", 0)
    frames = _header_int(ds, "NumberOfFrames", -1) if "NumberOfFrames" in ds else 1  # damaged: pydicom says so
    if (
        allocated not in (8, 16, 32)
        or not 1 <= stored <= allocated
        or _header_int(ds, "HighBit", -1) != stored - 1
        or signed not in (0, 1)
        or _header_int(ds, "SamplesPerPixel", 1) != 1
        or str(ds.get("PhotometricInterpretation", "")).strip() not in ("MONOCHROME1", "MONOCHROME2")
        or rows < 1
        or columns < 1
        or frames < 1
        or "PixelData" not in ds
    ):
        return None
    data = ds.PixelData
    count = rows * columns * frames
    if not isinstance(data, (bytes, bytearray)) or len(data) not in (count * allocated // 8, count * allocated // 8 + 1):
        return None
    dtype = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    array = np.frombuffer(data, dtype, count).reshape((frames, rows, columns) if frames > 1 else (rows, columns))
    unused = allocated - stored
    if unused and signed:
        array = (array << unused) >> unused  # arithmetic shift: sign-extended from HighBit
    elif unused:
        array = array & dtype.type((1 << stored) - 1)
    else:
        array = array.copy()  # writable, and not holding the file's bytes
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def _decode(ds: Dataset, source: str) -> np.ndarray:
    native = _native_pixels(ds)
    if native is not None:
        return native
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        kind = str(ds.get("Modality", "")) or "this object"
        raise ImageReadError(
            f"{source} holds no pixel data ({kind}, SOP class "
            f"{getattr(ds.get('SOPClassUID'), 'name', ds.get('SOPClassUID', 'unknown'))}); "
            "it is not an image. Open the image series it refers to instead."
        )
    try:
        array = ds.pixel_array
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - decoders in Rust raise PanicException (a BaseException)
        syntax = ds.file_meta.get("TransferSyntaxUID", "")
        try:  # an unknown UID raises here too: the handler must not raise a raw error itself
            name, compressed = syntax.name, syntax.is_compressed
        except Exception:  # noqa: BLE001
            name, compressed = f"{str(syntax)!r} (not a known transfer syntax)", False
        advice = (
            _DECODER_HINT
            if compressed and "plugin" in str(exc).lower()
            else "The file is probably truncated or corrupt (or its image description tags are "
            "wrong); copy it again from its source."
        )
        raise ImageReadError(
            f"Cannot decode the pixel data of {source} (transfer syntax {name}): "
            f"{type(exc).__name__}: {str(exc)[:300]} {advice}"
        ) from None
    if array.ndim < 2 or array.size == 0:
        raise ImageReadError(
            f"The pixel data of {source} decode to an array of shape {array.shape}, not an image; "
            "its Rows / Columns / NumberOfFrames tags are wrong. Copy the file again from its source."
        )
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def decode_frames(ds: Dataset, source: str) -> tuple[np.ndarray, str]:
    """Decode all frames of a dataset to display-ready stored values.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        Dataset with pixel data.
    source : str
        File name for error messages.

    Returns
    -------
    frames : numpy.ndarray
        ``(n_frames, rows, columns)`` or ``(n_frames, rows, columns, 3)`` for colour.
        MONOCHROME1 is inverted and palette colour expanded to RGB; no rescale yet.
    photometric : str
        The file's Photometric Interpretation.
    """
    array = _decode(ds, source)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    samples = _header_int(ds, "SamplesPerPixel", 1)
    if photometric == "PALETTE COLOR":
        try:
            array = apply_color_lut(array, ds)
        except Exception as exc:  # noqa: BLE001 - pydicom raises ValueError / KeyError / IndexError
            raise ImageReadError(
                f"{source} says its pixels are PALETTE COLOR indices but its colour lookup table "
                f"is missing or unusable ({type(exc).__name__}: {str(exc)[:200]}). Copy the file "
                "again from its source, or export it as RGB."
            ) from None
        samples = 3
    elif photometric == "MONOCHROME1":
        array = invert_monochrome1(array, ds)
    frame_ndim = 3 if samples > 1 else 2
    if array.ndim == frame_ndim:
        array = array[np.newaxis]
    return np.ascontiguousarray(array), photometric


def _fits(dtype: np.dtype, low: float, high: float) -> bool:
    info = np.iinfo(dtype)
    return info.min <= low and high <= info.max


def apply_rescale(stack: np.ndarray, slopes: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    """Apply ``slope * stored + intercept`` per frame with the dtype rule of this module.

    Parameters
    ----------
    stack : numpy.ndarray
        Stored values with frames along the leading axes: ``slopes.shape`` must equal
        ``stack.shape[:slopes.ndim]``.
    slopes, intercepts : numpy.ndarray
        One value per frame.

    Returns
    -------
    numpy.ndarray
        The stored dtype (identity rescale), int16, or float32.
    """
    slopes = np.asarray(slopes, dtype=np.float64)
    intercepts = np.asarray(intercepts, dtype=np.float64)
    if np.all(slopes == 1) and np.all(intercepts == 0):
        return stack
    expand = (...,) + (np.newaxis,) * (stack.ndim - slopes.ndim)
    if np.all(slopes == 1) and np.all(intercepts == np.round(intercepts)) and stack.size:
        smallest, largest = float(stack.min()), float(stack.max())
        low, high = smallest + float(intercepts.min()), largest + float(intercepts.max())
        if _fits(np.dtype(np.int16), low, high):
            if _fits(np.dtype(np.int16), smallest, largest) and _fits(np.dtype(np.int16), intercepts.min(), intercepts.max()):
                # stored values, intercepts and sums all fit int16: add in int16, no wider copy
                out = stack.astype(np.int16)
                out += intercepts.astype(np.int16)[expand]
                return out
            out = stack.astype(np.int32) + intercepts.astype(np.int32)[expand]
            return out.astype(np.int16)
    out = stack.astype(np.float32)
    out *= slopes.astype(np.float32)[expand]
    out += intercepts.astype(np.float32)[expand]
    return out
