"""The link under stress: a host that vanishes, a link that goes silent, a board that resets, garbage."""

import random
import time

import pytest
from hil_support import LONG_STATIC_RAMP_S, on_the_line, plan, wait_until
from traction import BoardUnreachable, Session
from traction.record import verify
from traction_protocol import cobs, encode

RELEASE_MAX_MS = 10000  # SPEC section 8
LINK_BYTES_S = 11520  # 115200 baud, 8N1 (SPEC section 2)


def start_holding(device, force_n=300.0):
    """A long static session, once the force is on the line."""
    session = Session(device, plan("long_static")).start()
    on_the_line(device, force_n, LONG_STATIC_RAMP_S)
    return session


def lapse_s(device):
    """Wall seconds for the board's lease to lapse and its release to end, with room to spare."""
    return (device.lease_ms + RELEASE_MAX_MS) / 1000 / device.info.time_scale + 1.0


def assert_released(dev, sim):
    status = wait_until(lambda: (s := dev.status()).force_n < 5 and s, what="the force released")
    assert status.state == "FAULT" and not status.motor_enabled
    if sim is not None:
        wait_until(lambda: sim.plant().get("true_force_dn", 999) < 50, what="the true force released")
        assert sim.plant()["motor_enabled"] is False
    return status


def recovered(dev, session_id):
    """Fetch what the board holds; the one record of session_id, verified and acknowledged."""
    fetched = [f for f in dev.fetch_records() if f.record and f.record.session_id == session_id]
    assert len(fetched) == 1, "the session's record is not on the board"
    assert fetched[0].acked and not dev.status().record_pending
    return fetched[0].record


@pytest.mark.hazard("H-15")
def test_a_host_that_vanishes_mid_session_finds_the_record_on_reconnect(device, connect, sim):
    session = start_holding(device)
    row = session.row
    device.close()  # no STOP, no more heartbeats: the host is gone
    if sim is not None:
        # A loaded machine slows the virtual board's clock, and a host back before the lease lapsed keeps
        # it with its heartbeats (as it should): reconnect once the side channel shows the motor cut.
        wait_until(lambda: sim.plant()["motor_enabled"] is False, timeout=lapse_s(device) + 10.0,
                   what="the lease to lapse and the release to end")
    else:
        time.sleep(lapse_s(device))
    dev = connect(fetch=False)
    status = assert_released(dev, sim)
    assert status.fault == "LEASE_LOST"
    record = recovered(dev, session.session_id)
    assert record.end["reason"] == "FAULT" and record.end["fault"] == "LEASE_LOST"
    assert dev.store.session(row)["outcome"] == "FAULT"  # the store ties the record to the session
    assert dev.store.telemetry(row), "telemetry received before the loss is kept"
    dev.clear_fault()
    assert dev.status().state == "IDLE"


@pytest.mark.fault_injection
@pytest.mark.hazard("H-15")
def test_a_silent_link_makes_the_board_release_and_keep_the_record(device, connect, faults):
    session = start_holding(device)
    faults.inject("link_silent")
    wait_until(lambda: "link_silent" in faults.plant()["faults"], what="the link to go silent")
    with pytest.raises(BoardUnreachable):
        device.status()
    device.close()
    time.sleep(lapse_s(device))
    wait_until(lambda: faults.plant()["motor_enabled"] is False, what="the motor disabled")
    faults.clear("link_silent")
    dev = connect(fetch=False)
    assert assert_released(dev, faults).fault == "LEASE_LOST"
    record = recovered(dev, session.session_id)
    assert record.end["reason"] == "FAULT" and record.end["fault"] == "LEASE_LOST"


@pytest.mark.fault_injection
@pytest.mark.hazard("H-17")
def test_a_board_reset_mid_session_seals_the_record_at_the_next_boot(device, connect, faults):
    session = start_holding(device)
    faults.reset()
    wait_until(lambda: faults.restarts == 1, what="the board to restart")
    device.close()  # a real board's USB port goes away with it
    dev = connect(fetch=False)
    status = assert_released(dev, faults)
    assert status.fault == "RESET"
    record = recovered(dev, session.session_id)
    assert record.end["reason"] == "RESET" and record.end["fault"] == "RESET"


def junk(rng, frames):
    """Silent junk (SPEC 3.1 steps 1-5): noise, frames with 1-3 bits flipped before COBS encoding (CRC-16
    catches every such error), truncated frames, runs past 255 bytes, stray delimiters, broken COBS."""
    frame = rng.choice(frames)
    kind = rng.randrange(6)
    if kind == 0:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
    elif kind == 1:
        body = bytearray(cobs.decode(frame[:-1]))
        for bit in rng.sample(range(len(body) * 8), rng.randint(1, 3)):
            body[bit // 8] ^= 1 << (bit % 8)
        data = cobs.encode(bytes(body)) + b"\x00"
    elif kind == 2:
        data = frame[: rng.randrange(1, len(frame) - 1)] + b"\x00"
    elif kind == 3:
        data = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(256, 700))) + b"\x00"
    elif kind == 4:
        data = b"\x00" * rng.randrange(1, 8)
    else:
        data = bytes([0x40]) + frame[:3] + b"\x00"  # a code byte pointing past the end of the block
    # CR Ctrl-C at the start of a block hands the port to the REPL when the board is idle (SPEC 11).
    return data.replace(b"\r\x03", b"\r\x04")


@pytest.mark.parametrize("running", [True, False], ids=["running", "idle"])
def test_a_garbage_storm_leaves_the_board_safe_and_answering(device, sim, running):
    rng = random.Random(97012)
    frames = [encode(name, seq, fields) for seq, (name, fields) in enumerate(
        [("GET_STATUS", {}), ("ESTOP", {}), ("STOP", {}), ("EDIT_FORCE", {"force_dn": 8000}),
         ("HEARTBEAT", {"lease_ms": 200})], start=1)]
    session = start_holding(device) if running else None
    limit_n = session.treatment.max_force_n if running else 0.0
    port = device.link.port
    sent = 0
    give_up = time.monotonic() + 60.0  # the storm is counted in bytes: a busy machine takes longer to send
    while sent < 20_000:
        assert time.monotonic() < give_up, f"the storm sent only {sent} bytes in 60 s"
        burst = b"".join(junk(rng, frames) for _ in range(10))
        port.write(burst)
        sent += len(burst)
        time.sleep(len(burst) / LINK_BYTES_S)  # no faster than a real link can carry
        status = device.status()  # answered through the storm (retransmission covers lost frames)
        assert status.state == ("RUNNING" if running else "IDLE") and status.fault is None
        assert status.force_n <= limit_n + 5
    assert device.link.retransmissions > 0  # the storm did hit the link
    status = device.status()
    assert status.state == ("RUNNING" if running else "IDLE")
    if running:
        assert status.force_n == pytest.approx(300, abs=10)
        if sim is not None:
            assert sim.plant()["peak_force_dn"] <= limit_n * 10
        session.stop()
        record = session.wait(timeout=30)
        assert record is not None and record.end["reason"] == "STOPPED"
        assert verify(record.raw, device.key).mac == record.mac
    if sim is not None:
        assert sim.restarts == 0  # the firmware never left for the REPL nor crashed


def test_a_repl_break_in_does_not_interrupt_a_treatment(device, sim):
    start_holding(device)
    device.link.port.write(b"\x00\r\x03\r\x01")  # what mpremote sends to take the port over
    time.sleep(0.2)
    status = device.status()
    assert status.state == "RUNNING" and status.force_n == pytest.approx(300, abs=10)
    if sim is not None:
        assert sim.restarts == 0
    device.stop()
