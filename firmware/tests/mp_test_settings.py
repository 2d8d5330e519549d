# Provisioning and calibration in the store: seeded once from the board config, integer conversion of
# load-cell counts to force, limits that only go down.

import fw_harness as h
from hazard import hazard
from traction_fw.settings import Settings, seed


def test_first_boot_seeds_from_the_config_then_the_store_wins():
    cfg = h.config()
    s = Settings(cfg["store"], seed(cfg))
    assert s.serial == "SIM-0001" and s.hard_max_dn == 9000 and s.calibrated() and len(s.key) == 32
    assert s.provision("SIM-0009", 8000, 2000, 8000, bytes(range(32))) == 0
    cfg["limits"]["hard_max_dn"] = 9500  # a changed config file does not reach a provisioned board
    again = Settings(cfg["store"], seed(cfg))
    assert again.serial == "SIM-0009" and again.hard_max_dn == 8000 and again.key == bytes(range(32))
    h.cleanup()


def test_counts_to_force_is_exact_to_a_tenth_of_a_newton():
    cfg = h.config()
    s = Settings(cfg["store"], seed(cfg))
    assert s.calibrate(cal(1400, 4000 * 500, 5000, date_s=1767225600), 1000) == 0  # 500 N at 4000 counts/N
    for n in (0, 1, 37, 2500, 8999):
        assert abs(s.to_dn(1400 + 400 * n) - n) <= 1, n
    assert s.to_dn(1400 - 400 * 20) == -20
    # 24-bit readings: every intermediate stays under 2**30 (a small integer on a 32-bit port)
    assert s.gain < (1 << 17) and abs(s.to_dn(8388607) - (8388607 - 1400) // 400) <= 1
    assert abs(s.to_dn(-8388608) - (-8388608 - 1400) // 400) <= 1
    assert s.cal_date_s == 1767225600
    h.cleanup()


def cal(zero, span_counts, span_dn, weights=None, date_s=0):
    return {"zero_counts": zero, "span_counts": span_counts, "span_dn": span_dn, "date_s": date_s,
            "nonlin_ppm": 0, "weights": weights or [span_dn // 4, span_dn // 2, span_dn]}


def test_span_needs_a_real_load_and_three_weights():
    cfg = h.config()
    s = Settings(cfg["store"], seed(cfg))
    gain = s.gain
    assert s.calibrate(cal(1400, 500, 5000), 1000) == "NOT_TENSIONED"
    assert s.calibrate(cal(1400, 5000000, 50), 1000) == "OUT_OF_RANGE"  # a 5 N load is too small
    assert s.calibrate(cal(1400, 5000000, 5000, [2500, 5000]), 1000) == "OUT_OF_RANGE"
    assert s.gain == gain
    h.cleanup()


def test_a_provisioned_limit_only_goes_down():
    cfg = h.config()
    s = Settings(cfg["store"], seed(cfg))
    assert s.provision("X", 9001, 2500, 9000, bytes(32)) == "LIMIT_RAISE"
    assert s.provision("X", 9000, 2600, 9000, bytes(32)) == "LIMIT_RAISE"
    assert s.provision("X", 2000, 2500, 2000, bytes(32)) == "OUT_OF_RANGE"  # a region above the device
    assert s.provision("X", 9000, 2400, 8000, bytes(32)) == "OUT_OF_RANGE"  # no key
    assert s.provision("X", 9000, 2400, 8000, bytes(range(32))) == 0
    assert s.limit(1, 65535) == 2400 and s.limit(2, 5000) == 5000
    h.cleanup()


def _rewrite(store, change):
    """What an attacker with the store (a REPL, the flash) does: edit the limits, keep the file's MAC."""
    import json

    with open(store + "/settings.json") as f:
        d = json.load(f)
    change(d)
    with open(store + "/settings.json", "w") as f:
        f.write(json.dumps(d))


@hazard("H-20")
def test_a_raised_limit_in_the_file_is_found_at_boot_and_nothing_in_it_is_used():
    cfg = h.config()
    s = Settings(cfg["store"], seed(cfg), cfg["limits"])
    assert s.provision("SIM-0009", 6000, 2000, 6000, bytes(range(1, 33))) == 0
    assert not s.tampered
    with open(cfg["store"] + "/settings.json") as f:
        assert "0102030405" not in f.read()  # the key is not in the settings file

    def raise_limit(d):
        d["settings"]["hard_max_dn"] = 20000
        d["settings"]["lumbar_max_dn"] = 20000

    _rewrite(cfg["store"], raise_limit)
    again = Settings(cfg["store"], seed(cfg), cfg["limits"])
    assert "MAC" in again.tampered
    assert again.hard_max_dn == 0 and again.lumbar_max_dn == 0 and not again.calibrated()
    assert again.provision("SIM-0009", 6000, 2000, 6000, bytes(range(1, 33))) == "BAD_STATE"
    h.cleanup()


@hazard("H-20")
def test_a_deleted_or_reformatted_file_is_not_seeded_again():
    import os

    cfg = h.config()
    s = Settings(cfg["store"], seed(cfg), cfg["limits"])
    assert s.provision("SIM-0009", 6000, 2000, 6000, bytes(range(1, 33))) == 0
    os.remove(cfg["store"] + "/settings.json")
    assert Settings(cfg["store"], seed(cfg), cfg["limits"]).tampered  # not the config's 900 N again
    with open(cfg["store"] + "/settings.json", "w") as f:
        f.write('{"serial": "SIM-0009", "hard_max_dn": 20000}')  # the old format, with no MAC
    assert Settings(cfg["store"], seed(cfg), cfg["limits"]).tampered
    h.cleanup()


@hazard("H-20")
def test_a_tampered_board_latches_and_refuses_to_treat():
    cfg = h.config()
    Settings(cfg["store"], seed(cfg), cfg["limits"])  # first boot: the factory settings
    _rewrite(cfg["store"], lambda d: d["settings"].update(hard_max_dn=20000))
    host = h.Host(cfg=cfg)
    assert host.app.state == 6 and host.app.fault == 18  # FAULT, TAMPERED
    assert host.cmd("CLEAR_FAULT")["error"] == 6  # CAUSE_PRESENT: only erasing the store clears it
    info = host.ok("HELLO", host_version=1)
    assert info["hard_max_dn"] == 0 and info["calibrated"] == 0 and not info["security"] & 2
    h.cleanup()


def test_provisioning_never_goes_above_the_design_limits():
    cfg = h.config()
    s = Settings(cfg["store"], None, cfg["limits"])  # a bare board
    assert not s.provisioned and s.hard_max_dn == 0 and not s.calibrated()
    assert s.provision("X", 9001, 2500, 9000, bytes(range(32))) == "OUT_OF_RANGE"
    assert s.provision("X", 9000, 2500, 9000, bytes(range(32))) == 0
    h.cleanup()
