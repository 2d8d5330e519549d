# The board's frame encoder (traction_fw/wire.py: viper CRC and COBS into fixed buffers) against the
# reference codec: the same bytes for every vector in protocol/vectors and for payloads of every length
# with zero runs, 0xFF runs and the 254-byte COBS boundary; TELEMETRY as the link packs it in place.

import fw_harness as h
import vector_cases
from traction_fw.wire import FrameWriter
from traction_protocol import BY_NAME, encode
from traction_protocol.errors import EncodeError
from traction_protocol.framing import MAX_PAYLOAD, encode_frame
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
