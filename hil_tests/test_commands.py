"""Every command in every state, accepted or refused as protocol/SPEC.md section 7 says."""

import time

import pytest
from hil_support import plan, to_idle, wait_until
from traction import NakError
from traction_protocol import BY_NAME
from traction_protocol.constants import STATE_NAME

# SPEC section 7, one row per state: "A" accepted, state unchanged; "A>STATE" accepted, the board then in
# STATE; otherwise the NAK error. RECORD_READ and RECORD_ACK name a record no board holds, so a state that
# accepts them answers UNKNOWN_RECORD (not BAD_STATE). SERVICE_ENTER in IDLE: the jumper is not fitted.
# CALIBRATE in SERVICE carries too few weights, so it is refused for that (OUT_OF_RANGE), not the state.
# WATCHDOG_TEST in SERVICE resets the board: not sent here (host_sdk/tests/test_commissioning.py runs it).
ALWAYS = {"HELLO": "A", "HEARTBEAT": "A", "SET_TIME": "A", "GET_STATUS": "A", "RECORD_LIST": "A",
          "RECORD_READ": "UNKNOWN_RECORD", "RECORD_ACK": "UNKNOWN_RECORD", "PROVISION": "NOT_SERVICE",
          "CALIBRATE": "NOT_SERVICE", "ESTOP": "A>FAULT", "LOADCELL_READ": "A", "JOG": "NOT_SERVICE",
          "WATCHDOG_TEST": "NOT_SERVICE", "STREAM": "A"}
REFUSED = {name: "BAD_STATE" for name in ("SETUP", "PHASE", "START", "PAUSE", "RESUME", "EDIT_FORCE",
                                          "CLEAR_FAULT", "TARE", "SERVICE_ENTER", "SERVICE_EXIT")}
TABLE = {
    "IDLE": {**ALWAYS, **REFUSED, "SETUP": "A", "PHASE": "NO_SETUP", "START": "NO_SETUP", "STOP": "A",
             "TARE": "A", "SERVICE_ENTER": "NO_JUMPER"},
    "READY": {**ALWAYS, **REFUSED, "SETUP": "A>IDLE", "PHASE": "A", "START": "A>RUNNING", "STOP": "A>IDLE",
              "TARE": "A"},
    "RUNNING": {**ALWAYS, **REFUSED, "PAUSE": "A>PAUSED", "RESUME": "A", "EDIT_FORCE": "A",
                "STOP": "A>RELEASING"},
    "PAUSED": {**ALWAYS, **REFUSED, "PAUSE": "A", "RESUME": "A>RUNNING", "EDIT_FORCE": "A",
               "STOP": "A>RELEASING"},
    "RELEASING": {**ALWAYS, **REFUSED, "STOP": "A"},
    "FAULT": {**ALWAYS, **REFUSED, "STOP": "A", "ESTOP": "A", "CLEAR_FAULT": "A>IDLE"},
    "SERVICE": {**ALWAYS, **REFUSED, "STOP": "A", "TARE": "A", "SERVICE_ENTER": "A",
                "SERVICE_EXIT": "A>IDLE", "PROVISION": "A", "CALIBRATE": "OUT_OF_RANGE",
                "JOG": "A", "WATCHDOG_TEST": "SKIP"},
}
# Queries and refusals first; then the commands that change the board, so that one changing what the
# state hides (SETUP in IDLE keeps a setup pending) comes after those it would affect.
COMMANDS = ["HELLO", "HEARTBEAT", "SET_TIME", "GET_STATUS", "LOADCELL_READ", "STREAM", "RECORD_LIST",
            "RECORD_READ", "RECORD_ACK", "PROVISION", "CALIBRATE", "JOG", "WATCHDOG_TEST", "PHASE", "START",
            "PAUSE", "RESUME", "EDIT_FORCE", "CLEAR_FAULT", "TARE", "SERVICE_ENTER", "SERVICE_EXIT", "SETUP",
            "STOP", "ESTOP"]
NO_SUCH_RECORD = 65535
TRANSIENT = ("RELEASING",)
SLOW = pytest.mark.time_scale(5)  # time to look at RUNNING/PAUSED/RELEASING, and a HELLO's short lease

PLAN = plan("long_static")


def test_the_table_covers_every_host_command_in_every_state():
    host_commands = {spec.name for spec in BY_NAME.values() if spec.sender == "host"}
    assert set(COMMANDS) == host_commands
    assert set(TABLE) == set(STATE_NAME.values())
    assert all(set(row) == host_commands for row in TABLE.values())


def fields(dev, command):
    """Valid fields for each command: only the state decides the answer."""
    info = dev.info
    return {
        "HELLO": {"host_version": 2},
        "HEARTBEAT": {"lease_ms": dev.lease_asked_ms},
        "SET_TIME": {"utc_s": int(time.time())},
        "STREAM": {"samples": 0},  # off: the answer is the state's, and no SAMPLES follow
        "SETUP": PLAN.setup_message(session_id=7, telemetry_div=0),
        "PHASE": PLAN.phase_messages()[0],
        "EDIT_FORCE": {"force_dn": 2800},
        "JOG": {"speed_pm": -100, "ms": 100},  # paying out a little: harmless in any state
        "RECORD_READ": {"record_id": NO_SUCH_RECORD, "offset": 0},
        "RECORD_ACK": {"record_id": NO_SUCH_RECORD},
        "PROVISION": {"serial": info.serial, "hard_max_dn": round(info.hard_max_n * 10),
                      "cervical_max_dn": round(info.cervical_max_n * 10),
                      "lumbar_max_dn": round(info.lumbar_max_n * 10), "key": dev.key or bytes(32)},
        # two weights: SERVICE takes the command and refuses the calibration, leaving the board's as it was
        "CALIBRATE": {"zero_counts": 0, "span_counts": 4000000, "span_dn": 10000, "date_s": int(time.time()),
                      "nonlin_ppm": 0, "weights": [5000, 10000]},
    }.get(command, {})


def enter(dev, state, board):
    """From IDLE to `state`, through the link (and the service jumper on a virtual board)."""
    if state == "IDLE":
        return
    if state == "FAULT":
        dev.command("ESTOP")
        return
    if state == "SERVICE":
        board.service_jumper(True)
        wait_until(lambda: dev.status().service_jumper, what="the service jumper")
        dev.command("SERVICE_ENTER")
        return
    dev.command("SETUP", **fields(dev, "SETUP"))
    dev.command("PHASE", **fields(dev, "PHASE"))
    if state == "READY":
        return
    dev.command("START")
    if state == "PAUSED":
        dev.command("PAUSE")
    elif state == "RELEASING":
        wait_until(lambda: dev.status().force_n > 50, what="force to release")
        dev.command("STOP")


def send(dev, command):
    """(accepted, state after) for one command."""
    try:
        reply = dev.command(command, **fields(dev, command))
    except NakError as e:
        return e.error, e.state
    if command == "HELLO":
        dev.command("HEARTBEAT", lease_ms=dev.lease_asked_ms)  # HELLO grants a short lease: take ours back
    state = reply.fields.get("state")  # RECORDS carries none
    return "A", STATE_NAME[state] if state is not None else dev.status().state


@pytest.mark.parametrize("state", [
    "IDLE", "READY", pytest.param("RUNNING", marks=SLOW), pytest.param("PAUSED", marks=SLOW),
    pytest.param("RELEASING", marks=SLOW), "FAULT",
    pytest.param("SERVICE", marks=pytest.mark.fault_injection)])
def test_every_command_is_accepted_or_refused_as_the_state_table_says(device, sim, state):
    if state == "SERVICE" and sim is None:
        pytest.skip("SERVICE needs the service jumper: the virtual board's side channel")
    current = None
    for command in COMMANDS:
        expected = TABLE[state][command]
        if expected == "SKIP":
            continue
        for _attempt in range(3):
            if current != state:
                to_idle(device)
                if sim is not None:
                    sim.service_jumper(False)
                enter(device, state, sim)
                current = state
            answer, after = send(device, command)
            if state in TRANSIENT and after == "IDLE" and expected != "A>IDLE":
                current = None  # the release ended under us: enter it again and repeat
                continue
            break
        if expected.startswith("A"):
            wanted_after = expected[2:] or state
            assert (answer, after) == ("A", wanted_after), f"{command} in {state}"
        else:
            assert (answer, after) == (expected, state), f"{command} in {state}"
        current = after


def test_nothing_on_the_link_raises_a_limit(device):
    info = device.info
    lumbar_max_dn = round(info.lumbar_max_n * 10)
    setup = fields(device, "SETUP")
    # A session ceiling above the provisioned maximum is accepted, but the maximum still rules.
    device.command("SETUP", **{**setup, "session_max_dn": 65535})
    over = {**fields(device, "PHASE"), "force_dn": lumbar_max_dn + 10}
    with pytest.raises(NakError) as refused:
        device.command("PHASE", **over)
    assert refused.value.error == "OVER_LIMIT"
    # The session's own ceiling is a limit too.
    device.command("SETUP", **{**setup, "session_max_dn": 2000})
    with pytest.raises(NakError) as refused:
        device.command("PHASE", **fields(device, "PHASE"))  # 300 N > 200 N
    assert refused.value.error == "OVER_LIMIT"
    device.command("SETUP", **setup)
    device.command("PHASE", **fields(device, "PHASE"))
    device.command("START")
    with pytest.raises(NakError) as refused:
        device.command("EDIT_FORCE", force_dn=setup["session_max_dn"] + 10)
    assert refused.value.error == "OVER_LIMIT"
    assert device.status().state == "RUNNING"
    device.stop()


@pytest.mark.fault_injection
def test_provisioning_cannot_raise_a_maximum(device, faults, connect):
    faults.service_jumper(True)
    wait_until(lambda: device.status().service_jumper, what="the service jumper")
    device.command("SERVICE_ENTER")
    provision = fields(device, "PROVISION")
    for key in ("hard_max_dn", "cervical_max_dn", "lumbar_max_dn"):
        with pytest.raises(NakError) as refused:
            device.command("PROVISION", **{**provision, key: provision[key] + 1})
        assert refused.value.error == "LIMIT_RAISE", key
    device.command("PROVISION", **{**provision, "lumbar_max_dn": provision["lumbar_max_dn"] - 100})
    device.command("SERVICE_EXIT")
    device.close()
    assert round(connect().info.lumbar_max_n * 10) == provision["lumbar_max_dn"] - 100
