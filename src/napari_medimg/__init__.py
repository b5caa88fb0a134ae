"""napari-medimg: medical image processing and analysis, for napari and for Python.

Importing this package never imports napari, Qt or torch.
"""

from __future__ import annotations

from typing import Any

from .io import ImageReadError, ImageWriteError, read, write
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


def __getattr__(name: str) -> Any:
    """``operations`` and ``run_operation`` load on first use (the registry imports every
    processing module: 0.17 s that reading a file or writing a table does not need)."""
    if name in ("operations", "run_operation"):
        import importlib

        operations = importlib.import_module(".operations", __name__)
        return operations if name == "operations" else operations.run_operation
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
