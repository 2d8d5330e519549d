# Provisioning and calibration, persisted in the board's store: settings.json (limits, identity,
# calibration, record counter) sealed with an HMAC-SHA256 under the device key, which lives apart in
# key.bin. A bare board (no file, no key) starts unprovisioned and uncalibrated, or from the board config's
# "provision" section where it has a serial (the virtual board's factory state). After that only SERVICE
# mode changes them, a provisioned maximum can only be kept or lowered (SPEC section 10), and a file that
# fails its MAC at boot is reported as tampered: the application latches a fault and refuses to treat.

import hashlib
import json
import os

from binascii import hexlify, unhexlify

from .record import hmac_sha256, to_json

FILE = "settings.json"
KEY_FILE = "key.bin"
FORMAT = 2
ZERO_KEY = bytes(32)
# force_dn = ((raw - zero) * gain) >> shift, fixed point with gain kept near 2**16. The product is taken in
# two halves of the reading so every intermediate stays a small integer on a 32-bit port (< 2**30) for
# readings up to 24 bits: a larger integer would allocate in the tick.
GAIN_BITS = 16
SPLIT = 12
LOW_MASK = (1 << SPLIT) - 1
MIN_SPAN_DN = 100  # a span load under 10 N cannot give a usable scale
MIN_WEIGHTS = 3  # reference weights a calibration needs: two points cannot show a nonlinearity
MAX_WEIGHTS = 10


def seed(config):
    """What a bare board starts with: the board config's "provision" section when it names a serial (a
    virtual board's factory state), else None (unprovisioned, uncalibrated)."""
    prov = config.get("provision") or {}
    if not prov.get("serial"):
        return None
    limits = config.get("limits") or {}
    cal = prov.get("calibration") or {}
    return {
        "serial": prov["serial"], "key": prov.get("key_hex", "00" * 32),
        "hard_max_dn": limits.get("hard_max_dn", 0), "cervical_max_dn": limits.get("cervical_max_dn", 0),
        "lumbar_max_dn": limits.get("lumbar_max_dn", 0), "provisioned": bool(limits),
        "calibration": {"zero": cal.get("zero_counts", 0), "span_counts": cal.get("span_counts", 0),
                        "span_dn": cal.get("span_dn", 0), "date_s": cal.get("date_s", 0),
                        "weights_dn": cal.get("weights_dn", []), "nonlin_ppm": cal.get("nonlin_ppm", 0)},
    }


class Settings:
    def __init__(self, store, provision=None, design=None):
        """design: the board config's "limits" (what the mechanics are built for): no provisioning goes
        above them. Without it, anything the wire carries."""
        self.path = store + "/" + FILE
        self.key_path = store + "/" + KEY_FILE
        self.design = design or {}
        self.tampered = ""  # why the stored settings are not trusted (one line), or ""
        self._clear()
        self.key = self._read_key()
        if self._load():
            self.key = self.key or ZERO_KEY
        elif self.key is not None or self.tampered:
            # a provisioned board whose settings are gone or unreadable: never re-seeded from a config
            self.tampered = self.tampered or "settings.json missing on a provisioned board"
        else:
            self.key = ZERO_KEY
            if provision:
                self._seed(provision)
            self.save()
        if self.tampered:
            self.key = self.key or ZERO_KEY
            self._clear()  # nothing from an untrusted file is used: no limit, no calibration
            self.provisioned = True  # and nothing can provision it afresh: erase the store to recover
        self._update_gain()

    def _clear(self):
        self.serial = ""
        self.hard_max_dn = 0
        self.cervical_max_dn = 0
        self.lumbar_max_dn = 0
        self.provisioned = False
        self.zero = 0
        self.span_counts = 0
        self.span_dn = 0
        self.cal_date_s = 0
        self.cal_weights = []
        self.cal_nonlin_ppm = 0
        self.next_record = 1
        self.gain = 0
        self.shift = SPLIT + 1
        self.half = 1

    # ---- persistence ----

    def _read_key(self):
        try:
            with open(self.key_path, "rb") as f:
                key = f.read()
        except OSError:
            return None
        if len(key) != 32:
            self.tampered = "key.bin is not 32 bytes"
            return None
        return key

    def _load(self):
        try:
            with open(self.path) as f:
                d = json.load(f)
        except OSError:
            return False
        except ValueError:
            self.tampered = "settings.json is not JSON"
            return False
        try:
            body = d["settings"]
            self._apply(body)
            mac = hexlify(hmac_sha256(self.key or ZERO_KEY, self._body().encode())).decode()
            if d.get("v") != FORMAT or mac != d["mac"]:
                self.tampered = "settings.json fails its MAC check"
        except (KeyError, TypeError, ValueError, AttributeError):
            self.tampered = "settings.json is not in the settings format"
        return True

    def _apply(self, d):
        self.serial = d["serial"]
        self.hard_max_dn = d["hard_max_dn"]
        self.cervical_max_dn = d["cervical_max_dn"]
        self.lumbar_max_dn = d["lumbar_max_dn"]
        self.provisioned = d["provisioned"]
        cal = d["calibration"]
        self.zero = cal["zero"]
        self.span_counts = cal["span_counts"]
        self.span_dn = cal["span_dn"]
        self.cal_date_s = cal["date_s"]
        self.cal_weights = list(cal["weights_dn"])
        self.cal_nonlin_ppm = cal["nonlin_ppm"]
        self.next_record = d.get("next_record", 1)

    def _seed(self, provision):
        key = unhexlify(provision.get("key", "00" * 32))
        if len(key) != 32:
            raise ValueError("provision key must be 32 bytes (64 hex digits)")
        self._apply(dict(provision, next_record=1))
        if key != ZERO_KEY:
            self._write_key(key)

    def _write_key(self, key):
        tmp = self.key_path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(key)
        os.rename(tmp, self.key_path)
        self.key = bytes(key)

    def _calibration(self):
        return [("zero", self.zero), ("span_counts", self.span_counts), ("span_dn", self.span_dn),
                ("date_s", self.cal_date_s), ("weights_dn", self.cal_weights),
                ("nonlin_ppm", self.cal_nonlin_ppm)]

    def _body(self):
        """The settings as canonical JSON (fixed key order): what the MAC covers."""
        return to_json([
            ("serial", self.serial), ("hard_max_dn", self.hard_max_dn),
            ("cervical_max_dn", self.cervical_max_dn), ("lumbar_max_dn", self.lumbar_max_dn),
            ("provisioned", self.provisioned), ("next_record", self.next_record),
            ("calibration", self._calibration())])

    def save(self):
        if self.tampered:
            return  # the evidence stays as found
        body = self._body()
        mac = hexlify(hmac_sha256(self.key, body.encode())).decode()
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write('{"v":%d,"settings":%s,"mac":"%s"}' % (FORMAT, body, mac))
        os.rename(tmp, self.path)

    # ---- queries ----

    def calibrated(self):
        return self.gain != 0

    def cal_id(self):
        """Names the calibration (not the tare, which moves the zero): the first 32 bits of the SHA-256 of
        its scale, date and reference weights; 0 when uncalibrated."""
        if not self.calibrated():
            return 0
        d = hashlib.sha256(to_json(self._calibration()[1:]).encode()).digest()
        return (d[0] << 24 | d[1] << 16 | d[2] << 8 | d[3]) & 0xFFFFFFFF

    def region_max(self, region):
        return self.cervical_max_dn if region == 1 else self.lumbar_max_dn

    def limit(self, region, session_max):
        """Effective limit: min(device hard maximum, region maximum, session maximum)."""
        return min(self.hard_max_dn, self.region_max(region), session_max)

    def to_dn(self, raw):
        """Load-cell counts to force in 0.1 N. Allocation-free (small integers)."""
        d = raw - self.zero
        g = self.gain
        return ((d >> SPLIT) * g + ((d & LOW_MASK) * g >> SPLIT) + self.half) >> (self.shift - SPLIT)

    # ---- changes (SERVICE mode and TARE) ----

    def provision(self, serial, hard, cervical, lumbar, key):
        """Returns 0, or the name of the error that refuses it. Nothing is changed on error."""
        if self.tampered:
            return "BAD_STATE"
        if self.provisioned and (hard > self.hard_max_dn or cervical > self.cervical_max_dn
                                 or lumbar > self.lumbar_max_dn):
            return "LIMIT_RAISE"
        d = self.design
        if hard > d.get("hard_max_dn", hard) or cervical > d.get("cervical_max_dn", cervical) \
                or lumbar > d.get("lumbar_max_dn", lumbar):
            return "OUT_OF_RANGE"  # above what the mechanics are built for
        if cervical > hard or lumbar > hard or bytes(key) == ZERO_KEY:
            return "OUT_OF_RANGE"
        self.serial = serial
        self.hard_max_dn = hard
        self.cervical_max_dn = cervical
        self.lumbar_max_dn = lumbar
        self.provisioned = True
        self._write_key(key)
        self.save()
        return 0

    def calibrate(self, f, min_counts):
        """CALIBRATE's fields: the host's fit of at least MIN_WEIGHTS reference weights against the tared
        zero. Returns 0 or the error name; nothing changes on error.
        min_counts: the least reading change a real span load makes (a fraction of the ADC's range)."""
        weights = [w[0] if isinstance(w, tuple) else w for w in f["weights"]]
        span_dn = f["span_dn"]
        if self.tampered:
            return "BAD_STATE"
        if (span_dn < MIN_SPAN_DN or len(weights) < MIN_WEIGHTS or len(weights) > MAX_WEIGHTS
                or span_dn not in weights or min(weights) <= 0):
            return "OUT_OF_RANGE"
        if abs(f["span_counts"]) < min_counts:
            return "NOT_TENSIONED"
        self.zero = f["zero_counts"]
        self.span_counts = f["span_counts"]
        self.span_dn = span_dn
        self.cal_date_s = f["date_s"]
        self.cal_weights = weights
        self.cal_nonlin_ppm = f["nonlin_ppm"]
        self._update_gain()
        self.save()
        return 0

    def tare(self, raw, keep=True):
        """The present reading becomes zero; keep=False holds it in RAM only (the zero START takes)."""
        self.zero = raw
        if keep:
            self.save()

    def take_record_id(self):
        rid = self.next_record
        self.next_record = rid % 65535 + 1
        self.save()
        return rid

    def _update_gain(self):
        self.gain = 0
        self.shift = SPLIT + 1
        self.half = 1
        if not (self.span_counts and self.span_dn):
            return
        shift = SPLIT + 1
        while (self.span_dn << shift) // abs(self.span_counts) < (1 << GAIN_BITS):
            shift += 1
        self.shift = shift
        self.half = 1 << (shift - SPLIT - 1)  # rounds to the nearest 0.1 N
        self.gain = ((self.span_dn << shift) + self.span_counts // 2) // self.span_counts
