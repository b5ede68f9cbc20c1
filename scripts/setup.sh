#!/usr/bin/env bash
# Create .venv at the repository root and install TPC Animate with everything it is tested with.
# Safe to run again: it reuses the environment and only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "setup: Python 3.11 is required (bpy 5.0 and mediapipe 0.10.21 exist for 3.11); found $("$python" --version)" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade "pip>=24" "setuptools>=77" wheel
.venv/bin/python -m pip install --quiet -e ".[all]"
echo "setup: ready (.venv/bin/tpc, .venv/bin/python -m pytest)" >&2
