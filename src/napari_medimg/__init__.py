"""napari-medimg: medical image processing and analysis, for napari and for Python.

Importing this package never imports napari, Qt or torch.
"""

from __future__ import annotations

from . import operations
from .io import ImageReadError, ImageWriteError, read, write
from .operations import run_operation
from .volume import Volume

__version__ = "0.1.0"

__all__ = [
    "Volume",
    "read",
    "write",
    "run_operation",
    "operations",
    "ImageReadError",
    "ImageWriteError",
    "__version__",
]
