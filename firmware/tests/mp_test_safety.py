# Safety's detectors one by one, fed samples directly (the sim-board scenarios are mp_test_faults.py).

from traction_fw import safety
from traction_fw.safety import Safety

PERIOD = 10000  # 100 Hz
RAILS = (-8388608, 8388607)


def fresh(**params):
    return Safety(params, PERIOD, RAILS, 15000)


def primed(dn):
    """As at START: the history filled with the force the line has now."""
    s = fresh()
    feed(s, dn, 2)
    s.reset()
    return s


def feed(s, dn, n=1, raw=None):
    fault = 0
    for i in range(n):
        fault = s.sample(True, raw if raw is not None else dn * 400 + i % 7, dn) or fault
    return fault


def test_silent_means_more_than_two_sample_periods():
    s = fresh()
    feed(s, 100)
    assert s.sample(False, 0, 0) == 0
    assert s.sample(False, 0, 0) == 0
    assert s.sample(False, 0, 0) == safety.ADC_SILENT
    assert s.cause_present()
    feed(s, 100)
    assert not s.cause_present()


def test_rails_and_rating_are_saturation():
    assert fresh().sample(True, RAILS[1], 100) == safety.ADC_SATURATED
    assert fresh().sample(True, RAILS[0], -100) == safety.ADC_SATURATED
    assert fresh().sample(True, 5, 15001) == safety.ADC_SATURATED


def test_a_stuck_reading_is_implausible():
    s = fresh()
    assert feed(s, 500, 20, raw=1234) == 0
    assert feed(s, 500, 10, raw=1234) == safety.ADC_IMPLAUSIBLE


def test_a_lone_spike_is_held_back_a_real_step_is_taken():
    s = fresh()
    feed(s, 3000, 5)
    assert feed(s, 6000) == 0 and s.force == 3000  # held back
    assert feed(s, 3001) == 0 and s.force == 3001  # it was a spike
    feed(s, 100)
    assert s.force == 3001
    feed(s, 105)
    assert s.force == 105  # two samples agree: a real step (a snapped line looks like this)


def test_frequent_spikes_are_implausible():
    s = fresh()
    feed(s, 3000, 5)
    fault = 0
    for _ in range(3):
        fault = feed(s, 6000) or fault
        feed(s, 3000, 3)
    assert fault == safety.ADC_IMPLAUSIBLE


def test_over_force_allows_the_noise_only():
    s = primed(7235)
    feed(s, 7235)
    assert s.force == 7235 and s.check(7200, 0, 7200, None, True, True) == 0  # within 0.5 %
    feed(s, 7237)
    assert s.check(7200, 0, 7200, None, True, True) == safety.OVER_FORCE


def test_rate_only_at_or_above_the_target():
    s = primed(0)
    for f in range(0, 3000, 100):  # 10 kN/s while far below the target: catching up
        feed(s, f)
        assert s.check(6000, 500, 9000, None, True, True) == 0
    s = primed(5900)
    fault = 0
    for f in range(5900, 7000, 100):
        feed(s, f)
        fault = s.check(6000, 0, 9000, None, True, True) or fault
    assert fault == safety.RATE


def test_may_pull_looks_one_window_ahead():
    s = primed(6000)
    for f in range(6000, 7000, 50):
        feed(s, f)
        s.check(7000, 300, 7500, None, True, True)
    assert not s.may_pull(7400)  # 6950 rising 500 per window
    s = primed(6950)
    for _ in range(20):
        feed(s, 6950)
        s.check(7000, 0, 7500, None, True, True)
    assert s.may_pull(7400)


def test_cable_snap_when_the_force_vanishes():
    s = primed(4000)
    for _ in range(20):
        feed(s, 4000)
        assert s.check(4000, 0, 9000, None, True, True) == 0
    fault = 0
    for _ in range(10):
        feed(s, 0)
        fault = s.check(4000, 0, 9000, None, True, True) or fault
    assert fault == safety.CABLE_SNAP


def test_motor_that_does_not_move_its_way():
    s = primed(3000)
    fault = 0
    for i in range(40):
        feed(s, 3000)
        fault = s.check(3000, -400, 9000, 1000 + i * 10, True, True) or fault  # reversing, encoder winds in
    assert fault == safety.MOTOR
    s = primed(3000)
    for i in range(40):
        feed(s, 3000)
        assert s.check(3000, -400, 9000, 1000 - i * 10, True, True) == 0


def test_crosscheck_ring_helpers_match_plain_python():
    # The viper ring walks (crosscheck.py) against the same walks in Python, on signed words around a
    # wrapping ring: a 64-bit port loads a 32-bit word zero-extended, so a lost sign would show here.
    from array import array

    from traction_fw import crosscheck

    words = [-3, 7, -20000, 0, 19999, -1, 5, -(1 << 29), (1 << 29) - 1, 42]  # small ints on any port
    a = array("i", words)
    n = len(words)
    assert crosscheck.ring_max(a, n, 0) == max(words)
    assert crosscheck.ring_max(array("i", [-5, -9]), 2, 0) == 0
    for at in range(n):
        for k in range(n + 1):
            back = [words[(at - j) % n] for j in range(k)]
            assert crosscheck.ring_min(a, n, at, k, 1000) == min(back + [1000])
            assert crosscheck.ring_sum(a, n, at, k) == sum(back)
            for x in (-30000, -4, 0, 6, 25000):
                best = 12
                for c in back[1:]:
                    if abs(x - c) < abs(x - best):
                        best = c
                assert crosscheck.ring_nearest(a, n, at, k, x, 12) == best
