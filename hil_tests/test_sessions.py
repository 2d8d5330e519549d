"""Every session mode end to end, and the parity of what the board reports with what the host asked."""

import time

import hil_support
import pytest
from hil_support import expected_targets, plan
from traction import Session
from traction_protocol import VERSION
from traction_protocol.constants import MODE_NAME, REGION

RELEASE_MAX_S = 10  # SPEC section 8: a release never takes longer
SLACK_S = 10.0  # wall seconds of grace for a loaded machine
LATE_PERIODS = 5  # how late a phase's last tick may start on a real board (the emulated Pico: 1)
MODES = ["static", "intermittent", "cyclic", "progressive", "regressive", ("static", "intermittent")]


def run(device, treatment, **options):
    """Run a treatment to its end; fail (not hang) if the board overruns it."""
    session = Session(device, treatment, **options).start()
    budget = ((treatment.total_s + RELEASE_MAX_S) / device.info.time_scale + SLACK_S) * hil_support.SLOWDOWN
    deadline = time.monotonic() + budget
    samples = []
    for sample in session.telemetry(timeout=SLACK_S):
        samples.append(sample)
        assert time.monotonic() < deadline, f"still {sample.state} after {budget:.0f} s: {device.status()}"
    record = session.wait(timeout=SLACK_S * hil_support.SLOWDOWN)
    assert record is not None, session.record_error
    return session, samples, record


@pytest.mark.parametrize("phases", MODES, ids=lambda p: p if isinstance(p, str) else "+".join(p))
def test_a_session_runs_to_completion_and_its_record_matches_the_request(device, sim, measure, record_session,
                                                                         phases):
    treatment = plan(*([phases] if isinstance(phases, str) else phases))
    session, samples, record = run(device, treatment)
    record_session(device, session)
    asked_phases = treatment.phase_messages()
    limit_dn = round(treatment.max_force_n * 10)

    # The signed record says what the host asked for, field by field.
    head = record.head
    assert head["session_id"] == session.session_id
    assert head["serial"] == device.info.serial
    assert head["region"] == "LUMBAR" and REGION[head["region"]] == REGION["LUMBAR"]
    assert head["angle_dd"] == 120
    assert head["tolerance_dn"] == 50
    assert head["session_max_dn"] == limit_dn
    assert head["limit_dn"] == min(head["hard_max_dn"], head["region_max_dn"], limit_dn)
    assert head["hard_max_dn"] == round(device.info.hard_max_n * 10)
    assert head["region_max_dn"] == round(device.info.lumbar_max_n * 10)
    assert head["utc_start_s"] > 0  # the SDK set the board's clock
    assert len(head["phases"]) == len(asked_phases)
    for got, asked in zip(head["phases"], asked_phases, strict=True):
        assert got["mode"] == MODE_NAME[asked["mode"]]
        for key in ("force_dn", "base_dn", "hold_ms", "rest_ms", "ramp_up_ms", "ramp_down_ms", "steps",
                    "repeats", "duration_ms"):
            assert got[key] == asked[key], key

    # It ran the whole treatment, every phase, at the forces asked.
    end = record.end
    assert end["reason"] == "COMPLETED" and end["fault"] is None
    # A phase ends at the first tick past its time: on the virtual board exactly there; on a board whose
    # loop can start late (a flash write, a long command), up to that lateness after it.
    asked_ms = sum(p["duration_ms"] for p in asked_phases)
    late_ms = LATE_PERIODS * 1000 // device.info.control_hz * len(asked_phases)
    assert asked_ms <= end["treatment_ms"] <= asked_ms + late_ms, (end["treatment_ms"], asked_ms)
    measure("peak_force", end["peak_dn"] / 10, "N", high=head["limit_dn"] / 10)  # as the board measured it
    if sim is not None:  # the line's true force, from the virtual board's side channel
        measure("true_peak_force", sim.plant()["peak_force_dn"] / 10, "N", high=head["limit_dn"] / 10)
    assert [p["phase"] for p in record.phases] == list(range(len(asked_phases)))
    for index, asked in enumerate(asked_phases):
        holds = [h for h in record.holds if h["phase"] == index]
        targets = expected_targets(asked)
        if asked["mode"] in (4, 5):  # one hold line per step, in step order
            assert [h["target_dn"] for h in holds] == targets
        else:
            assert holds and {h["target_dn"] for h in holds} == set(targets)
        for h in holds:
            assert h["peak_dn"] <= h["target_dn"] * 1.05, h  # no overshoot worth the name
            assert abs(h["mean_dn"] - h["target_dn"]) <= h["target_dn"] * 0.05, h
        # The first hold may start while a slack harness is taken up; the last one holds the band.
        last = holds[-1]
        tolerance_n = head["tolerance_dn"] / 10
        measure(f"phase{index + 1}_last_hold_error", (last["mean_dn"] - last["target_dn"]) / 10, "N",
                low=-tolerance_n, high=tolerance_n)
    if asked_phases[-1]["mode"] == 3:  # CYCLIC: exactly `repeats` cycles
        assert record.phases[-1]["cycles"] == asked_phases[-1]["repeats"]

    # Telemetry: hold and step targets are the forces asked; nothing above them; it ends released.
    asked_targets = {t for p in asked_phases for t in expected_targets(p)}
    rest_targets = {p["base_dn"] for p in asked_phases if p["mode"] in (2, 3)}
    held = {round(s.target_n * 10) for s in samples if s.segment in ("HOLD", "STEP")}
    assert held == asked_targets
    assert {round(s.target_n * 10) for s in samples if s.segment == "REST"} == rest_targets
    assert max(s.target_n for s in samples) * 10 == pytest.approx(max(asked_targets), abs=0.5)
    measure("dropped_samples", session.dropped_samples, "samples", high=0)
    status = device.status()
    assert status.state == "IDLE" and not status.motor_enabled and status.force_n < 5
    assert not status.record_pending  # the SDK acknowledged the record once stored and verified


def test_info_reports_what_the_board_is(device, sim):
    info = device.info
    assert info.protocol == VERSION
    assert set(info.modes) == {"STATIC", "INTERMITTENT", "CYCLIC", "PROGRESSIVE", "REGRESSIVE"}
    assert info.lease_min_ms <= device.lease_ms <= info.lease_max_ms
    assert device.lease_wall_s >= 1.0  # a lease a host can keep, at any time scale (SPEC section 6)
    assert info.hard_max_n >= max(info.cervical_max_n, info.lumbar_max_n) > 0
    if sim is not None:
        limits = sim.config["limits"]
        # a virtual board says so; an emulated Pico runs the product image, which says "real"
        assert info.sim == ("sim" in sim.config)
        assert info.time_scale == sim.config.get("sim", {"time_scale": 1})["time_scale"]
        assert info.serial == sim.serial
        assert round(info.hard_max_n * 10) == limits["hard_max_dn"]
        assert round(info.cervical_max_n * 10) == limits["cervical_max_dn"]
        assert round(info.lumbar_max_n * 10) == limits["lumbar_max_dn"]
        assert info.control_hz == sim.config["control_hz"]
    elif not info.sim:
        assert info.time_scale == 1  # a real board runs in real time


def test_pause_holds_and_resume_continues_then_edit_and_stop_are_recorded(device):
    session = Session(device, plan("long_static")).start()
    wait_for(session, lambda s: s.segment == "HOLD" and abs(s.force_n - s.target_n) < 5)
    assert session.pause() == "PAUSED"
    time.sleep(0.1)
    paused = device.status()
    time.sleep(0.3)
    still = device.status()
    # The timer stands still and the force is held where it was.
    assert still.state == "PAUSED" and still.treatment_s == paused.treatment_s
    assert still.target_n == paused.target_n and still.force_n == pytest.approx(still.target_n, abs=5)
    assert still.target_n == pytest.approx(300, abs=5)
    assert session.resume() == "RUNNING"
    assert session.edit_force(270.0) == "RUNNING"
    wait_for(session, lambda s: s.state == "RUNNING" and s.target_n == pytest.approx(270.0))
    assert session.stop() == "RELEASING"
    record = session.wait()
    assert record is not None, session.record_error
    end = record.end
    assert end["reason"] == "STOPPED" and end["pauses"] == 1 and end["edits"] == 1
    kinds = [e["ev"] for e in record.events]
    assert kinds[:3] == ["PAUSE", "RESUME", "EDIT"] and "STOP" in kinds
    edit = next(e for e in record.events if e["ev"] == "EDIT")
    assert edit["target_dn"] == 2700
    assert record.head["phases"][0]["force_dn"] == 3000  # the plan as asked; the edit is an event


def wait_for(session, condition, timeout=20.0):
    for sample in session.telemetry(timeout=timeout):
        if condition(sample):
            return sample
    raise AssertionError(f"telemetry never showed the awaited condition (last: {session.latest})")
