"""Force-control figures through the whole firmware application on the simulated plant: RMS hold error,
overshoot, time to reach a target, and the controller's cost per tick on the MicroPython unix port.

Run with the host Python (`python benchmarks/control_bench.py`): it re-runs this same file under the
MicroPython interpreter, which boots the application on hal/sim, tares the load cell, and runs cervical
and lumbar intermittent treatments and force edits through the protocol (the application's own profile,
session and safety, with the host's heartbeats), reading the measured and the true force every tick.
"""

# ruff: noqa: UP031 - %-formatting, the same on MicroPython (which runs this file) as on CPython
import sys

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


REGION = {"cervical": 1, "lumbar": 2}
SEGMENT = {1: "up", 2: "hold", 3: "down", 4: "rest", 5: "step", 6: "release"}
RUNNING = 3
SESSION_MARGIN_PCT = 115  # the session ceiling above the hold force, as the SDK sets it


class Stats:
    """Figures for one run; errors in 0.1 N against the measured (load cell) and the true (plant) force."""

    def __init__(self, sign=1):
        self.sign = sign  # 1: overshoot is force above the target; -1 (a step down): below it
        self.holds = []  # per hold: [sum sq err measured, sum sq err true, samples, target]
        self.over_measured = 0.0  # worst force above the hold target, % of it, over ramps up and holds
        self.over_true = 0.0
        self.reach = []  # ms from the start of each hold until the measured force is within TOL_PCT
        self.fault = 0  # a fault the application latched during the run (0: none)

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


def treating(region, seed, phase, force):
    """A board booted on hal/sim, its load cell tared on the unloaded line, the phase started through
    the protocol as a host would (session ceiling SESSION_MARGIN_PCT of the force, within the region's
    maximum); the harness keeps the lease with heartbeats."""
    import fw_harness as h

    host = h.Host(region=region, seed=seed)
    host.seconds(1)
    host.ok("TARE")
    region_max = host.cfg["limits"][region + "_max_dn"]
    host.start([phase], region=REGION[region], session_max=min(region_max, force * SESSION_MARGIN_PCT // 100))
    return host


def observe(host):
    """(segment, target, measured, true) after one more tick of the application."""
    host.step()
    app = host.app
    return SEGMENT.get(app.segment(), ""), app.target, app.safety.force, host.sim.true_force_dn()


def run_session(spec, seed):
    import fw_harness as h

    name, region, base, force, ramp, hold, rest, cycles = spec
    host = treating(region, seed, h.phase(mode=2, force_dn=force, base_dn=base, hold_ms=hold, rest_ms=rest,
                                          ramp_up_ms=ramp, ramp_down_ms=ramp,
                                          duration_ms=cycles * (2 * ramp + hold + rest)), force)
    period_ms = host.board.period_us // 1000
    st = Stats()
    reaching = False
    prev = None
    ms = since = 0
    while host.app.state == RUNNING:
        seg, target, measured, true = observe(host)
        ms += period_ms
        if seg == "hold" and prev != "hold":
            st.start_hold(force)
            reaching, since = True, ms
        if reaching and abs(measured - force) * 100 <= TOL_PCT * force:
            st.reach.append(ms - since)
            reaching = False
        if st.holds:
            st.sample(seg, force, target, measured, true)
        prev = seg
    st.fault = host.app.fault
    h.cleanup()
    return st


def run_step(region, start, to, seed):
    """Hold start, then EDIT_FORCE to `to` (the application slews to it): overshoot and time to reach."""
    import fw_harness as h

    host = treating(region, seed, h.phase(mode=1, force_dn=start, ramp_up_ms=5000, duration_ms=600000),
                    max(start, to))
    host.seconds(20)  # take up slack and settle
    st = Stats(1 if to > start else -1)
    st.start_hold(to)
    host.ok("EDIT_FORCE", force_dn=to)
    period_ms = host.board.period_us // 1000
    for tick in range(10000 // period_ms):
        _, _, measured, true = observe(host)
        if not st.reach and abs(measured - to) * 100 <= TOL_PCT * to:
            st.reach.append(tick * period_ms)
        st.sample("step", to, to, measured, true)
    st.fault = host.app.fault
    h.cleanup()
    return st


def tick_cost_us():
    import time

    import fw_harness as h
    from traction_fw.control import Controller

    ctl = Controller(h.config()["control"]["lumbar"], 10000)
    h.cleanup()
    n = 20000
    t0 = time.ticks_us()
    for i in range(n):
        ctl.update(4500, 4500 + (i & 15) - 8, 0)
    return time.ticks_diff(time.ticks_us(), t0) / n


def main_micropython():
    seeds = (1, 2, 3)
    print("Force control through the application on the simulated plant, worst of seeds %s; errors in %% of"
          " the hold target." % (seeds,))
    print("'true' is the plant's force; the load cell was tared before each session.")
    print()
    print("intermittent session       RMS hold err       overshoot        reach hold  fault")
    print("                           measured  true     measured  true   (s, max)")
    for spec in SESSIONS:
        runs = [run_session(spec, seed) for seed in seeds]
        rms_m = max(r.rms_pct(0) for r in runs)
        rms_t = max(r.rms_pct(1) for r in runs)
        over_m = max(r.over_measured for r in runs)
        over_t = max(r.over_true for r in runs)
        reach = max(max(r.reach) for r in runs) / 1000.0
        print("%-24s  %6.2f  %6.2f     %6.2f  %6.2f     %5.2f       %s" % (
            spec[0], rms_m, rms_t, over_m, over_t, reach, faults(runs)))
    print()
    print("force edit (EDIT_FORCE)     overshoot          time to within %d%%  fault" % TOL_PCT)
    print("                            measured  true     (s, max)")
    for region, a, b in STEPS:
        runs = [run_step(region, a, b, seed) for seed in seeds]
        over_m = max(r.over_measured for r in runs)
        over_t = max(r.over_true for r in runs)
        reach = max(r.reach[0] if r.reach else 10000 for r in runs) / 1000.0
        step = "%-8s %4d N -> %4d N" % (region, a // 10, b // 10)
        print("%-26s  %6.2f  %6.2f     %5.2f               %s" % (step, over_m, over_t, reach, faults(runs)))
    print()
    print("controller update: %.1f us per tick (unix port)" % tick_cost_us())


def faults(runs):
    """'-' when no run latched a fault, else their codes."""
    codes = sorted(set(r.fault for r in runs if r.fault))
    return ",".join(str(c) for c in codes) or "-"


def main_host():
    import os
    import subprocess
    from pathlib import Path

    from traction.micropython import interpreter

    root = Path(__file__).resolve().parent.parent
    path = os.pathsep.join(str(root / p) for p in ("firmware", "protocol", "firmware/tests"))
    env = dict(os.environ, MICROPYPATH=path)
    here = Path(__file__).resolve()
    sys.exit(subprocess.call([interpreter(), str(here)], env=env, cwd=str(root / "firmware" / "tests"),
                             stdin=subprocess.DEVNULL))


if sys.implementation.name == "micropython":
    main_micropython()
elif __name__ == "__main__":
    main_host()
