#!/usr/bin/env bash
# Smoke-test the built app (dist/ClipGallery) headless: CLI index/status/search and two
# GUI screenshots, offline.  See packaging/smoke_test.py for what is checked.
#
#   packaging/smoke_test.sh [--bundled] [--skip-gui] [--model SPEC] [--app DIR] [--keep]
#
# The frozen app runs on its own; the project's Python (.venv, or $PYTHON) only draws
# the test photos (tests/synthetic.py) and checks the results.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=.venv/Scripts/python.exe
exec "$PY" packaging/smoke_test.py "$@"
