"""Helpers of the HIL suite: short treatments and getting a board back to IDLE.

Treatments are written as protocol files so they go through the SDK's checks. Lumbar forces (the virtual
board's default patient); minutes of treatment become seconds of wall time at the suite's time scale.
"""

import time

import pytest
from traction import NakError, Treatment

IDLE_TIMEOUT_S = 60.0  # wall seconds a real board may need to finish a release before a test can start
# How many times slower than real time the board under test may run: every wall-clock timeout of the
# suite is multiplied by it. 1 but for an emulator slower than real time (conftest sets it for --board
# rp2040). A timeout only bounds a failing wait: a passing test takes no longer for it.
SLOWDOWN = 1.0

HEADER = """
name = "hil {name}"
region = "lumbar"
position = "prone"
angle = 12
body_weight = "80 kg"
unit = "N"
tolerance = "5 N"
"""

LONG_STATIC_RAMP_S = 8
PHASES = {
    "static": """
[[phase]]
mode = "static"
force = "250 N"
ramp_up = "4 s"
ramp_down = "4 s"
duration = "20 s"
""",
    "intermittent": """
[[phase]]
mode = "intermittent"
force = "300 N"
rest_force = "150 N"
hold = "6 s"
rest = "4 s"
ramp_up = "3 s"
ramp_down = "3 s"
duration = "32 s"
""",
    "cyclic": """
[[phase]]
mode = "cyclic"
force = "280 N"
rest_force = "100 N"
hold = "4 s"
rest = "3 s"
ramp_up = "3 s"
ramp_down = "3 s"
repeats = 2
""",
    "progressive": """
[[phase]]
mode = "progressive"
start_force = "150 N"
force = "330 N"
steps = 3
ramp_up = "2 s"
ramp_down = "4 s"
duration = "24 s"
""",
    "regressive": """
[[phase]]
mode = "regressive"
force = "330 N"
end_force = "150 N"
steps = 3
ramp_up = "3 s"
ramp_down = "4 s"
duration = "24 s"
""",
    "long_static": f"""
[[phase]]
mode = "static"
force = "300 N"
ramp_up = "{LONG_STATIC_RAMP_S} s"
ramp_down = "10 s"
duration = "30 min"
""",
}


def plan(*phases, name=None):
    """A Treatment with these phases (keys of PHASES) in order."""
    text = HEADER.format(name=name or "+".join(phases)) + "".join(PHASES[p] for p in phases)
    return Treatment.from_toml(text, file=f"<hil {name or '+'.join(phases)}>")


def expected_targets(phase):
    """The hold/step targets (0.1 N) SPEC section 8 gives for a phase's PHASE message fields."""
    force, base, steps = phase["force_dn"], phase["base_dn"], phase["steps"]
    mode = phase["mode"]
    if mode == 4:  # PROGRESSIVE
        return [base + (force - base) * k // steps for k in range(1, steps + 1)]
    if mode == 5:  # REGRESSIVE
        return [force - (force - base) * k // steps for k in range(steps)]
    return [force]


def to_idle(dev):
    """Bring a board left in any state back to IDLE through the link (a real board is not restarted)."""
    deadline = time.monotonic() + IDLE_TIMEOUT_S * SLOWDOWN
    while True:
        status = dev.status()
        if status.state == "IDLE":
            return
        if time.monotonic() > deadline:
            pytest.fail(f"board stays {status.state} ({status.fault}): bring it to IDLE by hand")
        try:
            if status.state == "FAULT":
                dev.clear_fault()
            elif status.state in ("READY", "RUNNING", "PAUSED", "SERVICE"):
                dev.command("SERVICE_EXIT" if status.state == "SERVICE" else "STOP")
        except NakError:
            pass  # the cause is still there or the force not yet released: look again
        time.sleep(0.05)


def on_the_line(device, force_n, ramp_s):
    """Wait until force_n is on the line after a ramp of ramp_s device seconds. The ramp takes its own time
    in wall seconds on a board at x1 (an emulated one), and a starved emulator runs fewer periods: twice
    the ramp, on top of the usual 10 s."""
    wait_until(lambda: abs(device.status().force_n - force_n) < 10, timeout=10.0 + 2 * ramp_s /
               device.info.time_scale, what=f"{force_n:g} N on the line")


def wait_until(check, timeout=10.0, what="the condition"):
    """Poll check() until it returns something true; fail after timeout wall seconds (times SLOWDOWN)."""
    timeout *= SLOWDOWN
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)
