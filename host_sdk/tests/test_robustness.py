"""The host under ordinary interference: another program on the port, a store locked by another
program, a board that stops answering or goes away mid-treatment, a line that damages bytes, and a
virtual board whose clock runs fast. None of it may abandon a running treatment or lose data."""

import os
import sqlite3
import termios
import threading
import time

import pytest
from fakeboard import KEY, FakeBoard, signed_record, telemetry
from traction.device import Device
from traction.errors import PortError
from traction.session import Session
from traction.store import Store
from traction.transport import open_port
from traction.treatment import Treatment

E2E_SCALE = 60


def _static(minutes, force="250 N"):
    return Treatment.from_toml(f'region = "lumbar"\nbody_weight = "80 kg"\n[[phase]]\nmode = "static"\n'
                               f'force = "{force}"\nramp_up = "5 s"\nduration = "{minutes} min"\n')


def _wait_for(predicate, timeout=30.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


@pytest.fixture
def fake():
    b = FakeBoard(time_scale=50)
    yield b
    b.close()


# ---- the port ----

def test_a_port_opened_through_a_pyserial_url_is_locked_like_its_path():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        first = open_port(f"spy://{path}?file=/dev/null")
        with pytest.raises(PortError, match=f"^port {path} is in use by another program"):
            open_port(path)
        first.close()
        first = open_port(path)
        with pytest.raises(PortError, match=f"^port {path} is in use by another program"):
            open_port(f"alt://{path}")
        first.close()
    finally:
        os.close(master)
        os.close(slave)


def _second_reader(path, seconds, stop):
    """Another program reading the tty without locking it, as `cat` or a terminal would; its raw
    settings with VMIN=0 make the SDK's reads that lose a byte to it come back empty."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        attrs = termios.tcgetattr(fd)
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 0, 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        end = time.monotonic() + seconds
        while time.monotonic() < end and not stop.is_set():
            try:
                os.read(fd, 64)
            except BlockingIOError:
                pass
            time.sleep(0.001)
    finally:
        os.close(fd)


@pytest.mark.e2e
def test_e2e_a_second_reader_on_the_port_does_not_end_a_running_treatment(tmp_path, store):
    from traction.virtual_board import VirtualBoard

    with VirtualBoard(seed=2, time_scale=E2E_SCALE, store_dir=tmp_path / "board") as sim, \
            Device.open(sim.port, store=store, key=sim.key) as dev:
        session = Session(dev, _static(1), telemetry_hz=5).start()
        stop = threading.Event()
        for _ in range(3):  # three bursts of 1 s: the treatment goes on through each
            reader = threading.Thread(target=_second_reader, args=(sim.port, 1.0, stop))
            reader.start()
            reader.join()
            assert dev.lost is None
        record = session.wait(timeout=120)
    assert record is not None and record.end["reason"] == "COMPLETED", _ended(record)
    assert not record.end["fault"]


# ---- the store ----

def test_a_store_locked_by_another_program_for_8_s_neither_stalls_the_link_nor_loses_data(fake, store):
    with Device.open(fake.url, store=store) as dev:
        session = Session(dev, _static(10)).start()
        other = sqlite3.connect(str(store.path), isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # a second `traction run` or a sqlite3 shell holding the lock
        try:
            locked_until = time.monotonic() + 8.0
            sample = 0
            while time.monotonic() < locked_until:
                fake.send("TELEMETRY", telemetry(sample, [(100, 120), (110, 120)], period_us=10000))
                fake.send("EVENT", {"event": sample // 2, "ms": sample, "kind": 2, "code": 0, "value": 0})
                sample += 2
                assert dev.status().state == "RUNNING"  # the reader thread is free: replies arrive
                time.sleep(0.05)
        finally:
            other.execute("COMMIT")
            other.close()
        dev.command("GET_STATUS")
        store.flush()
        rows = store.telemetry(session.row)
        assert [r["sample"] for r in rows] == list(range(sample))  # every sample, in order, none twice
        assert len(store.events(session.row)) == sample // 2
        assert dev.lost is None


@pytest.mark.e2e
def test_e2e_three_treatments_sharing_one_store_all_complete_and_are_all_stored(tmp_path):
    """Three hosts (each its own connection, as three `traction run`) on one store: each waits its turn
    for the store's lock, never the link's."""
    from traction.virtual_board import VirtualBoard

    path = tmp_path / "shared.db"
    results = {}

    def one(n):
        with VirtualBoard(seed=n, time_scale=E2E_SCALE, store_dir=tmp_path / f"board{n}") as sim, \
                Store(path) as store, Device.open(sim.port, store=store, key=sim.key) as dev:
            session = Session(dev, _static(1), telemetry_hz=10).start()
            record = session.wait(timeout=180)
            results[n] = (session.session_id, record and record.end["reason"], session.dropped_samples)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(reason for _, reason, _ in results.values()) == ["COMPLETED"] * 3, results
    with Store(path) as store:
        rows = store.sessions()
    assert sorted(r["session_id"] for r in rows) == sorted(sid for sid, _, _ in results.values())
    assert all(r["outcome"] == "COMPLETED" and r["verified"] == 1 and r["samples"] > 100 for r in rows), rows


# ---- a board that stops answering, or goes away ----

def test_the_heartbeat_outlives_a_board_that_stops_answering(fake, store):
    with Device.open(fake.url, store=store) as dev:
        fake.silent = True
        time.sleep(dev.link.budget_s + 1.0)  # a heartbeat gives up (BoardUnreachable) meanwhile
        fake.silent = False
        before = fake.executed.count("HEARTBEAT")
        _wait_for(lambda: fake.executed.count("HEARTBEAT") > before + 2, what="heartbeats again")


def test_a_board_that_goes_away_mid_treatment_is_reconnected_and_its_record_fetched(fake, store):
    with Device.open(fake.url, store=store, key=KEY) as dev:
        session = Session(dev, _static(10)).start()
        fake.vanish()  # the cable is pulled; the board goes on until its lease runs out
        _wait_for(lambda: session.status() is None, what="the outage to show")
        assert session.outage.startswith(f"lost the board on {fake.url} (")
        assert "releases the force in a controlled way when its lease runs out, in at most" in session.outage
        # Meanwhile the board's lease ran out: it released, latched LEASE_LOST and sealed the record.
        fake.state, fake.fault = 7, 0x0C  # FAULT, LEASE_LOST
        fake.records = {1: signed_record(record_id=1, session_id=session.session_id, reason="FAULT")}
        record = session.wait(timeout=60)  # the device reconnects on its own
    assert dev.reconnects >= 1 and session.outage is None
    assert record is not None and record.end["reason"] == "FAULT"
    assert not session.succeeded  # a lost lease is never a success
    assert store.session(session.row)["outcome"] == "FAULT"


def _ended(record):
    """How a record ended, short enough that pytest shows it whole."""
    return record and f"{record.end['reason']} {record.end['fault']} at {record.end['end_ms']} ms"


# ---- a line that damages bytes ----

@pytest.mark.e2e
def test_e2e_a_treatment_and_its_record_cross_a_line_that_damages_one_byte_in_a_hundred(tmp_path, store):
    from traction.pty_relay import noisy_line
    from traction.virtual_board import VirtualBoard

    with VirtualBoard(seed=4, time_scale=E2E_SCALE, store_dir=tmp_path / "board") as sim:
        line = noisy_line(sim.port, 1e-2, seed=7)
        try:
            with Device.open(line.port, store=store, key=sim.key) as dev:
                session = Session(dev, _static(1), telemetry_hz=5).start()
                record = session.wait(timeout=300)
                damaged = line.noise.dropped + line.noise.corrupted
                retransmissions = dev.link.retransmissions
        finally:
            line.close()
        restarts, stderr = sim.restarts, sim.stderr_tail()
    assert damaged > 20 and retransmissions > 0
    assert restarts == 0, f"the board restarted {restarts} times; its stderr: {stderr}"
    assert record is not None and record.end["reason"] == "COMPLETED", _ended(record)
    assert not record.end["fault"]
    assert [p["mode"] for p in record.head["phases"]] == ["STATIC"]  # SETUP and PHASE ran once each
    (row,) = store.sessions()
    assert row["outcome"] == "COMPLETED" and row["verified"] == 1


# ---- virtual time a host can keep ----

@pytest.mark.parametrize("scale, lease", [(1, (300, 10000)), (2, (20000, 20000)), (30, (300000, 300000)),
                                          (100, (1000000, 1000000)), (1000, (10000000, 10000000))])
def test_a_virtual_board_grants_a_real_boards_wall_time_lease_at_any_scale(scale, lease):
    from traction.virtual_board import board_config, scaled_lease

    got = scaled_lease(board_config(), scale)
    assert (got["lease_min_ms"], got["lease_max_ms"]) == lease


@pytest.mark.parametrize("scale", [30, 100, 1000])
def test_the_host_keeps_at_least_a_second_of_wall_time_at_any_scale(store, scale):
    class FastBoard(FakeBoard):  # its longest lease is 1 s of wall time
        def info(self, re):
            return dict(super().info(re), lease_min_ms=200, lease_max_ms=1000 * scale)

    board = FastBoard(time_scale=scale)
    try:
        with Device.open(board.url, store=store) as dev:
            asked = board.fields["HEARTBEAT"]["lease_ms"]
            assert asked == 1000 * scale  # 1 s of wall time, in device ms (SPEC section 6)
            assert dev.lease_ms == asked and dev.lease_wall_s == pytest.approx(1.0)
            assert dev.heartbeat_s == pytest.approx(0.25)
            assert dev.link.rto_max <= 0.25 and dev.link.rto_first <= 0.125  # retries fit in the lease
            assert dev.link.budget_s == pytest.approx(3.5)  # but a silent board is waited for as long
    finally:
        board.close()


def test_the_virtual_board_at_x100_grants_ten_seconds_of_wall_time(tmp_path, store):
    from traction.virtual_board import VirtualBoard

    with VirtualBoard(time_scale=100, store_dir=tmp_path / "board") as sim, \
            Device.open(sim.port, store=store, key=sim.key) as dev:
        assert (dev.info.lease_min_ms, dev.info.lease_max_ms) == (1000000, 1000000)
        assert dev.lease_ms == 1000000 and dev.lease_wall_s == pytest.approx(10.0)


def test_a_start_whose_reply_is_lost_is_followed_not_filed_as_not_started(store):
    from traction_protocol import BY_ID

    class StartReplyLost(FakeBoard):
        def _on_frame(self, frame):
            if BY_ID[frame.type_id].name == "START":
                self.drop_replies = 1  # START runs (once); none of its replies gets through
            super()._on_frame(frame)

    board = StartReplyLost()
    try:
        with Device.open(board.url, store=store) as dev:
            session = Session(dev, _static(10)).start()  # no BoardUnreachable: the board is RUNNING
            assert board.executed.count("START") == 1
            assert store.session(session.row)["outcome"] is None  # running, not NOT_STARTED
            assert session.status().state == "RUNNING"
    finally:
        board.close()
