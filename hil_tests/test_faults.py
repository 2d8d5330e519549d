"""Faults end to end: each ends in FAULT with the motor off and the force released, latched until cleared."""

import pytest
from hil_support import LONG_STATIC_RAMP_S, on_the_line, plan, wait_until
from traction import NakError, Session

# injection, its parameters, the faults the board may name for it (where the sensor cannot tell two causes
# apart, either is right), and whether the line can go slack (a stalled winch cannot pay out); each case
# names its hazard in docs/safety.md's register (tools/hazard_matrix.py reads these).
CASES = [
    pytest.param("stop_switch", {}, {"STOP_SWITCH"}, True, id="stop_switch",
                 marks=pytest.mark.hazard("H-10")),
    pytest.param("cable_snap", {}, {"CABLE_SNAP"}, True, id="cable_snap", marks=pytest.mark.hazard("H-14")),
    pytest.param("loadcell_disconnected", {"mode": "rails"}, {"ADC_SATURATED"}, True,
                 id="loadcell_disconnected-rails", marks=pytest.mark.hazard("H-02")),
    pytest.param("loadcell_disconnected", {"mode": "zero"}, {"CABLE_SNAP", "ADC_IMPLAUSIBLE"}, True,
                 id="loadcell_disconnected-zero", marks=pytest.mark.hazard("H-02")),
    pytest.param("loadcell_stuck", {}, {"ADC_IMPLAUSIBLE"}, True, id="loadcell_stuck",
                 marks=pytest.mark.hazard("H-04")),
    pytest.param("loadcell_stale", {}, {"ADC_SILENT"}, True, id="loadcell_stale",
                 marks=pytest.mark.hazard("H-02")),
    # Spikes come at random in device time, and when the injection lands in device time depends on the
    # machine's load: spikes on consecutive samples read as a force above the ceiling (OVER_FORCE), or as
    # one the motor current does not show (FORCE_DISAGREE).
    pytest.param("loadcell_spikes", {"per_s": 5}, {"ADC_IMPLAUSIBLE", "RATE", "FORCE_DISAGREE", "OVER_FORCE"},
                 True, id="loadcell_spikes", marks=pytest.mark.hazard("H-03")),
    pytest.param("motor_stalled", {}, {"MOTOR", "TRACKING", "SLACK"}, False, id="motor_stalled",
                 marks=pytest.mark.hazard("H-13")),
    pytest.param("motor_ignoring", {"speed": 1000}, {"MOTOR", "RATE", "OVER_FORCE"}, True,
                 id="motor_ignoring-1000", marks=pytest.mark.hazard("H-09")),
    pytest.param("motor_ignoring", {"speed": 0}, {"MOTOR", "TRACKING"}, True, id="motor_ignoring-0",
                 marks=pytest.mark.hazard("H-13")),
]
RUNAWAY_MARGIN = 1.05  # a runaway motor outruns detection for a few periods; 5 % over the limit at most


def holding(device):
    session = Session(device, plan("long_static")).start()
    on_the_line(device, 300, LONG_STATIC_RAMP_S)
    return session


def ended_in_fault(device, session, names):
    status = wait_until(lambda: (s := device.status()).state == "FAULT" and s, what="a fault")
    assert status.fault in names
    # The release that follows a fault drives the motor (SPEC section 7); then it is disabled.
    status = wait_until(lambda: (s := device.status()).state == "FAULT" and not s.motor_enabled and s,
                        what="the release to end")
    record = session.wait(timeout=30)
    assert record is not None, session.record_error
    assert record.end["reason"] == "FAULT" and record.end["fault"] == status.fault
    # The cause is in the record: a FAULT event naming it, or the ESTOP / STOP_SWITCH event itself.
    assert any(e["ev"] == status.fault or e.get("fault") == status.fault for e in record.events)
    return status


@pytest.mark.fault_injection
@pytest.mark.parametrize("name, params, names, slack", CASES)
def test_an_injected_fault_ends_in_fault_with_the_force_released(device, faults, measure, record_session,
                                                                 name, params, names, slack):
    session = holding(device)
    faults.plant()  # read once before, so a stale file is not mistaken for the outcome
    faults.inject(name, **params)
    status = ended_in_fault(device, session, names)
    record_session(device, session)
    limit_n = session.treatment.max_force_n
    wait_until(lambda: faults.plant()["motor_enabled"] is False, what="the motor disabled")
    if slack:
        wait_until(lambda: faults.plant()["true_force_dn"] < 50, what="the line released")
    plant = faults.plant()
    # No fault makes the board pull harder (the line's true force, from the virtual board's side channel).
    measure("true_peak_force", plant["peak_force_dn"] / 10, "N", high=limit_n * RUNAWAY_MARGIN)
    measure("true_force_once_faulted", plant["true_force_dn"] / 10, "N", high=300)  # never above the hold

    # Latched: the cause gone is not enough, CLEAR_FAULT is.
    faults.clear(name)
    if slack:
        wait_until(lambda: device.status().force_n < 5, what="a plausible zero reading")
        assert device.status().state == "FAULT" and device.status().fault == status.fault
        wait_until(lambda: cleared(device), what="CLEAR_FAULT accepted once the cause is gone")


def cleared(device):
    """CLEAR_FAULT; False while the board still sees the cause (it may watch the sensor for a while)."""
    try:
        return device.clear_fault() == "IDLE"
    except NakError as e:
        if e.error != "CAUSE_PRESENT":
            raise
        return False


@pytest.mark.fault_injection
@pytest.mark.hazard("H-10")
def test_the_stop_switch_latches_until_released_and_cleared(device, faults):
    session = holding(device)
    faults.press_stop()
    status = ended_in_fault(device, session, {"STOP_SWITCH"})
    assert status.stop_switch
    wait_until(lambda: device.status().force_n < 5, what="the force released")
    with pytest.raises(NakError) as refused:
        device.clear_fault()
    assert refused.value.error == "CAUSE_PRESENT"
    faults.release_stop()
    wait_until(lambda: not device.status().stop_switch, what="the switch released")
    assert device.status().state == "FAULT"
    wait_until(lambda: cleared(device), what="CLEAR_FAULT accepted")
    # Pressed while idle it latches too (from any state, SPEC section 7).
    faults.press_stop()
    assert wait_until(lambda: (s := device.status()).state == "FAULT" and s).fault == "STOP_SWITCH"


@pytest.mark.hazard("H-10")
def test_an_emergency_stop_from_the_host_releases_and_latches(device, sim, measure, record_session):
    session = holding(device)
    assert session.estop() == "FAULT"
    status = ended_in_fault(device, session, {"ESTOP"})
    assert status.fault == "ESTOP"
    record_session(device, session)
    wait_until(lambda: device.status().force_n < 5, what="the force released")
    limit_n = session.treatment.max_force_n
    if sim is not None:
        wait_until(lambda: sim.plant()["true_force_dn"] < 50, what="the line released")
        measure("true_peak_force", sim.plant()["peak_force_dn"] / 10, "N", high=limit_n)
    else:  # a real board: what it measured, from its signed record
        measure("peak_force", session.record.end["peak_dn"] / 10, "N", high=limit_n)
    measure("force_released", device.status().force_n, "N", high=5)
    assert device.status().state == "FAULT"
    assert device.clear_fault() == "IDLE"
