#!/usr/bin/env bash
# Build the one-folder app: dist/reverie/ (run from anywhere; uses the Python on PATH or $PYTHON).
# Needs: pip install pyinstaller (and the runtime dependencies: pip install -e .).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
"$PYTHON" -m PyInstaller --version >/dev/null 2>&1 || { echo "build: pip install pyinstaller first" >&2; exit 2; }
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build packaging/reverie.spec
echo "build: dist/reverie/ ($(du -sh dist/reverie | cut -f1))"
