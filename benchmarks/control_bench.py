"""Force-control figures on the simulated plant: RMS hold error, overshoot, time to reach a target, and
the controller's cost per tick on the MicroPython unix port.

Run with the host Python (`python benchmarks/control_bench.py`): it re-runs this same file under the
MicroPython interpreter, which drives hal/sim and traction_fw.control through a cervical and a lumbar
intermittent session (trapezoid profile generated here) and prints the figures.
"""

import json
import sys

ROOT = __file__.rsplit("/", 2)[0] if "/" in __file__ else ".."
TOL_PCT = 1  # "reached" means within 1% of the new target

# name, region, base (0.1 N), force, ramp ms, hold ms, rest ms, cycles
SESSIONS = (
    ("cervical 120 N / 60 N", "cervical", 600, 1200, 5000, 60000, 20000, 3),
    ("cervical 50 N / 25 N", "cervical", 250, 500, 5000, 60000, 20000, 3),
    ("lumbar 450 N / 225 N", "lumbar", 2250, 4500, 8000, 60000, 20000, 3),
    ("lumbar 800 N / 400 N", "lumbar", 4000, 8000, 8000, 60000, 20000, 3),
)


# region, from, to (0.1 N)
STEPS = (
    ("cervical", 1000, 1200),
    ("cervical", 1200, 1000),
    ("lumbar", 4500, 5400),
    ("lumbar", 5400, 4500),
)


def board_config(region, seed):
    with open(ROOT + "/firmware/boards/sim.json") as f:
        cfg = json.load(f)
    cfg["sim"]["link"] = "memory"
    cfg["sim"]["free_run"] = True
    cfg["sim"]["region"] = region
    cfg["sim"]["seed"] = seed
    return cfg


class Trapezoid:
    """Intermittent profile: ramp 0 -> force, then hold, ramp down to base, rest, ramp up, hold..."""

    def __init__(self, base, force, ramp_ms, hold_ms, rest_ms, period_ms):
        self.base, self.force = base, force
        self.ramp, self.hold, self.rest = ramp_ms, hold_ms, rest_ms
        self.period = period_ms

    def at(self, ms):
        """(segment, target 0.1 N, slope 0.1 N/s) at ms since start; segment 'up', 'hold', 'down', 'rest'."""
        cycle = 2 * self.ramp + self.hold + self.rest
        k, t = divmod(ms, cycle)
        start = 0 if k == 0 else self.base
        if t < self.ramp:
            rate = (self.force - start) * 1000 // self.ramp
            return "up", start + (self.force - start) * t // self.ramp, rate
        t -= self.ramp
        if t < self.hold:
            return "hold", self.force, 0
        t -= self.hold
        if t < self.ramp:
            rate = (self.base - self.force) * 1000 // self.ramp
            return "down", self.force + (self.base - self.force) * t // self.ramp, rate
        return "rest", self.base, 0


class Stats:
    """Figures for one run; errors in 0.1 N against the measured (load cell) and the true (plant) force."""

    def __init__(self, sign=1):
        self.sign = sign  # 1: overshoot is force above the target; -1 (a step down): below it
        self.holds = []  # per hold: [sum sq err measured, sum sq err true, samples, target]
        self.over_measured = 0.0  # worst force above the hold target, % of it, over ramps up and holds
        self.over_true = 0.0
        self.reach = []  # ms from the start of each hold until the measured force is within TOL_PCT

    def start_hold(self, target):
        self.holds.append([0, 0, 0, target])

    def sample(self, segment, hold_target, target, measured, true):
        if segment in ("up", "hold", "step"):
            k = self.sign * 100.0 / hold_target
            self.over_measured = max(self.over_measured, (measured - hold_target) * k)
            self.over_true = max(self.over_true, (true - hold_target) * k)
        if segment == "hold":
            h = self.holds[-1]
            h[0] += (target - measured) ** 2
            h[1] += (target - true) ** 2
            h[2] += 1

    def rms_pct(self, which):
        return max((h[which] / h[2]) ** 0.5 * 100.0 / h[3] for h in self.holds)


def calibration(cfg):
    cal = cfg["provision"]["calibration"]
    return cal["zero_counts"], cal["span_counts"], cal["span_dn"]


class Loop:
    """The closed loop as the application runs it: wait_tick, read, convert with the calibration, update."""

    def __init__(self, region, seed):
        from traction_fw import hal
        from traction_fw.control import Controller

        cfg = board_config(region, seed)
        self.board = hal.load(cfg)
        self.zero, self.span_counts, self.span_dn = calibration(cfg)
        self.ctl = Controller(cfg["control"][region], self.board.period_us)
        self.period_ms = self.board.period_us // 1000
        self.measured = 0
        self.board.motor.enable()

    def tick(self, target, rate):
        b = self.board
        b.clock.wait_tick()
        if b.loadcell.ready():
            self.measured = (b.loadcell.read() - self.zero) * self.span_dn // self.span_counts
        b.motor.command(self.ctl.update(target, self.measured, rate))
        return self.measured, b.sim.true_force_dn()


def run_session(spec, seed):
    name, region, base, force, ramp, hold, rest, cycles = spec
    loop = Loop(region, seed)
    prof = Trapezoid(base, force, ramp, hold, rest, loop.period_ms)
    st = Stats()
    reaching = False
    prev = None
    for tick in range(cycles * (2 * ramp + hold + rest) // loop.period_ms):
        ms = tick * loop.period_ms
        seg, target, rate = prof.at(ms)
        measured, true = loop.tick(target, rate)
        if seg == "hold" and prev != "hold":
            st.start_hold(force)
            reaching, since = True, ms
        if reaching and abs(measured - force) * 100 <= TOL_PCT * force:
            st.reach.append(ms - since)
            reaching = False
        st.sample(seg, force, target, measured, true)
        prev = seg
    return st


def run_step(region, start, to, seed):
    """Hold start, then the target jumps to `to` with no ramp (a force edit): overshoot and reach time."""
    loop = Loop(region, seed)
    st = Stats(1 if to > start else -1)
    for _ in range(20000 // loop.period_ms):  # take up slack and settle
        loop.tick(start, 0)
    st.start_hold(to)
    for tick in range(10000 // loop.period_ms):
        measured, true = loop.tick(to, 0)
        if not st.reach and abs(measured - to) * 100 <= TOL_PCT * to:
            st.reach.append(tick * loop.period_ms)
        st.sample("step", to, to, measured, true)
    return st


def tick_cost_us():
    import time

    from traction_fw.control import Controller

    cfg = board_config("lumbar", 1)
    ctl = Controller(cfg["control"]["lumbar"], 10000)
    n = 20000
    t0 = time.ticks_us()
    for i in range(n):
        ctl.update(4500, 4500 + (i & 15) - 8, 0)
    return time.ticks_diff(time.ticks_us(), t0) / n


def main_micropython():
    seeds = (1, 2, 3)
    print(f"Force control on the simulated plant, worst of seeds {seeds}; errors in % of the hold target.")
    print("'true' is the plant's force; it also carries the load cell's zero drift (not tared here).")
    print()
    print("intermittent session       RMS hold err       overshoot        reach hold")
    print("                           measured  true     measured  true   (s, max)")
    for spec in SESSIONS:
        runs = [run_session(spec, seed) for seed in seeds]
        rms_m = max(r.rms_pct(0) for r in runs)
        rms_t = max(r.rms_pct(1) for r in runs)
        over_m = max(r.over_measured for r in runs)
        over_t = max(r.over_true for r in runs)
        reach = max(max(r.reach) for r in runs) / 1000.0
        print(f"{spec[0]:<24}  {rms_m:6.2f}  {rms_t:6.2f}     {over_m:6.2f}  {over_t:6.2f}     {reach:5.2f}")
    print()
    print(f"step (force edit, no ramp)  overshoot          time to within {TOL_PCT}%")
    print("                            measured  true     (s, max)")
    for region, a, b in STEPS:
        runs = [run_step(region, a, b, seed) for seed in seeds]
        over_m = max(r.over_measured for r in runs)
        over_t = max(r.over_true for r in runs)
        reach = max(r.reach[0] for r in runs) / 1000.0
        step = f"{region:<8} {a // 10:4d} N -> {b // 10:4d} N"
        print(f"{step:<26}  {over_m:6.2f}  {over_t:6.2f}     {reach:5.2f}")
    print()
    print(f"controller update: {tick_cost_us():.1f} us per tick (unix port)")


def main_host():
    import os
    import subprocess
    from pathlib import Path

    from traction.micropython import interpreter

    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, MICROPYPATH=str(root / "firmware"))
    here = Path(__file__).resolve()
    sys.exit(subprocess.call([interpreter(), str(here)], env=env, cwd=str(here.parent)))


if sys.implementation.name == "micropython":
    main_micropython()
elif __name__ == "__main__":
    main_host()
