"""napari-medimg: medical image processing and analysis, for napari and for Python.

Importing this package never imports napari, Qt or torch.
"""

from __future__ import annotations

from .io import ImageReadError, ImageWriteError, read, write
from .volume import Volume

__version__ = "0.1.0"

__all__ = ["Volume", "read", "write", "ImageReadError", "ImageWriteError", "__version__"]
