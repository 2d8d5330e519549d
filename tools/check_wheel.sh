#!/usr/bin/env bash
# The SDK as an integrator gets it: a wheel built from a fresh clone of this repository (its committed
# files only), installed in a fresh venv and used outside any checkout. `traction demo` must run, and an
# integrator's scripts (examples/*.py) must type-check against the
# installed package with pyright, 0 errors, in pyright's default mode (stricter than the SDK's "basic").
# Run from the project's venv (it has `build` and pyright), as .ci/run does. About 1-2 minutes.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/clone"
python -m build -q --outdir "$work/dist" "$work/clone" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
python3.11 -m venv "$work/venv" 2>/dev/null || python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$work/dist"/*.whl
cd "$work"  # nothing of the checkout in reach
"$work/venv/bin/traction" --version
"$work/venv/bin/traction" demo --out "$work/demo-out"
test -s "$work/demo-out/claim.fhir.json"
mkdir integrator
cp "$repo"/examples/*.py integrator/
cd integrator
pyright --pythonpath "$work/venv/bin/python" .
echo "wheel: $(ls "$work/dist"/*.whl | xargs -n1 basename) installs, runs the demo, and type-checks"
