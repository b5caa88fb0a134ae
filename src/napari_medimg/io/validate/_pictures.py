"""2D pictures (PNG, JPEG, TIFF, BMP): decoded once by Pillow to find damage.

Pillow refuses a cut PNG / JPEG / TIFF ("image file is truncated") where SimpleITK's
decoders fill the missing rows with zeros. Pillow's own decompression-bomb guard is
replaced by the memory budget of :mod:`._budget`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from ._budget import check_memory
from ._facts import HeaderFacts, refuse

__all__ = ["check_picture"]

_AGAIN = "Copy the picture again from its source (or re-save it with an image editor)."
#: Pillow mode -> bytes per pixel (an estimate for the memory budget).
_MODE_BYTES = {"1": 1, "L": 1, "P": 3, "RGB": 3, "RGBA": 4, "CMYK": 4, "YCbCr": 3, "LA": 2, "I": 4,
               "F": 4, "I;16": 2, "I;16B": 2, "I;16L": 2}


def check_picture(path: str | os.PathLike, fmt: str) -> HeaderFacts:
    """Decode a picture with Pillow and refuse it when it is cut or corrupt.

    Parameters
    ----------
    path : str or PathLike
        The picture.
    fmt : str
        ``"png"``, ``"jpeg"``, ``"tiff"`` or ``"bmp"`` (from the extension).

    Returns
    -------
    HeaderFacts
        Size (x, y[, pages]) and bytes per pixel.

    Raises
    ------
    ImageReadError
        For a cut, corrupt or mislabelled picture, or one too large for the memory.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                width, height = image.size
                pages = int(getattr(image, "n_frames", 1) or 1)
                facts = HeaderFacts(fmt, (width, height) + ((pages,) if pages > 1 else ()),
                                    _MODE_BYTES.get(image.mode, 4))
                if width <= 0 or height <= 0:
                    raise refuse(path, f"its size is {width} x {height} pixels", _AGAIN)
                check_memory(path, facts)
                for page in range(pages):
                    image.seek(page)
                    image.load()
    except UnidentifiedImageError:
        raise refuse(path, f"it is not a {fmt.upper()} picture (its first bytes are not a known picture format)",
                     "Check the file's extension, or copy it again.") from None
    except Image.DecompressionBombError as exc:
        raise refuse(path, f"it declares an absurdly large picture ({exc})", _AGAIN) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct_error()) as exc:
        text = str(exc)
        if "truncat" in text.lower() or isinstance(exc, EOFError):
            problem = f"the {fmt.upper()} picture is cut: its pixel data end early ({text})"
        else:
            problem = f"the {fmt.upper()} picture is corrupt ({type(exc).__name__}: {text[:200]})"
        if fmt == "tiff" and ("decoder" in text.lower() or "not supported" in text.lower()):
            return HeaderFacts(fmt)  # a compression Pillow lacks: SimpleITK may still read it
        raise refuse(path, problem, _AGAIN) from None
    return facts


def struct_error() -> type:
    """``struct.error`` (raised by Pillow's parsers on short headers)."""
    import struct

    return struct.error
