# One treatment: the phases from SETUP/PHASE, and while it runs the treatment timer, the target force,
# pause / resume / force edit, and the statistics the record needs. tick() runs in the control tick and
# allocates nothing; everything it has to report goes into the journal's preallocated rings.

from . import profile
from .journal import EV_EDIT, EV_PAUSE, EV_RESUME, R_EV, R_HOLD, R_PHASE
from .stats import Stats

MAX_PHASES = 16
TRACTION_DN = 50  # time under traction counts while the measured force is at least 5 N
EVENT_PHASE = 2
EVENT_PAUSE = 5
EVENT_RESUME = 6
EVENT_EDIT = 7


class Session:
    def __init__(self, journal, period_us, slew_dn_s):
        self.journal = journal
        self.period_us = period_us
        # the target never moves faster than this (edits, resume, host ramps): dn per tick in 1/1024ths
        self.slew_q = max(1, (slew_dn_s * period_us << 10) // 1000000)
        self.phases = [None] * MAX_PHASES  # type: list
        self.stats = Stats()  # the current hold or step segment
        self.holds = Stats()  # the current phase's holds
        self.clear()

    # ---- setup ----

    def clear(self):
        self.armed = False  # a SETUP waiting for its phases and START; a START consumes it
        self.region = 0
        self.angle_dd = 0
        self.session_max = 0
        self.limit = 0
        self.tolerance = 0
        self.count = 0
        self.telemetry_div = 0
        self.session_id = 0
        for i in range(MAX_PHASES):
            self.phases[i] = None
        self._reset_run()

    def _reset_run(self):
        self.index = 0
        self.phase_ms = 0
        self.start_dn = 0
        self.treatment_ms = 0
        self.traction_ms = 0
        self.session_ms = 0
        self.paused_ms = 0
        self.pauses = 0
        self.edits = 0
        self.peak = 0
        self.phase_peak = 0
        self.us = 0
        self.paused = False
        self.awaiting = False  # after an edit: timer stopped until the force reaches the new target
        self.await_e = 0
        self.hold_dn = 0
        self.target = 0
        self.target_q = 0  # slew-limited target in 1/1024 dn
        self.slope = 0
        self.segment = profile.NONE
        self.cycle = 0
        self.cycles = 0
        self.seg_target = 0  # the profile target of the current segment, for its hold row
        self.split = False  # an edit already wrote a hold row for the current hold or step
        self.finished = False
        self.stats.clear()
        self.holds.clear()

    def setup(self, f, limit):
        self.clear()
        self.armed = True
        self.region = f["region"]
        self.angle_dd = f["angle_dd"]
        self.session_max = f["session_max_dn"]
        self.limit = limit
        self.tolerance = f["tolerance_dn"]
        self.count = f["phase_count"]
        self.telemetry_div = f["telemetry_div"]
        self.session_id = f["session_id"]

    def add_phase(self, f):
        """0, or the error name refusing the phase."""
        if not self.armed:
            return "NO_SETUP"
        if f["index"] >= self.count:
            return "OUT_OF_RANGE"
        p = profile.Phase(f)
        err = p.check(self.limit)
        if err:
            return err
        self.phases[f["index"]] = p
        return 0

    def ready(self):
        if not self.armed:
            return False
        for i in range(self.count):
            if self.phases[i] is None:
                return False
        return True

    def total_ms(self):
        t = 0
        for i in range(self.count):
            t += self.phases[i].duration
        return t

    def remaining_ms(self):
        if self.finished or not self.count:
            return 0
        return max(0, self.total_ms() - self.treatment_ms)

    def start(self, force):
        self.armed = False
        self._reset_run()
        self.start_dn = 0
        self.target_q = 0
        self._evaluate(force)

    # ---- commands while running ----

    def pause(self, force):
        if self.paused:
            return
        self.paused = True
        self.pauses += 1
        self.hold_dn = max(0, min(force, self.limit))
        self._note(EV_PAUSE, force, 0)
        self.journal.event(EVENT_PAUSE, 0, self.hold_dn, self.session_ms)

    def resume(self, force):
        if not self.paused:
            return
        self.paused = False
        self._note(EV_RESUME, force, 0)
        self.journal.event(EVENT_RESUME, 0, 0, self.session_ms)

    def edit(self, new_dn, force):
        """0, or the error name refusing the edit. Nothing over the link raises the limit."""
        p = self.phases[self.index]
        if new_dn > self.limit:
            return "OVER_LIMIT"
        if p.mode != profile.STATIC and new_dn < p.base:
            return "OUT_OF_RANGE"
        # The hold or step row so far keeps the target it was held at; the segment goes on in a new row
        # (same phase and cycle) whose samples start once the new force is reached and the timer runs.
        if self._write_hold():
            self.split = True
        p.force = new_dn
        self.edits += 1
        self.awaiting = True
        self.await_e = 0  # the error once the target has moved to the new force
        self._note(EV_EDIT, force, new_dn)
        self.journal.event(EVENT_EDIT, self.index, new_dn, self.session_ms)
        return 0

    def _note(self, ev, force, extra):
        self.journal.item(R_EV, ev, self.treatment_ms, self.index, force, extra, 0, 0, 0, 0, 0, 0)

    # ---- the control tick ----

    def clock(self, force, dt_us):
        """Session time, time under traction and peak: also counted through the final release.
        Returns the whole ms elapsed."""
        self.us += dt_us
        ms = self.us // 1000
        self.us -= ms * 1000
        self.session_ms += ms
        if force >= TRACTION_DN:
            self.traction_ms += ms
        if force > self.peak:
            self.peak = force
        return ms

    def tick(self, force, dt_us):
        """Advance by dt_us of device time and leave the target in self.target."""
        ms = self.clock(force, dt_us)
        if force > self.phase_peak:
            self.phase_peak = force
        if self.paused:
            self.paused_ms += ms
            self._slew(self.hold_dn)
            self.slope = 0
            return
        if not self.awaiting:
            self.treatment_ms += ms
            self.phase_ms += ms
            # This sample ends the ms just counted, so it belongs to the segment they were spent in: the
            # one before _evaluate() moves on (a hold's first sample is the end of its ramp, and the sample
            # on which a hold ends is still the hold's).
            seg = self.segment
            if seg == profile.HOLD or seg == profile.STEP:
                self.stats.add(force, abs(force - self.seg_target) <= self.tolerance)
        self._evaluate(force)
        if self.awaiting:
            self.slope = 0  # the profile stands still until the new force is reached
            if self.target == self.phases[self.index].target:
                # reached: within tolerance, or crossed (a small steady error must not stop the clock)
                e = force - self.target
                if abs(e) <= self.tolerance or (self.await_e and (e > 0) != (self.await_e > 0)):
                    self.awaiting = False
                self.await_e = e

    def _evaluate(self, force):
        p = self.phases[self.index]
        while self.phase_ms >= p.duration:
            self._end_phase(p)
            if self.index + 1 >= self.count:
                self.finished = True
                self.phase_ms = p.duration
                self.segment = profile.NONE
                return
            self.start_dn = self.target
            self.phase_ms -= p.duration
            self.index += 1
            p = self.phases[self.index]
        p.at(self.phase_ms, self.start_dn)
        if p.segment != self.segment or p.cycle != self.cycle:
            self._segment_changed(p)
        self.seg_target = p.target
        self.slope = p.slope
        self._slew(p.target)

    def _slew(self, goal):
        goal_q = goal << 10
        step = self.slew_q
        if goal_q > self.target_q + step:
            self.target_q += step
        elif goal_q < self.target_q - step:
            self.target_q -= step
        else:
            self.target_q = goal_q
        self.target = self.target_q >> 10

    def _segment_changed(self, p):
        self._close_segment()
        self.segment = p.segment
        self.cycle = p.cycle
        self.journal.event(EVENT_PHASE, self.index, self.segment, self.session_ms)

    def _close_segment(self):
        """A hold or step is over: write its (last) row and count it once, however many rows it has."""
        if self._write_hold() or self.split:
            self.cycles += 1
        self.split = False

    def _write_hold(self):
        """Write the statistics gathered since the segment (or the edit) began as a hold row; True if any."""
        s = self.stats
        n = s.n
        if n:
            self.journal.item(R_HOLD, self.index, self.cycle, self.seg_target,
                              s.hi, s.lo, n, s.peak, s.min, s.in_tol, 0, 0)
            self.holds.merge(s)
        s.clear()
        return n > 0

    def _end_phase(self, p):
        self._close_segment()
        h = self.holds
        self.journal.item(R_PHASE, self.index, p.mode, p.duration, self.cycles, h.hi, h.lo, h.n,
                          self.phase_peak, h.in_tol, 0, 0)
        h.clear()
        self.cycles = 0
        self.phase_peak = 0
        self.segment = profile.NONE

    def close(self):
        """The session ends before its phases did (stop, fault): close the open segment and phase."""
        if not self.finished and self.count:
            p = self.phases[self.index]
            self._close_segment()
            h = self.holds
            self.journal.item(R_PHASE, self.index, p.mode, self.phase_ms, self.cycles, h.hi, h.lo, h.n,
                              self.phase_peak, h.in_tol, 0, 0)
            h.clear()
            self.finished = True
