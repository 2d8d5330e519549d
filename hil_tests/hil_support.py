"""Short treatments for the HIL suite, written as protocol files so they go through the SDK's checks.

Lumbar forces (the virtual board's default patient). Minutes of treatment become seconds of wall time at
the suite's time scale.
"""

from traction import Treatment

HEADER = """
name = "hil {name}"
region = "lumbar"
position = "prone"
angle = 12
body_weight = "80 kg"
unit = "N"
tolerance = "5 N"
"""

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
    "long_static": """
[[phase]]
mode = "static"
force = "300 N"
ramp_up = "8 s"
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
