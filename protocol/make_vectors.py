"""Writes the language-neutral test vectors protocol/vectors/messages.json and errors.json.

    python protocol/make_vectors.py           rewrite both files
    python protocol/make_vectors.py --check   exit 1 if the committed files differ from what it would write

Each vector is {"name", "wire": hex of the exact wire bytes (delimiter included)} plus either
"message": {"type", "seq", "fields"} (bytes as hex, tail items as lists) or "error": the SPEC error name.
Every wire holds exactly one frame, so each vector yields exactly one message or one error.
The output is deterministic: the same codec always writes the same bytes.
"""

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from traction_protocol import BY_NAME, VERSION, cobs, decode, decode_frame, encode, encode_frame  # noqa: E402
from traction_protocol.crc import crc16  # noqa: E402
from traction_protocol.messages import encode_payload as payload  # noqa: E402

VECTORS = Path(__file__).with_name("vectors")
KEY = hashlib.sha256(b"traction vectors device key").digest()
DAY = 1795305600  # 2026-11-21 00:00 UTC
RECORD_TEXT = (
    '{"t":"head","prev":"' + "0" * 64 + '","v":1,"record":3,"session_id":1001,"serial":"TU-2026-00042",'
    '"fw":"1.0.0","board":"sim","cal_date_s":1795219200,"utc_start_s":1795305600,"boot_ms":5000,'
    '"region":"CERVICAL","angle_dd":240}\n'
).encode()


def static_phase(**changes):
    fields = dict(index=0, mode=1, force_dn=1000, base_dn=0, hold_ms=0, rest_ms=0, ramp_up_ms=10000,
                  ramp_down_ms=10000, steps=0, repeats=0, duration_ms=600000)
    fields.update(changes)
    return fields


def info(re, kind, time_scale, serial, **changes):
    fields = dict(re=re, protocol=VERSION, fw_major=1, fw_minor=0, fw_patch=0, serial=serial, kind=kind,
                  time_scale=time_scale, control_hz=1000, hard_max_dn=3000, cervical_max_dn=1500,
                  lumbar_max_dn=3000, modes=0x1F, calibrated=1, cal_date_s=DAY - 86400,
                  lease_min_ms=200, lease_max_ms=10000, state=1, cal_id=0x5A17C0DE, cal_points=4,
                  cal_nonlin_ppm=180, security=0x03, full_speed_counts_s=8000, reset_cause=0)
    fields.update(changes)
    return fields


def telemetry(sample, count, **changes):
    # a ramp towards 100.0 N with the measured force trailing the target and a little noise
    samples = [(min(1000, 25 * i) - 12 + (i * 7) % 5, min(1000, 25 * i + 20)) for i in range(count)]
    fields = dict(sample=sample, period_us=10000, state=3, phase=0, segment=1, samples=samples)
    fields.update(changes)
    return fields


def samples(first, count, **changes):
    # an ADS1220 at 660 conversions a second near 30 N on a cell of 4000 counts per newton, with noise
    counts = [121400 + (i * 37) % 800 - 400 for i in range(count)]
    fields = dict(first=first, sample=1200, behind=2, sps=660, zero_counts=1400, span_counts=400000,
                  span_dn=1000, counts=counts)
    fields.update(changes)
    return fields


def event(number, ms, kind, code, value):
    return dict(event=number, ms=ms, kind=kind, code=code, value=value)


def chunk(re, offset, data, total):
    return dict(re=re, record_id=3, offset=offset, total=total, data=data)


def status(**changes):
    fields = dict(re=9, state=3, fault=0, phase=0, segment=2, target_dn=1000, force_dn=996,
                  treatment_ms=125000, traction_ms=118000, remaining_ms=475000, flags=0x06, overruns=0)
    fields.update(changes)
    return fields


SETUP_CERVICAL = dict(region=1, angle_dd=240, session_max_dn=1200, tolerance_dn=20, phase_count=1,
                      telemetry_div=10, session_id=1001)
PROVISIONED = dict(serial="TU-2026-00042", hard_max_dn=3000, cervical_max_dn=1500, lumbar_max_dn=3000,
                   key=KEY)

# (vector name, message type, seq, fields): realistic sessions, every type, every tail full and empty.
MESSAGES = (
    ("HELLO, the SPEC example", "HELLO", 1, dict(host_version=2)),
    ("HELLO from a host speaking up to version 3", "HELLO", 0, dict(host_version=3)),
    ("HEARTBEAT asking for a 2 s lease", "HEARTBEAT", 2, dict(lease_ms=2000)),
    ("HEARTBEAT at a real board's longest lease (10 s)", "HEARTBEAT", 254, dict(lease_ms=10000)),
    ("HEARTBEAT at the largest lease (an hour of device time)", "HEARTBEAT", 255, dict(lease_ms=3600000)),
    ("SET_TIME", "SET_TIME", 3, dict(utc_s=DAY + 9 * 3600 + 30 * 60)),
    ("SETUP cervical, one phase, telemetry every 10th sample", "SETUP", 4,
     SETUP_CERVICAL),
    ("SETUP lumbar, three phases, no telemetry", "SETUP", 40,
     dict(region=2, angle_dd=0, session_max_dn=3000, tolerance_dn=50, phase_count=3, telemetry_div=0,
          session_id=4294967295)),
    ("SETUP with no angle of pull entered (65535)", "SETUP", 45,
     dict(SETUP_CERVICAL, angle_dd=65535)),
    ("PHASE static 100 N for 10 min", "PHASE", 5, static_phase()),
    ("PHASE intermittent 60 s hold / 20 s rest at 30 N", "PHASE", 41,
     static_phase(mode=2, force_dn=1800, base_dn=300, hold_ms=60000, rest_ms=20000, ramp_up_ms=5000,
                  ramp_down_ms=5000, duration_ms=900000)),
    ("PHASE cyclic 10 cycles", "PHASE", 42,
     static_phase(index=1, mode=3, force_dn=2200, base_dn=500, hold_ms=30000, rest_ms=10000, ramp_up_ms=5000,
                  ramp_down_ms=5000, repeats=10, duration_ms=500000)),
    ("PHASE progressive 5 steps", "PHASE", 43,
     static_phase(index=2, mode=4, force_dn=2500, base_dn=1000, ramp_up_ms=3000, ramp_down_ms=20000, steps=5,
                  duration_ms=300000)),
    ("PHASE regressive 4 steps, last of 16", "PHASE", 44,
     static_phase(index=15, mode=5, force_dn=2000, base_dn=400, ramp_up_ms=3000, ramp_down_ms=15000,
                  steps=4, duration_ms=240000)),
    ("START", "START", 6, {}),
    ("PAUSE", "PAUSE", 7, {}),
    ("RESUME", "RESUME", 8, {}),
    ("EDIT_FORCE to 90 N", "EDIT_FORCE", 9, dict(force_dn=900)),
    ("STOP", "STOP", 10, {}),
    ("ESTOP", "ESTOP", 11, {}),
    ("CLEAR_FAULT", "CLEAR_FAULT", 12, {}),
    ("GET_STATUS", "GET_STATUS", 13, {}),
    ("TARE", "TARE", 14, {}),
    ("RECORD_LIST", "RECORD_LIST", 15, {}),
    ("RECORD_READ from the start", "RECORD_READ", 16, dict(record_id=3, offset=0)),
    ("RECORD_READ the third chunk", "RECORD_READ", 17, dict(record_id=3, offset=400)),
    ("RECORD_ACK", "RECORD_ACK", 18, dict(record_id=3)),
    ("SERVICE_ENTER", "SERVICE_ENTER", 19, {}),
    ("SERVICE_EXIT", "SERVICE_EXIT", 20, {}),
    ("PROVISION", "PROVISION", 21, PROVISIONED),
    ("PROVISION with a 16-character serial (no padding)", "PROVISION", 22,
     dict(serial="TRACTION-0000001", hard_max_dn=2500, cervical_max_dn=1200, lumbar_max_dn=2500,
          key=bytes(32))),
    ("CALIBRATE with four reference weights", "CALIBRATE", 23,
     dict(zero_counts=1400, span_counts=3922660, span_dn=9807, date_s=DAY, nonlin_ppm=180,
          weights=[981, 1961, 4903, 9807])),
    ("CALIBRATE with a reversed cell (negative span) and the most weights", "CALIBRATE", 24,
     dict(zero_counts=-5000, span_counts=-400000, span_dn=1000, date_s=DAY, nonlin_ppm=0,
          weights=[100, 200, 300, 400, 500, 600, 700, 800, 900, 1000])),
    ("CALIBRATE without reference weights (the board refuses it, the codec does not)", "CALIBRATE", 28,
     dict(zero_counts=0, span_counts=100000, span_dn=100, date_s=0, nonlin_ppm=0, weights=[])),
    ("LOADCELL_READ", "LOADCELL_READ", 25, {}),
    ("JOG winding in at 20 % for 0.5 s", "JOG", 29, dict(speed_pm=200, ms=500)),
    ("WATCHDOG_TEST", "WATCHDOG_TEST", 31, {}),
    ("STREAM on", "STREAM", 32, dict(samples=1)),
    ("STREAM off", "STREAM", 33, dict(samples=0)),
    ("JOG paying out at the fastest a jog may, for the longest", "JOG", 30, dict(speed_pm=-300, ms=3000)),
    ("ACK of START, now RUNNING", "ACK", 0, dict(re=6, state=3)),
    ("ACK of seq 255, IDLE", "ACK", 255, dict(re=255, state=1)),
    ("NAK OVER_LIMIT in READY", "NAK", 1, dict(re=5, error=3, state=2)),
    ("NAK UNKNOWN_TYPE in IDLE", "NAK", 2, dict(re=77, error=12, state=1)),
    ("INFO from a virtual board at x60 (a 10 s wall-time lease)", "INFO", 3,
     info(1, 1, 60, "SIM-0001", lease_min_ms=600000, lease_max_ms=600000)),
    ("INFO from an unprovisioned real board", "INFO", 4,
     info(0, 0, 1, "", hard_max_dn=0, cervical_max_dn=0, lumbar_max_dn=0, calibrated=0, cal_date_s=0,
          modes=0x07, cal_id=0, cal_points=0, cal_nonlin_ppm=0, security=0x06, full_speed_counts_s=0,
          reset_cause=1)),
    ("LOADCELL in SERVICE, a board with current sense and an encoder", "LOADCELL", 26,
     dict(re=25, sample=123456, raw_counts=1961400, current_counts=2050, position=-1200, state=7)),
    ("LOADCELL from a board without current sense", "LOADCELL", 27,
     dict(re=25, sample=0, raw_counts=-8388608, current_counts=-1, position=0, state=1)),
    ("STATUS running, holding 100 N", "STATUS", 5, status()),
    ("STATUS fault latched, stop switch pressed, record pending", "STATUS", 6,
     status(state=6, fault=9, segment=6, target_dn=0, force_dn=-15, remaining_ms=0, flags=0x0B, overruns=3)),
    ("STATUS with the overrun count at its ceiling", "STATUS", 22, status(overruns=65535)),
    ("TELEMETRY full batch of 40 samples", "TELEMETRY", 7, telemetry(400, 40)),
    ("TELEMETRY one sample", "TELEMETRY", 8, telemetry(440, 1, segment=2)),
    ("TELEMETRY empty batch", "TELEMETRY", 9, telemetry(441, 0, state=4)),
    ("TELEMETRY at the field limits (sample counter about to wrap)", "TELEMETRY", 10,
     telemetry(4294967295, 2, samples=[(-32768, 0), (-1, 0)], state=6, segment=6)),
    ("SAMPLES 33 conversions (50 ms at 660 per second)", "SAMPLES", 23, samples(7920, 33)),
    ("SAMPLES the largest batch, 56 conversions", "SAMPLES", 24, samples(0, 56)),
    ("SAMPLES not calibrated, running number about to wrap, counts at the rails", "SAMPLES", 25,
     samples(1073741823, 2, zero_counts=0, span_counts=0, span_dn=0, counts=[-8388608, 8388607])),
    ("SAMPLES empty", "SAMPLES", 26, samples(5, 0, sps=80)),
    ("EVENT state change to RUNNING", "EVENT", 11, event(0, 0, 1, 3, 0)),
    ("EVENT phase 0 enters HOLD", "EVENT", 12, event(1, 10000, 2, 0, 2)),
    ("EVENT fault CABLE_SNAP at -3.5 N", "EVENT", 13, event(2, 312345, 3, 6, -35)),
    ("EVENT stop switch pressed, counters and value at their maximum", "EVENT", 14,
     event(65535, 4294967295, 4, 1, 2147483647)),
    ("EVENT boot after a reset, value at its minimum", "EVENT", 15, event(0, 12, 10, 1, -2147483648)),
    ("RECORDS none", "RECORDS", 16, dict(re=15, record_ids=[])),
    ("RECORDS three", "RECORDS", 17, dict(re=15, record_ids=[1, 2, 3])),
    ("RECORDS full list of 100", "RECORDS", 18, dict(re=15, record_ids=list(range(1, 101)))),
    ("RECORD_CHUNK first 200 bytes", "RECORD_CHUNK", 19, chunk(16, 0, RECORD_TEXT[:200], len(RECORD_TEXT))),
    ("RECORD_CHUNK last bytes", "RECORD_CHUNK", 20,
     chunk(17, 200, RECORD_TEXT[200:], len(RECORD_TEXT))),
    ("RECORD_CHUNK at the end (empty)", "RECORD_CHUNK", 21,
     chunk(18, len(RECORD_TEXT), b"", len(RECORD_TEXT))),
)


def jsonable(value):
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def message_vector(name, type_name, seq, fields):
    wire = encode(type_name, seq, fields)
    # the vector states what the codec decodes (text stripped, tails as lists), in catalogue order
    decoded = decode(decode_frame(wire[:-1])).fields
    return {"name": name, "wire": wire.hex(),
            "message": {"type": type_name, "seq": seq,
                        "fields": {k: jsonable(decoded[k]) for k in field_order(type_name)}}}


def field_order(type_name):
    spec = BY_NAME[type_name]
    return [f[0] for f in spec.fields] + ([spec.tail[0]] if spec.tail else [])


def raw_frame(body, crc_fix=0):
    """Wire bytes for any decoded body: the correct CRC (xor crc_fix) appended, COBS, delimiter."""
    crc = crc16(body) ^ crc_fix
    return cobs.encode(bytes(body) + bytes((crc & 0xFF, crc >> 8))) + b"\x00"


def with_type(type_id, body=b"", seq=30, version=VERSION):
    return encode_frame(seq, type_id, body, version)


def patched(type_name, fields, offset, new_bytes, seq=31):
    """A frame of a valid message with payload bytes at offset replaced (its CRC recomputed)."""
    p = bytearray(payload(type_name, fields))
    p[offset:offset + len(new_bytes)] = new_bytes
    return with_type(BY_NAME[type_name].type_id, bytes(p), seq)


def flipped(wire, index, mask):
    out = bytearray(wire)
    out[index] ^= mask
    return bytes(out)


def oversized_by_cobs():
    """A 254-byte frame COBS-encoded with an empty block after its final full run: 256 bytes."""
    body = bytearray((VERSION, 1, BY_NAME["RECORD_CHUNK"].type_id))
    body += bytes([0x41]) * 249
    crc = crc16(body)
    assert crc & 0xFF and crc >> 8, "the example needs a CRC without zero bytes"
    body += bytes((crc & 0xFF, crc >> 8))
    return bytes([0xFF]) + bytes(body[:254]) + b"\x01\x00"


def error_vectors():
    hello = encode("HELLO", 1, dict(host_version=2))
    hello_body = bytes((VERSION, 1, 1, 1))
    heartbeat = dict(lease_ms=2000)
    phase = static_phase()
    long_chunk = dict(re=1, record_id=1, offset=0, total=238, data=b"")
    return [
        # framing (steps 1-5): silent errors
        ("CRC low byte flipped", raw_frame(hello_body, 0x0001), "CRC_MISMATCH"),
        ("CRC bytes swapped (sent big-endian)",
         cobs.encode(hello_body + crc16(hello_body).to_bytes(2, "big")) + b"\x00", "CRC_MISMATCH"),
        ("payload bit flipped in transit", flipped(hello, 4, 0x04), "CRC_MISMATCH"),
        ("CRC of another CRC variant (CRC-16/CCITT-FALSE)",
         cobs.encode(hello_body + ccitt_false(hello_body).to_bytes(2, "little")) + b"\x00", "CRC_MISMATCH"),
        ("bad CRC wins over an unknown type", raw_frame(bytes((VERSION, 1, 0x7E)), 0x8000), "CRC_MISMATCH"),
        ("empty COBS block (decodes to nothing)", b"\x01\x00", "TRUNCATED"),
        ("one decoded byte", b"\x02\x01\x00", "TRUNCATED"),
        ("header only, no CRC", b"\x04\x01\x01\x01\x00", "TRUNCATED"),
        ("four decoded bytes", b"\x05\x01\x01\x01\x17\x00", "TRUNCATED"),
        ("HELLO cut short: its COBS code points past the delimiter", hello[:4] + b"\x00", "BAD_COBS"),
        ("COBS code past the end of a longer block", b"\x03\x01\x01\x09\x02\x03\x00", "BAD_COBS"),
        ("lone 0xFF code with nothing after it", b"\xff\x00", "BAD_COBS"),
        ("300 bytes of line noise before a delimiter", bytes([0x55]) * 300 + b"\x00", "OVERSIZED"),
        ("256 non-zero bytes before a delimiter", bytes(range(1, 256)) + b"\x01\x00", "OVERSIZED"),
        ("valid 254-byte frame encoded with a needless trailing empty block (256 bytes)", oversized_by_cobs(),
         "OVERSIZED"),
        # message (steps 6-9): the board NAKs these with the frame's seq
        ("version 1 (the first protocol)", with_type(0x01, b"\x01", version=1), "UNSUPPORTED_VERSION"),
        ("version 4", with_type(0x01, b"\x01", version=4), "UNSUPPORTED_VERSION"),
        ("version 0", with_type(0x02, payload("HEARTBEAT", heartbeat), version=0), "UNSUPPORTED_VERSION"),
        ("unsupported version wins over an unknown type", with_type(0x7E, version=1), "UNSUPPORTED_VERSION"),
        ("type 0x00", with_type(0x00), "UNKNOWN_TYPE"),
        ("type 0x1A, just past the host commands", with_type(0x1A), "UNKNOWN_TYPE"),
        ("type 0x7F", with_type(0x7F, b"\x01\x02"), "UNKNOWN_TYPE"),
        ("type 0x8A, just past the board messages", with_type(0x8A), "UNKNOWN_TYPE"),
        ("type 0xFF", with_type(0xFF, bytes(10)), "UNKNOWN_TYPE"),
        ("HELLO without its payload", with_type(0x01), "BAD_LENGTH"),
        ("HEARTBEAT with 3 bytes", with_type(0x02, b"\xd0\x07\x00"), "BAD_LENGTH"),
        ("HEARTBEAT truncated to 1 byte", with_type(0x02, b"\xd0"), "BAD_LENGTH"),
        ("HEARTBEAT in the version 1 layout (u16 lease)", with_type(0x02, b"\xd0\x07"), "BAD_LENGTH"),
        ("START with a payload byte", with_type(0x06, b"\x00"), "BAD_LENGTH"),
        ("TELEMETRY shorter than its fixed part", with_type(0x84, payload("TELEMETRY", telemetry(0, 0))[:10]),
         "BAD_LENGTH"),
        ("TELEMETRY with half a sample", with_type(0x84, payload("TELEMETRY", telemetry(0, 1))[:13]),
         "BAD_LENGTH"),
        ("TELEMETRY with 41 samples",
         with_type(0x84, payload("TELEMETRY", telemetry(0, 40)) + b"\x10\x00\x20\x00"), "BAD_LENGTH"),
        ("SAMPLES with three bytes of a conversion",
         with_type(0x89, payload("SAMPLES", samples(0, 1)) + b"\x01\x02\x03"), "BAD_LENGTH"),
        ("STREAM without its byte", with_type(0x19), "BAD_LENGTH"),
        ("RECORDS with an odd byte", with_type(0x86, b"\x0f\x01\x00\x02"), "BAD_LENGTH"),
        ("RECORDS with 101 ids", with_type(0x86, b"\x0f" + b"\x01\x00" * 101), "BAD_LENGTH"),
        ("RECORD_CHUNK with 201 data bytes",
         with_type(0x87, payload("RECORD_CHUNK", chunk(1, 0, b"", 201)) + bytes([0x20]) * 201), "BAD_LENGTH"),
        ("largest frame (254 bytes): RECORD_CHUNK with 238 data bytes",
         with_type(0x87, payload("RECORD_CHUNK", long_chunk) + bytes([0x41]) * 238), "BAD_LENGTH"),
        ("bad length wins over a field out of range", with_type(0x02, b"\x00\x00\x00"), "BAD_LENGTH"),
        ("HELLO host_version 0", with_type(0x01, b"\x00"), "OUT_OF_RANGE"),
        ("HEARTBEAT lease below 200 ms", patched("HEARTBEAT", heartbeat, 0, (199).to_bytes(2, "little")),
         "OUT_OF_RANGE"),
        ("HEARTBEAT lease above an hour",
         patched("HEARTBEAT", heartbeat, 0, (3600001).to_bytes(4, "little")),
         "OUT_OF_RANGE"),
        ("SETUP region 3", patched("SETUP", SETUP_CERVICAL, 0, b"\x03"), "OUT_OF_RANGE"),
        ("SETUP angle 45.1 degrees", patched("SETUP", SETUP_CERVICAL, 1, (451).to_bytes(2, "little")),
         "OUT_OF_RANGE"),
        ("SETUP angle 65534, not the not-entered value",
         patched("SETUP", SETUP_CERVICAL, 1, (65534).to_bytes(2, "little")), "OUT_OF_RANGE"),
        ("SETUP 17 phases", patched("SETUP", SETUP_CERVICAL, 7, b"\x11"), "OUT_OF_RANGE"),
        ("PHASE mode 6", patched("PHASE", phase, 1, b"\x06"), "OUT_OF_RANGE"),
        ("PHASE duration under 1 s", patched("PHASE", phase, 25, (999).to_bytes(4, "little")),
         "OUT_OF_RANGE"),
        ("ACK state 0", with_type(0x80, b"\x06\x00"), "OUT_OF_RANGE"),
        ("NAK error 0", with_type(0x81, b"\x06\x00\x01"), "OUT_OF_RANGE"),
        ("TELEMETRY period 0", patched("TELEMETRY", telemetry(0, 3), 4, bytes(4)), "OUT_OF_RANGE"),
        ("SAMPLES first at 2^30, past its wrap",
         patched("SAMPLES", samples(0, 3), 0, (1 << 30).to_bytes(4, "little")), "OUT_OF_RANGE"),
        ("SAMPLES rate 0", patched("SAMPLES", samples(0, 3), 10, bytes(2)), "OUT_OF_RANGE"),
        ("STREAM samples 2", with_type(0x19, b"\x02"), "OUT_OF_RANGE"),
        ("EVENT kind 11", patched("EVENT", event(3, 100, 1, 3, 0), 6, b"\x0b"), "OUT_OF_RANGE"),
        ("RECORD_READ record 0", with_type(0x10, bytes(6)), "OUT_OF_RANGE"),
        ("PROVISION serial with a non-ASCII byte",
         patched("PROVISION", PROVISIONED, 2, b"\xe9"), "OUT_OF_RANGE"),
        ("PROVISION serial with a control character",
         patched("PROVISION", PROVISIONED, 0, b"\x07"), "OUT_OF_RANGE"),
        ("INFO serial with a byte after its padding",
         patched("INFO", info(1, 1, 60, "SIM-0001"), 5 + 12, b"X"), "OUT_OF_RANGE"),
    ]


def ccitt_false(data):
    """CRC-16/CCITT-FALSE (poly 0x1021 not reflected, init 0xFFFF): a CRC a client might pick by mistake."""
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def messages():
    return [message_vector(*m) for m in MESSAGES]


def errors():
    return [{"name": name, "wire": wire.hex(), "error": err} for name, wire, err in error_vectors()]


def render(vectors):
    return "[\n" + ",\n".join(json.dumps(v) for v in vectors) + "\n]\n"


def outputs():
    return {"messages.json": render(messages()), "errors.json": render(errors())}


def main(argv):
    stale = []
    for name, text in outputs().items():
        path = VECTORS / name
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("stale vectors (run python protocol/make_vectors.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
