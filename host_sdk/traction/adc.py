"""The load cell's conversions at the ADC's own rate (SAMPLES frames, SPEC section 5.1).

TELEMETRY carries one force per control period at most; a board whose ADC converts faster (an ADS1220 at
660 conversions a second beside a 100 Hz loop) sends every conversion in SAMPLES frames once the host
asks with STREAM. A session asks when made with `adc_samples=True`:

    session = Session(device, treatment, adc_samples=True, on_adc_samples=fn)  # fn(AdcBatch), optional
    ...
    session.adc.force_n, session.adc.t_s, session.adc.lost   # every conversion so far, and the losses
"""

import csv
import math
from array import array
from dataclasses import dataclass

WRAP = 1 << 30  # SAMPLES.first counts modulo 2**30


@dataclass(frozen=True)
class AdcBatch:
    """One SAMPLES frame: consecutive conversions, counts[i] is conversion number first + i (mod 2**30).
    t_s[i] is device seconds on TELEMETRY's clock (control samples since boot / control_hz), to within
    one control period; force_n is None when the board is not calibrated."""
    first: int
    sps: int
    counts: tuple[int, ...]
    t_s: tuple[float, ...]
    force_n: tuple[float, ...] | None
    lost_before: int  # conversions lost between the previous frame and this one


class AdcStream:
    """Every conversion received, in arrival order, in compact arrays; lost counts the conversions missing
    from the running numbers (a frame lost on the line, or conversions the board overwrote while its port
    was full)."""

    def __init__(self, control_hz: int):
        self.control_hz = control_hz
        self.numbers = array("q")  # running numbers, unwrapped (they keep rising past 2**30)
        self.counts = array("i")
        self.t_s = array("d")
        self.force_n = array("d")  # NaN where the board was not calibrated
        self.sps = 0
        self.frames = 0
        self.lost = 0
        self._next = None  # unwrapped running number expected next

    def __len__(self):
        return len(self.counts)

    def add(self, f: dict) -> AdcBatch:
        """One SAMPLES message's fields; the batch they make."""
        counts = tuple(f["counts"])
        n = len(counts)
        lost = 0
        if self._next is None:
            first = f["first"]
        else:
            lost = (f["first"] - self._next) % WRAP
            if lost > WRAP // 2:  # behind what was expected: a stale or repeated frame, not a gap
                lost = 0
            first = self._next + lost
        self.lost += lost
        self._next = first + n
        sps = f["sps"]
        last_s = f["sample"] / self.control_hz - f["behind"] / sps
        t = tuple(last_s - (n - 1 - i) / sps for i in range(n))
        force = None
        if f["span_counts"]:
            scale = f["span_dn"] / f["span_counts"] / 10
            force = tuple((c - f["zero_counts"]) * scale for c in counts)
        self.sps = sps
        self.frames += 1
        self.numbers.extend(range(first, first + n))
        self.counts.extend(counts)
        self.t_s.extend(t)
        self.force_n.extend(force if force is not None else (float("nan"),) * n)
        return AdcBatch(f["first"], sps, counts, t, force, lost)

    def write_csv(self, out):
        """Every conversion as CSV to the text file out: number, t_s, raw_counts, force_n (empty when the
        board was not calibrated)."""
        w = csv.writer(out)
        w.writerow(("number", "t_s", "raw_counts", "force_n"))
        for number, t, counts, force in zip(self.numbers, self.t_s, self.counts, self.force_n, strict=True):
            w.writerow((number, f"{t:.6f}", counts, "" if math.isnan(force) else f"{force:.4f}"))
