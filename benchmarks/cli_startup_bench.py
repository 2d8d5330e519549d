"""Startup of the `traction` command against mpremote's (the issue's yardstick): `traction --help` and
`mpremote --help`, run alternately ROUNDS times each, median wall times and their ratio (target: 1.0 or
less). Run from the project's venv: python benchmarks/cli_startup_bench.py [ROUNDS]
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {"traction --help": [str(BIN / "traction"), "--help"],
            "traction --version": [str(BIN / "traction"), "--version"],
            "mpremote --help": [str(BIN / "mpremote"), "--help"]}


def wall_s(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main(rounds: int = 15) -> None:
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):  # alternate, so a busy moment of the machine hits every command alike
        for name, cmd in COMMANDS.items():
            times[name].append(wall_s(cmd))
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        print(f"{name:<20} median {median * 1000:6.0f} ms  (min {min(times[name]) * 1000:.0f} ms, "
              f"{rounds} runs)")
    ratio = medians["traction --help"] / medians["mpremote --help"]
    print(f"ratio traction --help / mpremote --help: {ratio:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
