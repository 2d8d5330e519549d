# The message catalogue: one table that both sides encode and decode from, and SPEC.md documents.
#
# A message is Message(name, seq, fields). Fixed fields are little-endian integers, NUL-padded ASCII
# text or raw bytes; some messages end in a repeated tail (telemetry samples, record ids, record data).

import struct

from .constants import ANGLE_NOT_SET
from .errors import BadLength, EncodeError, OutOfRange, UnknownType, UnsupportedVersion
from .framing import MAX_PAYLOAD, VERSION, Frame, encode_frame

HOST = "host"
BOARD = "board"

# Field: (name, kind, lo, hi, unit, meaning). kind is a struct code (B H I b h i), "text16" or "bytes32".
# Tail: (name, kind, item_fields, max_count) with kind "struct:<code>" or "bytes".
U8_MAX = 0xFF
U16_MAX = 0xFFFF
U32_MAX = 0xFFFFFFFF

_RE = ("re", "B", 0, U8_MAX, "", "seq of the command this answers")
_STATE = ("state", "B", 1, 7, "", "board state after the command (state table)")
_DN = "0.1 N"
MAX_PHASE_MS = 99 * 60 * 1000
SAMPLE_WRAP = 1 << 30  # SAMPLES.first wraps here (a small int on a 32-bit board)
MAX_LEASE_MS = 3600 * 1000  # an hour of device time: 1 s of wall time on a virtual board at x1000 and more

CATALOGUE = (
    # ---- host -> board: commands, each answered by exactly one reply ----
    (0x01, "HELLO", HOST, "INFO", (
        ("host_version", "B", 1, U8_MAX, "", "highest protocol version the host speaks"),
    ), None),
    (0x02, "HEARTBEAT", HOST, "ACK", (
        ("lease_ms", "I", 200, MAX_LEASE_MS, "ms", "lease the host asks for (board clamps to its range)"),
    ), None),
    (0x03, "SET_TIME", HOST, "ACK", (
        ("utc_s", "I", 0, U32_MAX, "s", "UTC seconds since 1970-01-01"),
    ), None),
    (0x04, "SETUP", HOST, "ACK", (
        ("region", "B", 1, 2, "", "1 cervical, 2 lumbar"),
        ("angle_dd", "H", 0, 450, "0.1 deg", "angle of pull, as entered; 65535 = not entered"),
        ("session_max_dn", "H", 10, U16_MAX, _DN, "session force ceiling"),
        ("tolerance_dn", "H", 1, 1000, _DN, "hold tolerance band for the record's statistics"),
        ("phase_count", "B", 1, 16, "", "number of PHASE messages that follow"),
        ("telemetry_div", "B", 0, 100, "", "send every Nth control sample; 0 = no telemetry"),
        ("session_id", "I", 0, U32_MAX, "", "host's identifier, copied into the record"),
    ), None),
    (0x05, "PHASE", HOST, "ACK", (
        ("index", "B", 0, 15, "", "phase number, from 0"),
        ("mode", "B", 1, 5, "", "1 static, 2 intermittent, 3 cyclic, 4 progressive, 5 regressive"),
        ("force_dn", "H", 0, U16_MAX, _DN, "traction (hold) force"),
        ("base_dn", "H", 0, U16_MAX, _DN, "rest force (intermittent, cyclic) or step start/end force"),
        ("hold_ms", "I", 0, MAX_PHASE_MS, "ms", "hold time per cycle"),
        ("rest_ms", "I", 0, MAX_PHASE_MS, "ms", "rest time per cycle"),
        ("ramp_up_ms", "I", 0, 600000, "ms", "ramp time up to force"),
        ("ramp_down_ms", "I", 0, 600000, "ms", "ramp time down to base (or to zero at the end)"),
        ("steps", "B", 0, 20, "", "steps (progressive, regressive)"),
        ("repeats", "H", 0, 1000, "", "cycles (cyclic)"),
        ("duration_ms", "I", 1000, MAX_PHASE_MS, "ms", "phase duration"),
    ), None),
    (0x06, "START", HOST, "ACK", (), None),
    (0x07, "PAUSE", HOST, "ACK", (), None),
    (0x08, "RESUME", HOST, "ACK", (), None),
    (0x09, "EDIT_FORCE", HOST, "ACK", (
        ("force_dn", "H", 0, U16_MAX, _DN, "new traction force for the current phase"),
    ), None),
    (0x0A, "STOP", HOST, "ACK", (), None),
    (0x0B, "ESTOP", HOST, "ACK", (), None),
    (0x0C, "CLEAR_FAULT", HOST, "ACK", (), None),
    (0x0D, "GET_STATUS", HOST, "STATUS", (), None),
    (0x0E, "TARE", HOST, "ACK", (), None),
    (0x0F, "RECORD_LIST", HOST, "RECORDS", (), None),
    (0x10, "RECORD_READ", HOST, "RECORD_CHUNK", (
        ("record_id", "H", 1, U16_MAX, "", "record to read"),
        ("offset", "I", 0, U32_MAX, "byte", "where to start"),
    ), None),
    (0x11, "RECORD_ACK", HOST, "ACK", (
        ("record_id", "H", 1, U16_MAX, "", "record the host has stored; the board may delete it"),
    ), None),
    (0x12, "SERVICE_ENTER", HOST, "ACK", (), None),
    (0x13, "SERVICE_EXIT", HOST, "ACK", (), None),
    (0x14, "PROVISION", HOST, "ACK", (
        ("serial", "text16", 0, 0, "", "device serial number, ASCII"),
        ("hard_max_dn", "H", 10, U16_MAX, _DN, "device hard maximum"),
        ("cervical_max_dn", "H", 10, U16_MAX, _DN, "cervical region maximum"),
        ("lumbar_max_dn", "H", 10, U16_MAX, _DN, "lumbar region maximum"),
        ("key", "bytes32", 0, 0, "", "device key for record signatures (HMAC-SHA256)"),
    ), None),
    (0x15, "CALIBRATE", HOST, "ACK", (
        ("zero_counts", "i", -2147483648, 2147483647, "count", "load-cell reading with no load (tare)"),
        ("span_counts", "i", -2147483648, 2147483647, "count", "reading change at span_dn, from the fit"),
        ("span_dn", "H", 100, U16_MAX, _DN, "the heaviest reference weight (one of `weights`)"),
        ("date_s", "I", 0, U32_MAX, "s", "calibration date, UTC seconds"),
        ("nonlin_ppm", "H", 0, U16_MAX, "ppm", "largest deviation from the fit, of full scale"),
    ), ("weights", "struct:H", ("weight_dn",), 10)),
    (0x16, "LOADCELL_READ", HOST, "LOADCELL", (), None),
    (0x17, "JOG", HOST, "ACK", (
        ("speed_pm", "h", -300, 300, "per-mille", "motor speed, of full speed; positive winds in"),
        ("ms", "H", 0, 3000, "ms", "how long (device time); 0 stops a jog"),
    ), None),
    (0x18, "WATCHDOG_TEST", HOST, "ACK", (), None),
    (0x19, "STREAM", HOST, "ACK", (
        ("samples", "B", 0, 1, "", "1: send every load-cell conversion in SAMPLES frames; 0: stop "
                                   "(as at boot and after HELLO)"),
    ), None),
    # ---- board -> host: replies (they carry `re`) and unsolicited messages ----
    (0x80, "ACK", BOARD, None, (_RE, _STATE), None),
    (0x81, "NAK", BOARD, None, (
        _RE,
        ("error", "B", 1, U8_MAX, "", "error code (error table)"),
        _STATE,
    ), None),
    (0x82, "INFO", BOARD, None, (
        _RE,
        ("protocol", "B", 1, U8_MAX, "", "protocol version the board speaks"),
        ("fw_major", "B", 0, U8_MAX, "", "firmware version"),
        ("fw_minor", "B", 0, U8_MAX, "", ""),
        ("fw_patch", "B", 0, U8_MAX, "", ""),
        ("serial", "text16", 0, 0, "", "device serial number"),
        ("kind", "B", 0, 1, "", "0 real board, 1 virtual (sim) board"),
        ("time_scale", "H", 1, 1000, "", "device seconds per wall-clock second (1 on a real board)"),
        ("control_hz", "H", 1, 10000, "Hz", "control (and load-cell sample) rate"),
        ("hard_max_dn", "H", 0, U16_MAX, _DN, "provisioned device maximum"),
        ("cervical_max_dn", "H", 0, U16_MAX, _DN, "provisioned cervical maximum"),
        ("lumbar_max_dn", "H", 0, U16_MAX, _DN, "provisioned lumbar maximum"),
        ("modes", "B", 0, U8_MAX, "", "bit n set: mode n+1 supported"),
        ("calibrated", "B", 0, 1, "", "1 when a calibration is stored"),
        ("cal_date_s", "I", 0, U32_MAX, "s", "calibration date, UTC seconds (0 if none)"),
        ("lease_min_ms", "I", 1, U32_MAX, "ms", "shortest lease granted"),
        ("lease_max_ms", "I", 1, U32_MAX, "ms", "longest lease granted"),
        _STATE,
        ("cal_id", "I", 0, U32_MAX, "", "names the calibration (32 bits of its SHA-256); 0 if none"),
        ("cal_points", "B", 0, U8_MAX, "", "reference weights the calibration was fitted to"),
        ("cal_nonlin_ppm", "H", 0, U16_MAX, "ppm", "its largest deviation from the fit, of full scale"),
        ("security", "B", 0, U8_MAX, "", "bit0 provisioned, bit1 settings pass their MAC, "
                                           "bit2 REPL offered on the port"),
        ("full_speed_counts_s", "H", 0, U16_MAX, "count/s", "encoder counts per second at full motor "
                                                             "speed; 0 without an encoder"),
        ("reset_cause", "B", 0, 1, "", "what started the firmware: 0 power-on or a requested reset, "
                                        "1 the watchdog or another unexpected reset"),
    ), None),
    (0x83, "STATUS", BOARD, None, (
        _RE,
        ("state", "B", 1, 7, "", "board state"),
        ("fault", "B", 0, U8_MAX, "", "latched fault code, 0 if none"),
        ("phase", "B", 0, U8_MAX, "", "current phase index"),
        ("segment", "B", 0, U8_MAX, "", "segment within the phase (segment table)"),
        ("target_dn", "H", 0, U16_MAX, _DN, "current force target"),
        ("force_dn", "h", -32768, 32767, _DN, "measured force"),
        ("treatment_ms", "I", 0, U32_MAX, "ms", "treatment time elapsed (stops while paused)"),
        ("traction_ms", "I", 0, U32_MAX, "ms", "time under traction (measured force >= 5 N)"),
        ("remaining_ms", "I", 0, U32_MAX, "ms", "treatment time left"),
        ("flags", "B", 0, U8_MAX, "", "bit0 stop switch pressed, bit1 calibrated, bit2 motor enabled, "
                                        "bit3 unacknowledged record stored, bit4 service jumper present"),
        ("overruns", "H", 0, U16_MAX, "", "control loops since boot that ended after the next period "
                                            "began (stays at 65535)"),
    ), None),
    (0x84, "TELEMETRY", BOARD, None, (
        ("sample", "I", 0, U32_MAX, "", "control sample of item 0; item i is sample + i x telemetry_div"),
        ("period_us", "I", 1, U32_MAX, "us", "device time between items (control period x telemetry_div)"),
        ("state", "B", 1, 7, "", "board state"),
        ("phase", "B", 0, U8_MAX, "", "current phase index"),
        ("segment", "B", 0, U8_MAX, "", "segment within the phase"),
    ), ("samples", "struct:hH", ("force_dn", "target_dn"), 40)),
    (0x85, "EVENT", BOARD, None, (
        ("event", "H", 0, U16_MAX, "", "running event number (a gap means an event frame was lost)"),
        ("ms", "I", 0, U32_MAX, "ms", "device time since the session started (since boot when idle)"),
        ("kind", "B", 1, 10, "", "event kind (event table)"),
        ("code", "B", 0, U8_MAX, "", "kind-specific code"),
        ("value", "i", -2147483648, 2147483647, "", "kind-specific value"),
    ), None),
    (0x86, "RECORDS", BOARD, None, (_RE,), ("record_ids", "struct:H", ("record_id",), 100)),
    (0x87, "RECORD_CHUNK", BOARD, None, (
        _RE,
        ("record_id", "H", 1, U16_MAX, "", "record"),
        ("offset", "I", 0, U32_MAX, "byte", "offset of the first data byte"),
        ("total", "I", 0, U32_MAX, "byte", "record size"),
    ), ("data", "bytes", None, 200)),
    (0x88, "LOADCELL", BOARD, None, (
        _RE,
        ("sample", "I", 0, U32_MAX, "", "control sample the reading was taken at"),
        ("raw_counts", "i", -2147483648, 2147483647, "count", "load-cell reading, uncalibrated"),
        ("current_counts", "i", -1, 2147483647, "count", "motor current sense reading; -1 if none"),
        ("position", "i", -2147483648, 2147483647, "count", "encoder position; 0 if none"),
        _STATE,
    ), None),
    (0x89, "SAMPLES", BOARD, None, (
        ("first", "I", 0, SAMPLE_WRAP - 1, "", "running number of item 0: load-cell conversions since boot, "
                                                "modulo 2^30; item i is first + i (mod 2^30)"),
        ("sample", "I", 0, U32_MAX, "", "control sample (TELEMETRY's numbering) of the last tick before the "
                                         "items were taken"),
        ("behind", "H", 0, U16_MAX, "", "conversions the ADC made after the last item by the end of that "
                                         "period: the last item is behind / sps s before it ended"),
        ("sps", "H", 1, U16_MAX, "1/s", "the ADC's conversion rate: item i + 1 is 1/sps s after item i"),
        ("zero_counts", "i", -2147483648, 2147483647, "count", "the reading the board takes as zero "
                                                               "force now (its calibration, or the zero "
                                                               "START took)"),
        ("span_counts", "i", -2147483648, 2147483647, "count", "reading change at span_dn; 0 when not "
                                                               "calibrated"),
        ("span_dn", "H", 0, U16_MAX, _DN, "the load of span_counts: force_dn = (raw_counts - zero_counts) x "
                                          "span_dn / span_counts"),
    ), ("counts", "struct:i", ("raw_counts",), 56)),
)

_KIND_SIZE = {"text16": 16, "bytes32": 32}


class Spec:
    """One catalogue entry, with its struct format precomputed."""

    def __init__(self, entry):
        self.type_id, self.name, self.sender, self.reply, self.fields, self.tail = entry
        fmt = "<"
        for f in self.fields:
            k = f[1]
            fmt += ("%ds" % _KIND_SIZE[k]) if k in _KIND_SIZE else k
        self.fmt = fmt
        self.size = struct.calcsize(fmt)
        if self.tail and self.tail[1].startswith("struct:"):
            self.item_fmt = "<" + self.tail[1][7:]
            self.item_size = struct.calcsize(self.item_fmt)
        else:
            self.item_fmt = None
            self.item_size = 1


BY_ID = {}
BY_NAME = {}
for _entry in CATALOGUE:
    _spec = Spec(_entry)
    BY_ID[_spec.type_id] = _spec
    BY_NAME[_spec.name] = _spec


class Message:
    __slots__ = ("name", "seq", "fields")

    def __init__(self, name, seq=0, fields=None):
        self.name = name
        self.seq = seq
        self.fields = fields if fields is not None else {}

    def __getitem__(self, key):
        return self.fields[key]

    def get(self, key, default=None):
        return self.fields.get(key, default)

    def __eq__(self, other):
        return isinstance(other, Message) and (self.name, self.seq, self.fields) == (
            other.name, other.seq, other.fields)

    def __repr__(self):
        return "Message(%s seq=%d %r)" % (self.name, self.seq, self.fields)


# Fields that may say "not set" with one value outside their range (SPEC section 4).
NOT_SET = {("SETUP", "angle_dd"): ANGLE_NOT_SET}


def _check(spec, name, value, lo, hi, exc, seq):
    if not lo <= value <= hi and value != NOT_SET.get((spec.name, name)):
        raise exc("%s.%s = %d outside %d..%d" % (spec.name, name, value, lo, hi), seq, spec.type_id)


def encode_payload(name, fields):
    spec = BY_NAME.get(name)
    if spec is None:
        raise EncodeError("unknown message " + str(name))
    values = []
    for fname, kind, lo, hi, _unit, _doc in spec.fields:
        if fname not in fields:
            raise EncodeError("%s needs field %s" % (name, fname))
        v = fields[fname]
        if kind == "text16":
            v = v.encode() if isinstance(v, str) else bytes(v)
            if len(v) > 16 or not _printable(v):
                raise EncodeError("%s.%s must be at most 16 printable ASCII characters" % (name, fname))
        elif kind == "bytes32":
            if len(v) != 32:
                raise EncodeError("%s.%s must be 32 bytes" % (name, fname))
        else:
            _check(spec, fname, v, lo, hi, EncodeError, None)
        values.append(v)
    out = bytearray(struct.pack(spec.fmt, *values))
    if spec.tail:
        out.extend(_encode_tail(spec, fields))
    if len(out) > MAX_PAYLOAD:
        raise EncodeError("%s payload of %d bytes exceeds %d" % (name, len(out), MAX_PAYLOAD))
    return bytes(out)


def _encode_tail(spec, fields):
    tname, kind, item_fields, max_count = spec.tail
    items = fields.get(tname, b"" if kind == "bytes" else ())
    if len(items) > max_count:
        raise EncodeError("%s.%s has %d items, at most %d" % (spec.name, tname, len(items), max_count))
    if kind == "bytes":
        return bytes(items)
    out = bytearray()
    for item in items:
        if len(item_fields) == 1 and isinstance(item, int):
            item = (item,)
        out.extend(struct.pack(spec.item_fmt, *item))
    return out


def decode_payload(spec, payload, seq=None):
    n = len(payload)
    if n < spec.size or (spec.tail is None and n != spec.size) or (
            spec.tail is not None and (n - spec.size) % spec.item_size):
        raise BadLength("%s payload of %d bytes, expected %d%s" % (
            spec.name, n, spec.size, " plus items" if spec.tail else ""), seq, spec.type_id)
    fields = {}
    values = struct.unpack(spec.fmt, bytes(payload[:spec.size]))
    for f, v in zip(spec.fields, values):
        fname, kind, lo, hi = f[0], f[1], f[2], f[3]
        if kind == "text16":
            v = _text(spec, fname, v, seq)
        elif kind != "bytes32":
            _check(spec, fname, v, lo, hi, OutOfRange, seq)
        fields[fname] = v
    if spec.tail:
        fields[spec.tail[0]] = _decode_tail(spec, payload, seq)
    return fields


def _printable(raw):
    for b in raw:
        if not 0x20 <= b <= 0x7E:
            return False
    return True


def _text(spec, fname, raw, seq):
    # Printable ASCII then only NUL padding: anything else has no single text value, so it is refused
    # rather than guessed at (and every accepted field re-encodes to the same bytes).
    end = raw.find(b"\x00")
    text = raw if end < 0 else raw[:end]
    if not _printable(text) or raw[len(text):] != bytes(len(raw) - len(text)):
        raise OutOfRange("%s.%s is not NUL-padded printable ASCII" % (spec.name, fname), seq, spec.type_id)
    return text.decode()


def _decode_tail(spec, payload, seq):
    tname, kind, item_fields, max_count = spec.tail
    rest = bytes(payload[spec.size:])
    count = len(rest) // spec.item_size
    if count > max_count:
        raise BadLength("%s.%s has %d items, at most %d" % (spec.name, tname, count, max_count),
                        seq, spec.type_id)
    if kind == "bytes":
        return rest
    items = []
    for i in range(count):
        item = struct.unpack(spec.item_fmt, rest[i * spec.item_size:(i + 1) * spec.item_size])
        items.append(item[0] if len(item_fields) == 1 else item)
    return items


def encode(name, seq, fields=None):
    """The wire bytes (delimiter included) for one message."""
    spec = BY_NAME.get(name)
    if spec is None:
        raise EncodeError("unknown message " + str(name))
    return encode_frame(seq, spec.type_id, encode_payload(name, fields or {}))


def decode(frame):
    """Turn a Frame into a Message. Raises UnsupportedVersion, UnknownType, BadLength or OutOfRange."""
    if frame.version != VERSION:
        raise UnsupportedVersion("protocol version %d, this side speaks %d" % (frame.version, VERSION),
                                 frame.seq, frame.type_id)
    spec = BY_ID.get(frame.type_id)
    if spec is None:
        raise UnknownType("message type 0x%02x" % frame.type_id, frame.seq, frame.type_id)
    return Message(spec.name, frame.seq, decode_payload(spec, frame.payload, frame.seq))


def frame_of(name, seq, fields=None):
    """A Frame (not yet on the wire) for one message; for tests and tools."""
    spec = BY_NAME[name]
    return Frame(VERSION, seq, spec.type_id, encode_payload(name, fields or {}))
