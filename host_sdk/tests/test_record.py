"""Session record verification (SPEC 9.2): good records verify, any alteration is refused clearly."""

import hashlib
import hmac
import json

import pytest
import record_factory as factory
from traction.errors import TractionError
from traction.record import Record, RecordError, load, verify


def small_record() -> bytes:
    """A short record (one static phase, two events) so flipping every byte stays fast."""
    p = factory.phase(
        mode="STATIC", force_dn=1200, base_dn=0, ramp_up_ms=2000, ramp_down_ms=2000, duration_ms=30_000
    )
    events = [
        {"ev": "PAUSE", "ms": 10_000, "phase": 0, "force_dn": 1198, "paused_ms": 5000},
        {"ev": "RESUME", "ms": 10_000, "phase": 0, "force_dn": 1197},
    ]
    return factory.session([p], region="CERVICAL", angle_dd=240, events=events)


def test_valid_record_verifies_and_exposes_its_lines():
    rec = verify(factory.session(), factory.KEY)
    assert isinstance(rec, Record)
    assert rec.record_id == 12 and rec.session_id == 4242 and rec.serial == "TU-000123"
    assert rec.head["region"] == "LUMBAR"
    assert len(rec.holds) == 7 and len(rec.phases) == 1 and rec.events == ()
    assert rec.end["reason"] == "COMPLETED"
    assert rec.seal["alg"] == "HMAC-SHA256"
    assert rec.utc_start.isoformat() == "2026-07-08T09:30:00+00:00"
    assert rec.raw == factory.session()


def test_events_are_parsed_in_order():
    rec = verify(small_record(), factory.KEY)
    assert [e["ev"] for e in rec.events] == ["PAUSE", "RESUME"]
    assert rec.head["phases"][0]["mode"] == "STATIC"


def test_checkpoints_are_kept_apart_from_the_events():
    checkpoint = {"ms": 30_000, "ev": "CHECKPOINT", "phase": 0, "force_dn": 2990, "session_ms": 30_000,
                  "traction_ms": 29_000, "paused_ms": 0, "pauses": 0, "edits": 0, "peak_dn": 3010,
                  "phase_peak_dn": 3010, "hold": None}
    pause = {"ms": 40_000, "ev": "PAUSE", "phase": 0, "force_dn": 3000}
    rec = verify(factory.session(events=[checkpoint, pause]), factory.KEY)
    assert [e["ev"] for e in rec.events] == ["PAUSE"]
    assert [c["traction_ms"] for c in rec.checkpoints] == [29_000]


def test_record_facts_cannot_be_edited():
    rec = verify(factory.session(), factory.KEY)
    with pytest.raises(TypeError):
        rec.end["treatment_ms"] = 1
    with pytest.raises(TypeError):
        rec.head["phases"][0]["force_dn"] = 1
    with pytest.raises(AttributeError):
        rec.head = {}


def test_record_error_is_a_traction_error():
    assert issubclass(RecordError, TractionError)


def test_one_flipped_byte_anywhere_is_refused():
    data = small_record()
    verify(data, factory.KEY)
    for position in range(len(data)):
        for mask in (0x01, 0x20, 0x80):
            altered = bytearray(data)
            altered[position] ^= mask
            with pytest.raises(RecordError):
                verify(bytes(altered), factory.KEY)


def test_whitespace_swapped_in_the_unchained_seal_line_is_refused():
    data = small_record()
    seal_start = data.rindex(b"\n", 0, len(data) - 1) + 1
    space = data.index(b" ", seal_start)
    for replacement in (b"\t", b"\r"):
        altered = data[:space] + replacement + data[space + 1 :]
        with pytest.raises(RecordError, match="tab or carriage return"):
            verify(altered, factory.KEY)


def test_altered_line_names_the_broken_link():
    data = factory.session()
    altered = data.replace(b'"cycle": 3, "target_dn": 3000', b'"cycle": 3, "target_dn": 3900')
    assert altered != data
    message = r"^record 12: line 6 does not chain to line 5: the record was altered$"
    with pytest.raises(RecordError, match=message):
        verify(altered, factory.KEY)


def test_truncated_record_is_refused():
    data = factory.session()
    lines = data.split(b"\n")
    without_seal = b"\n".join(lines[:-2]) + b"\n"
    with pytest.raises(RecordError, match="not the seal: the record is truncated"):
        verify(without_seal, factory.KEY)
    with pytest.raises(RecordError, match="does not end with a newline"):
        verify(data[: len(data) // 2], factory.KEY)
    with pytest.raises(RecordError, match="empty"):
        verify(b"", factory.KEY)


def test_missing_seal_is_refused_even_with_a_good_chain():
    data = factory.session()
    lines = data.rstrip(b"\n").split(b"\n")
    with pytest.raises(RecordError, match="not the seal"):
        verify(b"\n".join(lines[:-1]) + b"\n", factory.KEY)


def test_reordered_lines_are_refused():
    lines = factory.session().rstrip(b"\n").split(b"\n")
    lines[2], lines[3] = lines[3], lines[2]
    with pytest.raises(RecordError, match="line 3 does not chain to line 2"):
        verify(b"\n".join(lines) + b"\n", factory.KEY)


def test_wrong_key_is_refused():
    with pytest.raises(RecordError, match="does not match the device key"):
        verify(factory.session(), factory.OTHER_KEY)
    with pytest.raises(RecordError, match="must be 32 bytes, got 5 bytes"):
        verify(factory.session(), b"short")


def test_resealed_record_with_a_forged_mac_is_refused():
    # Someone who rewrites a line and re-chains everything still cannot make the seal without the key.
    lines = [json.loads(t) for t in factory.session().rstrip(b"\n").split(b"\n")[:-1]]
    for line in lines:
        del line["prev"]
    lines[-1]["treatment_ms"] = 1_200_000
    forged = factory.write(lines, key=factory.OTHER_KEY)
    with pytest.raises(RecordError, match="does not match the device key"):
        verify(forged, factory.KEY)


def test_bad_json_is_refused_with_the_line_number():
    data = factory.session().replace(b'"t": "phase"', b'"t": phase"')
    with pytest.raises(RecordError, match="record 12: line 9 is not valid JSON"):
        verify(data, factory.KEY)


def test_non_utf8_is_refused():
    data = factory.session().replace(b"TU-000123", b"TU-\xff00123")
    with pytest.raises(RecordError, match="line 1 is not UTF-8"):
        verify(data, factory.KEY)


def test_first_line_must_start_the_chain_with_zeros():
    lines = factory.session().split(b"\n")
    lines[0] = lines[0].replace(b'"prev": "' + b"0" * 64, b'"prev": "' + b"1" * 64)
    with pytest.raises(RecordError, match="line 1 must start the chain"):
        verify(b"\n".join(lines), factory.KEY)


def test_missing_field_is_named():
    line = {"t": "head", "v": 1, "record": 3}
    data = factory.write([line, {"t": "end"}])
    with pytest.raises(RecordError, match="record 3: line 1 \\(head\\) lacks 'session_id'"):
        verify(data, factory.KEY)


def test_fault_event_needs_its_fault_name():
    ev = {"ev": "FAULT", "ms": 1000, "phase": 0, "force_dn": 10}
    with pytest.raises(RecordError, match="line 2 \\(ev\\) lacks 'fault'"):
        verify(factory.session(events=[ev]), factory.KEY)


def test_unsupported_format_version_is_refused():
    lines = [json.loads(t) for t in factory.session().rstrip(b"\n").split(b"\n")[:-1]]
    for line in lines:
        del line["prev"]
    lines[0]["v"] = 2
    with pytest.raises(RecordError, match="format version 2 is not supported"):
        verify(factory.write(lines), factory.KEY)


def test_end_must_come_just_before_the_seal():
    lines = [json.loads(t) for t in factory.session().rstrip(b"\n").split(b"\n")[:-1]]
    for line in lines:
        del line["prev"]
    lines[-1], lines[-2] = lines[-2], lines[-1]
    with pytest.raises(RecordError, match="not the end line"):
        verify(factory.write(lines), factory.KEY)


def test_seal_algorithm_is_checked():
    data = factory.session()
    prev = hashlib.sha256(data.rstrip(b"\n").split(b"\n")[-2]).hexdigest()
    mac = hmac.new(factory.KEY, bytes.fromhex(prev), hashlib.sha256).hexdigest()
    head = data[: data.rindex(b"\n", 0, len(data) - 1) + 1]
    seal = json.dumps({"t": "seal", "prev": prev, "alg": "HMAC-MD5", "mac": mac}).encode() + b"\n"
    with pytest.raises(RecordError, match="uses 'HMAC-MD5'"):
        verify(head + seal, factory.KEY)


def test_load_reads_a_file_and_reports_a_missing_one(tmp_path):
    path = tmp_path / "s.rec"
    path.write_bytes(factory.session())
    assert load(path, factory.KEY).record_id == 12
    with pytest.raises(RecordError, match="cannot read session record"):
        load(tmp_path / "missing.rec", factory.KEY)


def firmware_record(tmp_path, lines) -> bytes:
    """A record written by the firmware's own writer (traction_fw.record, run here on CPython)."""
    from traction_fw import record as fw_record

    (tmp_path / fw_record.RECORD_DIR).mkdir()
    writer = fw_record.Writer(str(tmp_path), 7, factory.KEY)
    for line in lines:
        pairs = [(k, _pairs(v)) for k, v in line.items() if k != "t"]
        writer.write(line["t"], pairs)
    writer.seal()
    return (tmp_path / fw_record.RECORD_DIR / "00007.rec").read_bytes()


def _pairs(value):
    """The firmware's writer takes objects as lists of (key, value) pairs."""
    if isinstance(value, dict):
        return [(k, _pairs(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_pairs(v) for v in value]
    return value


def factory_lines(data: bytes) -> list:
    lines = [json.loads(t) for t in data.rstrip(b"\n").split(b"\n")[:-1]]
    for line in lines:
        del line["prev"]
    return lines


def test_a_record_from_the_firmware_writer_verifies(tmp_path):
    lines = factory_lines(
        factory.session(
            record=7, events=[{"ev": "EDIT", "ms": 100_000, "phase": 0, "force_dn": 2990, "target_dn": 2800}]
        )
    )
    data = firmware_record(tmp_path, lines)
    assert b", " not in data  # the firmware writes compact JSON, unlike the factory
    rec = verify(data, factory.KEY)
    assert rec.record_id == 7 and rec.events[0]["target_dn"] == 2800
    assert [line["t"] for line in rec.lines] == [line["t"] for line in lines] + ["seal"]
    with pytest.raises(RecordError, match="does not match the device key"):
        verify(data, factory.OTHER_KEY)


def test_the_firmware_verifier_agrees_on_factory_records():
    from traction_fw import record as fw_record

    data = factory.session()
    assert fw_record.verify(data, factory.KEY)
    altered = bytearray(data)
    altered[200] ^= 0x01
    assert not fw_record.verify(bytes(altered), factory.KEY)
