# Provisioning and calibration in the store: seeded once from the board config, integer conversion of
# load-cell counts to force, limits that only go down.

import fw_harness as h
from traction_fw.settings import Settings, seed


def test_first_boot_seeds_from_the_config_then_the_store_wins():
    cfg = h.config()
    s = Settings(cfg["store"], seed(cfg))
    assert s.serial == "SIM-0001" and s.hard_max_dn == 9000 and s.calibrated() and len(s.key) == 32
    s.provision("SIM-0009", 8000, 2000, 8000, bytes(range(32)))
    cfg["limits"]["hard_max_dn"] = 9500  # a changed config file does not reach a provisioned board
    again = Settings(cfg["store"], seed(cfg))
    assert again.serial == "SIM-0009" and again.hard_max_dn == 8000 and again.key == bytes(range(32))
    h.cleanup()


def test_counts_to_force_is_exact_to_a_tenth_of_a_newton():
    cfg = h.config()
    s = Settings(cfg["store"], seed(cfg))
    assert s.calibrate(0, 1400, 0, 0, 1000) == 0
    assert s.calibrate(1, 1400 + 4000 * 500, 5000, 1767225600, 1000) == 0  # 500 N at 4000 counts/N
    for n in (0, 1, 37, 2500, 8999):
        assert abs(s.to_dn(1400 + 400 * n) - n) <= 1, n
    assert s.to_dn(1400 - 400 * 20) == -20
    # 24-bit readings: every intermediate stays under 2**30 (a small integer on a 32-bit port)
    assert s.gain < (1 << 17) and abs(s.to_dn(8388607) - (8388607 - 1400) // 400) <= 1
    assert abs(s.to_dn(-8388608) - (-8388608 - 1400) // 400) <= 1
    assert s.cal_date_s == 1767225600
    h.cleanup()


def test_span_needs_a_real_load_and_a_zero_step_first():
    cfg = h.config()
    s = Settings(cfg["store"], seed(cfg))
    gain = s.gain
    assert s.calibrate(1, 5000000, 5000, 0, 1000) == "OUT_OF_RANGE"  # no zero step
    s.calibrate(0, 1400, 0, 0, 1000)
    assert s.calibrate(1, 1900, 5000, 0, 1000) == "NOT_TENSIONED"
    assert s.calibrate(1, 5000000, 50, 0, 1000) == "OUT_OF_RANGE"  # a 5 N load is too small
    assert s.gain == gain
    h.cleanup()


def test_a_provisioned_limit_only_goes_down():
    cfg = h.config()
    s = Settings(cfg["store"], seed(cfg))
    assert s.provision("X", 9001, 2500, 9000, bytes(32)) == "LIMIT_RAISE"
    assert s.provision("X", 9000, 2600, 9000, bytes(32)) == "LIMIT_RAISE"
    assert s.provision("X", 2000, 2500, 2000, bytes(32)) == "OUT_OF_RANGE"  # a region above the device
    assert s.provision("X", 9000, 2400, 8000, bytes(32)) == 0
    assert s.limit(1, 65535) == 2400 and s.limit(2, 5000) == 5000
    h.cleanup()
