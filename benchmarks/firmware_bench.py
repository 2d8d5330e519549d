"""Firmware application figures on the simulated board: the worst true force above the ceiling across
the fault scenarios, the cost of app.tick() on the MicroPython unix port, bytes allocated per tick, and
the heap in use after boot. (Force-control accuracy is control_bench.py's.)

Run with the host Python (`python benchmarks/firmware_bench.py`): it re-runs this same file under the
MicroPython interpreter, which boots the application on hal/sim and drives it over the memory link.
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
    """gc.mem_alloc() after constructing the board and the app and gc.collect(): in all, and without the
    modules' code (a board image freezes that code into flash, so only the objects take RAM)."""
    import gc

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
    return used, used - code


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
    """Mean and worst app.tick() time over a lumbar intermittent session, and bytes it allocated."""
    import gc
    import time

    import fw_harness as h

    host = h.Host()
    host.start([h.phase(mode=2, force_dn=5000, base_dn=2000, hold_ms=4000, rest_ms=2000, ramp_up_ms=3000,
                        ramp_down_ms=2000, duration_ms=30000)], region=2, telemetry_div=1)
    b = host.board
    app = host.app
    total = worst = n = allocated = 0
    while app.state != 1 and n < 5000:
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
    h.cleanup()
    return total / n, worst, allocated, n


def main_micropython():
    heap, objects = heap_after_boot()
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
    mean, tick_worst, allocated, n = tick_cost()
    print("app.tick(): %.1f us mean, %d us worst over %d ticks (unix port)" % (mean, tick_worst, n))
    print("allocated by app.tick(): %d bytes in %d ticks (target 0)" % (allocated, n))
    print("heap in use after boot: %.1f KB objects (target <= 64 KB: the code is frozen on a board); "
          "%.1f KB with the code compiled into the heap (unix port)" % (objects / 1024, heap / 1024))


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
