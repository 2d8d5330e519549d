# The record spool (traction_fw/spool.py, recorder.py): a treatment's items and checkpoints wait in a raw
# region of the store as rows and become the record's lines in one append with the seal, or when the
# region is full; what a reset leaves there becomes lines at the next boot, once, and only where the
# record still ends where the spool begins.

import json
from struct import pack_into

import fw_harness as h
from hazard import hazard
from traction_fw import record
from traction_fw.hal.sim.region import FileRegion
from traction_fw.journal import EV_EDIT, EV_PAUSE, R_EV
from traction_fw.recorder import END_ROWS, ROW, ROW_WIDTH, SPARE_ROWS
from traction_protocol.constants import ERROR
from traction_fw.spool import ENTRY, HEADER, Spool
from traction_fw.states import IDLE, READY, RELEASING, RUNNING

KEY = bytes(range(32))


def _lines(path):
    with open(path, "rb") as f:
        return record.split_lines(f.read())


def _setup(host):
    host.setup([h.phase(mode=2, force_dn=3000, base_dn=1000, hold_ms=3000, rest_ms=1000, ramp_up_ms=3000,
                        ramp_down_ms=1000, duration_ms=32000)])  # 4 cycles of 8 s


def _session(host):
    _setup(host)
    host.heartbeat_every = host.board.control_hz
    host.ok("START")


def test_a_treatments_rows_wait_in_the_spool_and_become_lines_with_the_seal():
    host = h.Host()
    _session(host)
    app = host.app
    rec = app.recorder
    path = rec.writer.path
    assert host.until(lambda: app.session.cycle == 2, 30)  # two holds recorded by now
    assert len(_lines(path)) == 1  # the head only: START wrote it
    rid, prev = rec.spool.found()
    assert rid == rec.writer.record_id and prev == record.sha256_hex(_lines(path)[0])
    assert len(list(rec.spool.entries())) == 2
    assert host.until(lambda: app.state == IDLE and not rec.open, 30)
    data = host.read_record(host.records()[0])
    assert record.verify(data, host.key())
    kinds = [json.loads(x)["t"] for x in record.split_lines(data)]
    # the ev is a CHECKPOINT
    assert kinds == ["head", "hold", "hold", "hold", "hold", "ev", "phase", "end", "seal"], kinds
    assert rec.spool.found() is None  # cleared once the record is sealed
    h.cleanup()


def _spool_of(rows):
    """A sim board config whose spool holds that many rows."""
    cfg = h.config()
    cfg["sim"]["spool"] = {"size": HEADER + ENTRY + rows * (ENTRY + 4 * ROW_WIDTH)}
    return cfg


# _session's plan: 5 hold rows at most (32 s of 8 s cycles), its phase row, 2 CHECKPOINTs
SESSION_ROWS = 8


def test_a_plan_whose_rows_would_not_fit_the_spool_is_refused_at_start():
    host = h.Host(cfg=_spool_of(SESSION_ROWS + SPARE_ROWS + END_ROWS - 1))
    _setup(host)
    reply = host.cmd("START")
    assert reply.name == "NAK" and reply["error"] == ERROR["PLAN_TOO_LONG"], reply
    assert host.app.state == READY and not host.app.recorder.open and host.records() == []
    host = h.Host(cfg=_spool_of(SESSION_ROWS + SPARE_ROWS + END_ROWS))
    _session(host)
    assert host.app.state == RUNNING
    h.cleanup()


def _spy_commits(host):
    """The motor's state at each emptying of the spool into the record file (a commit of the store)."""
    rec = host.app.recorder
    seen = []
    unspool = rec._unspool_into

    def spy(f):
        seen.append(host.app.motor_on)
        unspool(f)

    rec._unspool_into = spy
    return seen


CEILING = 3000  # session_max_dn: the effective limit, and the hold's force
HOLD_AT_CEILING = h.phase(mode=1, force_dn=CEILING, ramp_up_ms=4000, ramp_down_ms=2000, duration_ms=60000)
HOLD_ROWS = 5  # its hold and phase rows, 3 CHECKPOINTs


def _record_lines(host, rid):
    """A record's lines, read a chunk at a time: not its 10 KB in one piece, which the emulated board's
    heap, fragmented by the session, may not have."""
    lines = []
    tail = b""
    got = 0
    total = 1
    while got < total:
        r = host.ok("RECORD_READ", record_id=rid, offset=got)
        total = r["total"]
        got += len(r["data"])
        parts = (tail + r["data"]).split(b"\n")
        tail = parts.pop()
        lines.extend(parts)
    assert tail == b"", tail
    return lines


@hazard("H-22")
def test_a_spool_filled_by_edits_at_the_ceiling_stops_the_treatment_gradually_and_loses_nothing():
    host = h.Host(cfg=_spool_of(HOLD_ROWS + SPARE_ROWS + END_ROWS))
    host.start([HOLD_AT_CEILING], session_max=CEILING)
    app = host.app
    commits = _spy_commits(host)
    assert host.until(lambda: app.target >= CEILING * 9 // 10, 10)  # near the top of the ramp
    edits = 0
    while app.state == RUNNING and edits < 200:  # each an EDIT row, and in the hold a split hold row
        reply = host.cmd("EDIT_FORCE", force_dn=CEILING - 10 * (edits % 2))
        if reply.name == "ACK":
            edits += 1
        host.step(2)
    assert app.state == RELEASING and SPARE_ROWS // 2 <= edits < 200, (app.state, edits)
    assert host.until(lambda: app.state == IDLE and not app.recorder.open, 30)
    assert not host.board.motor.enabled()
    assert commits == [False], commits  # once, at the seal: never with the motor on
    peak = host.sim.peak_force_dn()  # the true force's (no trace kept: the emulated board's heap)
    assert peak <= CEILING * 101 // 100, peak
    raw = _record_lines(host, host.records()[0])
    assert record.verify_lines(raw, host.key())
    lines = [json.loads(x) for x in raw]
    evs = [x["ev"] for x in lines if x["t"] == "ev"]
    assert evs.count("EDIT") == edits and evs.count("RECORD_FULL") == 1, evs
    assert lines[-2]["t"] == "end" and lines[-2]["reason"] == "STOPPED" and lines[-2]["edits"] == edits
    assert [x["t"] for x in lines].count("phase") == 1
    h.cleanup()


@hazard("H-22")
def test_a_row_that_finds_the_spool_full_with_the_motor_on_waits_for_the_release_to_end():
    host = h.Host()
    host.start([HOLD_AT_CEILING], session_max=CEILING)
    app = host.app
    rec = app.recorder
    commits = _spy_commits(host)
    assert host.until(lambda: app.target >= CEILING * 9 // 10, 10)
    put = rec.spool.put
    rec.spool.put = lambda row: False if app.motor_on else put(row)  # full, as far as it goes
    host.ok("PAUSE")  # a row now: it finds the spool full, and the treatment is stopped
    waited = 0
    while app.state != IDLE and waited < 3000:
        host.step()
        waited += 1
        if app.motor_on:
            assert rec.packed  # the row waits, kept (and the journal's items behind it)
    assert app.state == IDLE and not host.board.motor.enabled()
    assert host.until(lambda: not rec.open, 10)
    assert True not in commits, commits
    assert host.sim.peak_force_dn() <= CEILING * 101 // 100
    data = host.read_record(host.records()[0])
    assert record.verify(data, host.key())
    lines = [json.loads(x) for x in record.split_lines(data)]
    evs = [x["ev"] for x in lines if x["t"] == "ev"]
    assert evs[:2] == ["PAUSE", "RECORD_FULL"], evs
    assert [x["t"] for x in lines][-3:] == ["phase", "end", "seal"], lines  # paused in the ramp: no hold
    h.cleanup()


def _row(*values):
    row = bytearray(4 * ROW_WIDTH)
    pack_into(ROW, row, 0, *(values + (0,) * (ROW_WIDTH - len(values))))
    return row


def _spooled_record(store):
    """A record with its head in the file and two rows in the spool, as a reset mid-treatment leaves it."""
    st = record.Store(store)
    sp = Spool(FileRegion(store + "/record.spool", 4096))
    w = record.Writer(store, 9, KEY)
    w.write("head", [("v", 1), ("record", 9), ("phases", [[("mode", "STATIC"), ("duration_ms", 9000)]])])
    sp.start(9, w.prev)
    sp.append(_row(R_EV, EV_EDIT, 10, 0, 10, 20))  # ms 10, phase 0, force 10, target 20
    sp.append(_row(R_EV, EV_PAUSE, 20, 0, 10))
    return st, sp, w


def test_a_reset_leaves_the_spooled_rows_for_the_next_boot_once():
    store = h.new_store()
    st, sp, w = _spooled_record(store)
    path = record.path_of(store, 9)
    sp.region.write(sp.at + ENTRY, _row(R_EV, EV_PAUSE, 30))  # a row the reset cut short: no header yet
    assert sp.found() == (9, w.prev) and len(list(sp.entries())) == 2
    host = h.Host(cfg=h.config(store=store))  # the boot after the reset: the rows become lines, sealed
    data = host.read_record(host.records()[0])
    assert record.verify(data, host.key())
    lines = [json.loads(x) for x in record.split_lines(data)]
    assert [x["t"] for x in lines] == ["head", "ev", "ev", "phase", "end", "seal"], lines
    got = (lines[1]["ev"], lines[1]["target_dn"], lines[2]["ev"], lines[2]["ms"])
    assert got == ("EDIT", 20, "PAUSE", 20)
    assert lines[-2]["reason"] == "RESET" and lines[-2]["edits"] == 1 and lines[-2]["pauses"] == 1
    assert host.app.recorder.spool.found() is None
    assert _lines(path)[0] == record.split_lines(data)[0]
    h.cleanup()


def test_rows_already_in_the_file_are_not_added_again():
    # the reset came after the spool's rows went into the file (a full spool, or the seal) but before it
    # was cleared: the record no longer ends where the spool begins
    store = h.new_store()
    st, sp, w = _spooled_record(store)
    w.write("ev", [("ms", 10), ("ev", "EDIT"), ("phase", 0), ("force_dn", 10), ("target_dn", 20)])
    before = st.load(9)
    host = h.Host(cfg=h.config(store=store))
    lines = [json.loads(x) for x in record.split_lines(host.read_record(host.records()[0]))]
    assert [x["t"] for x in lines] == ["head", "ev", "phase", "end", "seal"], lines
    assert st.load(9).startswith(before)
    assert host.app.recorder.spool.found() is None
    h.cleanup()


class NorFlash:
    """A region as NOR flash behaves: erased a 4 KB sector at a time to 0xFF, and a write may only clear
    bits (one that would set a bit fails the test: on a Pico it would leave the AND of both)."""

    SECTOR = 4096

    def __init__(self, size):
        self.size = size
        self.mem = bytearray(b"\x00" * size)  # as a board leaves it: not erased
        self.erased = 0

    def read(self, at, n):
        return memoryview(self.mem)[at:at + n]

    def write(self, at, data):
        for i in range(len(data)):
            old = self.mem[at + i]
            assert old & data[i] == data[i], "a write sets a bit at %d: %02x over %02x" % (
                at + i, data[i], old)
            self.mem[at + i] = data[i]

    def erase(self, n):
        n = min(self.size, (n + self.SECTOR - 1) // self.SECTOR * self.SECTOR)
        self.mem[0:n] = b"\xff" * n
        self.erased += n


def test_the_spool_writes_flash_only_as_nor_flash_allows_session_after_session_and_after_a_reset():
    sp = Spool(NorFlash(4 * NorFlash.SECTOR))
    prev = "ab" * 32
    for rid in (1, 2, 3):
        sp.start(rid, prev)
        for i in range(60):  # past the first sector
            assert sp.append(_row(R_EV, EV_PAUSE, 10 * i))
        assert sp.found() == (rid, prev) and len(list(sp.entries())) == 60
        sp.clear()
        assert sp.found() is None
    flash = sp.region
    sp.start(4, prev)
    sp.append(_row(R_EV, EV_EDIT, 1))
    flash.write(sp.at + ENTRY, _row(R_EV, EV_PAUSE, 2))  # a reset cuts the next row short: no header yet
    after = Spool(flash)  # the next boot
    assert after.found() == (4, prev)
    assert [bytes(e) for e in after.entries()] == [bytes(_row(R_EV, EV_EDIT, 1))]
    after.clear()
    before = flash.erased
    after.start(5, prev)  # erases what the cut row touched, and no more than that sector
    assert flash.erased - before == NorFlash.SECTOR
    assert after.append(_row(R_EV, EV_EDIT, 3)) and after.append(_row(R_EV, EV_EDIT, 4))
    again = Spool(flash)
    assert again.found() == (5, prev)
    rows = [bytes(_row(R_EV, EV_EDIT, 3)), bytes(_row(R_EV, EV_EDIT, 4))]
    assert [bytes(e) for e in again.entries()] == rows


def test_a_spool_that_never_was_is_erased_whole_before_its_first_use():
    flash = NorFlash(2 * NorFlash.SECTOR)
    sp = Spool(flash)
    assert sp.found() is None
    sp.start(1, "cd" * 32)
    assert flash.erased == 2 * NorFlash.SECTOR
    assert sp.append(_row(R_EV, EV_PAUSE, 5)) and sp.found() == (1, "cd" * 32)


def test_a_new_boards_spool_is_prepared_at_boot_not_at_its_first_start():
    store = h.new_store()
    host = h.Host(cfg=h.config(store=store))
    sp = host.app.recorder.spool
    assert not sp.blank and sp.written < 2 * ENTRY + HEADER + 256  # START erases only its header's sector
    again = Spool(sp.region)  # as the next boot reads it
    assert again.found() is None and not again.blank
    h.cleanup()


def test_a_region_left_by_the_spool_of_before_is_erased_whole_at_boot():
    # That format wrote an end marker after each entry and over it later, so bytes past its last entry
    # may be a longer, older session's entries: read as this spool's, a reset would add them to a record.
    region = FileRegion(h.new_store() + "/record.spool", 4096)
    old = bytearray(HEADER)
    pack_into("<IH2x", old, 0, 0x4C505354, 7)  # "TSPL", record 7
    region.write(0, old)
    region.write(HEADER, bytes([80, 0, 0x12, 0x34]) + bytes(80))  # an old entry
    sp = Spool(region)
    assert sp.found() is None and sp.blank
    sp.start(8, "ab" * 32)
    assert bytes(region.read(HEADER, 4)) == b"\xff" * 4  # erased: nothing of the old spool is read
    h.cleanup()
