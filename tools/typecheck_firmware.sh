#!/usr/bin/env bash
# The firmware type-checked against the Pico's MicroPython API: pyright (basic, [tool.pyright] in
# pyproject.toml) with the board stubs (micropython-rp2-rpi-pico-stubs) and MicroPython's standard library
# (micropython-stdlib-stubs, whose stdlib/ folder serves as pyright's typeshed). Run from the project's
# venv, as .ci/run does. Exit status: pyright's (0: no error).
set -euo pipefail
cd "$(dirname "$0")/.."
site=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
exec pyright --pythonpath "$(command -v python)" --typeshedpath "$site" "$@"
