# What each command does in each state (SPEC section 7). A handler, named for its command in lower case,
# returns 0 (ACK), the name of the error for a NAK, or (reply name, fields) for the commands answered
# with data. Runs in service(). HEARTBEAT and GET_STATUS, a treatment's steady traffic, and RECORD_READ,
# a record's transfer, come straight from link.py (heartbeat(), pack_status(), pack_chunk()) without a
# decoded message, so that they allocate nothing.

from struct import pack_into

from traction_protocol import BY_NAME, VERSION
from traction_protocol.constants import EVENT, FLAG_CALIBRATED, FLAG_MOTOR_ENABLED, \
    FLAG_RECORD_PENDING, FLAG_SERVICE_JUMPER, FLAG_STOP_SWITCH, SECURITY_PROVISIONED, SECURITY_REPL, \
    SECURITY_SETTINGS_OK

from . import safety
from .states import FAULT, IDLE, PAUSED, READY, RUNNING, SERVICE

MODES = 0x1F  # all five treatment modes
CHUNK = 200  # RECORD_CHUNK data bytes
RELEASED_DN = 50  # CLEAR_FAULT needs the measured force below 5 N
SPAN_FRACTION = 200  # a calibration load must move the reading by at least 1/200 of the ADC's range
E_FAULT_CLEARED = EVENT["FAULT_CLEARED"]
STATUS = BY_NAME["STATUS"].fmt
RECORD_CHUNK = BY_NAME["RECORD_CHUNK"]
# The commands run() takes, each to the handler of its name in lower case: a tuple of names (0.1 KB of the
# heap) where a dict of bound methods made at boot took 0.6 KB.
COMMANDS = ("HELLO", "SET_TIME", "SETUP", "PHASE", "START", "PAUSE", "RESUME", "EDIT_FORCE", "STOP", "ESTOP",
            "CLEAR_FAULT", "TARE", "RECORD_LIST", "RECORD_ACK", "SERVICE_ENTER", "SERVICE_EXIT", "PROVISION",
            "CALIBRATE", "LOADCELL_READ", "JOG", "WATCHDOG_TEST", "STREAM")


class Commands:
    def __init__(self, app):
        self.app = app

    def run(self, msg):
        if msg.name not in COMMANDS:  # a board -> host message sent to the board
            return "UNKNOWN_TYPE"
        return getattr(self, msg.name.lower())(msg.fields)

    # ---- any state ----

    def hello(self, f):
        app = self.app
        app.lease_ms = 2000
        app.link.stream(False)  # a new host starts without SAMPLES until it asks (STREAM)
        st = app.settings
        b = app.board
        return ("INFO", {
            "protocol": VERSION, "fw_major": app.version()[0], "fw_minor": app.version()[1],
            "fw_patch": app.version()[2], "serial": st.serial, "kind": 1 if b.kind == "sim" else 0,
            "time_scale": b.time_scale, "control_hz": b.control_hz, "hard_max_dn": st.hard_max_dn,
            "cervical_max_dn": st.cervical_max_dn, "lumbar_max_dn": st.lumbar_max_dn, "modes": MODES,
            "calibrated": 1 if st.calibrated() else 0, "cal_date_s": st.cal_date_s,
            "lease_min_ms": app.lease_min_ms, "lease_max_ms": app.lease_max_ms, "state": app.state,
            "cal_id": st.cal_id(), "cal_points": len(st.cal_weights) if st.calibrated() else 0,
            "cal_nonlin_ppm": st.cal_nonlin_ppm, "security": self.security(),
            "full_speed_counts_s": (b.config.get("encoder") or {}).get("full_speed_counts_s", 0)
            if b.motor.position() is not None else 0, "reset_cause": b.reset_cause()})

    def security(self):
        app = self.app
        bits = SECURITY_PROVISIONED if app.settings.provisioned else 0
        if not app.settings.tampered:
            bits |= SECURITY_SETTINGS_OK
        if app.repl_open:
            bits |= SECURITY_REPL
        return bits

    def loadcell_read(self, f):
        """The raw readings a host averages to calibrate and self-test (any state: it only reads)."""
        app = self.app
        m = app.board.motor
        cur = m.current()
        pos = m.position()
        return ("LOADCELL", {"sample": app.samples & 0xFFFFFFFF, "raw_counts": app.raw,
                             "current_counts": -1 if cur is None else cur, "position": pos or 0,
                             "state": app.state})

    def stream(self, f):
        """STREAM (any state): SAMPLES frames of every load-cell conversion on or off."""
        self.app.link.stream(f["samples"] == 1)
        return 0

    def heartbeat(self, lease_ms):
        """HEARTBEAT (any state): the lease the host asks for, clamped to the board's range."""
        app = self.app
        app.lease_ms = max(app.lease_min_ms, min(app.lease_max_ms, lease_ms))

    def set_time(self, f):
        app = self.app
        app.utc_s = f["utc_s"]
        app.utc_at_ms = app.board.clock.ticks_ms()
        return 0

    def pack_status(self, buf, at, re):
        """GET_STATUS (any state): the STATUS payload packed at buf[at:], allocating nothing."""
        app = self.app
        ses = app.session
        b = app.board
        flags = 0
        if app.switch:
            flags |= FLAG_STOP_SWITCH
        if app.settings.calibrated():
            flags |= FLAG_CALIBRATED
        if app.motor_on:
            flags |= FLAG_MOTOR_ENABLED
        if app.recorder.pending():
            flags |= FLAG_RECORD_PENDING
        if b.service_jumper():
            flags |= FLAG_SERVICE_JUMPER
        st = app.state
        # the clamps as comparisons: min() and max() are two lookups and a call each, every second
        force = app.force()
        force = -32768 if force < -32768 else 32767 if force > 32767 else force
        target = app.target
        target = 0 if target < 0 else 65535 if target > 65535 else target
        remaining = ses.remaining_ms() if st == RUNNING or st == PAUSED else 0
        overruns = b.clock.overruns
        overruns = overruns if overruns < 0xFFFF else 0xFFFF
        pack_into(STATUS, buf, at, re, st, app.fault, ses.index, app.segment(), target, force,
                  ses.treatment_ms, ses.traction_ms, remaining, flags, overruns)

    def record_list(self, f):
        return ("RECORDS", {"record_ids": list(self.app.recorder.listed)})

    def pack_chunk(self, buf, at, data, re, rid, offset):
        """RECORD_READ (any state): the RECORD_CHUNK payload packed at buf[at:], its data read into data
        (up to CHUNK bytes: the view of buf after the fixed fields); the payload's size, or -1 if the
        record is not listed. Allocates nothing once the record is open."""
        size = self.app.recorder.read(rid, offset, data)
        if size < 0:
            return -1
        pack_into(RECORD_CHUNK.fmt, buf, at, re, rid, offset, size)
        return RECORD_CHUNK.size + max(0, min(len(data), size - offset))

    def record_ack(self, f):
        return 0 if self.app.recorder.delete(f["record_id"]) else "UNKNOWN_RECORD"

    def estop(self, f):
        app = self.app
        app.latch(safety.ESTOP, app.force())
        return 0

    def stop(self, f):
        app = self.app
        st = app.state
        if st == READY:
            app.session.clear()
            app.set_state(IDLE)
        elif st == RUNNING or st == PAUSED:
            app.stop()
        return 0

    # ---- session set-up ----

    def setup(self, f):
        app = self.app
        if app.state != IDLE and app.state != READY:
            return "BAD_STATE"
        limit = app.settings.limit(f["region"], f["session_max_dn"])
        app.session.setup(f, limit)
        app.set_state(IDLE)
        return 0

    def phase(self, f):
        app = self.app
        if app.state != IDLE and app.state != READY:
            return "BAD_STATE"
        err = app.session.add_phase(f)
        if err:
            return err
        if app.session.ready():
            app.set_state(READY)
        return 0

    def start(self, f):
        app = self.app
        if app.state == IDLE:
            return "NO_SETUP"
        if app.state != READY:
            return "BAD_STATE"
        if not app.settings.calibrated():
            return "NOT_CALIBRATED"
        if app.switch:
            return "STOP_SWITCH"
        return app.start()

    # ---- while treating ----

    def pause(self, f):
        app = self.app
        if app.state == RUNNING:
            app.session.pause(app.force())
            app.set_state(PAUSED)
            return 0
        return 0 if app.state == PAUSED else "BAD_STATE"

    def resume(self, f):
        app = self.app
        if app.state == PAUSED:
            app.session.resume(app.force())
            app.set_state(RUNNING)
            return 0
        return 0 if app.state == RUNNING else "BAD_STATE"

    def edit_force(self, f):
        app = self.app
        if app.state != RUNNING and app.state != PAUSED:
            return "BAD_STATE"
        return app.session.edit(f["force_dn"], app.force())

    # ---- faults ----

    def clear_fault(self, f):
        app = self.app
        if app.state != FAULT:
            return "BAD_STATE"
        s = app.safety
        allowed = app.tare_max_dn if app.fault == safety.ZERO_DRIFT else RELEASED_DN
        if (app.switch or app.release.active or app.settings.tampered or s.cause_present() or s.missed > 0
                or abs(app.force()) >= allowed or app.board.limit_switch.tripped()
                or not app.cross.current_ok(app.board.motor.current())):
            return "CAUSE_PRESENT"
        code = app.fault
        app.fault = 0
        app.session.clear()
        app.journal.event(E_FAULT_CLEARED, code, 0, app.event_ms())
        app.set_state(IDLE)
        return 0

    def tare(self, f):
        app = self.app
        st = app.state
        if st != IDLE and st != READY and st != SERVICE:
            return "BAD_STATE"
        if abs(app.force()) > app.tare_max_dn:
            return "NOT_TENSIONED"
        app.settings.tare(app.raw)
        app.safety.force = 0
        return 0

    # ---- service mode ----

    def service_enter(self, f):
        app = self.app
        if app.state == SERVICE:
            return 0
        if app.state != IDLE:
            return "BAD_STATE"
        if not app.board.service_jumper():
            return "NO_JUMPER"
        app.set_state(SERVICE)
        return 0

    def service_exit(self, f):
        app = self.app
        if app.state != SERVICE:
            return "BAD_STATE"
        app.set_state(IDLE)
        return 0

    def provision(self, f):
        app = self.app
        if app.state != SERVICE:
            return "NOT_SERVICE"
        return app.settings.provision(f["serial"], f["hard_max_dn"], f["cervical_max_dn"], f["lumbar_max_dn"],
                                      f["key"])

    def jog(self, f):
        """SERVICE only: run the motor at speed_pm for ms (the self-test's motion checks). Every safety
        check runs as in a treatment; the motor stops by itself when the time is up."""
        app = self.app
        if app.state != SERVICE:
            return "NOT_SERVICE"
        app.jog_from = app.board.clock.ticks_ms()
        app.jog_ms = f["ms"]
        app.jog_pm = f["speed_pm"] if f["ms"] else 0
        return 0

    def watchdog_test(self, f):
        """SERVICE only, motor off: the tick stops feeding the watchdog, which must reset the board."""
        app = self.app
        if app.state != SERVICE:
            return "NOT_SERVICE"
        if app.motor_on:
            return "BAD_STATE"
        app.starve = True
        return 0

    def calibrate(self, f):
        app = self.app
        if app.state != SERVICE:
            return "NOT_SERVICE"
        lo, hi = app.board.loadcell.rails()
        if not lo < f["zero_counts"] < hi:
            return "OUT_OF_RANGE"
        return app.settings.calibrate(f, (hi - lo) // SPAN_FRACTION)
