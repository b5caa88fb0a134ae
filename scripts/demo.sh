#!/usr/bin/env bash
# The main job: install what is needed, then run the demo on the bundled chest CT.
# Without a display it writes the results and a picture rendered by napari to ./medimg-demo;
# with one it opens napari. Extra arguments go to `napari-medimg demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/napari-medimg demo "$@"
