# Provisioning and calibration, persisted in the board's store as settings.json. The first boot seeds
# them from the board config's "provision" section; after that only SERVICE mode changes them, and a
# provisioned maximum can only be kept or lowered (SPEC section 10).

import json
import os

from binascii import hexlify, unhexlify

FILE = "settings.json"
# force_dn = ((raw - zero) * gain) >> shift, fixed point with gain kept near 2**16. The product is taken in
# two halves of the reading so every intermediate stays a small integer on a 32-bit port (< 2**30) for
# readings up to 24 bits: a larger integer would allocate in the tick.
GAIN_BITS = 16
SPLIT = 12
LOW_MASK = (1 << SPLIT) - 1
MIN_SPAN_DN = 100  # a span load under 10 N cannot give a usable scale


def seed(config):
    """Settings for a first boot, from the board config's "provision" and "limits" sections."""
    prov = config.get("provision") or {}
    limits = config.get("limits") or {}
    cal = prov.get("calibration") or {}
    return {
        "serial": prov.get("serial", ""), "key": prov.get("key_hex", "00" * 32),
        "hard_max_dn": limits.get("hard_max_dn", 0), "cervical_max_dn": limits.get("cervical_max_dn", 0),
        "lumbar_max_dn": limits.get("lumbar_max_dn", 0), "provisioned": bool(limits),
        "calibration": {"zero": cal.get("zero_counts", 0), "span_counts": cal.get("span_counts", 0),
                        "span_dn": cal.get("span_dn", 0), "date_s": cal.get("date_s", 0)},
    }


class Settings:
    def __init__(self, store, provision=None):
        self.path = store + "/" + FILE
        self.serial = ""
        self.key = bytes(32)
        self.hard_max_dn = 0
        self.cervical_max_dn = 0
        self.lumbar_max_dn = 0
        self.provisioned = False
        self.zero = 0
        self.span_counts = 0
        self.span_dn = 0
        self.cal_date_s = 0
        self.next_record = 1
        self.gain = 0
        self.shift = SPLIT + 1
        self.half = 1
        self._pending_zero = None
        if not self._load():
            self._seed(provision or {})
            self.save()
        self._update_gain()

    # ---- persistence ----

    def _load(self):
        try:
            with open(self.path) as f:
                d = json.load(f)
        except (OSError, ValueError):
            return False
        self._apply(d)
        return True

    def _apply(self, d):
        self.serial = d.get("serial", "")
        self.key = unhexlify(d.get("key", "00" * 32))
        self.hard_max_dn = d.get("hard_max_dn", 0)
        self.cervical_max_dn = d.get("cervical_max_dn", 0)
        self.lumbar_max_dn = d.get("lumbar_max_dn", 0)
        self.provisioned = d.get("provisioned", self.hard_max_dn > 0)
        cal = d.get("calibration") or {}
        self.zero = cal.get("zero", 0)
        self.span_counts = cal.get("span_counts", 0)
        self.span_dn = cal.get("span_dn", 0)
        self.cal_date_s = cal.get("date_s", 0)
        self.next_record = d.get("next_record", 1)

    def _seed(self, provision):
        self._apply(provision)
        if len(self.key) != 32:
            raise ValueError("provision key must be 32 bytes (64 hex digits)")

    def save(self):
        d = {
            "serial": self.serial, "key": hexlify(self.key).decode(), "hard_max_dn": self.hard_max_dn,
            "cervical_max_dn": self.cervical_max_dn, "lumbar_max_dn": self.lumbar_max_dn,
            "provisioned": self.provisioned, "next_record": self.next_record,
            "calibration": {"zero": self.zero, "span_counts": self.span_counts, "span_dn": self.span_dn,
                            "date_s": self.cal_date_s},
        }
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(d, f)
        os.rename(tmp, self.path)

    # ---- queries ----

    def calibrated(self):
        return self.gain != 0

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
        if self.provisioned and (hard > self.hard_max_dn or cervical > self.cervical_max_dn
                                 or lumbar > self.lumbar_max_dn):
            return "LIMIT_RAISE"
        if cervical > hard or lumbar > hard:
            return "OUT_OF_RANGE"
        self.serial = serial
        self.hard_max_dn = hard
        self.cervical_max_dn = cervical
        self.lumbar_max_dn = lumbar
        self.key = bytes(key)
        self.provisioned = True
        self.save()
        return 0

    def calibrate(self, step, raw, known_dn, date_s, min_counts):
        """Step 0 notes the unloaded reading; step 1, with known_dn on the line, stores zero and scale.
        min_counts: the least reading change a real span load makes (a fraction of the ADC's range)."""
        if step == 0:
            self._pending_zero = raw
            return 0
        if self._pending_zero is None or known_dn < MIN_SPAN_DN:
            return "OUT_OF_RANGE"
        counts = raw - self._pending_zero
        if abs(counts) < min_counts:
            return "NOT_TENSIONED"
        self.zero = self._pending_zero
        self.span_counts = counts
        self.span_dn = known_dn
        self.cal_date_s = date_s
        self._pending_zero = None
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
