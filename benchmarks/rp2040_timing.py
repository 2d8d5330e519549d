"""How much of each control period the product image uses on the emulated RP2040 (docs/firmware.md).

    python benchmarks/rp2040_timing.py [--seconds 60] [--telemetry-hz HZ]

After `traction build --target pico` and `npm ci --prefix tools/rp2040`. A healthy session through the app
and the SDK, as a host runs it: a lumbar static treatment of --seconds, telemetry at the full control rate
(one sample per period), the host's heartbeats, then the record read back and verified. Measured from
outside the firmware, by the emulator harness, in emulated time (rp2040js counts Cortex-M0+ cycles at
125 MHz; no flash wait states): the CPU is busy whenever it is not asleep in WFE (the loop, its
interrupts, USB). Printed: the mean busy share of the time, the worst 10 ms window (the harness's, not
aligned with the firmware's period marks: a loop may be split across two), and the longest busy stretch
(from a wake-up to the next sleep: one loop's whole work when nothing splits it), against the target of
50 % of the 10 ms period at 100 Hz. Also the host's wall time per emulated second.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from traction import Device, Session, Treatment
from traction.emulated_pico import EmulatedPico

PERIOD_MS = 10.0
TARGET_SHARE = 0.5

TREATMENT = """
name = "rp2040 timing"
region = "lumbar"
position = "prone"
angle = 12
body_weight = "80 kg"
unit = "N"
tolerance = "5 N"

[[phase]]
mode = "static"
force = "250 N"
ramp_up = "4 s"
ramp_down = "4 s"
duration = "{seconds} s"
"""


def seconds_of(board):
    """The emulated second the harness last reported (its stats file, one line per second)."""
    try:
        lines = Path(board.stats).read_text().splitlines()
    except FileNotFoundError:
        return 0
    return json.loads(lines[-1])["t_s"] if lines else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="treatment length (device seconds)")
    parser.add_argument("--telemetry-hz", type=float, default=None,
                        help="telemetry rate (default: the control rate, one sample per period)")
    args = parser.parse_args()
    treatment = Treatment.from_toml(TREATMENT.format(seconds=args.seconds), file="<rp2040 timing>")
    with tempfile.TemporaryDirectory() as tmp, EmulatedPico() as board:
        with Device.open(board.port, store=Path(tmp) / "host.db", key=board.key) as dev:
            first = seconds_of(board) + 1
            wall0 = time.monotonic()
            hz = args.telemetry_hz or dev.info.control_hz
            session = Session(dev, treatment, telemetry_hz=hz).start()
            samples = sum(1 for _ in session.telemetry(timeout=60 * board.SLOWDOWN))
            record = session.wait(timeout=60 * board.SLOWDOWN)
            last = seconds_of(board)
            wall = time.monotonic() - wall0
        lines = [json.loads(x) for x in Path(board.stats).read_text().splitlines()]
    during = [x for x in lines if first <= x["t_s"] <= last]
    if not during or record is None:
        print(f"no measurement: session {'record missing' if record is None else 'too short'}")
        return 1
    busy = sum(x["busy_ns"] for x in during) / (len(during) * 1e9)
    window = max(x["window_max_ns"] for x in during) / 1e6
    stretch = max(x["stretch_max_ns"] for x in during) / 1e6
    target_ms = TARGET_SHARE * PERIOD_MS
    fault = f" ({record.end['fault']})" if record.end["fault"] else ""
    print(f"session: {record.end['reason']}{fault}, {samples} telemetry samples at {hz:g} Hz, record "
          f"verified; {len(during)} emulated s measured in {wall:.0f} s of wall time "
          f"({len(during) / wall:.2f}x real time)")
    print(f"CPU busy (not in WFE), mean           {busy * 100:5.1f} %")
    print(f"worst 10 ms window busy               {window:5.2f} ms "
          f"({window / PERIOD_MS * 100:.0f} % of the period)")
    print(f"longest busy stretch (one loop's work) {stretch:5.2f} ms (target <= {target_ms:.1f} ms: "
          f"{'met' if stretch <= target_ms else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
