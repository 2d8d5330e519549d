# The board's frame encoder and decoder (traction_fw/wire.py: viper CRC and COBS in fixed buffers) against
# the reference codec: the same bytes for every vector in protocol/vectors and for payloads of every length
# with zero runs, 0xFF runs and the 254-byte COBS boundary; TELEMETRY, ACK, STATUS, EVENT and RECORD_CHUNK
# as the link packs them in place (and RECORD_READ's refusals as the reference decoder's NAKs); the same
# frames (and none where the reference finds an error) from the same bytes, valid, corrupted and random.

import random

import fw_harness as h
import vector_cases
from traction_fw import record
from traction_fw.wire import START, FrameReader, FrameWriter, crc16
from traction_protocol import BY_NAME, FrameDecoder, decode, encode
from traction_protocol.constants import ERROR
from traction_protocol.errors import EncodeError
from traction_protocol.crc import crc16 as reference_crc16
from traction_protocol.framing import MAX_ENCODED, MAX_PAYLOAD, Frame, encode_frame
from traction_protocol.messages import encode_payload

VECTORS = "../../protocol/vectors"


def test_every_message_vector_is_encoded_byte_for_byte_as_the_reference():
    w = FrameWriter()
    n = 0
    for v in vector_cases.load(VECTORS):
        if v["file"] != "messages.json":
            continue
        m = v["message"]
        fields = vector_cases.fields_from_json(m["type"], m["fields"])
        got = bytes(w.frame(m["seq"], BY_NAME[m["type"]].type_id, encode_payload(m["type"], fields)))
        assert got == bytes.fromhex(v["wire"]), v["name"]
        assert got == encode(m["type"], m["seq"], fields)
        n += 1
    assert n > 20


def _payloads():
    yield b""
    for size in range(MAX_PAYLOAD + 1):
        yield bytes((i * 7 + size) & 0xFF for i in range(size))  # zeros every 256/7 bytes or so
    for size in (1, 2, 200, 248, 249, MAX_PAYLOAD):
        yield bytes(size)  # all zeros
        yield b"\xff" * size  # no zero: the 254-byte COBS blocks
        yield b"\x00" + b"\x01" * (size - 1)


def test_payloads_of_every_length_match_the_reference():
    w = FrameWriter()
    seq = 0
    for p in _payloads():
        seq = (seq + 37) & 0xFF
        for type_id in (0x00, 0x84, 0xFF):
            assert bytes(w.frame(seq, type_id, p)) == encode_frame(seq, type_id, p), (len(p), type_id)


def test_the_crc_is_the_reference_crc_over_any_part_of_a_buffer():
    data = bytes((i * 131 + 7) & 0xFF for i in range(300))
    assert crc16(b"123456789", 0, 9) == reference_crc16(b"123456789") == 0x6F91  # the catalogue's check
    for start, end in ((0, 0), (0, 1), (5, 6), (3, 200), (0, 300), (299, 300)):
        assert crc16(data, start, end) == reference_crc16(data[start:end]), (start, end)


def test_an_oversized_payload_is_refused_as_the_reference_refuses_it():
    w = FrameWriter()
    for encoder in (lambda p: w.frame(1, 0x84, p), lambda p: encode_frame(1, 0x84, p)):
        try:
            encoder(bytes(MAX_PAYLOAD + 1))
        except EncodeError:
            pass
        else:
            raise AssertionError("no EncodeError")


def _telemetry_rows(app, rows, state=3, phase=1, segment=2, first=1000):
    ring = app.telemetry
    ring.clear()
    for i, (force, target) in enumerate(rows):
        o = ring.claim()
        ring.data[o:o + 6] = [first + i, force, target, state, phase, segment]
    app.samples = first + 100  # old enough to go out whole


def test_a_telemetry_frame_packed_in_place_is_the_reference_frame():
    host = h.Host()
    app = host.app
    app.session.telemetry_div = 1
    rows = [(-32768, 0), (32767, 65535), (0, 1), (-1, 5000), (1234, 4321)]
    _telemetry_rows(app, rows)
    seq = app.link.seq
    host.board.link.host_read()
    app.link._send_telemetry()
    want = encode("TELEMETRY", seq, {"sample": 1000, "period_us": app.period_us, "state": 3, "phase": 1,
                                     "segment": 2, "samples": rows})
    assert host.board.link.host_read() == want
    assert app.telemetry.count == 0
    h.cleanup()


def test_telemetry_rows_added_a_call_at_a_time_are_batched_as_all_at_once():
    """The link checks a row a call and remembers the batch found so far (link.Link._batch): the frames
    are still the reference's, split where the state changes and where a sample is missing, at the
    batch's full size, and the short batch left waits for its age."""
    host = h.Host()
    app = host.app
    app.session.telemetry_div = 1
    ring = app.telemetry
    ring.clear()
    rows = [(1000 + i, 100 + i, 200 + i, 3) for i in range(4)] + [(1004, 5, 6, 4), (1006, 7, 8, 4)] \
        + [(1007 + i, i, i, 4) for i in range(12)]
    host.board.link.host_read()
    seq = app.link.seq
    for number, force, target, state in rows:
        o = ring.claim()
        ring.data[o:o + 6] = [number, force, target, state, 1, 2]
        app.samples = number + 1
        app.link._send_telemetry()
    app.samples += 100  # the last short batch is old enough to go
    app.link._send_telemetry()
    got = host.board.link.host_read()

    def frame(first, state, samples):
        f = encode("TELEMETRY", seq + len(want), {"sample": first, "period_us": app.period_us, "state": state,
                                                  "phase": 1, "segment": 2, "samples": samples})
        want.append(f)

    want = []
    frame(1000, 3, [(100 + i, 200 + i) for i in range(4)])
    frame(1004, 4, [(5, 6)])
    frame(1006, 4, [(7, 8)] + [(i, i) for i in range(9)])
    frame(1016, 4, [(i, i) for i in range(9, 12)])
    assert got == b"".join(want)
    assert ring.count == 0
    h.cleanup()


def test_a_telemetry_sample_outside_its_field_is_refused_as_the_reference_refuses_it():
    host = h.Host()
    app = host.app
    app.session.telemetry_div = 1
    for bad in ((32768, 0), (-32769, 0), (0, -1), (0, 65536)):
        _telemetry_rows(app, [(0, 0), bad])
        try:
            app.link._send_telemetry()
        except EncodeError:
            pass
        else:
            raise AssertionError("sent %r" % (bad,))
    h.cleanup()


def _reader_frames(data):
    """What FrameReader makes of data: [(version, seq, type_id, payload)]."""
    r = FrameReader()
    out = []
    for b in data:
        if r.put(b):
            out.append((r.version, r.seq, r.type_id, bytes(r.buf[r.PAYLOAD:r.PAYLOAD + r.size])))
    return out


def _reference_frames(data):
    return [(f.version, f.seq, f.type_id, bytes(f.payload)) for f in FrameDecoder().feed(data)
            if isinstance(f, Frame)]


def _streams():
    """Valid frames of every payload length, the same with one byte flipped, cut short, run together,
    overlong blocks, COBS codes pointing past the end, and random bytes."""
    rnd = random
    rnd.seed(10)
    seq = 0
    for p in _payloads():
        seq = (seq + 1) & 0xFF
        f = encode_frame(seq, 0x84, p)
        yield f
        i = rnd.getrandbits(16) % (len(f) - 1)
        bad = bytearray(f)
        bad[i] ^= 1 << (rnd.getrandbits(3))
        yield bytes(bad) + f  # the corrupted one (or two, if a delimiter appeared) then a good one
        yield f[:len(f) // 2] + b"\x00" + f
        yield f + f + b"\x00\x00" + f
    yield b"\x01" * (MAX_ENCODED + 5) + b"\x00" + encode_frame(1, 2, b"\x01\x02")
    yield b"\x05\x01\x00" + encode_frame(3, 4, b"")
    yield encode_frame(1, 2, b"")[:-2] + b"\x00"  # too short for a header and CRC
    for _ in range(300):
        yield bytes(rnd.getrandbits(8) if rnd.getrandbits(3) else 0 for _ in range(rnd.getrandbits(9)))


def test_the_in_place_decoder_finds_the_frames_the_reference_finds():
    n = 0
    for data in _streams():
        want = _reference_frames(data)
        assert _reader_frames(data) == want, data
        n += len(want)
    assert n > 3 * MAX_PAYLOAD


def _packed(host, send):
    """The frame the link packs in place when send() runs, decoded by the reference."""
    host.board.link.host_read()
    send()
    got = FrameDecoder().feed(host.board.link.host_read())
    assert len(got) == 1 and isinstance(got[0], Frame), got
    return decode(got[0])


def test_ack_status_and_event_packed_in_place_are_the_reference_messages():
    host = h.Host()
    app = host.app
    link = app.link
    def replied(pack):  # packed in one service() call, framed and written in the next
        pack()
        link.service()

    msg = _packed(host, lambda: replied(lambda: link._ack(201)))
    assert msg.name == "ACK" and msg.fields == {"re": 201, "state": app.state}
    msg = _packed(host, lambda: replied(lambda: link._nak(7, "BAD_STATE")))
    assert msg.name == "NAK" and msg.fields == {"re": 7, "error": 1, "state": app.state}, msg.fields
    app.target = 70000  # clamped to the field, as the reference would refuse it
    app.safety.force = -40000
    app.session.treatment_ms = 123456789

    def status():
        link.commands.pack_status(link.writer.body, START, 99)
        link._finish(BY_NAME["STATUS"].type_id, BY_NAME["STATUS"].size)

    msg = _packed(host, status)
    assert msg.name == "STATUS" and msg.fields["re"] == 99 and msg.fields["target_dn"] == 65535
    assert msg.fields["force_dn"] == -32768 and msg.fields["treatment_ms"] == 123456789
    assert msg.fields["state"] == app.state and msg.fields["remaining_ms"] == 0
    j = app.journal
    j.events.clear()
    j.event_number = 65535
    j.event(3, 0x1FF, -2000000000, 4000000000)
    msg = _packed(host, link._send_events)
    assert msg.name == "EVENT" and msg.fields == {"event": 65535, "ms": 4000000000, "kind": 3,
                                                  "code": 0xFF, "value": -2000000000}, msg.fields
    assert j.event_number == 0
    h.cleanup()


def _record(host):
    """A short session's record: its id and its bytes, read from the store (not over the link)."""
    app = host.app
    host.start([h.phase(mode=1, force_dn=3000, ramp_up_ms=1000, ramp_down_ms=1000, duration_ms=3000)])
    assert host.until(lambda: app.state == 1 and not app.recorder.open, 30)
    rid = app.recorder.listed[-1]
    with open(record.path_of(app.recorder.store.root, rid), "rb") as f:
        return rid, f.read()


def _answer(host, data):
    """The bytes the link sends back for data: read in one service() call, answered in the next."""
    link = host.board.link
    link.host_read()
    link.host_write(data)
    host.app.link.service()
    host.app.link.service()
    return link.host_read()


def test_record_chunks_packed_in_place_are_the_reference_frames():
    host = h.Host()
    rid, data = _record(host)
    link = host.app.link
    assert len(data) > 600
    for offset in list(range(0, len(data), 200)) + [len(data) - 1, len(data), len(data) + 7, 0xFFFFFFFF]:
        seq = host._next_seq()
        chunk = data[offset:offset + 200] if offset < len(data) else b""  # (a long int: no slice index)
        want = encode("RECORD_CHUNK", link.seq, {"re": seq, "record_id": rid, "offset": offset,
                                                 "total": len(data), "data": chunk})
        assert _answer(host, encode("RECORD_READ", seq, {"record_id": rid, "offset": offset})) == want, offset
    # a retransmission gets the same chunk (the remembered reply) under the board's next seq
    read = encode("RECORD_READ", 77, {"record_id": rid, "offset": 200})
    first = decode(FrameDecoder().feed(_answer(host, read))[0])
    again = decode(FrameDecoder().feed(_answer(host, read))[0])
    assert again.fields == first.fields and again.seq == (first.seq + 1) & 0xFF
    h.cleanup()


def test_a_refused_record_read_gets_the_reference_decoders_nak():
    host = h.Host()
    rid, _ = _record(host)
    link = host.app.link
    state = host.app.state
    payload = encode_payload("RECORD_READ", {"record_id": rid, "offset": 0})
    for frame, error in (
            (encode("RECORD_READ", 10, {"record_id": rid + 1, "offset": 0}), "UNKNOWN_RECORD"),
            (encode_frame(11, 0x10, b"\x00\x00" + payload[2:]), "OUT_OF_RANGE"),  # record_id 0
            (encode_frame(12, 0x10, payload[:5]), "BAD_LENGTH"),
            (encode_frame(13, 0x10, payload + b"\x00"), "BAD_LENGTH"),
            (encode_frame(14, 0x10, payload, version=1), "UNSUPPORTED_VERSION")):
        seq = FrameDecoder().feed(frame)[0].seq
        want = encode("NAK", link.seq, {"re": seq, "error": ERROR[error], "state": state})
        assert _answer(host, frame) == want, error
    h.cleanup()
