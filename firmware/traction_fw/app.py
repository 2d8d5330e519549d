# The application: the board state machine (SPEC section 7) around one control tick.
#
#   tick()     sample -> safety -> control -> actuate. Integers and preallocated rings only: it runs
#              under micropython.heap_lock() in the tests. What it has to report goes into the journal.
#   service()  outside the locked part: the link (commands, telemetry, events) and the session record,
#              each bounded per call.
#   run()      the loop: wait for the next control period, tick, service; returns on a REPL break-in.

import gc
import time

import micropython
from traction_protocol.constants import EVENT, REGION_NAME

from . import VERSION, profile, release, safety
from .control import Controller
from .crosscheck import CrossCheck
from .journal import EV_ESTOP, EV_FAULT, EV_RECORD_FULL, EV_STOP, EV_STOP_SWITCH, R_EV, Journal, Ring
from .link import Link
from .recorder import Recorder
from .release import Release
from .safety import CUT, REACTION, Safety
from .session import Session
from .settings import Settings, seed
from .states import FAULT, IDLE, PAUSED, READY, RELEASING, RUNNING, SERVICE


E_STATE = EVENT["STATE"]
E_FAULT = EVENT["FAULT"]
E_STOP_SWITCH = EVENT["STOP_SWITCH"]
E_BOOT = EVENT["BOOT"]

HELLO_LEASE_MS = 2000
TELEMETRY_WIDTH = 6  # sample number, force, target, state, phase, segment
# Rows the tick leaves for service() to send (a list of ints: 24 bytes a row on a 32-bit port). A tick adds
# at most one; a service() call sends up to link.TELEMETRY_MAX (10) of them in a frame unless it read or
# answered a command or sent events instead (one frame, or EVENTS_PER_SERVICE events, a call). So the
# rows wait for at most 10 + one per call that sent none: 64 rows outlast the whole events ring sent two a
# call (32 calls) with 11 commands besides (22 calls: a host waits for each reply before its next
# command, with at most a heartbeat between). (160 rows took 3.8 KB of the heap for nothing.)
TELEMETRY_ROWS = 64


class App:
    def __init__(self, board):
        self.board = board
        cfg = board.config
        self.period_us = board.period_us
        self.settings = Settings(board.store, seed(cfg), cfg.get("limits"))
        # The REPL on the port: always on a development image, else only with the jumper fitted at boot
        # (docs/safety.md, "Lockdown").
        self.repl_open = cfg.get("repl", "jumper") == "always" or board.service_jumper()
        rating = cfg.get("loadcell", {}).get("rating_n", 0) * 10
        self.safety = Safety(cfg.get("safety"), self.period_us, board.loadcell.rails(), rating)
        self.cross = self._second_channel(board, cfg)
        rel = dict(cfg.get("release") or {})
        if "release_rate_dn_s" in cfg:
            rel["release_rate_dn_s"] = cfg["release_rate_dn_s"]
        self.release = Release(rel)
        self.journal = Journal()
        self.session = Session(self.journal, self.period_us, cfg.get("slew_dn_s", 2000))
        self.controllers = {}
        for code, name in REGION_NAME.items():
            self.controllers[code] = Controller(cfg["control"][name.lower()], self.period_us)
        self.ctrl = self.controllers[1]
        self.lease_min_ms = cfg.get("lease_min_ms", 300)
        self.lease_max_ms = cfg.get("lease_max_ms", 10000)
        self.tare_max_dn = cfg.get("tare_max_dn", 200)
        self.watchdog_ms = cfg.get("watchdog_ms", 1000)
        self.telemetry = Ring(TELEMETRY_WIDTH, TELEMETRY_ROWS)
        self.state = IDLE
        self.fault = 0
        self.faults_seen = 0  # bit per fault code seen since the first one latched (escalations)
        self.limit = self.settings.hard_max_dn
        self.target = 0
        self.raw = 0
        self.speed = 0
        self.jog_pm = 0  # JOG in SERVICE (commands.py): speed, start and length
        self.jog_from = 0
        self.jog_ms = 0
        self.starve = False  # WATCHDOG_TEST: the tick no longer feeds the watchdog
        self.motor_on = False
        self.switch = False
        self.samples = 0
        self.end_reason = ""
        self.utc_s = 0
        self.utc_at_ms = 0
        self.home = 0
        self.zero_n = 0  # samples of a rest at zero since the line read released (_rest_at_zero)
        self.calm_n = max(1, self.release.released_ms * 1000 // self.period_us)
        self.slacken_n = max(1, self.release.slacken_ms * 1000 // self.period_us)
        board.motor.disable()
        clock = board.clock
        self.last_us = clock.ticks_us()
        self.boot_ms = clock.ticks_ms()
        self.lease_ms = HELLO_LEASE_MS
        self.lease_from = self.boot_ms
        self.recorder = Recorder(self)
        self.record_waits = False  # a record job put off by the link's in the last service() call
        self.link = Link(self)
        unexpected = board.reset_cause()
        self.journal.event(E_BOOT, 1 if unexpected else 0, 0, 0)
        if self.settings.tampered:
            self.latch(safety.TAMPERED, 0)  # nothing stored can be trusted: no treatment until re-provisioned
        if self.recorder.seal_after_reset():
            # a treatment was cut by a reset: the operator must see it and clear it before the next one
            self.latch(safety.RESET, 0)

    @staticmethod
    def _second_channel(board, cfg):
        """The cross-check of the load cell (crosscheck.py). A board with neither current sense nor an
        encoder has no second channel, and one sensor fault could take the force past the ceiling: it is
        refused here, at boot (docs/safety.md, "Hardware")."""
        m = board.motor
        current = cfg.get("current_sense") if m.current() is not None else None
        if current is None and m.position() is None:
            raise ValueError("board config: no current sense and no encoder; the load cell needs a second "
                             "force channel (docs/safety.md)")
        return CrossCheck(cfg.get("crosscheck"), current, cfg.get("encoder"), board.period_us)

    # ---- the control tick: allocation-free ----

    def tick(self):
        b = self.board
        now = b.clock.ticks_us()
        dt = time.ticks_diff(now, self.last_us)
        self.last_us = now
        self.samples += 1
        lc = b.loadcell
        fresh = lc.ready()
        if fresh:
            self.raw = lc.read()
        s = self.safety
        fault = s.sample(fresh, self.raw, self.settings.to_dn(self.raw))
        force = s.force
        if fault:
            self.latch(fault, force)
        pos = b.motor.position()
        self._watch(force, pos)
        self.speed = self._control(force, pos, dt)
        self._actuate()
        self._sample_telemetry(force)
        if not self.starve:
            b.watchdog.feed()  # last: fed only by a tick whose safety checks all ran (a raising tick is not)

    def _watch(self, force, pos):
        """Every check other than the load cell's own, on every tick, whatever is latched: each fault
        found is latched (the first) or escalates the release (a later one)."""
        b = self.board
        pressed = b.stop_switch.pressed()
        if pressed != self.switch:
            self.switch = pressed
            self.journal.event(E_STOP_SWITCH, 1 if pressed else 0, 0, self.event_ms())
            if pressed:
                self.latch(safety.STOP_SWITCH, force)
        if b.limit_switch.tripped():
            self.latch(safety.LIMIT_SWITCH, force)
        st = self.state
        treating = st == RUNNING or st == PAUSED
        if treating and time.ticks_diff(b.clock.ticks_ms(), self.lease_from) > self.lease_ms:
            self.latch(safety.LEASE_LOST, force)
        s = self.safety
        fault = s.check(self.target, self.speed, self.limit, pos, self.motor_on, treating)
        if fault:
            self.latch(fault, force)
        fault = self.cross.update(force, s.accepted, pos, b.motor.current(), self.speed, self.motor_on,
                                  b.clock.ticks_ms())
        if fault:
            self.latch(fault, force)

    def _control(self, force, pos, dt):
        st = self.state
        speed = 0
        if st == RUNNING or st == PAUSED:
            ses = self.session
            ses.tick(force, dt)
            if ses.finished:
                self._begin_stop("COMPLETED", force)
            else:
                self.target = ses.target
                speed = self._rest_at_zero(ses, force, self.ctrl.update(ses.target, force, ses.slope))
        rel = self.release
        if rel.active:
            if self.recorder.open:
                self.session.clock(force, dt)
            rel.tick(force, pos, dt, self.cross.cur_dn if self.cross.has_current else None)
            if rel.done:
                self._released(force)
                return 0
            self.target = rel.target
            if rel.uses_controller():
                if rel.fresh_control:
                    rel.fresh_control = False
                    self.ctrl.reset()
                speed = self.ctrl.update(rel.target, force, rel.slope)
            else:
                speed = rel.speed
        if self.jog_pm:
            if st == SERVICE and time.ticks_diff(self.board.clock.ticks_ms(), self.jog_from) < self.jog_ms:
                speed = self.jog_pm
            else:
                self.jog_pm = 0
        # Independent of any fault: never pull once the force, run on at its present rate for one rate
        # window, would reach the limit, nor while the motor current shows it above the limit.
        if speed > 0 and not (self.safety.may_pull(self.limit) and self.cross.may_pull(self.limit)):
            speed = 0
        return speed

    def _rest_at_zero(self, ses, force, speed):
        """In a rest at zero force, once the line reads released: unwind a little, then stand still. The
        line is then truly slack and the zero-drift check sees the cell's own zero; held at a reading of
        zero instead, a cell reading low would leave the patient under tension nobody sees."""
        if ses.target != 0 or ses.slope != 0:
            if self.zero_n:
                self.zero_n = 0
                self.ctrl.reset()  # its integrator knows nothing of the slack paid out
            return speed
        if self.zero_n == 0 and force >= release.RELEASED_DN:
            return speed
        if self.zero_n < self.calm_n + self.slacken_n:
            self.zero_n += 1
        if self.zero_n <= self.calm_n:
            return speed
        return -self.release.slacken_pm if self.zero_n < self.calm_n + self.slacken_n else 0

    def _actuate(self):
        m = self.board.motor
        want = self.state == RUNNING or self.state == PAUSED or self.release.active or self.jog_pm != 0
        if want and not self.motor_on:
            self.ctrl.reset()
            m.enable()
        elif not want and self.motor_on:
            m.disable()
        self.motor_on = want
        if want:
            m.command(self.speed)

    def _sample_telemetry(self, force):
        div = self.session.telemetry_div
        if not div or self.state == IDLE or self.state == SERVICE or self.samples % div:
            return
        o = self.telemetry.claim()
        if o < 0:
            return
        d = self.telemetry.data
        d[o] = self.samples
        d[o + 1] = force
        d[o + 2] = self.target if self.target > 0 else 0
        d[o + 3] = self.state
        d[o + 4] = self.session.index
        d[o + 5] = self.segment()

    # ---- state changes (tick or command) ----

    def set_state(self, st):
        if st != self.state:
            self.state = st
            self.journal.event(E_STATE, st, 0, self.event_ms())

    def latch(self, fault, force, reaction=0):
        """A fault: latch it (the first one stays), release the line as its reaction says (or as
        reaction, when the caller knows better). A later one is recorded once and can only make the
        release more conservative."""
        if self.state == FAULT:
            self._escalate(fault, force, reaction)
            return
        st = self.state
        treating = st == RUNNING or st == PAUSED or st == RELEASING
        self.fault = fault
        self.faults_seen = 1 << fault
        self._report(fault, force)
        if treating:
            self.session.close()
            self.end_reason = "FAULT"
        self.set_state(FAULT)
        if self.motor_on:
            self.release.start(reaction or REACTION[fault], self.target, force, 0, self.home, self.limit)
        else:
            self.release.finish()
            self.recorder.session_over()

    def _report(self, fault, force):
        """The FAULT event for the host and the record's ev line."""
        self.journal.event(E_FAULT, fault, force, self.event_ms())
        ev = EV_FAULT
        if fault == safety.ESTOP:
            ev = EV_ESTOP
        elif fault == safety.STOP_SWITCH:
            ev = EV_STOP_SWITCH
        self.journal.item(R_EV, ev, self.session.treatment_ms, self.session.index, force, fault, 0, 0, 0,
                          0, 0, 0)

    def _escalate(self, fault, force, reaction):
        """A later fault: recorded the first time it is seen; the release switches to its reaction when
        that trusts less (controlled -> fast -> blind -> cut), never the other way."""
        bit = 1 << fault
        if not self.faults_seen & bit:
            self.faults_seen |= bit
            self._report(fault, force)
        rel = self.release
        kind = reaction or REACTION[fault]
        if rel.active and not rel.done and kind > rel.kind and (kind == CUT or rel.uses_controller()):
            rel.start(kind, self.target, force, 0, self.home, self.limit)

    def start(self):
        """START in READY, calibrated, switch released: 0 or the error name refusing it."""
        force = self.safety.force
        if not self.safety.unloaded_ok():
            self.latch(safety.ZERO_DRIFT, force)  # the unloaded line reads off zero: TARE first
            return 0
        if not self.cross.tare(self.board.motor.current()):
            self.latch(safety.FORCE_DISAGREE, force)  # the current sense does not read zero, motor off
            return 0
        err = self.recorder.begin()
        if err:
            return err
        # The line is unloaded and within the drift allowance: zero it for this session, so drift found
        # during the session is the session's own.
        self.settings.tare(self.raw, False)
        self.safety.force = 0
        force = 0
        ses = self.session
        self.ctrl = self.controllers[ses.region]
        self.limit = ses.limit
        self.home = self.board.motor.position()
        self.end_reason = ""
        self.safety.reset()
        self.cross.reset()
        ses.start(force)
        # A collection now, motor still off (START's call already waits on the store): a treatment
        # allocates nothing, so none can land in its periods (one is 12-15 ms on the RP2040, 1.4 periods).
        gc.collect()
        self.set_state(RUNNING)
        return 0

    def stop(self):
        self._begin_stop("STOPPED", self.safety.force, EV_STOP)

    def store_failed(self):
        """The session record can no longer be written: stop the treatment as STOP would."""
        if self.state == RUNNING or self.state == PAUSED:
            self.stop()

    def record_full(self):
        """The record's spool keeps only the rows a treatment's end needs: stop it as STOP would, the
        record saying why (recorder.py: emptying the spool into the store waits for the motor to be off)."""
        if self.state == RUNNING or self.state == PAUSED:
            self._begin_stop("STOPPED", self.safety.force, EV_RECORD_FULL)

    def _begin_stop(self, reason, force, ev=0):
        ses = self.session
        if ev:
            self.journal.item(R_EV, ev, ses.treatment_ms, ses.index, force, 0, 0, 0, 0, 0, 0, 0)
        ses.close()
        self.end_reason = reason
        last = ses.phases[ses.index]
        start = ses.target
        self.release.start(safety.RAMP, start, force, self.release.stop_ms(start, last.down), self.home,
                           self.limit)
        self.set_state(RELEASING)

    def _released(self, force):
        """The release is over: motor off; IDLE after a normal stop (if the line really is unloaded)."""
        rel = self.release
        stuck = rel.stuck
        rel.finish()
        self.target = 0
        if self.state == RELEASING:
            if stuck or not self.safety.unloaded_ok():
                self.latch(safety.ZERO_DRIFT if abs(force) <= self.tare_max_dn else safety.MOTOR, force)
            else:
                self.set_state(IDLE)
        self.recorder.session_over()

    # ---- queries ----

    def event_ms(self):
        if self.recorder.open:
            return self.session.session_ms
        return time.ticks_diff(self.board.clock.ticks_ms(), self.boot_ms)

    def segment(self):
        st = self.state
        if st == RUNNING or st == PAUSED:
            return self.session.segment
        if self.release.active:
            return profile.RELEASE
        return profile.NONE

    def force(self):
        return self.safety.force

    def renew_lease(self):
        self.lease_from = self.board.clock.ticks_ms()

    def repl_allowed(self):
        st = self.state
        return self.repl_open and (st == IDLE or st == READY or st == FAULT or st == SERVICE) \
            and not self.motor_on

    def board_name(self):
        return self.board.kind

    def version(self):
        return VERSION

    # ---- the loop ----

    def service(self):
        """One costly job a call, the link's or the recorder's, so that a command's reply and a record
        row or CHECKPOINT never share a period (the two took 8.1 ms with the tick on the Pico). The link
        goes first; a row due while it is busy waits one call, then goes first itself, so the record
        keeps up with a link that has a job every call (events, a command and a frame in a row)."""
        if self.record_waits:
            self.record_waits = False
            self.recorder.service()
        elif self.link.service():
            self.record_waits = self.recorder.due()
        else:
            self.recorder.service()

    def run(self):
        """Until a REPL break-in: the control loop. Keyboard interrupts are off: the port carries frames."""
        b = self.board
        b.watchdog.start(self.watchdog_ms)
        micropython.kbd_intr(-1)
        try:
            while not self.link.repl:
                b.clock.wait_tick()
                # any firmware error stops the motor, latched; the link keeps serving (CLEAR_FAULT, records)
                try:
                    self.locked_tick()
                except Exception:  # noqa: BLE001
                    self.internal_fault()
                try:
                    self.service()
                except Exception:  # noqa: BLE001
                    # the tick still works: release under its control rather than drop the line
                    self.latch(safety.INTERNAL, self.safety.force, safety.FAST)
                b.service()
        finally:
            micropython.kbd_intr(3)

    def locked_tick(self):
        """The tick with the heap locked: it allocates nothing (tests/mp_test_heap.py), and locked, no
        collection can land in it either: on a 32-bit port a call with a larger frame asks the heap
        first, and a full heap would collect there (0.8 M instructions on the emulated board)."""
        micropython.heap_lock()
        try:
            self.tick()
        finally:
            micropython.heap_unlock()

    def internal_fault(self):
        """The tick raised: the firmware cannot be trusted to release, so the motor is cut."""
        self.board.motor.disable()
        self.motor_on = False
        self.release.finish()
        self.latch(safety.INTERNAL, self.safety.force)
