#!/usr/bin/env bash
# The test suite: install what is needed, then run pytest (GUI tests run under Xvfb,
# started by pytest-xvfb when there is no display). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The napari face is tested a second time on PySide6 (the first run uses PyQt6) unless test
# paths were given; the whole run ends with that pass's closing line, after both passed.
.venv/bin/python -m pytest "$@"
for argument in "$@"; do
  case "$argument" in -*) ;; *) exit 0 ;; esac
done
# On PySide6 the napari face: every widget from its menu, the reader and writers, views,
# display, shortcuts (the widgets' own behaviour is tested on PyQt6 in the first pass).
QT_API=pyside6 PYTEST_QT_API=pyside6 .venv/bin/python -m pytest "$@" \
  tests/napari/test_contributions.py tests/napari/test_gui.py tests/napari/test_radiological_view.py \
  tests/napari/test_display.py tests/napari/test_three_views.py tests/napari/test_shortcuts.py
