# Treatment profiles (SPEC section 8): where the target force of a phase is at a given time into it.
# Phase.at() is called every control tick, so it uses small integers only and returns nothing: it leaves
# its answer in target / segment / cycle / slope (a tuple return would allocate).

STATIC = 1
INTERMITTENT = 2
CYCLIC = 3
PROGRESSIVE = 4
REGRESSIVE = 5

MODE_NAMES = ("", "STATIC", "INTERMITTENT", "CYCLIC", "PROGRESSIVE", "REGRESSIVE")

# segments (SPEC section 4)
NONE = 0
RAMP_UP = 1
HOLD = 2
RAMP_DOWN = 3
REST = 4
STEP = 5
RELEASE = 6

MIN_HOLD_MS = 1000
Q = 10  # ramps interpolate in 1/1024ths so products stay small integers on 32-bit boards


def ramp(a, b, u, total):
    """Linear from a to b, u ms into a ramp of total ms."""
    if u >= total:
        return b
    return a + (((b - a) * ((u << Q) // total)) >> Q)


class Phase:
    FIELDS = ("mode", "force_dn", "base_dn", "hold_ms", "rest_ms", "ramp_up_ms", "ramp_down_ms", "steps",
              "repeats", "duration_ms")

    def __init__(self, f):
        self.mode = f["mode"]
        self.force = f["force_dn"]
        self.base = f["base_dn"]
        self.hold = f["hold_ms"]
        self.rest = f["rest_ms"]
        self.up = f["ramp_up_ms"]
        self.down = f["ramp_down_ms"]
        self.steps = f["steps"]
        self.repeats = f["repeats"]
        self.duration = f["duration_ms"]
        self.target = 0
        self.segment = NONE
        self.cycle = 0
        self.slope = 0  # dn/s of the target, for the controller's feed-forward

    def fields(self):
        """The PHASE fields as (key, value) pairs for the session record."""
        return [("mode", MODE_NAMES[self.mode]), ("force_dn", self.force), ("base_dn", self.base),
                ("hold_ms", self.hold), ("rest_ms", self.rest), ("ramp_up_ms", self.up),
                ("ramp_down_ms", self.down), ("steps", self.steps), ("repeats", self.repeats),
                ("duration_ms", self.duration)]

    def check(self, limit):
        """0 when the phase is consistent and under the limit, else the error name that refuses it."""
        if self.force > limit or self.base > limit:
            return "OVER_LIMIT"
        if self.mode == STATIC:
            return 0
        if self.base > self.force:
            return "OUT_OF_RANGE"
        if self.mode == INTERMITTENT:
            return 0 if self.hold >= MIN_HOLD_MS else "OUT_OF_RANGE"
        if self.mode == CYCLIC:
            cycle = self.up + self.hold + self.down + self.rest
            if not 1 <= self.repeats <= 1000 or cycle == 0 or self.repeats * cycle != self.duration:
                return "OUT_OF_RANGE"
            return 0
        if not 1 <= self.steps <= 20:
            return "OUT_OF_RANGE"
        step_ms = self.duration // self.steps
        if self.up >= step_ms or self.down >= step_ms:
            return "OUT_OF_RANGE"
        return 0

    def holds(self):
        """The most hold or step rows the phase puts in the session record, left uninterrupted."""
        if self.mode == STATIC:
            return 1
        if self.mode == INTERMITTENT or self.mode == CYCLIC:
            return self.duration // max(1, self.up + self.hold + self.down + self.rest) + 1
        return self.steps

    def at(self, t, start):
        """Evaluate the phase t ms after it began; start is the target the phase began from."""
        mode = self.mode
        if mode == STATIC:
            self.cycle = 0
            self._leg(start, self.force, t, self.up, RAMP_UP, HOLD)
        elif mode == INTERMITTENT or mode == CYCLIC:
            self._cycle(t, start)
        else:
            self._step(t, start)

    def _leg(self, a, b, u, total, ramp_seg, after_seg):
        if u < total:
            self.target = ramp(a, b, u, total)
            self.segment = ramp_seg
            self.slope = (b - a) * 1000 // total
        else:
            self.target = b
            self.segment = after_seg
            self.slope = 0

    def _cycle(self, t, start):
        length = self.up + self.hold + self.down + self.rest
        k = t // length
        u = t - k * length
        self.cycle = k
        if u < self.up + self.hold:
            self._leg(start if k == 0 else self.base, self.force, u, self.up, RAMP_UP, HOLD)
        else:
            self._leg(self.force, self.base, u - self.up - self.hold, self.down, RAMP_DOWN, REST)

    def step_target(self, k):
        span = self.force - self.base
        if self.mode == PROGRESSIVE:
            return self.base + span * (k + 1) // self.steps
        return self.force - span * k // self.steps

    def _step(self, t, start):
        step_ms = self.duration // self.steps
        k = t // step_ms
        if k >= self.steps:
            k = self.steps - 1  # the remainder of duration / steps belongs to the last step
        self.cycle = k
        prev = start if k == 0 else self.step_target(k - 1)
        goal = self.step_target(k)
        u = t - k * step_ms
        if goal >= prev:
            self._leg(prev, goal, u, self.up, RAMP_UP, STEP)
        else:
            self._leg(prev, goal, u, self.down, RAMP_DOWN, STEP)
