# The record spool (traction_fw/spool.py): a treatment's record lines wait in a raw region of the store and
# go into the file in one append with the seal, or when the region is full; what a reset leaves there goes
# into the record at the next boot, once, and only where the record still ends where the spool begins.

import json

import fw_harness as h
from traction_fw import record
from traction_fw.hal.sim.region import FileRegion
from traction_fw.spool import HEADER, Spool

KEY = bytes(range(32))
IDLE, RUNNING = 1, 3


def _lines(path):
    with open(path, "rb") as f:
        return record.split_lines(f.read())


def _session(host):
    host.start([h.phase(mode=2, force_dn=3000, base_dn=1000, hold_ms=3000, rest_ms=1000, ramp_up_ms=3000,
                        ramp_down_ms=1000, duration_ms=32000)])  # 4 cycles of 8 s


def test_a_treatments_lines_wait_in_the_spool_and_go_into_the_file_with_the_seal():
    host = h.Host()
    _session(host)
    app = host.app
    rec = app.recorder
    path = rec.writer.path
    assert host.until(lambda: app.session.cycle == 2, 30)  # two hold lines written by now
    assert len(_lines(path)) == 1  # the head only: START wrote it
    rid, prev, data = rec.spool.found()
    assert rid == rec.writer.record_id and prev == record.sha256_hex(_lines(path)[0])
    assert [json.loads(x)["t"] for x in record.split_lines(data)] == ["hold", "hold"]
    assert host.until(lambda: app.state == IDLE and not rec.open, 30)
    data = host.read_record(host.records()[0])
    assert record.verify(data, host.key())
    kinds = [json.loads(x)["t"] for x in record.split_lines(data)]
    # the ev is a CHECKPOINT
    assert kinds == ["head", "hold", "hold", "hold", "hold", "ev", "phase", "end", "seal"], kinds
    assert rec.spool.found() is None  # cleared once the record is sealed
    h.cleanup()


def test_a_full_spool_goes_into_the_file_and_nothing_is_lost():
    cfg = h.config()
    cfg["sim"]["spool"] = {"size": HEADER + 450}  # room for two lines
    host = h.Host(cfg=cfg)
    _session(host)
    rec = host.app.recorder
    path = rec.writer.path
    assert host.until(lambda: host.app.session.cycle == 3, 30)
    assert len(_lines(path)) > 1  # the full spool went into the file
    assert host.until(lambda: host.app.state == IDLE and not rec.open, 30)
    data = host.read_record(host.records()[0])
    assert record.verify(data, host.key())
    assert [json.loads(x)["t"] for x in record.split_lines(data)].count("hold") == 4
    h.cleanup()


def _spooled_record(store):
    """A record with its head in the file and two lines in a spool, as a reset mid-treatment leaves it."""
    st = record.Store(store)
    sp = Spool(FileRegion(store + "/record.spool", 4096))
    w = record.Writer(store, 9, KEY)
    w.write("head", [("v", 1), ("record", 9), ("phases", [[("mode", "STATIC"), ("duration_ms", 9000)]])])
    w.spool_to(sp)
    w.write("ev", [("ms", 10), ("ev", "EDIT"), ("phase", 0), ("force_dn", 10), ("target_dn", 20)])
    w.write("ev", [("ms", 20), ("ev", "PAUSE"), ("phase", 0), ("force_dn", 10)])
    return st, sp, w


def test_a_reset_leaves_the_spooled_lines_for_the_next_boot_once():
    store = h.new_store()
    st, sp, w = _spooled_record(store)
    path = record.path_of(store, 9)
    assert len(_lines(path)) == 1
    # a line cut short by the reset: written, its entry header not yet
    sp.region.write(sp.at + 4, b'{"t":"ev","prev":"00')
    rid, prev, data = sp.found()
    assert rid == 9 and len(record.split_lines(data)) == 2
    cfg = h.config(store=store)
    host = h.Host(cfg=cfg)  # the boot after the reset: seals the record with the spooled lines in it
    data = host.read_record(host.records()[0])
    assert record.verify(data, host.key())  # the chain through the spooled lines, sealed with the board's key
    lines = [json.loads(x) for x in record.split_lines(data)]
    assert [x["t"] for x in lines] == ["head", "ev", "ev", "phase", "end", "seal"], lines
    assert lines[-2]["reason"] == "RESET" and lines[-2]["edits"] == 1 and lines[-2]["pauses"] == 1, lines
    assert host.app.recorder.spool.found() is None
    h.cleanup()


def test_lines_already_in_the_file_are_not_added_again():
    # the reset came after the spool went into the file (a full spool, or the seal) but before it was
    # cleared: the record no longer ends where the spool begins
    store = h.new_store()
    st, sp, w = _spooled_record(store)
    w.seal()  # spooled lines, then the seal, in one append; the spool is cleared after it
    sealed = st.load(9)
    sp.start(9, record.ZERO_HASH)  # a spool that was never cleared (its base is not the record's end)
    sp.append(b'{"t":"ev"}\n')
    host = h.Host(cfg=h.config(store=store))
    assert st.load(9) == sealed and record.verify(sealed, KEY)
    assert host.app.recorder.spool.found() is None
    h.cleanup()
