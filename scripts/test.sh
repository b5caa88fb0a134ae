#!/usr/bin/env bash
# The test suite: install what is needed, then run pytest (GUI tests run under Xvfb,
# started by pytest-xvfb when there is no display). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
