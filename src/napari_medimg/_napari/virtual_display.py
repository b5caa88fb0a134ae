"""A virtual X display (Xvfb) for rendering with napari on a machine without a screen."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

__all__ = ["virtual_display", "has_display"]


def has_display() -> bool:
    """True when an X11 or Wayland display is set."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _free_display_number() -> int:
    for number in range(99, 400):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise RuntimeError("no free X display number between :99 and :399")


@contextlib.contextmanager
def virtual_display(width: int = 1280, height: int = 1024, timeout: float = 10.0) -> Iterator[str | None]:
    """Run the block with a display: the current one, or a private Xvfb server.

    Yields
    ------
    str or None
        The DISPLAY started, or None when a display already existed.

    Raises
    ------
    RuntimeError
        When there is no display and Xvfb is not installed.
    """
    if has_display():
        yield None
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise RuntimeError(
            "no display and no Xvfb to make one: install it (apt-get install xvfb "
            "libgl1-mesa-dri libegl1) or run with a display"
        )
    number = _free_display_number()
    display = f":{number}"
    process = subprocess.Popen(
        [xvfb, display, "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    socket = Path(f"/tmp/.X11-unix/X{number}")
    deadline = time.monotonic() + timeout
    while not socket.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"Xvfb did not start on {display}")
        time.sleep(0.05)
    os.environ["DISPLAY"] = display
    try:
        yield display
    finally:
        os.environ.pop("DISPLAY", None)
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
