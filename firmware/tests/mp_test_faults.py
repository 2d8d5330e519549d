# Each fault injected on the simulated board during a treatment: the true plant force never goes above
# the effective limit by more than 2 %, and the board ends latched in FAULT with the motor disabled and
# the record sealed with the fault. Then CLEAR_FAULT is refused while the cause is present.

import json

import fw_harness as h
from hazard import hazard
from traction_fw import record
from traction_protocol.constants import FAULT, FAULT_NAME

FAULT_STATE = 6
IDLE = 1


def lumbar(force=6000, up=3000):
    return [h.phase(mode=1, force_dn=force, ramp_up_ms=up, duration_ms=120000)]


def cervical(force=1500, up=3000):
    return [h.phase(mode=1, force_dn=force, ramp_up_ms=up, duration_ms=120000)]


def run(inject, params=None, at_s=5.0, expect=(), region=2, limit=7200, phases=None, host=None, within_s=30):
    host = host or h.Host(region="lumbar" if region == 2 else "cervical")
    host.start(phases or (lumbar() if region == 2 else cervical()), region=region, session_max=limit)
    host.seconds(at_s)
    assert host.app.state == 3, "not running when the fault came (state %d)" % host.app.state
    if inject == "heartbeats_stop":
        host.heartbeat_every = 0
    elif inject == "ESTOP":
        host.ok("ESTOP")
    else:
        host.sim.inject(inject, **(params or {}))
    assert host.until(lambda: host.app.state == FAULT_STATE and not host.board.motor.enabled(), within_s), (
        "%s: not latched and disabled (state %d)" % (inject, host.app.state))
    if inject == "link_silent":
        host.sim.clear("link_silent")  # the host is back, to read the record
    host.seconds(2)  # latched means latched: nothing moves it on
    name = FAULT_NAME[host.app.fault]
    assert name in expect, "%s latched %s, expected one of %s" % (inject, name, expect)
    peak = host.sim.peak_force_dn()
    assert peak <= limit * 102 // 100, "%s: true peak %d above %d + 2%%" % (inject, peak, limit)
    assert host.app.state == FAULT_STATE and not host.board.motor.enabled()
    _record_ends_with(host, name)
    return host


def _record_ends_with(host, fault):
    ids = host.records()
    assert len(ids) == 1, "one sealed record expected, have %r" % (ids,)
    data = host.read_record(ids[0])
    assert record.verify(data, host.key())
    end = json.loads(data.split(b"\n")[-3])
    assert end["reason"] == "FAULT" and end["fault"] == fault, end
    assert any(json.loads(x).get("ev") in ("FAULT", "ESTOP", "STOP_SWITCH") for x in data.split(b"\n")[:-1])


def _clears_only_once_gone(host, clear, name=None):
    r = host.cmd("CLEAR_FAULT")
    assert r.name == "NAK" and r["error"] == 6, "CLEAR_FAULT with the cause present: %r" % (r,)
    host.sim.clear(clear) if name is None else host.sim.inject(name, pressed=False)
    host.seconds(1)
    host.ok("CLEAR_FAULT")
    assert host.app.state == IDLE and host.status()["fault"] == 0


@hazard("H-01", "H-09")
def test_over_force_when_the_motor_runs_away_near_the_ceiling():
    host = h.Host(region="cervical")
    # the motor keeps pulling at a crawl: the force creeps past the limit before MOTOR can tell
    run("motor_ignoring", {"speed": 120}, at_s=6, region=1, limit=1560, phases=cervical(1500), host=host,
        expect=("OVER_FORCE", "MOTOR"))
    h.cleanup()


@hazard("H-09")
def test_a_runaway_at_full_speed_is_cut_by_the_encoder_check():
    host = run("motor_ignoring", {"speed": 1000}, at_s=5, expect=("MOTOR",))
    assert host.sim.peak_force_dn() <= 7200  # cut before the force reached the ceiling
    h.cleanup()


@hazard("H-09")
def test_runaway_during_a_ramp_stays_under_the_ceiling():
    run("motor_ignoring", {"speed": 1000}, at_s=1.5, expect=("RATE", "OVER_FORCE", "MOTOR"))
    run("motor_ignoring", {"speed": 1000}, at_s=1.5, region=1, limit=1800,
        expect=("RATE", "OVER_FORCE", "MOTOR"))
    h.cleanup()


@hazard("H-02")
def test_adc_silent_after_two_sample_periods():
    host = run("loadcell_stale", expect=("ADC_SILENT",))
    events = [e for e in host.events if e["kind"] == 3]
    assert events and events[0]["code"] == FAULT["ADC_SILENT"]
    _clears_only_once_gone(host, "loadcell_stale")
    h.cleanup()


@hazard("H-02")
def test_adc_saturated_when_disconnected_to_the_rails():
    host = run("loadcell_disconnected", {"mode": "rails"}, expect=("ADC_SATURATED",))
    _clears_only_once_gone(host, "loadcell_disconnected")
    h.cleanup()


@hazard("H-02")
def test_disconnected_to_zero_reads_as_a_vanished_force():
    run("loadcell_disconnected", {"mode": "zero"}, expect=("CABLE_SNAP", "ADC_IMPLAUSIBLE"))
    h.cleanup()


@hazard("H-04")
def test_adc_implausible_when_stuck():
    host = run("loadcell_stuck", expect=("ADC_IMPLAUSIBLE",))
    _clears_only_once_gone(host, "loadcell_stuck")
    h.cleanup()


@hazard("H-03")
def test_adc_implausible_when_spiking():
    # two spikes in a row that agree get past the spike filter: the current sense disagrees with them, or,
    # when the pair reads above the ceiling, it is over-force (which of the three comes first depends on
    # where in the ramp the seeded spikes land)
    run("loadcell_spikes", {"per_s": 20}, expect=("ADC_IMPLAUSIBLE", "FORCE_DISAGREE", "OVER_FORCE"))
    h.cleanup()


@hazard("H-03")
def test_isolated_spikes_are_held_back_not_obeyed():
    # one spike every 1.5 s, placed (random ones at 0.5/s chain three within a second often enough to
    # latch ADC_IMPLAUSIBLE, rightly, which made the test a matter of the seed)
    host = h.Host()
    host.start(lumbar(), region=2, session_max=7200)
    host.seconds(5)
    safety = host.app.safety
    for _ in range(13):
        host.sim.inject("loadcell_spikes", per_s=host.board.control_hz)  # the next conversion spikes
        host.step()
        host.sim.clear("loadcell_spikes")
        assert safety.spikes == 1, safety.spikes  # held back: the one of its window
        host.seconds(1.5)
    assert host.app.state == 3, "an isolated spike latched %s" % FAULT_NAME.get(host.app.fault)
    assert host.sim.peak_force_dn() <= 6000 * 102 // 100
    h.cleanup()


@hazard("H-14")
def test_cable_snap_mid_hold():
    run("cable_snap", expect=("CABLE_SNAP",))
    h.cleanup()


@hazard("H-14")
def test_slack_when_the_line_never_tightens():
    run("cable_snap", at_s=0.2, expect=("SLACK",))
    h.cleanup()


@hazard("H-18")
def test_tracking_when_the_force_drifts_off_target():
    # encoder checks off, so the creeping motor is caught by tracking, the layer behind them
    host = h.Host(region="cervical", cfg=h.config("cervical", safety={"motor_cmd_pm": 2000}))
    run("motor_ignoring", {"speed": 25}, at_s=6, region=1, limit=2500, phases=cervical(1000), host=host,
        expect=("TRACKING",))
    h.cleanup()


@hazard("H-10")
def test_stop_switch_releases_and_latches_until_released():
    host = run("stop_switch", expect=("STOP_SWITCH",))
    assert any(e["kind"] == 4 and e["code"] == 1 for e in host.events)
    _clears_only_once_gone(host, None, "stop_switch")
    h.cleanup()


@hazard("H-10")
def test_stop_switch_refuses_start():
    host = h.Host()
    host.setup(lumbar())
    host.sim.inject("stop_switch")
    host.step(2)
    assert host.app.state == FAULT_STATE and host.app.fault == FAULT["STOP_SWITCH"]
    h.cleanup()


@hazard("H-15")
def test_lease_lost_when_the_host_goes_quiet():
    host = run("link_silent", expect=("LEASE_LOST",))
    host.sim.clear("link_silent")
    host.ok("CLEAR_FAULT")
    h.cleanup()


@hazard("H-13")
def test_motor_stalled():
    run("motor_stalled", expect=("MOTOR",))
    h.cleanup()


@hazard("H-09")
def test_motor_ignoring_commands():
    run("motor_ignoring", at_s=5, expect=("MOTOR", "OVER_FORCE", "TRACKING"))
    h.cleanup()


@hazard("H-10")
def test_estop_from_the_operator():
    host = run("ESTOP", expect=("ESTOP",))
    host.ok("CLEAR_FAULT")
    h.cleanup()


@hazard("H-19")
def test_not_calibrated_refuses_start():
    cfg = h.config()
    cfg["provision"]["calibration"] = None
    host = h.Host(cfg=cfg)
    host.setup(lumbar())
    r = host.cmd("START")
    assert r.name == "NAK" and r["error"] == 4 and host.app.state == 2
    assert not host.status()["flags"] & 2 and not host.board.motor.enabled()
    h.cleanup()


def _drifting(per_min, positive):
    for seed in range(1, 40):
        cfg = h.config(seed=seed)
        cfg["loadcell"]["drift_n_per_min"] = per_min
        host = h.Host(cfg=cfg)
        if (host.board.loadcell.drift_n_s > 0) == positive:
            return host
    raise AssertionError("no seed drifts that way")


@hazard("H-07")
def test_zero_drift_at_start_latches_and_tare_recovers():
    host = _drifting(240, True)
    host.setup(lumbar())
    host.seconds(3)  # idle: the unloaded reading walks away from zero
    host.ok("START")
    assert host.app.state == FAULT_STATE and host.app.fault == FAULT["ZERO_DRIFT"]
    assert not host.board.motor.enabled() and host.records() == []
    host.ok("CLEAR_FAULT")
    host.ok("TARE")
    host.setup(lumbar())
    host.ok("START")
    assert host.app.state == 3
    h.cleanup()


def _drift_between_holds(per_min, positive):
    host = _drifting(per_min, positive)
    phases = [h.phase(mode=2, force_dn=3000, base_dn=0, hold_ms=3000, rest_ms=6000, ramp_up_ms=3000,
                      ramp_down_ms=2000, duration_ms=60000)]
    host.start(phases, region=2, session_max=7200)
    assert host.until(lambda: host.app.state == FAULT_STATE and not host.board.motor.enabled(), 60)
    # at rest the zero check finds it; under tension the current sense disagrees first
    assert host.app.fault in (FAULT["ZERO_DRIFT"], FAULT["FORCE_DISAGREE"]), FAULT_NAME[host.app.fault]
    return host


@hazard("H-07")
def test_zero_drift_found_unloaded_between_holds():
    host = _drift_between_holds(300, True)
    assert host.sim.peak_force_dn() <= 7200
    h.cleanup()


@hazard("H-07")
def test_a_load_cell_drifting_low_is_found_before_it_overloads_the_patient():
    # Reading low, the loop pulls harder than prescribed and, held at a reading of zero in a rest, the
    # line stays under tension: the rest slackens the line, so the first rest finds the drift.
    host = _drift_between_holds(120, False)
    assert host.sim.peak_force_dn() <= 3000 + 3000 // 10
    assert host.app.session.session_ms < 20000
    h.cleanup()


@hazard("H-16")
def test_a_firmware_error_in_the_tick_cuts_the_motor_and_latches_internal():
    host = h.Host()
    host.start(lumbar(), region=2, session_max=7200)
    host.seconds(5)

    def broken(force, dt_us):
        raise ValueError("bug")

    host.app.session.tick = broken
    clock = host.board.clock
    wait = clock.wait_tick
    ticks = [0]

    def bounded_wait():
        ticks[0] += 1
        if ticks[0] > 2000:
            raise AssertionError("run() did not return")  # fail the test rather than hang it
        wait()

    clock.wait_tick = bounded_wait
    # run() is the board's loop: it must survive the error, and hand the port over once the motor is off
    host.board.link.host_write(b"\x00\r\x03")
    host.app.run()
    assert host.app.state == FAULT_STATE and host.app.fault == FAULT["INTERNAL"]
    assert not host.board.motor.enabled() and host.app.link.repl
    h.cleanup()


@hazard("H-04", "H-05", "H-06")
def test_a_board_without_a_second_force_channel_is_refused_at_boot():
    from traction_fw import hal
    from traction_fw.app import App

    board = hal.load(h.config())
    board.motor.position = lambda: None  # no encoder ...
    board.motor.current = lambda: None  # ... and no current sense: the load cell alone
    try:
        App(board)
    except ValueError as e:
        assert "second force channel" in str(e)
    else:
        raise AssertionError("a board with the load cell as its only force channel booted")
    h.cleanup()


@hazard("H-16")
def test_a_tick_that_keeps_raising_starves_the_watchdog():
    # the watchdog is fed at the end of the tick: only a tick whose safety checks all ran feeds it. A
    # check that raises on every tick (whatever the state) lets it reset the board.
    from traction_fw.hal.sim.board import BoardReset

    host = h.Host()
    host.start(lumbar(), region=2, session_max=7200)
    host.seconds(2)
    host.board.watchdog.start(1000)

    def broken(*args):
        raise ValueError("bug")

    host.app.cross.update = broken
    ticks = 0
    try:
        while ticks < 300:
            ticks += 1
            host.board.clock.wait_tick()
            try:
                host.app.tick()
            except ValueError:
                host.app.internal_fault()
    except BoardReset as e:
        assert e.cause == 1 and 95 <= ticks <= 110, (e.cause, ticks)  # 1 s of 10 ms periods
    else:
        raise AssertionError("the watchdog never fired")
    h.cleanup()


def test_a_healthy_hold_is_not_taken_for_the_channels_parting():
    # The trend check once latched FORCE_DISAGREE 39 s into this healthy 60 s lumbar hold (seed 3, started
    # after two minutes idle): its reference block, the ramp's end, sat 3 N off the hold's, and one block's
    # noise took the next past the band. Seen as x60 e2e sessions ending FAULT on a loaded machine, where
    # the host's START came late.
    host = h.Host(cfg=h.config(seed=3))
    host.seconds(120)
    host.start([h.phase(mode=1, force_dn=2500, ramp_up_ms=5000, ramp_down_ms=5000, duration_ms=60000)],
               region=2)
    assert host.until(lambda: host.app.state != 3, 90)
    assert host.app.fault == 0 and host.app.end_reason == "COMPLETED", (host.app.fault, host.app.end_reason)
    h.cleanup()
