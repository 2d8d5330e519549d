# Treatment profiles (SPEC section 8) against a reference built differently: the phase unrolled into a
# list of legs (length, from, to, segment), walked from the start.

from traction_fw import profile
from traction_fw.profile import HOLD, RAMP_DOWN, RAMP_UP, REST, STEP


def phase(mode, force=2000, base=500, hold=3000, rest=2000, up=1000, down=1500, steps=0, repeats=0,
          duration=20000):
    return profile.Phase({"mode": mode, "force_dn": force, "base_dn": base, "hold_ms": hold, "rest_ms": rest,
                          "ramp_up_ms": up, "ramp_down_ms": down, "steps": steps, "repeats": repeats,
                          "duration_ms": duration})


def legs(p, start):
    out = []
    if p.mode == profile.STATIC:
        out.append((p.up, start, p.force, RAMP_UP))
        out.append((p.duration, p.force, p.force, HOLD))
    elif p.mode in (profile.INTERMITTENT, profile.CYCLIC):
        a = start
        while sum(x[0] for x in out) < p.duration:
            out.append((p.up, a, p.force, RAMP_UP))
            out.append((p.hold, p.force, p.force, HOLD))
            out.append((p.down, p.force, p.base, RAMP_DOWN))
            out.append((p.rest, p.base, p.base, REST))
            a = p.base
    else:
        size = p.duration // p.steps
        prev = start
        for k in range(p.steps):
            if p.mode == profile.PROGRESSIVE:
                goal = p.base + (p.force - p.base) * (k + 1) // p.steps
            else:
                goal = p.force - (p.force - p.base) * k // p.steps
            ramp = p.up if goal >= prev else p.down
            length = size if k < p.steps - 1 else p.duration - size * k
            out.append((ramp, prev, goal, RAMP_UP if goal >= prev else RAMP_DOWN))
            out.append((length - ramp, goal, goal, STEP))
            prev = goal
    return out


def expected(p, t, start):
    for length, a, b, seg in legs(p, start):
        if t < length:
            return a + (b - a) * t // length, seg
        t -= length
    raise AssertionError("t beyond the phase")


def trace(p, start, every=50):
    worst = 0
    for t in range(0, p.duration, every):
        p.at(t, start)
        want, seg = expected(p, t, start)
        assert p.segment == seg, "mode %d t=%d: segment %d, want %d" % (p.mode, t, p.segment, seg)
        worst = max(worst, abs(p.target - want))
    # ramps interpolate in 1/1024ths: within 0.1% of the ramp's span
    assert worst <= max(2, abs(p.force - p.base) // 500 + 2), "mode %d: off by %d" % (p.mode, worst)


def test_static_ramps_from_the_current_target_then_holds():
    trace(phase(profile.STATIC, up=4000, duration=12000), 300)


def test_intermittent_cycles_until_the_duration_cuts_the_last():
    p = phase(profile.INTERMITTENT, duration=17500)
    trace(p, 0)
    p.at(17400, 0)
    assert p.cycle == 2 and p.segment == HOLD


def test_cyclic_runs_exactly_its_repeats():
    p = phase(profile.CYCLIC, repeats=3, duration=3 * 7500)
    assert p.check(9000) == 0
    trace(p, 0)
    p.at(p.duration - 1, 0)
    assert p.cycle == 2 and p.segment == REST


def test_progressive_steps_up_to_the_force():
    p = phase(profile.PROGRESSIVE, force=3000, base=1000, steps=4, up=800, duration=20000)
    trace(p, 0)
    p.at(19999, 0)
    assert p.target == 3000 and p.segment == STEP and p.cycle == 3
    p.at(5000 + 900, 0)
    assert p.target == 2000  # step 2 of 4: 1000 + 2000 * 2 / 4


def test_regressive_steps_down_towards_the_base():
    p = phase(profile.REGRESSIVE, force=3000, base=1200, steps=3, up=1000, down=700, duration=15001)
    trace(p, 0)
    p.at(100, 0)
    assert p.segment == RAMP_UP
    p.at(14000, 0)
    assert p.target == 3000 - 1800 * 2 // 3 and p.segment == STEP


def test_check_refuses_what_spec_refuses():
    assert phase(profile.STATIC, force=5000).check(4000) == "OVER_LIMIT"
    assert phase(profile.INTERMITTENT, hold=999).check(9000) == "OUT_OF_RANGE"
    assert phase(profile.INTERMITTENT, base=3000).check(9000) == "OUT_OF_RANGE"
    assert phase(profile.CYCLIC, repeats=2, duration=15001).check(9000) == "OUT_OF_RANGE"
    assert phase(profile.CYCLIC, repeats=2, duration=15000).check(9000) == 0
    assert phase(profile.PROGRESSIVE, steps=0).check(9000) == "OUT_OF_RANGE"
    assert phase(profile.PROGRESSIVE, steps=5, up=4000, duration=20000).check(9000) == "OUT_OF_RANGE"
    assert phase(profile.REGRESSIVE, steps=5, up=1000, duration=20000).check(9000) == 0


def test_slope_is_the_ramp_rate():
    p = phase(profile.STATIC, force=2000, up=4000)
    p.at(100, 0)
    assert p.slope == 500  # 0.1 N/s
    p.at(5000, 0)
    assert p.slope == 0
