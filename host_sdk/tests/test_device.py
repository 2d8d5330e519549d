"""Device against the in-test fake board: handshake, lease in wall time, records fetched and acknowledged."""

import re
import time
from pathlib import Path

import pytest
from fakeboard import KEY, SERIAL, FakeBoard, signed_record
from traction.device import Device
from traction.errors import NakError, PortError
from traction.store import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def open_fake(board, store, **kw):
    return Device.open(board.url, store=store, **kw)


def test_open_handshakes_and_sets_the_time(store):
    board = FakeBoard()
    with open_fake(board, store) as dev:
        assert dev.info.serial == SERIAL and dev.info.sim and dev.info.lumbar_max_n == 890.0
        assert dev.info.modes == ("STATIC", "INTERMITTENT", "CYCLIC", "PROGRESSIVE", "REGRESSIVE")
        assert board.executed[:4] == ["HELLO", "HEARTBEAT", "SET_TIME", "RECORD_LIST"]
        assert board.fields["HEARTBEAT"]["lease_ms"] == 10000
        status = dev.status()
        assert status.state == "IDLE" and status.force_n == 1.2
        assert status.calibrated and not status.record_pending
    board.close()


def test_heartbeat_period_is_device_lease_over_time_scale(store):
    fast, slow = FakeBoard(time_scale=100), FakeBoard(time_scale=1)
    with open_fake(fast, store) as a, open_fake(slow, store) as b:
        assert a.lease_ms == 10000 and a.heartbeat_s == pytest.approx(10 / 4 / 100)
        assert b.heartbeat_s == pytest.approx(10 / 4)
        t0 = time.monotonic()
        _wait_for(lambda: fast.executed.count("HEARTBEAT") >= 6)  # the one at open, then every 25 ms
        elapsed = time.monotonic() - t0
    # the one at open, then one every 2.5 s at most (a loaded machine only makes them later)
    assert slow.executed.count("HEARTBEAT") <= 1 + int(elapsed / 2.5)
    fast.close()
    slow.close()


def test_records_are_stored_verified_then_acknowledged(store):
    board = FakeBoard()
    board.records = {n: signed_record(record_id=n, session_id=40 + n) for n in (1, 2)}
    session = store.new_session(42, SERIAL, {})
    with open_fake(board, store, key=KEY, fetch=False) as dev:
        fetched = dev.fetch_records()
    assert [(f.record_id, f.acked, f.error) for f in fetched] == [(1, True, None), (2, True, None)]
    assert board.records == {}  # acknowledged, so the board may delete them
    assert board.executed.count("RECORD_READ") >= 12  # each ~1 kB record came in 200-byte chunks
    assert [r["verified"] for r in store.records()] == [1, 1]
    row = store.session(session)
    assert row["outcome"] == "COMPLETED" and row["record"] == fetched[1].row
    board.close()


def test_a_record_that_fails_verification_is_kept_and_left_on_the_board(store):
    board = FakeBoard()
    board.records = {5: signed_record(key=b"x" * 32, record_id=5)}
    with open_fake(board, store, key=KEY) as dev:  # open picks pending records up by itself
        assert dev.info.serial == SERIAL
    (saved,) = store.records()
    assert saved["verified"] == 0 and "does not match the device key" in saved["error"] and not saved["acked"]
    assert 5 in board.records and "RECORD_ACK" not in board.executed
    board.close()


def test_without_a_key_records_are_not_acknowledged(store):
    board = FakeBoard()
    board.records = {1: signed_record()}
    with open_fake(board, store):
        pass
    assert "no device key" in store.records()[0]["error"] and 1 in board.records
    board.close()


def test_key_comes_from_the_store_by_serial(store):
    board = FakeBoard()
    board.records = {1: signed_record()}
    store.set_key(SERIAL, KEY)
    with open_fake(board, store):
        pass
    assert board.records == {} and store.records()[0]["verified"] == 1
    board.close()


def test_refused_commands_raise_nak_with_a_fix(store):
    board = FakeBoard()
    board.refuse["TARE"] = "NOT_TENSIONED"
    with open_fake(board, store) as dev:
        with pytest.raises(NakError, match="NOT_TENSIONED .*TARE needs no force"):
            dev.tare()
    board.close()


class FaultedBoard(FakeBoard):
    """A board latched in FAULT whose status shows a given force, stop switch and motor."""

    def __init__(self, fault, force_dn, stop_switch=False, motor=False):
        super().__init__()
        self.state, self.fault = 6, fault
        self.refuse["CLEAR_FAULT"] = "CAUSE_PRESENT"
        flags = 2 | (1 if stop_switch else 0) | (4 if motor else 0)
        self.status_fields = {"force_dn": force_dn, "flags": flags}

    def _reply(self, name, fields):
        return super()._reply(name, dict(fields, **self.status_fields) if name == "STATUS" else fields)


@pytest.mark.parametrize("board, words", [
    (FaultedBoard(6, 73), "the line reads 7.3 N and must read within 5 N of zero to clear CABLE_SNAP: "
                          "unload it; if nothing pulls on it the reading is off zero, and as TARE is "
                          "refused in FAULT, reset the board and tare it in IDLE"),
    (FaultedBoard(11, -150), None),  # ZERO_DRIFT clears within the TARE window (20 N): not the force
    (FaultedBoard(1, 0, stop_switch=True), "the patient stop switch is still pressed: release it"),
    (FaultedBoard(1, 300, motor=True), "the board is still releasing the force: wait for it to end; the line "
                                       "reads 30.0 N"),
], ids=["force", "zero-drift", "stop-switch", "releasing"])
def test_a_fault_that_cannot_clear_says_which_cause_the_status_shows(store, board, words):
    with open_fake(board, store) as dev:
        with pytest.raises(NakError) as e:
            dev.clear_fault()
    board.close()
    message = str(e.value)
    assert message.startswith("board refused CLEAR_FAULT: CAUSE_PRESENT (state FAULT); ")
    assert message.endswith(", then clear") and "\n" not in message
    if words:
        assert words in message
    else:
        assert "-15.0 N" in message and "check the load cell" in message


def test_a_missing_port_is_one_clear_error(store):
    with pytest.raises(PortError, match="does not exist"):
        Device.open("/dev/ttyACM99", store=store)


def test_a_session_runs_stores_what_arrives_and_ends_with_its_record(store):
    from traction.session import Session
    from traction.treatment import Treatment

    board = FakeBoard(time_scale=50)
    treatment = Treatment.from_toml('region = "lumbar"\nbody_weight = "80 kg"\n[[phase]]\nmode = "static"\n'
                                    'force = "250 N"\nduration = "1 min"\n')
    with open_fake(board, store, key=KEY) as dev:
        seen = []
        session = Session(dev, treatment, telemetry_hz=10, on_telemetry=seen.append).start()
        assert board.executed[-3:] == ["SETUP", "PHASE", "START"]
        assert board.fields["SETUP"]["telemetry_div"] == 10 and board.fields["PHASE"]["force_dn"] == 2500
        board.send("TELEMETRY", {"sample": 1000, "period_us": 100000, "state": 3, "phase": 0, "segment": 1,
                                 "samples": [(0, 100), (50, 200), (120, 300)]})
        board.send("TELEMETRY", {"sample": 1050, "period_us": 100000, "state": 3, "phase": 0, "segment": 2,
                                 "samples": [(2490, 2500)]})  # two samples (20 control ticks) lost
        samples = [next(iter_) for iter_ in [session.telemetry()] for _ in range(4)]
        assert [s.t_s for s in samples] == [0.0, 0.1, 0.2, 0.5]
        assert samples[-1].force_n == 249.0 and samples[-1].segment == "HOLD" and seen == samples
        assert session.dropped_samples == 2
        board.records = {3: signed_record(record_id=3, session_id=session.session_id)}
        board.state = 1
        board.send("EVENT", {"event": 6, "ms": 59000, "kind": 1, "code": 5, "value": 0})
        board.send("EVENT", {"event": 9, "ms": 60000, "kind": 8, "code": 0, "value": 3})  # 7 and 8 lost
        record = session.wait(timeout=5)
        # A faulted board keeps sending telemetry; the iterator still ends once the session has.
        for n in range(20):
            board.send("TELEMETRY", {"sample": 2000 + 10 * n, "period_us": 100000, "state": 6, "phase": 0,
                                     "segment": 6, "samples": [(0, 0)]})
        t0 = time.monotonic()
        assert len(list(session.telemetry())) <= 20 and time.monotonic() - t0 < 5.0  # not POLL_S per sample
    assert record is not None and record.session_id == session.session_id
    assert session.succeeded  # COMPLETED
    assert [e.describe() for e in session.events] == ["state RELEASING", "record 3 sealed"]
    assert session.dropped_events == 2
    (row,) = store.sessions()
    assert (row["outcome"], row["verified"], row["samples"], row["events"]) == ("COMPLETED", 1, 4, 2)
    assert board.records == {}
    board.close()


def test_a_session_is_refused_on_a_faulted_board_before_anything_moves(store):
    from traction.errors import TractionError
    from traction.session import Session
    from traction.treatment import Treatment

    board = FakeBoard()
    board.state = 6
    treatment = Treatment.load(EXAMPLES / "cervical_intermittent.toml")
    with open_fake(board, store) as dev:
        with pytest.raises(TractionError, match="FAULT"):
            Session(dev, treatment).start()
    assert "SETUP" not in board.executed and "START" not in board.executed
    board.close()


def test_a_refused_start_cancels_the_setup_and_is_filed_as_not_started(store):
    from traction.session import Session
    from traction.treatment import Treatment

    board = FakeBoard()
    board.refuse["START"] = "NOT_CALIBRATED"
    with open_fake(board, store) as dev:
        with pytest.raises(NakError, match="NOT_CALIBRATED.*calibrate the load cell"):
            Session(dev, Treatment.load(EXAMPLES / "cervical_intermittent.toml")).start()
    assert board.executed[-5:] == ["SETUP", "PHASE", "START", "GET_STATUS", "STOP"]
    assert store.sessions()[0]["outcome"] == "NOT_STARTED"
    board.close()


def test_a_start_that_latches_zero_drift_is_reported_not_waited_on(store):
    from traction.errors import TractionError
    from traction.session import Session
    from traction.treatment import Treatment

    board = FakeBoard()
    board.start_latches = 11  # ZERO_DRIFT
    with open_fake(board, store) as dev:
        with pytest.raises(TractionError, match="latched fault ZERO_DRIFT at START.*--clear-fault --tare"):
            Session(dev, Treatment.load(EXAMPLES / "cervical_intermittent.toml")).start()
    assert board.executed[-1] == "GET_STATUS"  # no STOP: the board is in FAULT, not READY
    assert store.sessions()[0]["outcome"] == "NOT_STARTED"
    board.close()


# ---- end to end: the real firmware on a virtual board (a few seconds each, at a high time scale) ----

E2E_SCALE = 60


@pytest.fixture
def sim(tmp_path):
    from traction.virtual_board import VirtualBoard

    with VirtualBoard(seed=3, time_scale=E2E_SCALE, store_dir=tmp_path / "board") as board:
        yield board


def _static(minutes, force="250 N"):
    from traction.treatment import Treatment

    return Treatment.from_toml(f'region = "lumbar"\nbody_weight = "80 kg"\n[[phase]]\nmode = "static"\n'
                               f'force = "{force}"\nramp_up = "5 s"\nduration = "{minutes} min"\n')


@pytest.mark.e2e
def test_e2e_pause_resume_edit_stop_are_in_the_verified_record(sim, store):
    from traction.session import Session

    with Device.open(sim.port, store=store, key=sim.key) as dev:
        session = Session(dev, _static(10), telemetry_hz=5).start()
        _wait_for(lambda: dev.status().segment == "HOLD")
        assert session.pause() == "PAUSED"
        assert session.resume() == "RUNNING"
        assert session.edit_force(200.0) == "RUNNING"
        _wait_for(lambda: abs(dev.status().force_n - 200.0) < 5)
        assert session.stop() == "RELEASING"
        record = session.wait(timeout=30)
    assert record.end["reason"] == "STOPPED" and record.end["pauses"] == 1 and record.end["edits"] == 1
    assert [e["ev"] for e in record.events] == ["PAUSE", "RESUME", "EDIT", "STOP"]
    assert record.events[2]["target_dn"] == 2000
    kinds = {e.kind for e in session.events}
    assert {"PAUSE", "RESUME", "EDIT", "RECORD"} <= kinds
    (row,) = store.sessions()
    assert row["outcome"] == "STOPPED" and row["verified"] == 1 and row["samples"] > 10


@pytest.mark.e2e
def test_e2e_a_host_that_vanishes_mid_session_gets_its_record_on_reconnect(sim, store):
    from traction.session import Session

    dev = Device.open(sim.port, store=store, key=sim.key)
    # 30 min of device time: far longer than the lease (10 s of wall time, 600 s of device time at x60)
    session = Session(dev, _static(30), telemetry_hz=5).start()
    _wait_for(lambda: dev.status().state == "RUNNING")
    _wait_for(lambda: sim.plant().get("motor_enabled"))  # what the side channel publishes is this session
    dev.link.close()  # the host is gone: no STOP, no heartbeat; the board's lease lapses
    dev.close()
    # Opening the port again would renew the lease, so watch the line, not the link: the board lets go
    # once its lease lapses (10 s of wall time, more when a loaded machine slows the virtual clock).
    _wait_for(lambda: not sim.plant().get("motor_enabled"), timeout=120.0)
    with Device.open(sim.port, store=store, key=sim.key) as again:
        _wait_for(lambda: again.status().state == "FAULT" and not again.status().motor_enabled)
        assert again.status().fault == "LEASE_LOST"
        again.fetch_records()  # sealed once the release is over
        assert again.clear_fault() == "IDLE"
    row = store.session(session.row)
    assert row["outcome"] == "FAULT" and row["record"] is not None
    assert store.record(row["record"])["verified"] == 1


@pytest.mark.e2e
def test_e2e_the_board_refuses_what_the_host_checks_too(sim, store):
    from traction.errors import NakError

    with Device.open(sim.port, store=store, key=sim.key) as dev:
        with pytest.raises(NakError, match="BAD_STATE"):
            dev.command("PAUSE")
        with pytest.raises(NakError, match="NO_SETUP"):
            dev.command("START")


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_local_port_already_open_is_refused_as_in_use():
    import os

    from traction.transport import open_port

    master, slave = os.openpty()
    path = os.ttyname(slave)
    first = open_port(path)
    try:
        with pytest.raises(PortError, match=f"^port {path} is in use by another program"):
            open_port(path)
    finally:
        first.close()
    open_port(path).close()  # free again once the first program lets go
    os.close(master)
    os.close(slave)


@pytest.mark.e2e
def test_e2e_a_second_program_on_the_port_does_not_disturb_a_running_treatment(sim, store):
    from traction.session import Session

    with Device.open(sim.port, store=store, key=sim.key) as dev:
        session = Session(dev, _static(10), telemetry_hz=5).start()
        with pytest.raises(PortError, match="in use by another program"):
            Device.open(sim.port, store=store)
        assert dev.status().state in ("RUNNING", "READY")
        assert session.stop() in ("RELEASING", "IDLE")
        record = session.wait(timeout=30)
    assert record is not None and record.end["reason"] == "STOPPED"


@pytest.mark.e2e
def test_e2e_a_board_left_at_the_repl_by_mpremote_is_named_with_the_way_out(sim, store):
    import subprocess
    import sys

    from traction.errors import BoardUnreachable

    mpremote = [sys.executable, "-m", "mpremote", "connect", sim.port]
    done = subprocess.run([*mpremote, "exec", "print(1)"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr  # mpremote leaves the board at the REPL, as a real one
    with pytest.raises(BoardUnreachable) as e:
        Device.open(sim.port, store=store)
    assert str(e.value).endswith(f"did not answer HELLO after 6 attempts (3.5 s): check the cable and that "
                                 f"the board is powered, or it is at the REPL (mpremote connect {sim.port} "
                                 "reset restarts the firmware)")
    done = subprocess.run([*mpremote, "reset"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    with Device.open(sim.port, store=store) as dev:  # the way out works
        assert dev.status().state == "IDLE"


@pytest.mark.parametrize("port, words", [
    (12345, "the port must be a path or URL string, not 12345 (int): pass a device path"),
    (None, "no port given: pass a device path"),
    ("", "no port given: pass a device path"),
])
def test_a_port_of_the_wrong_kind_is_named(store, port, words):
    with pytest.raises(PortError, match="^" + re.escape(words)):
        Device.open(port, store=store)


def test_a_port_may_be_a_path_object(store):
    with pytest.raises(PortError, match="^port /dev/ttyACM99 does not exist"):
        Device.open(Path("/dev/ttyACM99"), store=store)
