# The fault campaign's worst cases (benchmarks/fault_campaign.py sweeps them all): each injected on the
# simulated board at the moment that hurt most, on a treatment ramping to a hold AT the ceiling. The
# true plant force must stay within 2 % of the ceiling for a single fault (10 % for a sensor fault
# followed by a motor runaway, which must end with the motor cut), the fault must latch within its
# documented time, and the record must keep every fault the host saw. Each of the first four failed on
# the firmware before the second force channel (figures in the comments: true peak above the ceiling).

import campaign
from hazard import hazard


def check(fault, params, moment, region, within_ms=None, then=None, seed=1, loadcell=None):
    r = campaign.run(fault, params, moment, region, seed, then, loadcell=loadcell)
    over = 100.0 * (r["peak_dn"] - r["ceiling_dn"]) / r["ceiling_dn"]
    limit = 10.0 if then else 2.0
    assert over <= limit, "%s %s %s: true peak %+.2f %% of the ceiling" % (fault, moment, region, over)
    if within_ms is not None:
        assert r["detect_ms"] is not None and r["detect_ms"] <= within_ms, r
    assert r["state"] == 6 and not r["motor_enabled"], r
    assert r["recorded"] is not None and r["recorded"] != "UNVERIFIED", r
    for name in r["events"]:
        assert name in r["recorded"] or name == "STOP_SWITCH", "record lacks %s: %r" % (name, r)
    return r


def _lumbar_hold(force_dn):
    """A lumbar treatment a second into its hold at force_dn (0.1 N)."""
    host = campaign.h.Host(region="lumbar")
    host.start([campaign.h.phase(mode=1, force_dn=force_dn, ramp_up_ms=3000, duration_ms=60000)], region=2,
               session_max=9000)
    host.seconds(4)
    return host


@hazard("H-02", "H-09")
def test_a_runaway_during_the_blind_release_of_a_dead_load_cell_is_cut():
    # was 2.0-2.4 kN on a lumbar ceiling: a latched ADC fault switched every other check off
    r = check("loadcell_stale", {}, "top-100", "lumbar", then=(300, "motor_runaway", {"speed": 1000}))
    assert "MOTOR" in r["events"], r
    check("loadcell_disconnected", {"mode": "rails"}, "top", "cervical",
          then=(300, "motor_runaway", {"speed": 1000}))
    campaign.h.cleanup()


@hazard("H-05")
def test_a_plateaued_reading_below_the_target_is_caught_by_the_motion_check():
    # was 2.4-2.5 kN: the reading clipped at a level kept its noise and nothing looked at the encoder
    r = check("loadcell_plateau", {"level_n": 300}, "top-1000", "lumbar", within_ms=150)
    assert r["latched"] == "ADC_IMPLAUSIBLE", r
    campaign.h.cleanup()


@hazard("H-04")
def test_a_reading_frozen_near_the_top_of_the_ramp_is_caught_within_its_time():
    # was +9.87 % on cervical: 25 identical samples had to pass first
    check("loadcell_stuck", {}, "top-100", "cervical", within_ms=260)
    check("loadcell_stuck", {}, "top", "cervical", within_ms=260, seed=2)
    campaign.h.cleanup()


@hazard("H-09")
def test_a_runaway_at_full_speed_near_the_ceiling_is_cut_before_it():
    # was +1.5-2.6 %: only RATE over 100 ms or OVER_FORCE past the ceiling saw it; the encoder now shows
    # the motor outrunning its commands within two or three samples
    for region in ("cervical", "lumbar"):
        r = campaign.run("motor_runaway", {"speed": 1000}, "mid-hold", region, 1, None, 97)
        assert r["latched"] == "MOTOR" and r["detect_ms"] <= 50, r
        assert r["peak_dn"] <= r["ceiling_dn"], r
        assert r["state"] == 6 and not r["motor_enabled"], r
    check("motor_runaway", {"speed": 1000}, "top", "cervical", within_ms=150)
    campaign.h.cleanup()


@hazard("H-06")
def test_a_gain_error_of_ten_percent_is_found_by_the_current_within_a_second():
    # was never detected: +11 % for the whole hold
    r = check("loadcell_gain", {"scale": 0.9}, "mid-hold", "cervical", within_ms=1000)
    assert r["latched"] == "FORCE_DISAGREE", r
    check("loadcell_gain", {"scale": 0.9}, "top", "lumbar", within_ms=1000)
    campaign.h.cleanup()


@hazard("H-07")
def test_an_offset_step_is_found_by_the_current():
    r = check("loadcell_offset_step", {"step_n": -50}, "mid-hold", "lumbar", within_ms=1000)
    assert r["latched"] == "FORCE_DISAGREE", r
    campaign.h.cleanup()


@hazard("H-08")
def test_a_failed_current_sense_is_found_and_releases_blind():
    for mode in ("zero", "rails", "stuck"):
        r = check("current_sense_fail", {"mode": mode}, "mid-hold", "lumbar", within_ms=1000)
        assert r["latched"] == "FORCE_DISAGREE", r
    campaign.h.cleanup()


@hazard("H-05")
def test_a_plateau_at_the_ceiling_is_held_there_by_the_current_guard():
    # the hardest case: the reading clips just under the ceiling and the loop creeps on, with the patient
    # moving (the campaign's worst single fault, +1.7 %); the current stops the winding in
    for region, seed in (("cervical", 3), ("lumbar", 1)):
        r = campaign.run("loadcell_plateau", {}, "top+100", region, seed)
        assert r["peak_dn"] <= r["ceiling_dn"] * 102 // 100, r
    campaign.h.cleanup()


@hazard("H-10", "H-02")
def test_a_stop_switch_pressed_during_a_blind_release_is_recorded():
    # was not even recorded: the stop-switch check was skipped while an ADC fault was latched
    host = _lumbar_hold(6000)
    host.sim.inject("loadcell_stale")
    host.seconds(0.3)
    assert host.app.state == 6
    host.sim.inject("stop_switch")
    assert host.until(lambda: not host.board.motor.enabled(), 20)
    host.seconds(1)
    assert [e["code"] for e in host.events if e["kind"] == 4] == [1]  # STOP_SWITCH pressed
    rec = campaign._recorded(host)
    assert rec == ["ADC_SILENT", "STOP_SWITCH"], rec
    campaign.h.cleanup()


@hazard("H-11")
def test_the_limit_switch_cuts_the_motor_in_hardware_and_latches():
    # a motor running away with the encoder and the load cell both gone: the last layer is the switch
    host = _lumbar_hold(8800)
    host.sim.inject("encoder_fail")
    host.sim.inject("current_sense_fail", mode="stuck")
    host.sim.inject("loadcell_stuck")
    host.sim.inject("motor_runaway", speed=1000)
    assert host.until(lambda: host.app.state == 6 and not host.board.motor.enabled(), 10)
    host.seconds(1)
    limit_n = host.cfg["limit_switch"]["force_n"]
    assert host.sim.peak_force_dn() <= limit_n * 10 + 200  # the switch's setting, plus the motor's stop
    campaign.h.cleanup()


@hazard("H-12")
def test_a_failed_encoder_is_found_when_the_motor_next_pulls_and_harmless_in_a_hold():
    r = check("encoder_fail", {}, "top-500", "cervical", within_ms=300)
    assert r["latched"] == "MOTOR", r
    # in a steady hold nothing moves to show it: the load cell and the current keep the ceiling
    r = campaign.run("encoder_fail", {}, "mid-hold", "lumbar")
    assert r["state"] == 3 and r["peak_dn"] <= r["ceiling_dn"] * 102 // 100, r
    campaign.h.cleanup()


@hazard("H-09")
def test_a_late_loop_near_the_top_of_the_ramp_is_not_taken_for_a_runaway():
    # A loop that starts late (a flash erase, a long command) leaves the motor running longer than its
    # samples say. Counted in samples, one late period near the top of a ramp latched MOTOR and ended the
    # treatment (every case below did; the emulated Pico's sessions ended so); the window is timed now.
    for periods, moment in ((1, "top-250"), (5, "top-100")):
        for region in ("cervical", "lumbar"):
            r = campaign.run("loop_late", {"periods": periods}, moment, region)
            assert r["latched"] is None and r["state"] == campaign.RUNNING, r
            assert r["peak_dn"] <= r["ceiling_dn"] * 102 // 100, r
    campaign.h.cleanup()


@hazard("H-09")
def test_a_runaway_is_still_cut_when_the_loop_then_runs_late():
    # the window's allowance grows with the time it spans, not with what the motor did meanwhile
    for region in ("cervical", "lumbar"):
        r = check("motor_runaway", {"speed": 1000}, "top-100", region, within_ms=50,
                  then=(20, "loop_late", {"periods": 5}))
        assert r["latched"] == "MOTOR", r
    # at the ceiling, the 50 ms the loop does not run are the motor's: the second fault, caught next tick
    r = check("motor_runaway", {"speed": 1000}, "top", "cervical", within_ms=100,
              then=(20, "loop_late", {"periods": 5}))
    campaign.h.cleanup()


# A load cell whose sample lags the current sense, as an HX711 at 80 SPS read by the 100 Hz loop does: a
# conversion taken before the plant moved, read after the current saw it (the emulated Pico's lags so by up
# to a period), and at 80 SPS one tick in five brings no sample.
LAGGING = {"latency_ms": 10}
HX711 = {"latency_ms": 20, "sps": 80}


@hazard("H-14")
def test_a_cable_snap_near_the_ceiling_is_a_cable_snap_with_the_load_cell_lagging():
    # The current sense sees the slack line a period before the load cell; compared at the same tick, the
    # gross disagreement latched FORCE_DISAGREE first (every case below did, as the emulated Pico did in 2
    # runs of 3; at 80 SPS the line coming taut on the ramp already did). The cross-check now compares the
    # load cell with the current over the cell's lag (crosscheck.py, cell_lag_ms).
    for cell, region, moment in ((LAGGING, "cervical", "top-50"), (LAGGING, "lumbar", "top+100"),
                                 (HX711, "cervical", "top+100"), (HX711, "lumbar", "top-50")):
        r = check("cable_snap", {}, moment, region, within_ms=100, loadcell=cell)
        assert r["state_at_injection"] == campaign.RUNNING, r
        assert r["latched"] == "CABLE_SNAP" and r["recorded"][0] == "CABLE_SNAP", r
        assert r["peak_dn"] <= r["ceiling_dn"], r  # the true force never went past the ceiling
    campaign.h.cleanup()


@hazard("H-07")
def test_a_small_offset_step_is_found_by_the_trend_with_an_80_sps_load_cell():
    # was never found: each tick without a sample restarted the trend's block, so at 80 SPS no block ever
    # closed (4 samples of 10 at most) and a 6 N step, inside the band, stayed for the whole hold
    r = check("loadcell_offset_step", {"step_n": -6}, "mid-hold", "lumbar", within_ms=500,
              loadcell={"sps": 80})
    assert r["state_at_injection"] == campaign.RUNNING and r["latched"] == "FORCE_DISAGREE", r
    campaign.h.cleanup()
