# Session records (SPEC section 9): HMAC-SHA256 on hashlib.sha256, the hash chain, the seal, what a
# reset leaves behind, and a real session's record read back over the link.

import json

import fw_harness as h
from hazard import hazard
from binascii import hexlify, unhexlify
from traction_fw import record
from traction_protocol.constants import ANGLE_NOT_SET

KEY = bytes(range(32))


def test_hmac_matches_rfc4231_case_2():
    mac = record.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert hexlify(mac) == b"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_hmac_with_a_key_longer_than_a_block_rfc4231_case_6():
    mac = record.hmac_sha256(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First")
    assert hexlify(mac) == b"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


def _written(store):
    w = record.Writer(store, 3, KEY)
    w.write("head", [("v", 1), ("record", 3)])
    w.write("ev", [("ms", 10), ("ev", "PAUSE"), ("phase", 0), ("force_dn", 1234)])
    w.write("end", [("reason", "COMPLETED"), ("fault", None)])
    w.seal()
    return record.Store(store).load(3)


def test_a_written_record_verifies_and_every_flipped_byte_fails():
    store = h.new_store()
    record.Store(store)
    data = _written(store)
    assert record.verify(data, KEY)
    assert not record.verify(data, bytes(32))
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        assert not record.verify(bytes(bad), KEY), "flipping byte %d went unnoticed" % i
    h.cleanup()


def test_chain_links_each_line_to_the_sha256_of_the_one_before():
    store = h.new_store()
    record.Store(store)
    lines = _written(store)[:-1].split(b"\n")
    assert json.loads(lines[0])["prev"] == "0" * 64
    for a, b in zip(lines, lines[1:]):
        assert json.loads(b)["prev"] == record.sha256_hex(a)
    seal = json.loads(lines[-1])
    assert seal["mac"] == hexlify(record.hmac_sha256(KEY, unhexlify(seal["prev"]))).decode()
    h.cleanup()


def test_dropping_or_reordering_lines_fails():
    store = h.new_store()
    record.Store(store)
    lines = _written(store)[:-1].split(b"\n")
    assert not record.verify(b"\n".join(lines[:1] + lines[2:]) + b"\n", KEY)
    assert not record.verify(b"\n".join([lines[1], lines[0]] + lines[2:]) + b"\n", KEY)
    assert not record.verify(b"\n".join(lines[:-1]) + b"\n", KEY)  # no seal
    h.cleanup()


@hazard("H-17")
def test_a_reset_mid_line_is_sealed_at_next_boot_with_reason_reset():
    store = h.new_store()
    st = record.Store(store)
    w = record.Writer(store, 5, KEY)
    w.write("head", [("v", 1), ("record", 5), ("phases", [[("mode", "STATIC"), ("duration_ms", 9000)]])])
    w.write("ev", [("ms", 10), ("ev", "EDIT"), ("phase", 0), ("force_dn", 10), ("target_dn", 20)])
    with open(record.path_of(store, 5), "a") as f:
        f.write('{"t":"hold","prev":"ab')  # what a reset cut short
    w2, lines = st.reopen(5, KEY)
    assert len(lines) == 2
    for t, pairs in record.after_reset(lines):
        w2.write(t, pairs)
    w2.seal()
    data = st.load(5)
    assert record.verify(data, KEY)
    end = json.loads(data.split(b"\n")[-3])
    assert end["reason"] == "RESET" and end["fault"] == "RESET" and end["edits"] == 1
    assert end["treatment_ms"] == 10  # no checkpoint yet: the last event is all there is to go by
    h.cleanup()


def test_a_reset_between_end_and_seal_adds_only_the_seal():
    store = h.new_store()
    st = record.Store(store)
    w = record.Writer(store, 6, KEY)
    w.write("head", [("v", 1), ("record", 6), ("phases", [[("mode", "STATIC"), ("duration_ms", 9000)]])])
    w.write("end", [("reason", "COMPLETED"), ("fault", None), ("treatment_ms", 9000)])
    w2, lines = st.reopen(6, KEY)
    assert record.after_reset(lines) == []
    h.cleanup()


def _reset_and_reboot(host):
    host.sim.inject("reset")
    try:
        host.step()
    except BaseException as e:  # noqa: B036 - the sim's BoardReset is a BaseException on purpose
        assert type(e).__name__ == "BoardReset"
    else:
        raise AssertionError("no reset")
    cfg = host.cfg
    cfg["sim"]["after_reset"] = True
    return h.Host(cfg=cfg)


def test_a_reset_mid_session_is_sealed_with_what_was_delivered_up_to_the_last_checkpoint():
    # Two full 60 s holds, a pause, and 20 s into the third hold the board resets. The record sealed at
    # the next boot says at least what happened, short of it by no more than one checkpoint interval:
    # not treatment 0 with two holds in it.
    from traction_fw.recorder import CHECKPOINT_MS

    host = h.Host()
    host.start([h.phase(mode=2, force_dn=3000, base_dn=1000, hold_ms=60000, rest_ms=10000, ramp_up_ms=5000,
                        ramp_down_ms=5000, duration_ms=600000)])
    host.seconds(100)  # in the second hold
    host.ok("PAUSE")
    host.seconds(3)
    host.ok("RESUME")
    assert host.until(lambda: host.app.session.cycle == 2 and host.app.session.segment == 2, 120)
    host.seconds(20)
    ses = host.app.session
    truth = (ses.treatment_ms, ses.traction_ms, ses.session_ms, ses.paused_ms)
    del ses  # it holds the old board's journal; the new board's buffers need that heap on a 140 KB board
    again = _reset_and_reboot(host)
    assert again.app.state == 6 and again.app.fault == 14  # FAULT, RESET
    lines = _lines(again)
    kinds = [x["t"] for x in lines]
    assert kinds[-2:] == ["end", "seal"] and kinds[-3] == "phase"
    checkpoints = [x for x in lines if x.get("ev") == "CHECKPOINT"]
    assert len(checkpoints) >= truth[2] // CHECKPOINT_MS - 1
    end = lines[-2]
    assert end["reason"] == "RESET" and end["fault"] == "RESET"
    for name, real in zip(("treatment_ms", "traction_ms", "end_ms", "paused_ms"), truth):
        assert real - CHECKPOINT_MS <= end[name] <= real, "%s: %d sealed, %d delivered" % (
            name, end[name], real)
    assert end["treatment_ms"] > 140000 and end["pauses"] == 1 and 2950 <= end["peak_dn"] <= 3100
    holds = [x for x in lines if x["t"] == "hold"]
    assert [x["cycle"] for x in holds] == [0, 1, 2]
    assert [x["ms"] for x in holds[:2]] == [60000, 60000]
    third = holds[2]  # the hold cut short, as the last checkpoint saw it
    assert 0 < third["ms"] <= 20000 and abs(third["mean_dn"] - 3000) <= 30 and third["target_dn"] == 3000
    assert third["ms"] == checkpoints[-1]["hold"]["ms"]
    ph = lines[-3]
    assert (ph["phase"], ph["mode"], ph["cycles"]) == (0, "INTERMITTENT", 3)
    assert ph["ms"] == end["treatment_ms"] and ph["hold_ms"] == sum(x["ms"] for x in holds)
    assert ph["in_tol_ms"] == sum(x["in_tol_ms"] for x in holds) and abs(ph["mean_dn"] - 3000) <= 30
    again.seconds(2)
    again.ok("CLEAR_FAULT")
    h.cleanup()


def test_a_reset_just_after_a_hold_row_does_not_write_the_hold_twice():
    # The last checkpoint saw the first hold under way; the hold then ended and its row was written. The
    # boot after the reset must not add the checkpoint's partial row for the same hold.
    host = h.Host()
    host.start([h.phase(mode=2, force_dn=3000, base_dn=1000, hold_ms=40000, rest_ms=10000, ramp_up_ms=5000,
                        ramp_down_ms=5000, duration_ms=600000)])
    assert host.until(lambda: host.app.session.segment == 3, 60)  # the first ramp down
    host.seconds(1)
    truth = host.app.session.treatment_ms
    again = _reset_and_reboot(host)
    lines = _lines(again)
    holds = [x for x in lines if x["t"] == "hold"]
    assert [(x["cycle"], x["ms"]) for x in holds] == [(0, 40000)]
    ck = [x for x in lines if x.get("ev") == "CHECKPOINT"][-1]
    assert ck["hold"]["cycle"] == 0 and ck["hold"]["ms"] < 40000
    ph, end = lines[-3], lines[-2]
    assert ph["t"] == "phase" and ph["cycles"] == 1 and ph["hold_ms"] == 40000
    assert truth - 30000 <= end["treatment_ms"] <= truth and end["treatment_ms"] >= 40000  # at least its hold
    again.seconds(2)
    h.cleanup()


def test_session_record_over_the_link_verifies_is_kept_until_acknowledged():
    host = h.Host()
    host.start([h.phase(mode=2, force_dn=3000, base_dn=1000, hold_ms=3000, rest_ms=1000, ramp_up_ms=3000,
                        ramp_down_ms=1000, duration_ms=16000)])
    assert host.records() == []  # the record being written is not offered yet
    assert host.until(lambda: host.app.state == 1, 30)
    host.step(5)
    ids = host.records()
    assert len(ids) == 1
    data = host.read_record(ids[0])
    assert record.verify(data, host.key())
    lines = [json.loads(x) for x in record.split_lines(data)]
    kinds = [x["t"] for x in lines]
    assert kinds[0] == "head" and kinds[-2:] == ["end", "seal"]
    assert kinds.count("hold") == 2 and kinds.count("phase") == 1
    head = lines[0]
    assert head["serial"] == "SIM-0001" and head["region"] == "LUMBAR" and head["limit_dn"] == 9000
    assert head["phases"][0]["mode"] == "INTERMITTENT" and head["phases"][0]["hold_ms"] == 3000
    end = lines[-2]
    assert end["reason"] == "COMPLETED" and end["fault"] is None
    assert end["treatment_ms"] == 16000
    assert 10000 <= end["traction_ms"] <= end["end_ms"]
    assert 2950 <= end["peak_dn"] <= 3100
    for hold in [x for x in lines if x["t"] == "hold"]:
        assert hold["target_dn"] == 3000 and abs(hold["mean_dn"] - 3000) <= 30
        assert hold["ms"] == 3000 and hold["in_tol_ms"] >= 2000 and hold["peak_dn"] <= 3100
    assert host.status()["flags"] & 8
    host.ok("RECORD_ACK", record_id=ids[0])
    assert host.records() == []
    assert host.cmd("RECORD_ACK", record_id=ids[0]).name == "NAK"
    assert not host.status()["flags"] & 8
    h.cleanup()


def test_an_angle_the_host_says_was_not_entered_is_recorded_as_null_not_zero():
    host = h.Host()
    host.start([h.phase(mode=1, force_dn=1000, ramp_up_ms=1000, duration_ms=3000)], angle_dd=ANGLE_NOT_SET)
    assert host.until(lambda: host.app.state == 1, 30)
    host.step(5)
    (rid,) = host.records()
    head = json.loads(host.read_record(rid).split(b"\n")[0])
    assert "angle_dd" in head and head["angle_dd"] is None
    h.cleanup()


def test_record_survives_a_board_reset_mid_session_and_is_sealed_reset():
    host = h.Host()
    host.start([h.phase(mode=1, force_dn=3000, duration_ms=30000)])
    host.seconds(4)
    again = _reset_and_reboot(host)
    assert not again.board.motor.enabled()
    assert again.app.state == 6 and again.app.fault == 14  # FAULT, RESET: latched until cleared
    again.step(2)
    assert any(e["kind"] == 10 and e["code"] == 1 for e in again.events)  # BOOT after a reset
    ids = again.records()
    assert len(ids) == 1
    data = again.read_record(ids[0])
    assert record.verify(data, again.key())
    end = json.loads(data.split(b"\n")[-3])
    assert end["reason"] == "RESET" and end["fault"] == "RESET"
    again.seconds(2)
    again.ok("CLEAR_FAULT")
    h.cleanup()


def test_a_store_that_fails_mid_session_ends_the_treatment_gradually():
    host = h.Host()
    host.start([h.phase(mode=2, force_dn=3000, base_dn=1000, hold_ms=3000, rest_ms=1000, ramp_up_ms=3000,
                        ramp_down_ms=1000, duration_ms=60000)])
    host.seconds(4)

    def full(t, pairs):
        raise OSError(28)  # ENOSPC

    rec = host.app.recorder
    rec.writer.write = full
    if rec.spool is not None:
        rec.spool.region.write = full  # where the treatment's rows go on a board with a spool
    assert host.until(lambda: host.app.state == 5, 10)  # RELEASING: a stop, not a drop
    assert host.until(lambda: host.app.state == 1, 30) and host.app.fault == 0
    assert host.records() == []  # the unsealed record is not offered
    h.cleanup()


def _lines(host):
    data = host.read_record(host.records()[0])
    assert record.verify(data, host.key())
    return [json.loads(x) for x in record.split_lines(data)]


def test_an_edit_mid_hold_closes_the_hold_row_and_the_hold_goes_on_in_a_new_row():
    # A 300 N hold, paused partway and edited to 330 N: one row per target, not a 309 N mean reported
    # "in tolerance" of 330 N. The new row starts once 330 N is reached (the timer stands still till then).
    host = h.Host()
    host.start([h.phase(mode=1, force_dn=3000, ramp_up_ms=2000, duration_ms=5000)], region=2, tolerance=50)
    host.seconds(3)
    host.ok("PAUSE")
    host.seconds(1)
    host.ok("EDIT_FORCE", force_dn=3300)
    host.ok("RESUME")
    assert host.until(lambda: host.app.state == 1, 40)
    lines = _lines(host)
    kinds = [x["t"] if x["t"] != "ev" else x["ev"] for x in lines]
    assert kinds == ["head", "PAUSE", "hold", "EDIT", "RESUME", "hold", "phase", "end", "seal"], kinds
    pause, before, after, ph = lines[1], lines[2], lines[5], lines[6]
    assert (before["phase"], before["cycle"], after["phase"], after["cycle"]) == (0, 0, 0, 0)
    assert before["target_dn"] == 3000 and abs(before["mean_dn"] - 3000) <= 30
    assert before["ms"] == pause["ms"] - 2000  # from the end of the ramp to the pause
    assert before["in_tol_ms"] <= before["ms"] and before["peak_dn"] <= 3050
    assert after["target_dn"] == 3300 and abs(after["mean_dn"] - 3300) <= 30 and after["min_dn"] >= 3250
    assert after["in_tol_ms"] <= after["ms"] and after["in_tol_ms"] >= after["ms"] - 100
    assert before["ms"] + after["ms"] == 3000  # the hold's treatment time, split between the rows
    assert ph["cycles"] == 1 and ph["hold_ms"] == 3000  # still one hold
    assert ph["in_tol_ms"] == before["in_tol_ms"] + after["in_tol_ms"]
    h.cleanup()


def test_an_edit_outside_a_hold_writes_no_extra_row():
    host = h.Host()
    host.start([h.phase(mode=2, force_dn=3000, base_dn=1000, hold_ms=2000, rest_ms=2000, ramp_up_ms=2000,
                        ramp_down_ms=1000, duration_ms=14000)], region=2, tolerance=50)
    host.seconds(1)  # in the first ramp
    host.ok("EDIT_FORCE", force_dn=3200)
    assert host.until(lambda: host.app.state == 1, 40)
    lines = _lines(host)
    holds = [x for x in lines if x["t"] == "hold"]
    assert [x["cycle"] for x in holds] == [0, 1] and [x["target_dn"] for x in holds] == [3200, 3200]
    assert [x["ms"] for x in holds] == [2000, 2000]
    assert [x for x in lines if x["t"] == "phase"][0]["cycles"] == 2
    h.cleanup()


def test_a_hold_cut_short_counts_each_sample_once():
    # The sample that ends a ramp is the ramp's: a hold cut short by a fault or a stop lasted from the end
    # of its ramp to the treatment time of the event, and its row says so (not one sample more).
    for how in ("ESTOP", "STOP_SWITCH", "STOP"):
        host = h.Host()
        host.start([h.phase(mode=1, force_dn=3000, ramp_up_ms=2000, duration_ms=30000)], region=2,
                   tolerance=50)
        host.seconds(5.02)
        if how == "STOP_SWITCH":
            host.sim.inject("stop_switch")
        else:
            host.ok(how)
        assert host.until(lambda: not host.app.recorder.open, 40)  # noqa: B023
        lines = _lines(host)
        ev = [x for x in lines if x.get("ev") == how][0]
        hold = [x for x in lines if x["t"] == "hold"]
        assert len(hold) == 1, how
        hold = hold[0]
        assert hold["ms"] == ev["ms"] - 2000, "%s at %d ms: hold row %d ms" % (how, ev["ms"], hold["ms"])
        assert hold["in_tol_ms"] <= hold["ms"]
        ph = [x for x in lines if x["t"] == "phase"][0]
        assert ph["ms"] == ev["ms"] == lines[-2]["treatment_ms"] and ph["hold_ms"] == hold["ms"]
        h.cleanup()
