#!/usr/bin/env bash
# Set up napari-medimg on a fresh Debian machine: system libraries for a virtual display,
# a virtual environment in .venv with the CPU build of torch first, and the package itself.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

# Xvfb + Mesa + the xcb libraries Qt 6 asks for (GUI tests and the demo's rendering).
SYSTEM_PACKAGES="xvfb xauth libgl1-mesa-dri libegl1 libglib2.0-0 libfontconfig1 libdbus-1-3
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xinerama0 libxcb-xkb1"
missing=""
for package in $SYSTEM_PACKAGES; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "setup: please install these Debian packages (needs root):$missing" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# pip, without the notes about local package folders that do not exist on this machine.
quiet_pip() {
  pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}
# torch first, pinned to the local CPU build, so nothing pulls CUDA packages.
python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null \
  || quiet_pip install -q torch==2.13.0
quiet_pip install -q -e ".[test]"
python -c "import napari_medimg, napari, SimpleITK, pydicom" \
  || { echo "setup: the installation is incomplete" >&2; exit 1; }
echo "setup: ready (.venv)"
