"""Names of the geometry anomalies that readers report in ``metadata["warnings"]``.

Each warning is a string ``"<code>: <explanation>"`` so that a person can read it and a
program can test its code with :func:`warning_codes`.
"""

from __future__ import annotations

GANTRY_TILT = "gantry_tilt"
NONUNIFORM_SPACING = "nonuniform_spacing"
MISSING_SLICES = "missing_slices"
FOUR_D = "4d"
OBLIQUE = "oblique"
MULTIPLE_SERIES = "multiple_series"
MOSAIC = "mosaic"
NO_SPACING = "no_spacing"
LOSSY = "lossy_compression"
NO_META_HEADER = "no_meta_header"
UNREADABLE_FILES = "unreadable_files"
INVALID_RESCALE = "invalid_rescale"
SKEWED_DIRECTION = "skewed_direction"


def make_warning(code: str, explanation: str) -> str:
    """Format a warning as ``"code: explanation"``."""
    return f"{code}: {explanation}"


def warning_codes(warnings: list[str]) -> list[str]:
    """The codes of a list of warnings made by :func:`make_warning`."""
    return [w.split(":", 1)[0] for w in warnings]
