# Bringing the line back to zero force and switching the motor off: after STOP, at the end of a
# treatment, and after a fault (how, per fault, is safety.REACTION; why, docs/safety.md).
# tick() runs in the control tick: integers only, answers left in attributes.

from .profile import ramp
from .safety import BLIND, CUT, FAST, RAMP

RELEASED_DN = 50  # below 5 N for released_ms the line counts as released
MAX_RELEASE_MS = 10000  # SPEC 8: a stop never lasts longer than this, unless the release rate needs it

DEFAULTS = {
    "release_rate_dn_s": 500,  # normal release: 50 N/s
    "fault_release_rate_dn_s": 2000,  # release after an over-force, a rate fault or a stop
    "blind_speed_pm": 500,  # reverse speed when the force reading cannot be trusted
    "blind_ms": 6000,  # longest blind reverse (it ends earlier once the encoder is back at the start)
    "released_ms": 500,  # long enough for the motor to stop: a line unwinding fast reads low (damping)
    "slacken_pm": 200,  # then unwind a little more, so the tissue recovering from the stretch finds
    "slacken_ms": 1000,  # slack line instead of pulling it tight again
    "unwind_ms": 5000,  # once the target is zero, how long the force may take to fall below 5 N
    "escalate_dn": 100,  # force this far above where a release began: the motor is not obeying
    "escalate_limit_pct": 1,  # ... or this far above the limit, whatever the release began from
}


class Release:
    def __init__(self, params):
        p = dict(DEFAULTS)
        p.update(params or {})
        self.release_rate = p["release_rate_dn_s"]
        self.fault_rate = p["fault_release_rate_dn_s"]
        self.blind_speed = p["blind_speed_pm"]
        self.blind_ms = p["blind_ms"]
        self.unwind_ms = p["unwind_ms"]
        self.released_ms = p["released_ms"]
        self.slacken_pm = p["slacken_pm"]
        self.slacken_ms = p["slacken_ms"]
        self.escalate = p["escalate_dn"]
        self.escalate_pct = p["escalate_limit_pct"]
        self.kind = 0
        self.slacken_at = -1  # t_ms when the line read released and the final unwinding began
        self.active = False
        self.done = False
        self.stuck = False  # the force did not fall below 5 N in time
        self.target = 0
        self.speed = 0
        self.slope = 0  # dn/s of the target, for the controller's feed-forward
        self.from_dn = 0
        self.ceiling = 0
        self.total_ms = 0
        self.t_ms = 0
        self.us = 0
        self.calm = 0
        self.unwinding = False
        self.fresh_control = False
        self.home = 0
        self.has_home = False
        self.cur_from = 0  # the current channel's force when a blind release began (0.1 N)
        self.cur_seen = False

    def stop_ms(self, from_dn, ramp_down_ms):
        """Length of a normal release (SPEC 8): ramp_down_ms, at most 10 s, never faster than the
        release rate."""
        t = min(ramp_down_ms, MAX_RELEASE_MS)
        return max(t, from_dn * 1000 // self.release_rate)

    def start(self, kind, from_dn, force, total_ms, home, limit):
        """Begin a release of the given kind from the target from_dn. total_ms: ramp length for RAMP
        (0: derive it from the release rate). home: encoder position where the line was slack, or None.
        limit: the effective limit; a force above it by escalate_limit_pct cuts the motor."""
        self.kind = kind
        self.active = True
        self.done = kind == CUT
        self.stuck = False
        self.from_dn = max(0, from_dn)
        self.ceiling = min(max(force, self.from_dn) + self.escalate, limit + limit * self.escalate_pct // 100)
        if kind == FAST:
            total_ms = self.from_dn * 1000 // self.fault_rate
        elif kind == RAMP and total_ms <= 0:
            total_ms = self.from_dn * 1000 // self.release_rate
        self.total_ms = total_ms
        self.slope = -self.from_dn * 1000 // total_ms if total_ms > 0 else 0
        self.t_ms = 0
        self.us = 0
        self.calm = 0
        self.slacken_at = -1
        self.unwinding = False
        self.fresh_control = False  # the controller should forget its integral (read and cleared by App)
        self.target = self.from_dn
        self.speed = -self.blind_speed if kind == BLIND else 0
        self.has_home = home is not None
        self.home = home if home is not None else 0
        self.cur_seen = False

    def escalate_to_cut(self):
        self.kind = CUT
        self.done = True
        self.speed = 0

    def tick(self, force, position, dt_us, current_dn):
        """current_dn: the force the motor current shows (None without current sense). A blind release
        trusts it and the encoder only: the current rising means the motor is pulling (App's runaway
        check watches the encoder)."""
        if not self.active or self.done:
            return
        self.us += dt_us
        ms = self.us // 1000
        self.us -= ms * 1000
        self.t_ms += ms
        if self.kind == BLIND:
            if current_dn is not None:
                if not self.cur_seen:
                    self.cur_seen = True
                    self.cur_from = current_dn
                elif current_dn > self.cur_from + self.escalate:
                    self.escalate_to_cut()
                    return
            home = self.has_home and position is not None and position <= self.home
            if home or self.t_ms >= self.blind_ms:
                self.done = True
            return
        if force > self.ceiling:
            self.escalate_to_cut()  # pulling harder while asked to release: stop the motor
            return
        if self.slacken_at >= 0:
            if self.t_ms - self.slacken_at >= self.slacken_ms:
                self.done = True
            return
        self.target = ramp(self.from_dn, 0, self.t_ms, self.total_ms) if self.total_ms else 0
        if self.target:
            return
        if self.slope or not self.unwinding:
            # at zero: what the controller integrated to hold force would now keep the line tight
            self.unwinding = True
            self.fresh_control = True
        self.slope = 0
        self.calm = self.calm + ms if force < RELEASED_DN else 0
        if self.calm >= self.released_ms:
            self.slacken_at = self.t_ms
            self.speed = -self.slacken_pm
        elif self.t_ms > self.total_ms + self.unwind_ms:
            self.stuck = True
            self.done = True

    def uses_controller(self):
        return (self.kind == RAMP or self.kind == FAST) and self.slacken_at < 0

    def finish(self):
        self.active = False
        self.done = False
        self.speed = 0
        self.target = 0
