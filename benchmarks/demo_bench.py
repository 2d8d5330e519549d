"""How long `traction demo --out DIR` takes, in wall seconds, and how each run ended.

Runs the README's first command as a user would (a fresh process each time, default time scale) and
prints one line per run and the figures: the target is a 15-minute treatment in at most 15 s of wall
time, every run COMPLETED (exit 0). Run from the repository root in the project's venv:

    python benchmarks/demo_bench.py [RUNS]
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 15.0


def one_run(out):
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "traction.cli", "demo", "--out", str(out)],
                          capture_output=True, text=True)
    wall = time.monotonic() - t0
    ended = next((line for line in done.stdout.splitlines() if line.startswith("Done")), None)
    return wall, done.returncode, ended or (done.stderr.strip().splitlines() or ["?"])[-1]


def main(runs):
    walls, failures = [], 0
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as tmp:
        for i in range(runs):
            wall, code, ended = one_run(Path(tmp) / f"run{i}")
            walls.append(wall)
            failures += code != 0
            print(f"run {i + 1}: {wall:5.1f} s wall, exit {code}: {ended}", flush=True)
    print(f"traction demo: median {statistics.median(walls):.1f} s, worst {max(walls):.1f} s wall "
          f"(target <= {TARGET_S:g} s); {runs - failures} of {runs} runs exit 0")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
