"""A small in-test board speaking the protocol over TCP (socket://), to test the host's link logic.

It is not the firmware: it answers commands, remembers the last one for exactly-once (SPEC section 5),
and can drop commands or replies, duplicate replies, spray garbage, or vanish, on request.
"""

import socket
import struct
import threading

from traction_protocol import BY_ID, VERSION, FrameDecoder, decode, encode, encode_frame
from traction_protocol.constants import ERROR, STATE

KEY = bytes(range(32))
SERIAL = "FAKE-0001"


class FakeBoard:
    def __init__(self, protocol=VERSION, time_scale=1):
        self.protocol = protocol
        self.time_scale = time_scale
        self.state = STATE["IDLE"]
        self.fault = 0
        self.security = 3  # INFO's bits: provisioned, settings pass their MAC, no REPL
        self.start_latches = 0  # a fault code START latches instead of starting (SPEC 7: ZERO_DRIFT)
        self.executed = []  # names of commands executed, in order (exactly once each)
        self.fields = {}  # command name -> fields of its last execution
        self.received = 0  # frames received, retransmissions included
        self.drop_commands = 0  # ignore the next N command frames entirely
        self.drop_replies = 0  # execute but do not send the next N replies
        self.garble_commands = 0  # the next N commands arrive changed, CRC intact: NAK BAD_LENGTH, not run
        self.duplicate_replies = False
        self.refuse = {}  # command name -> error name
        self.records = {}  # record id -> bytes
        self.silent = False  # answer nothing at all
        self._last = None  # (seq, crc bytes, reply bytes)
        self._seq = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self._server.getsockname()[1]}"
        self._conn = None
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    # ---- what a test drives ----
    def send(self, name, fields):
        """An unsolicited board message (TELEMETRY, EVENT)."""
        self._seq = (self._seq + 1) & 0xFF
        self._write(encode(name, self._seq, fields))

    def send_raw(self, data):
        self._write(data)

    def vanish(self):
        """Close the connection as an unplugged board would."""
        conn, self._conn = self._conn, None
        if conn:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the host closed its end first
            conn.close()

    def close(self):
        self.vanish()
        self._server.close()

    # ---- the board side ----
    def _write(self, data):
        self._connected.wait(2.0)
        with self._lock:
            if self._conn:
                self._conn.sendall(data)

    def _serve(self):
        # One host at a time; after vanish() the next connection is taken, as a board plugged in again.
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._conn = conn
            self._connected.set()
            decoder = FrameDecoder()
            while self._conn is conn:
                try:
                    data = conn.recv(4096)
                except OSError:
                    break
                if not data:
                    break
                for frame in decoder.feed(data):
                    if not isinstance(frame, Exception):
                        self._on_frame(frame)
            self._connected.clear()
            if self._conn is conn:
                self._conn = None
                conn.close()

    def _on_frame(self, frame):
        self.received += 1
        if self.silent:
            return
        if self.drop_commands:
            self.drop_commands -= 1
            return
        if self.garble_commands:
            self.garble_commands -= 1
            nak = {"re": frame.seq, "error": ERROR["BAD_LENGTH"], "state": self.state}
            self._write(self._reply("NAK", nak))
            return
        raw = encode_frame(frame.seq, frame.type_id, frame.payload)
        hello = BY_ID.get(frame.type_id) is BY_ID[0x01]
        if self._last and self._last[0] == frame.seq and self._last[1] == raw and not hello:
            reply = self._last[2]
        else:
            reply = self._execute(frame)
            self._last = (frame.seq, raw, reply)
        if self.drop_replies:
            self.drop_replies -= 1
            return
        self._write(reply)
        if self.duplicate_replies:
            self._write(reply)

    def _execute(self, frame):
        if frame.version != self.protocol:
            return encode_frame(frame.seq, 0x81, bytes((frame.seq, ERROR["UNSUPPORTED_VERSION"], self.state)),
                                version=self.protocol)
        msg = decode(frame)
        self.executed.append(msg.name)
        self.fields[msg.name] = msg.fields
        re = msg.seq
        if msg.name in self.refuse:
            return self._reply("NAK", {"re": re, "error": ERROR[self.refuse[msg.name]], "state": self.state})
        if msg.name == "HELLO":
            return self._reply("INFO", self.info(re))
        if msg.name == "GET_STATUS":
            return self._reply("STATUS", {
                "re": re, "state": self.state, "fault": self.fault, "phase": 0, "segment": 0, "target_dn": 0,
                "force_dn": 12, "treatment_ms": 0, "traction_ms": 0, "remaining_ms": 0,
                "flags": 2 | (8 if self.records else 0), "overruns": 0})
        if msg.name == "RECORD_LIST":
            return self._reply("RECORDS", {"re": re, "record_ids": sorted(self.records)})
        if msg.name == "RECORD_READ":
            return self._read_record(re, msg["record_id"], msg["offset"])
        if msg.name == "RECORD_ACK":
            if msg["record_id"] not in self.records:
                return self._reply("NAK", {"re": re, "error": ERROR["UNKNOWN_RECORD"], "state": self.state})
            del self.records[msg["record_id"]]
        if msg.name == "START":
            self.state = STATE["FAULT"] if self.start_latches else STATE["RUNNING"]
            self.fault = self.start_latches
        if msg.name == "ESTOP":
            self.state = STATE["FAULT"]
        if msg.name == "CLEAR_FAULT":
            self.state, self.fault = STATE["IDLE"], 0
        if msg.name in ("SETUP", "PHASE"):
            self.state = STATE["READY"]  # simplified: one PHASE is all it waits for
        if msg.name == "STOP" and self.state == STATE["READY"]:
            self.state = STATE["IDLE"]
        return self._reply("ACK", {"re": re, "state": self.state})

    def _read_record(self, re, record_id, offset):
        data = self.records.get(record_id)
        if data is None:
            return self._reply("NAK", {"re": re, "error": ERROR["UNKNOWN_RECORD"], "state": self.state})
        return self._reply("RECORD_CHUNK", {"re": re, "record_id": record_id, "offset": offset,
                                            "total": len(data), "data": data[offset:offset + 200]})

    def info(self, re):
        return {"re": re, "protocol": self.protocol, "fw_major": 0, "fw_minor": 1, "fw_patch": 0,
                "serial": SERIAL, "kind": 1, "time_scale": self.time_scale, "control_hz": 100,
                "hard_max_dn": 9000, "cervical_max_dn": 2220, "lumbar_max_dn": 8900, "modes": 0x1F,
                "calibrated": 1, "cal_date_s": 1767225600, "lease_min_ms": 500, "lease_max_ms": 10000,
                "cal_id": 0x5A17C0DE, "cal_points": 3, "cal_nonlin_ppm": 120, "security": self.security,
                "full_speed_counts_s": 8000, "reset_cause": 0,
                "state": self.state}

    def _reply(self, name, fields):
        return encode(name, fields["re"], fields)


def telemetry(sample, forces, state=3, period_us=100000):
    return {"sample": sample, "period_us": period_us, "state": state, "phase": 0, "segment": 2,
            "samples": [(f, t) for f, t in forces]}


def signed_record(key=KEY, record_id=1, session_id=7, reason="COMPLETED"):
    """A well-formed, sealed record (SPEC 9.2), built here so link tests need no firmware."""
    import hashlib
    import hmac
    import json

    phases = [{"mode": "STATIC", "force_dn": 1000, "base_dn": 0, "hold_ms": 0, "rest_ms": 0,
               "ramp_up_ms": 5000, "ramp_down_ms": 5000, "steps": 0, "repeats": 0, "duration_ms": 60000}]
    bodies = [
        {"t": "head", "v": 1, "record": record_id, "session_id": session_id, "serial": SERIAL, "fw": "0.1.0",
         "board": "sim", "cal_date_s": 1767225600, "utc_start_s": 1767225700, "boot_ms": 1000,
         "region": "LUMBAR", "angle_dd": 100, "hard_max_dn": 9000, "region_max_dn": 8900,
         "session_max_dn": 2000, "limit_dn": 2000, "tolerance_dn": 50, "phases": phases},
        {"t": "hold", "phase": 0, "cycle": 0, "target_dn": 1000, "mean_dn": 998, "peak_dn": 1010,
         "min_dn": 990, "ms": 55000, "in_tol_ms": 55000},
        {"t": "phase", "phase": 0, "mode": "STATIC", "ms": 60000, "cycles": 1, "mean_dn": 998,
         "peak_dn": 1010, "in_tol_ms": 55000, "hold_ms": 55000},
        {"t": "end", "reason": reason, "fault": None, "treatment_ms": 60000, "traction_ms": 58000,
         "peak_dn": 1010, "pauses": 0, "paused_ms": 0, "edits": 0, "end_ms": 70000},
    ]
    lines, prev = [], "0" * 64
    for body in bodies:
        text = json.dumps(dict(body, prev=prev), separators=(",", ":")).encode()
        lines.append(text)
        prev = hashlib.sha256(text).hexdigest()
    mac = hmac.new(key, bytes.fromhex(prev), hashlib.sha256).hexdigest()
    lines.append(json.dumps({"t": "seal", "prev": prev, "alg": "HMAC-SHA256", "mac": mac}).encode())
    return b"\n".join(lines) + b"\n"


def u16(v):
    return struct.pack("<H", v)
