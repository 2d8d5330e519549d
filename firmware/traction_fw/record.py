# Session records (SPEC section 9): JSON lines, each carrying the SHA-256 of the line before it, closed by
# an HMAC-SHA256 seal over the last hash with the device key. Written line by line to records/NNNNN.rec
# (during a treatment, on a board with a spool, as rows that become lines later: recorder.py), so a reset
# loses at most the line being written; the next boot seals what is there.

import hashlib
import json
import os

from binascii import hexlify

from .session import TRACTION_DN  # a hold row whose minimum is at least this was all under traction

ZERO_HASH = "0" * 64
RECORD_DIR = "records"
_BLOCK = 64  # SHA-256 block size, for HMAC


def hmac_sha256(key, msg):
    """RFC 2104 HMAC over SHA-256 (MicroPython has hashlib.sha256 but no hmac module)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = bytes(key) + bytes(_BLOCK - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def sha256_hex(data):
    return hexlify(hashlib.sha256(data).digest()).decode()


def to_json(value):
    """Compact JSON with keys in the order given: objects are lists of (key, value) pairs."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return "{" + ",".join(json.dumps(k) + ":" + to_json(v) for k, v in value) + "}"
    return "[" + ",".join(to_json(v) for v in value) + "]"


def verify(data, key):
    """True when the record bytes form an intact hash chain closed by a valid seal (SPEC 9.2)."""
    return data.endswith(b"\n") and verify_lines(split_lines(data), key)


def verify_lines(lines, key):
    """verify() of a record's lines (bytes, without their newlines), which may come a chunk at a time."""
    try:
        return _verify(lines, key)
    except (ValueError, KeyError, TypeError):
        return False


def _verify(lines, key):
    prev = ZERO_HASH
    obj = None
    for line in lines:
        obj = json.loads(line)
        if not isinstance(obj, dict) or obj["prev"] != prev:
            return False
        prev = sha256_hex(line)
    if obj is None or obj.get("t") != "seal" or obj.get("alg") != "HMAC-SHA256":
        return False
    mac = hexlify(hmac_sha256(key, bytes.fromhex(obj["prev"]))).decode()
    return mac == obj["mac"]


def split_lines(data):
    """The lines of record bytes that end in a newline. Split as they are: data[:-1] would first copy the
    whole record, one block as large as the file, which a board's fragmented heap may not have."""
    lines = data.split(b"\n")
    lines.pop()
    return lines


def path_of(store, record_id):
    return "%s/%s/%05d.rec" % (store, RECORD_DIR, record_id)


class Writer:
    """Appends lines to one record file, chaining each to the hash of the line before."""

    def __init__(self, store, record_id, key, prev=ZERO_HASH):
        self.path = path_of(store, record_id)
        self.record_id = record_id
        self.key = key
        self.prev = prev
        self.sealed = False

    def write(self, t, pairs):
        """Append one line of type t; pairs is a list of (key, value) after `t` and `prev`."""
        self._append(self.text(t, pairs))

    def seal(self, end=None):
        """Append the seal line; with end (the end line's pairs), the end line before it, in the same
        append: on a board each append is a commit of the store, the costly part of a line."""
        self._append(self.seal_text(end))

    def seal_text(self, end=None):
        """The seal line's text (after the end line's, with end), for an append made elsewhere."""
        text = self.text("end", end) if end is not None else ""
        mac = hexlify(hmac_sha256(self.key, bytes.fromhex(self.prev))).decode()
        self.sealed = True
        return text + self.text("seal", [("alg", "HMAC-SHA256"), ("mac", mac)])

    def text(self, t, pairs):
        """The line's text (with its newline); the chain moves on to its hash."""
        line = to_json([("t", t), ("prev", self.prev)] + pairs)
        self.prev = sha256_hex(line.encode())
        return line + "\n"

    def _append(self, text):
        with open(self.path, "a") as f:
            f.write(text)


class Store:
    """The records kept on the board until the host acknowledges them."""

    def __init__(self, store):
        self.root = store
        d = store + "/" + RECORD_DIR
        try:
            os.mkdir(d)
        except OSError:
            pass  # already there
        self.dir = d

    def ids(self):
        out = []
        for name in os.listdir(self.dir):
            if name.endswith(".rec") and len(name) == 9 and name[:5].isdigit():
                out.append(int(name[:5]))
        out.sort()
        return out

    def load(self, record_id):
        with open(path_of(self.root, record_id), "rb") as f:
            return f.read()

    def delete(self, record_id):
        try:
            os.remove(path_of(self.root, record_id))
            return True
        except OSError:
            return False

    def reopen(self, record_id, key):
        """A Writer continuing an unsealed record, or None if it is sealed. A line cut short by a reset
        is dropped, so the chain stays intact."""
        data = self.load(record_id)
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(path_of(self.root, record_id), "wb") as f:
                f.write(data[:end])
            data = data[:end]
        if not data:
            return Writer(self.root, record_id, key), []
        lines = split_lines(data)
        if json.loads(lines[-1]).get("t") == "seal":
            return None, lines
        return Writer(self.root, record_id, key, sha256_hex(lines[-1])), lines


def after_reset(lines):
    """The lines (type, pairs) that close a record a reset left open, before its seal (SPEC 9.2): the
    row of the hold cut short and the phase line of the phase cut short, as the last CHECKPOINT saw them,
    then `end` with reason RESET. Every figure is at least what was delivered: it counts up to the last
    CHECKPOINT, or to a later line where one says more."""
    try:
        if json.loads(lines[-1])["t"] == "end":
            return []  # the reset came between `end` and the seal: only the seal is missing
        return _after_reset(lines)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        # not a record this firmware wrote: seal it as it is, claiming nothing
        return [("end", _end(0, 0, 0, 0, 0, 0, 0))]


def _end(treatment, traction, peak, pauses, paused, edits, end_ms):
    return [("reason", "RESET"), ("fault", "RESET"), ("treatment_ms", treatment), ("traction_ms", traction),
            ("peak_dn", peak), ("pauses", pauses), ("paused_ms", paused), ("edits", edits),
            ("end_ms", end_ms)]


class _Phase:
    """A phase's hold rows, summed as its `phase` line would sum them."""

    def __init__(self):
        self.ms = self.mean_ms = self.in_tol = self.peak = 0
        self.cycles = []

    def add(self, row):
        self.ms += row["ms"]
        self.mean_ms += row["mean_dn"] * row["ms"]
        self.in_tol += row["in_tol_ms"]
        self.peak = max(self.peak, row["peak_dn"])
        if row["cycle"] not in self.cycles:
            self.cycles.append(row["cycle"])


def _after_reset(lines):
    plan = json.loads(lines[0])["phases"]
    treatment = phases_ms = peak = pauses = edits = rows_ms = traction_rows = 0
    at = 0  # the phase under way, as far as the lines tell
    done = []  # phases with their `phase` line
    held = {}  # phase -> _Phase
    peaks = {}  # phase -> peak force seen in its events and checkpoints
    ck = None  # the last CHECKPOINT
    covered = False  # a line after it closed the hold it saw under way
    for raw in lines[1:]:
        obj = json.loads(raw)
        t = obj["t"]
        p = obj["phase"]
        if t == "ev":
            ev = obj["ev"]
            treatment = max(treatment, obj["ms"])
            force = obj["force_dn"]
            peak = max(peak, force)
            peaks[p] = max(peaks.get(p, 0), force)
            at = max(at, p)
            if ev == "PAUSE":
                pauses += 1
            elif ev == "EDIT":
                edits += 1
            elif ev == "CHECKPOINT":
                ck = obj
                covered = False
                peaks[p] = max(peaks[p], obj["phase_peak_dn"])
        elif t == "hold":
            held.setdefault(p, _Phase()).add(obj)
            peak = max(peak, obj["peak_dn"])
            rows_ms += obj["ms"]
            if obj["min_dn"] >= TRACTION_DN:
                traction_rows += obj["ms"]
            if ck is not None and ck["hold"] is not None and p == ck["phase"] and \
                    obj["cycle"] == ck["hold"]["cycle"]:
                covered = True
        elif t == "phase":
            done.append(p)
            phases_ms += obj["ms"]
            peak = max(peak, obj["peak_dn"])
            at = max(at, p + 1)
            if ck is not None and p == ck["phase"]:
                covered = True
    out = []
    if ck is not None and ck["hold"] is not None and not covered:
        row = ck["hold"]
        p = ck["phase"]
        out.append(("hold", [("phase", p)] + [(k, row[k]) for k in (
            "cycle", "target_dn", "mean_dn", "peak_dn", "min_dn", "ms", "in_tol_ms")]))
        held.setdefault(p, _Phase()).add(row)
        rows_ms += row["ms"]
        if row["min_dn"] >= TRACTION_DN:
            traction_rows += row["ms"]
    treatment = max(treatment, phases_ms, rows_ms)
    if at < len(plan) and at not in done:
        before = 0
        for i in range(at):
            before += plan[i]["duration_ms"]
        h = held.get(at) or _Phase()
        ms = max(0, treatment - before)
        if ms or h.ms:
            out.append(("phase", [
                ("phase", at), ("mode", plan[at]["mode"]), ("ms", ms), ("cycles", len(h.cycles)),
                ("mean_dn", h.mean_ms // h.ms if h.ms else 0), ("peak_dn", max(h.peak, peaks.get(at, 0))),
                ("in_tol_ms", h.in_tol), ("hold_ms", h.ms)]))
    traction = traction_rows
    paused = end_ms = 0
    if ck is not None:
        traction = max(traction, ck["traction_ms"])
        paused = ck["paused_ms"]
        end_ms = ck["session_ms"]
        peak = max(peak, ck["peak_dn"])
        pauses = max(pauses, ck["pauses"])
        edits = max(edits, ck["edits"])
    end_ms = max(end_ms, treatment, traction)
    out.append(("end", _end(treatment, traction, peak, pauses, paused, edits, end_ms)))
    return out
