"""Session records (protocol/SPEC.md section 9.2): parse, check the hash chain and the device's seal.

A record is the board's own account of a session: JSON lines chained by SHA-256 and sealed with an
HMAC-SHA256 under the device key. Nothing here trusts a record that fails any check, and a verified
record is read-only: its facts are what the device measured and nobody may edit them afterwards.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

from traction.errors import TractionError

ZERO_PREV = "0" * 64
SEAL_ALG = "HMAC-SHA256"
KEY_BYTES = 32

# Keys each line type must carry (SPEC 9.2); a record missing one is refused, not guessed at.
REQUIRED = {
    "head": ("v", "record", "session_id", "serial", "fw", "board", "cal_date_s", "utc_start_s", "boot_ms",
             "region", "angle_dd", "hard_max_dn", "region_max_dn", "session_max_dn", "limit_dn",
             "tolerance_dn", "phases"),
    "ev": ("ms", "ev", "phase", "force_dn"),
    "hold": ("phase", "cycle", "target_dn", "mean_dn", "peak_dn", "min_dn", "ms", "in_tol_ms"),
    "phase": ("phase", "mode", "ms", "cycles", "mean_dn", "peak_dn", "in_tol_ms", "hold_ms"),
    "end": ("reason", "fault", "treatment_ms", "traction_ms", "peak_dn", "pauses", "paused_ms", "edits",
            "end_ms"),
    "seal": ("alg", "mac"),
}
PHASE_KEYS = ("mode", "force_dn", "base_dn", "hold_ms", "rest_ms", "ramp_up_ms", "ramp_down_ms", "steps",
              "repeats", "duration_ms")
EVENT_REQUIRED = {"EDIT": ("target_dn",), "FAULT": ("fault",)}
MIDDLE_TYPES = ("ev", "hold", "phase")


# A line that no longer parses is tampering or corruption, said as the other tamper cases say it.
FAILS = "the record fails verification (altered or corrupt)"


class RecordError(TractionError):
    """A session record that cannot be trusted: malformed, altered, truncated, or sealed by another key."""


class Record:
    """A verified session record. Lines are frozen mappings; the raw bytes are kept for archiving."""

    def __init__(self, raw: bytes, lines: tuple):
        self._raw = raw
        self._lines = lines

    @property
    def raw(self) -> bytes:
        """The record's bytes exactly as the board wrote and sealed them."""
        return self._raw

    @property
    def lines(self) -> tuple:
        """Every line of the record, parsed (frozen mappings), head first, seal last."""
        return self._lines

    @property
    def head(self):
        """The head line: board, firmware, calibration, limits, the planned phases (SPEC 9.2)."""
        return self._lines[0]

    @property
    def end(self):
        """The end line: reason, fault, treatment_ms, traction_ms, peak_dn, pauses, edits, end_ms."""
        return self._lines[-2]

    @property
    def seal(self):
        """The seal line: the HMAC over the record and the chain to the board's previous record."""
        return self._lines[-1]

    @property
    def events(self) -> tuple:
        """What happened in the session; CHECKPOINT lines (running totals, SPEC 9.2) are `checkpoints`."""
        return tuple(line for line in self._of_type("ev") if line["ev"] != "CHECKPOINT")

    @property
    def checkpoints(self) -> tuple:
        """The CHECKPOINT lines: running totals the board wrote during the session."""
        return tuple(line for line in self._of_type("ev") if line["ev"] == "CHECKPOINT")

    @property
    def holds(self) -> tuple:
        """One line per hold or step segment (and per edit during one): target, mean, peak, time in
        tolerance."""
        return self._of_type("hold")

    @property
    def phases(self) -> tuple:
        """One line per phase done: its time, cycles, mean and peak force, hold time."""
        return self._of_type("phase")

    def _of_type(self, t: str) -> tuple:
        return tuple(line for line in self._lines if line["t"] == t)

    @property
    def record_id(self) -> int:
        """The record's number on the board."""
        return self.head["record"]

    @property
    def session_id(self) -> int:
        """The session number the host gave at SETUP."""
        return self.head["session_id"]

    @property
    def serial(self) -> str:
        """The serial of the board that sealed it."""
        return self.head["serial"]

    @property
    def mac(self) -> str:
        """The device's seal (hex), which stands for the whole record."""
        return self.seal["mac"]

    @property
    def utc_start(self) -> datetime | None:
        """Wall-clock start from the host's SET_TIME; None when the board was never given the time."""
        seconds = self.head["utc_start_s"]
        return datetime.fromtimestamp(seconds, UTC) if seconds else None

    @property
    def utc_end(self) -> datetime | None:
        """When the record ended (start plus end_ms, pauses included); None without a start time."""
        start = self.utc_start
        return start + timedelta(milliseconds=self.end["end_ms"]) if start else None

    def __repr__(self) -> str:
        reason = self.end["reason"]
        return f"<Record {self.record_id} session {self.session_id} from {self.serial} ({reason})>"


def verify(data: bytes, key: bytes) -> Record:
    """Parse a record and check every line, the chain and the seal; raise RecordError on the first failure."""
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise RecordError(f"the device key must be {KEY_BYTES} bytes, got {_describe_key(key)}")
    texts = _split_lines(bytes(data))
    label = _label(texts)
    lines = []
    prev = ZERO_PREV
    for number, text in enumerate(texts, start=1):
        line = _parse_line(label, number, text)
        if line["prev"] != prev:
            if number == 1:
                raise RecordError(f"{label}: line 1 must start the chain with 64 zeros in 'prev'")
            raise RecordError(
                f"{label}: line {number} does not chain to line {number - 1}: the record was altered")
        prev = hashlib.sha256(text).hexdigest()
        lines.append(line)
    _check_order(label, lines)
    _check_seal(label, lines[-1], key, len(lines))
    return Record(bytes(data), tuple(_freeze(line) for line in lines))


def load(path, key: bytes) -> Record:
    """Read and verify a record file (.rec)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise RecordError(f"cannot read session record {path}: {e.strerror}") from e
    return verify(data, key)


def parse_key(text: str, where: str) -> bytes:
    """A device key written as 64 hex digits; `where` names the source in the error."""
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise RecordError(f"{where}: the device key must be 64 hex digits (32 bytes)")
    return key


def load_key(path) -> bytes:
    """A device key file from provisioning: the 32 raw bytes, or 64 hex digits."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise RecordError(f"cannot read the key file {path}: {e.strerror}") from e
    return data if len(data) == KEY_BYTES else parse_key(data.decode("ascii", "replace"), str(path))


def _describe_key(key) -> str:
    if isinstance(key, bytes | bytearray):
        return f"{len(key)} bytes"
    return type(key).__name__


def _split_lines(data: bytes) -> list:
    if not data:
        raise RecordError("session record is empty")
    if not data.endswith(b"\n"):
        raise RecordError("session record does not end with a newline: it is truncated or altered")
    texts = data[:-1].split(b"\n")
    for number, text in enumerate(texts, start=1):
        if not text:
            raise RecordError(f"session record: line {number} is empty")
        # No JSON writer emits a raw tab or CR; refusing them keeps whitespace out of the unsealed last line.
        if b"\t" in text or b"\r" in text:
            raise RecordError(f"session record: line {number} holds a tab or carriage return")
    return texts


def _label(texts: list) -> str:
    """'record N' from the first line when it is readable, for messages about any line."""
    try:
        record_id = json.loads(texts[0]).get("record")
    except (ValueError, AttributeError):
        return "session record"
    return f"record {record_id}" if isinstance(record_id, int) and not isinstance(record_id, bool) else (
        "session record")


def _parse_line(label: str, number: int, text: bytes) -> dict:
    try:
        line = json.loads(text.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RecordError(f"{label}: line {number} is not UTF-8 text (byte {e.start}): {FAILS}") from e
    except ValueError as e:
        raise RecordError(f"{label}: line {number} is not valid JSON ({e}): {FAILS}") from e
    if not isinstance(line, dict):
        raise RecordError(f"{label}: line {number} is not a JSON object")
    kind = line.get("t")
    if kind not in REQUIRED:
        raise RecordError(f"{label}: line {number} has unknown type {kind!r}")
    prev = line.get("prev")
    if not isinstance(prev, str) or len(prev) != 64 or prev.strip("0123456789abcdef"):
        raise RecordError(f"{label}: line {number} ({kind}) has no valid 'prev' (64 lowercase hex digits)")
    _check_keys(label, number, line)
    return line


def _check_keys(label: str, number: int, line: dict) -> None:
    kind = line["t"]
    wanted = REQUIRED[kind] + (EVENT_REQUIRED.get(line.get("ev", ""), ()) if kind == "ev" else ())
    missing = [k for k in wanted if k not in line]
    if missing:
        raise RecordError(f"{label}: line {number} ({kind}) lacks {', '.join(repr(k) for k in missing)}")
    if kind == "head":
        _check_head(label, line)


def _check_head(label: str, head: dict) -> None:
    if head["v"] != 1:
        raise RecordError(f"{label}: record format version {head['v']!r} is not supported (expected 1)")
    phases = head["phases"]
    if not isinstance(phases, list) or not phases:
        raise RecordError(f"{label}: line 1 (head) has no phases")
    for index, phase in enumerate(phases):
        missing = [k for k in PHASE_KEYS if not isinstance(phase, dict) or k not in phase]
        if missing:
            raise RecordError(f"{label}: line 1 (head) phase {index} lacks {', '.join(map(repr, missing))}")


def _check_order(label: str, lines: list) -> None:
    kinds = [line["t"] for line in lines]
    if kinds[0] != "head":
        raise RecordError(f"{label}: line 1 is {kinds[0]!r}, not the head")
    if kinds[-1] != "seal":
        raise RecordError(f"{label}: the last line is {kinds[-1]!r}, not the seal: the record is truncated")
    if len(kinds) < 3 or kinds[-2] != "end":
        raise RecordError(f"{label}: line {len(kinds) - 1} is {kinds[-2]!r}, not the end line")
    for number, kind in enumerate(kinds[1:-2], start=2):
        if kind not in MIDDLE_TYPES:
            raise RecordError(f"{label}: line {number} is a {kind!r} line in the middle of the record")


def _check_seal(label: str, seal: dict, key: bytes, number: int) -> None:
    if seal["alg"] != SEAL_ALG:
        raise RecordError(f"{label}: line {number} (seal) uses {seal['alg']!r}, expected {SEAL_ALG!r}")
    expected = hmac.new(bytes(key), bytes.fromhex(seal["prev"]), hashlib.sha256).hexdigest()
    mac = seal["mac"]
    # compare_digest on str needs ASCII; a non-ASCII mac is wrong anyway.
    if not isinstance(mac, str) or not mac.isascii() or not hmac.compare_digest(mac, expected):
        raise RecordError(
            f"{label}: line {number} (seal) does not match the device key: "
            "the record was altered or comes from another device"
        )


def _freeze(value):
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value
