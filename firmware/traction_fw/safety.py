# Safety: runs first on every load-cell sample, before the controller, and decides whether the board may
# keep pulling. It knows nothing of profiles; it sees the sample, the target, the motor command and the
# effective limit, and names a fault. The App latches it and releases the line as REACTION says
# (docs/safety.md explains each choice). Integers and preallocated rings only: it runs in the tick.

from traction_protocol.constants import FAULT

OVER_FORCE = FAULT["OVER_FORCE"]
ADC_SILENT = FAULT["ADC_SILENT"]
ADC_SATURATED = FAULT["ADC_SATURATED"]
ADC_IMPLAUSIBLE = FAULT["ADC_IMPLAUSIBLE"]
SLACK = FAULT["SLACK"]
CABLE_SNAP = FAULT["CABLE_SNAP"]
TRACKING = FAULT["TRACKING"]
RATE = FAULT["RATE"]
STOP_SWITCH = FAULT["STOP_SWITCH"]
LEASE_LOST = FAULT["LEASE_LOST"]
ZERO_DRIFT = FAULT["ZERO_DRIFT"]
MOTOR = FAULT["MOTOR"]
ESTOP = FAULT["ESTOP"]
RESET = FAULT["RESET"]
INTERNAL = FAULT["INTERNAL"]
FORCE_DISAGREE = FAULT["FORCE_DISAGREE"]
LIMIT_SWITCH = FAULT["LIMIT_SWITCH"]
TAMPERED = FAULT["TAMPERED"]

# How the line is released after each fault (see docs/safety.md). The numbers order them: a later fault
# can only move a release to a higher one (more conservative).
RAMP = 1  # controlled release at the normal release rate, with force feedback
FAST = 2  # controlled release at the fault release rate, with force feedback
BLIND = 3  # no trustworthy force reading: timed reverse (or back to the start position), then disable
CUT = 4  # the motor does not obey: disable its driver now

REACTION = [0, FAST, BLIND, BLIND, BLIND, RAMP, BLIND, RAMP, FAST, FAST, RAMP, RAMP, CUT, FAST, CUT, CUT,
            BLIND, CUT, CUT]

DEFAULTS = {
    "over_pct_mille": 5,  # OVER_FORCE: above the limit by more than 0.5 % (the reading's noise) ...
    "over_min_dn": 5,  # ... and at least 0.5 N, so a hold prescribed at the limit itself can run
    "spike_dn": 500,  # a sample this far from the last good one is held back until the next agrees
    "spikes_max": 3,  # this many held-back samples within spike_window_ms is implausible
    "spike_window_ms": 1000,
    "stuck_samples": 25,  # identical raw readings in a row: a live ADC always has some noise
    "negative_dn": -200,  # a line cannot push: readings below this are implausible
    "rate_max_dn_s": 6000,  # force at or above target rising faster than this (over rate_window_ms)
    "rate_window_ms": 100,
    "snap_min_dn": 200,  # CABLE_SNAP: force was above this ...
    "snap_ratio": 4,  # ... and fell below 1/snap_ratio of it within rate_window_ms, target not falling
    "track_min_dn": 150,  # TRACKING band: max(track_min_dn, track_pct % of target) ...
    "track_pct": 15,
    "track_ms": 4000,  # ... exceeded continuously for this long
    "slack_band_dn": 100,  # SLACK: force this far below target ...
    "slack_rise_dn": 30,  # ... not rising by this much ...
    "slack_pull_pm_s": 2500,  # ... while the motor pulled this much (per-mille x seconds)
    "drift_max_dn": 50,  # unloaded reading beyond this is zero drift
    "drift_settle_ms": 1500,  # target at zero this long before an unloaded check
    "motor_cmd_pm": 200,  # MOTOR (needs an encoder): command at least this ...
    "motor_ms": 300,  # ... held this long with the same sign ...
    "motor_min_counts": 50,  # ... must move the encoder this much the commanded way in its second half
}


def worse(a, b):
    """Of two faults (0: none), the one whose reaction trusts less; the first on a tie."""
    if not b:
        return a
    if not a:
        return b
    return b if REACTION[b] > REACTION[a] else a


def ms_to_samples(ms, period_us):
    """A time as a count of control periods, at least one."""
    return max(1, ms * 1000 // period_us)


class Safety:
    def __init__(self, params, period_us, rails, rating_dn):
        p = dict(DEFAULTS)
        p.update(params or {})
        self.period_us = period_us
        self.rail_lo = rails[0]
        self.rail_hi = rails[1]
        self.rating_dn = rating_dn  # 0 when the board config names no rating
        self.over_pct = p["over_pct_mille"]
        self.over_min = p["over_min_dn"]
        self.spike_dn = p["spike_dn"]
        self.spikes_max = p["spikes_max"]
        self.spike_window = ms_to_samples(p["spike_window_ms"], period_us)
        self.stuck_samples = p["stuck_samples"]
        self.negative_dn = p["negative_dn"]
        self.window = ms_to_samples(p["rate_window_ms"], period_us)
        # rise allowed over one window, in 0.1 N
        self.rate_rise = p["rate_max_dn_s"] * self.window * period_us // 1000000
        self.snap_min = p["snap_min_dn"]
        self.snap_ratio = p["snap_ratio"]
        self.track_min = p["track_min_dn"]
        self.track_pct = p["track_pct"]
        self.track_samples = ms_to_samples(p["track_ms"], period_us)
        self.slack_band = p["slack_band_dn"]
        self.slack_rise = p["slack_rise_dn"]
        self.slack_pull = p["slack_pull_pm_s"] * 1000000 // period_us  # per-mille x samples
        self.drift_max = p["drift_max_dn"]
        self.drift_samples = ms_to_samples(p["drift_settle_ms"], period_us)
        self.motor_cmd = p["motor_cmd_pm"]
        self.motor_samples = ms_to_samples(p["motor_ms"], period_us)
        self.motor_min = p["motor_min_counts"]
        n = max(self.window, self.motor_samples) + 1
        self.hist = [0] * n  # recent accepted forces
        self.pos = [0] * n  # recent encoder positions
        self.hist_n = n
        self.force = 0  # the last accepted force, 0.1 N
        self.reset()

    def reset(self):
        """Forget the history (at boot and whenever the motor is enabled for a new session)."""
        for i in range(self.hist_n):
            self.hist[i] = self.force
            self.pos[i] = 0
        self.i = 0
        self.filled = 0
        self.last_raw = 0
        self.same = 0
        self.missed = 0
        self.held = False  # the last sample was held back as a possible spike
        self.held_dn = 0
        self.spikes = 0
        self.spike_age = 0
        self.track_n = 0
        self.slack_base = 0
        self.slack_sum = 0
        self.zero_n = 0
        self.motor_n = 0
        self.motor_sign = 0
        self.sample_fault = 0  # the cause behind an ADC fault, still present?
        self.accepted = False  # this tick's sample was taken as the force

    # ---- the sample: called every tick, before anything else ----

    def sample(self, fresh, raw, dn):
        """Accept or hold back one sample; 0, or the ADC fault it shows. Updates self.force."""
        self.accepted = False
        if not fresh:
            self.missed += 1
            # "more than 2 sample periods" without a sample
            self.sample_fault = ADC_SILENT if self.missed > 2 else 0
            return self.sample_fault
        self.missed = 0
        self.sample_fault = self._judge(raw, dn)
        return self.sample_fault

    def _judge(self, raw, dn):
        if raw <= self.rail_lo or raw >= self.rail_hi or (self.rating_dn and dn > self.rating_dn):
            return ADC_SATURATED
        if raw == self.last_raw:
            self.same += 1
        else:
            self.same = 0
        self.last_raw = raw
        if self.same >= self.stuck_samples or dn < self.negative_dn:
            return ADC_IMPLAUSIBLE
        if self.spike_age:
            self.spike_age -= 1
            if not self.spike_age:
                self.spikes = 0
        confirmed = self.held and abs(dn - self.held_dn) <= self.spike_dn
        if abs(dn - self.force) > self.spike_dn and not confirmed:
            # Too far from the last accepted force to be the plant: hold it back until the next sample
            # agrees (a real step, e.g. a snapped line) or not (a spike).
            self.held = True
            self.held_dn = dn
            self.spikes += 1
            self.spike_age = self.spike_window
            return ADC_IMPLAUSIBLE if self.spikes >= self.spikes_max else 0
        self.held = False
        self.force = dn
        self.accepted = True
        return 0

    def cause_present(self):
        """The load cell still silent, stuck, saturated or spiking."""
        return self.sample_fault != 0

    # ---- the plant: called every tick while the motor is enabled ----

    def check(self, target, cmd, limit, position, driving, tracking):
        """0, or the fault the motion shows; called every tick. driving: the motor is enabled (with it off
        only the history is kept). tracking: a treatment is running (not a release)."""
        f = self.force
        self._push(f, position)
        if not driving:
            self.motor_n = 0
            self.motor_sign = 0
            return 0
        fault = 0
        if f > limit + max(self.over_min, limit * self.over_pct // 1000):
            fault = OVER_FORCE
        if self.filled >= self.window:
            j = self.i - self.window  # _back(), written out: this runs every tick
            if j < 0:
                j += self.hist_n
            old = self.hist[j]
            # Below the target a fast rise is the controller catching up (taking up slack); at or above
            # it nothing should be driving the force up that fast.
            if f - old > self.rate_rise and f >= target - self.track_min:
                fault = worse(fault, RATE)
            if old >= self.snap_min and f * self.snap_ratio < old and target * 2 >= old:
                fault = worse(fault, CABLE_SNAP)
        if position is not None:
            m = self._motor(cmd, position)
            if m:
                fault = worse(fault, m)
        if tracking:
            # each keeps its own counters: all three run, whatever the others found
            t = self._tracking(f, target)
            sl = self._slack(f, target, cmd)
            d = self._drift(f, target)
            if t or sl or d:
                fault = worse(worse(worse(fault, t), sl), d)
        return fault

    def _push(self, f, position):
        i = self.i + 1
        if i == self.hist_n:
            i = 0
        self.i = i
        self.hist[i] = f
        self.pos[i] = position if position is not None else 0
        if self.filled < self.hist_n:
            self.filled += 1

    def _back(self, ring, n):
        return ring[(self.i - n) % self.hist_n]

    def _tracking(self, f, target):
        band = max(self.track_min, target * self.track_pct // 100)
        if abs(f - target) > band:
            self.track_n += 1
            if self.track_n >= self.track_samples:
                return TRACKING
        else:
            self.track_n = 0
        return 0

    def _slack(self, f, target, cmd):
        if f >= target - self.slack_band or f > self.slack_base + self.slack_rise:
            self.slack_base = f
            self.slack_sum = 0
            return 0
        if f < self.slack_base:
            self.slack_base = f
        if cmd > 0:
            self.slack_sum += cmd
        return SLACK if self.slack_sum > self.slack_pull else 0

    def _drift(self, f, target):
        if target != 0:
            self.zero_n = 0
            return 0
        self.zero_n += 1
        # Both ways: a cell that reads low is the dangerous one (the patient gets more than the reading).
        if self.zero_n >= self.drift_samples and abs(f) > self.drift_max:
            return ZERO_DRIFT
        return 0

    def _motor(self, cmd, position):
        sign = 1 if cmd >= self.motor_cmd else (-1 if cmd <= -self.motor_cmd else 0)
        if sign == 0 or sign != self.motor_sign:
            self.motor_sign = sign
            self.motor_n = 0
            return 0
        self.motor_n += 1
        # judge the movement over the second half of motor_ms, when the motor's own lag and
        # acceleration are behind it
        half = self.motor_samples // 2
        if self.motor_n < self.motor_samples or self.filled < half:
            return 0
        moved = (position - self._back(self.pos, half)) * sign
        return MOTOR if moved < self.motor_min else 0

    def may_pull(self, limit):
        """False when the force, rising at its present rate for one more rate window, would reach the
        limit: the motor must not pull then, whatever the controller wants."""
        f = self.force
        rise = 0
        if self.filled >= self.window:
            j = self.i - self.window
            if j < 0:
                j += self.hist_n
            rise = f - self.hist[j]
        return f + (rise if rise > 0 else 0) < limit

    def unloaded_ok(self):
        """An unloaded reading is within the zero-drift allowance."""
        return abs(self.force) <= self.drift_max
