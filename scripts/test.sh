#!/usr/bin/env bash
# The test suite: install what is needed, then run pytest (GUI tests run under Xvfb,
# started by pytest-xvfb when there is no display). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The napari tests run a second time on PySide6 (the first run uses PyQt6) unless test paths
# were given; the whole run ends with that pass's closing line, after both passed.
.venv/bin/python -m pytest "$@"
for argument in "$@"; do
  case "$argument" in -*) ;; *) exit 0 ;; esac
done
QT_API=pyside6 PYTEST_QT_API=pyside6 .venv/bin/python -m pytest tests/napari "$@"
