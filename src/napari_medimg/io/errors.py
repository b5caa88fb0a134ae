"""Exceptions raised for input the library cannot read or write."""

from __future__ import annotations

__all__ = ["ImageReadError", "ImageWriteError"]


class ImageReadError(ValueError):
    """A file or folder cannot be read as a medical image.

    The message says what is wrong and what to do about it.
    """


class ImageWriteError(ValueError):
    """A volume cannot be written to the requested path or format."""
