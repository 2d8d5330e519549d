# Turns a session into its record (SPEC section 9): the head at START, then the items the tick left in
# the journal (events, holds, phases) as lines, then end and seal once the line is released. Runs in
# service(), outside the tick, one item per call (during a treatment, a row packed in one call and
# copied into the spool in the next two). Every CHECKPOINT_MS of session time it also writes a
# CHECKPOINT event with the session's running totals, so a record left open by a reset can be sealed at
# the next boot with what had been delivered up to it, rather than with zeros.
#
# On a board with a spool (spool.py), a treatment's items and checkpoints go there as rows of integers,
# packed in place (no allocation, one copy into the region), and become lines (JSON, hash chain) when the
# record is sealed, in one append with the end and seal; also when the spool is full with the motor off
# (END_ROWS below), and at the next boot after a reset. On a board without one each becomes a line at
# once, a file append and commit (hundreds of thousands of instructions on the emulated board's LittleFS,
# over the service() budget: docs/firmware.md).

import time
from struct import pack_into, unpack

from traction_protocol.constants import ANGLE_NOT_SET, EVENT, FAULT_NAME, REGION_NAME

from . import record
from .journal import EV_EDIT, EV_FAULT, EV_NAMES, R_EV, R_HOLD, R_PHASE, RECORD_WIDTH
from .profile import HOLD, MODE_NAMES, STEP
from .spool import HEADER, Spool
from .stats import mean

MAX_RECORDS = 100  # RECORDS lists at most 100 ids
# Session time between CHECKPOINT lines: what a reset can lose from the totals. One ~300-byte line per
# 30 s is a few kB on a 20-minute record and one small append each time (flash wear: negligible).
CHECKPOINT_MS = 30000
E_RECORD = EVENT["RECORD"]
R_CHECKPOINT = 4  # a row's kind, beside the journal's item kinds
ROW_WIDTH = 20  # ints in a spooled row: the kind, then an item's or a checkpoint's figures
ROW = "<%di" % ROW_WIDTH
# A full spool is emptied into the record file, a commit of the store (0.7 s on a Pico, with the flash
# erased): never with the motor driving. So a treatment whose rows would not fit is refused at START
# (PLAN_TOO_LONG), and one that fills it anyway (pauses, edits, checkpoints in long pauses) is stopped while
# the rows waiting in the journal and END_ROWS more fit: its stop event, the hold and phase rows it
# closes, a CHECKPOINT and faults in the release. A row that still finds it full waits, packed, until the
# motor is off.
END_ROWS = 8
SPARE_ROWS = 48  # rows a plan must leave for what it cannot foresee: pauses and edits (two rows each)


class Recorder:
    def __init__(self, app):
        self.app = app
        self.store = record.Store(app.board.store)
        region = getattr(app.board, "spool", None)  # optional in the hal (hal/__init__.py)
        self.spool = Spool(region) if region is not None else None
        self.spooling = False  # the open record's rows go to the spool
        self.packed = False  # a row packed into self.row, for the spool in the next calls
        self.row_put = False  # ... its bytes in the spool, its entry's header next
        self.row = bytearray(4 * ROW_WIDTH)
        self.ck = [0] * ROW_WIDTH  # a checkpoint's figures
        self.writer = None
        self.open = False
        self.seal_pending = False
        self.checkpoint_ms = 0  # session time of the last CHECKPOINT
        self.dropped = []  # records the store failed to take: unsealed until the next boot seals them
        self.listed = []  # ids(), as the store last changed
        self.reader = None  # (record id, open file, size): the record a host is reading, chunk by chunk
        self.recount()

    def ids(self):
        """Sealed records, oldest first (the one being written, or given up, is not listed)."""
        ids = self.store.ids()
        if self.writer is not None and self.writer.record_id in ids:
            ids.remove(self.writer.record_id)
        return [i for i in ids if i not in self.dropped]

    def pending(self):
        """A sealed record waits for the host. GET_STATUS asks every second, during a treatment too: the
        records are listed when the store changes, not (allocating) on each call."""
        return len(self.listed) > 0

    def recount(self):
        """The store changed: list the records again."""
        self._close_reader()
        self.listed = self.ids()

    def read(self, rid, offset, buf):
        """A listed record's bytes from offset into buf (as many as it has there, up to len(buf)): its
        size, or -1 if it is not listed. Allocates nothing once the record is open. The file stays open
        between the chunks a host reads: finding, opening and sizing it for each cost ~0.2 M instructions
        on the emulated board's LittleFS."""
        if rid not in self.listed:
            return -1
        r = self.reader
        if r is None or r[0] != rid:
            self._close_reader()
            f = open(record.path_of(self.store.root, rid), "rb")
            r = self.reader = (rid, f, f.seek(0, 2))
        size = r[2]
        if offset < size:
            f = r[1]
            f.seek(offset)
            if f.readinto(buf) != min(len(buf), size - offset):
                raise OSError("record %d changed while it was read" % rid)
        return size

    def delete(self, rid):
        """RECORD_ACK: the host has the record. False if it is not listed."""
        if rid not in self.listed:
            return False
        self._close_reader()
        self.store.delete(rid)
        self.recount()
        return True

    def _close_reader(self):
        if self.reader is not None:
            self.reader[1].close()
            self.reader = None

    def seal_after_reset(self):
        """Seal what a reset left unsealed (end reason RESET). Returns how many there were."""
        key = self.app.settings.key
        self._unspool(key)
        sealed = 0
        for rid in self.store.ids():
            writer, lines = self.store.reopen(rid, key)
            if writer is not None:
                if not lines:
                    self.store.delete(rid)  # the reset came before the head was written
                    continue
                for t, pairs in record.after_reset(lines):
                    writer.write(t, pairs)
                writer.seal()
                sealed += 1
        self.recount()
        return sealed

    def _unspool(self, key):
        """The rows a reset left in the spool become lines of their record, if the record still ends
        where they begin (not if they went in before the reset, or the record is sealed or gone)."""
        sp = self.spool
        found = sp.found() if sp is not None else None
        if found is None:
            if sp is not None and sp.blank:  # a new board's: erased now (on a Pico 16 sector erases,
                sp.start(0, record.ZERO_HASH)  # 0.7 s), not at its first START
                sp.clear()
            return
        rid, prev = found
        if rid in self.store.ids():
            writer, _ = self.store.reopen(rid, key)
            if writer is not None and writer.prev == prev:
                self.writer = writer
                with open(writer.path, "a") as f:
                    self._unspool_into(f)
                self.writer = None
        sp.clear()

    def begin(self):
        """Open the record of a session at START. 0, or the error name refusing START."""
        app = self.app
        st = app.settings
        try:
            self._unspool(st.key)  # rows of a record given up when the store failed: kept, not overwritten
        except OSError:
            return "STORE_FULL"
        ids = self.store.ids()
        if len(ids) >= MAX_RECORDS:
            return "STORE_FULL"
        if self.spool is not None and self.planned_rows() + SPARE_ROWS + END_ROWS > self.spool.room(
                4 * ROW_WIDTH, HEADER):
            return "PLAN_TOO_LONG"
        rid = st.take_record_id()
        while rid in ids:  # ids wrap at 65535: never append to a record still kept
            rid = st.take_record_id()
        try:
            self.writer = record.Writer(self.store.root, rid, st.key)
            self.writer.write("head", self._head(rid))
            if self.spool is not None:
                self.spool.start(rid, self.writer.prev)
                self.spooling = True
        except OSError:
            self._drop()
            return "STORE_FULL"
        app.journal.items.clear()
        app.journal.recording = True
        self.open = True
        self.seal_pending = False
        self.packed = self.row_put = False
        self.checkpoint_ms = 0
        return 0

    def planned_rows(self):
        """The rows the session's plan puts in its record, left uninterrupted: its phases' holds or steps
        and phase rows, and a CHECKPOINT every CHECKPOINT_MS."""
        ses = self.app.session
        rows = ses.total_ms() // CHECKPOINT_MS + 1
        for i in range(ses.count):
            rows += ses.phases[i].holds() + 1
        return rows

    def _head(self, rid):
        app = self.app
        st = app.settings
        ses = app.session
        now = app.board.clock.ticks_ms()
        utc = 0
        if app.utc_s:
            utc = app.utc_s + time.ticks_diff(now, app.utc_at_ms) // 1000
        v = app.version()
        angle = None if ses.angle_dd == ANGLE_NOT_SET else ses.angle_dd  # null: the clinician entered none
        return [
            ("v", 1), ("record", rid), ("session_id", ses.session_id), ("serial", st.serial),
            ("fw", "%d.%d.%d" % v), ("board", app.board_name()), ("cal_date_s", st.cal_date_s),
            ("cal_id", "%08x" % st.cal_id()), ("cal_weights_dn", st.cal_weights),
            ("utc_start_s", utc), ("boot_ms", time.ticks_diff(now, app.boot_ms)),
            ("region", REGION_NAME[ses.region]), ("angle_dd", angle), ("hard_max_dn", st.hard_max_dn),
            ("region_max_dn", st.region_max(ses.region)), ("session_max_dn", ses.session_max),
            ("limit_dn", ses.limit), ("tolerance_dn", ses.tolerance),
            ("phases", [ses.phases[i].fields() for i in range(ses.count)]),
        ]

    def session_over(self):
        """Called from the tick when the line is released: seal once the items are written."""
        if self.open:
            self.seal_pending = True

    def due(self):
        """Whether service() has a line to write: an item, the end and seal, or a CHECKPOINT. A line
        allocates (its JSON, its hash, the file append); a call with none allocates nothing."""
        return self.open and (self.packed or self.app.journal.items.count > 0 or self.seal_pending
                              or self.app.session.session_ms - self.checkpoint_ms >= CHECKPOINT_MS)

    def service(self):
        if not self.due():
            return
        items = self.app.journal.items
        try:
            if self.packed:
                self._spool_row()
                return
            o = items.peek()
            if o >= 0:
                self._record(items.data, o, RECORD_WIDTH)
                items.pop()
            elif self.seal_pending:
                self._seal()
            else:
                self._checkpoint()
        except OSError:
            # The store cannot take the record: a treatment that cannot be documented ends, gradually.
            self._drop()
            self.app.store_failed()

    def _drop(self):
        """Give up the record being written (what is on the store stays, unsealed until next boot)."""
        if self.writer is not None:
            self.dropped.append(self.writer.record_id)
        self.writer = None
        self.open = False
        self.seal_pending = False
        self.spooling = False
        self.packed = self.row_put = False
        self.app.journal.recording = False
        self.recount()

    def _record(self, d, o, n):
        """The row of n ints at d[o:]: packed, for the spool in the next call, during a treatment (packing
        and programming the flash in one call came to 5.9 ms with the tick on the emulated RP2040, over
        half its period); else a line at once."""
        if not self.spooling:
            t, pairs = self._line(d, o)
            self.writer.write(t, pairs)
            return
        row = self.row
        for i in range(ROW_WIDTH):
            pack_into("<i", row, 4 * i, d[o + i] if i < n else 0)
        self.packed = True

    def _spool_row(self):
        """The row packed in the call before, into the spool: its bytes in one call, its entry's header in
        the next (a flash program each on a Pico, 0.4-0.8 ms). While the spool is full with the motor on
        it stays packed (and the journal's items wait behind it)."""
        sp = self.spool
        if self.row_put:
            sp.close_entry()
            self.row_put = False
            self.packed = False
            if sp.room(4 * ROW_WIDTH) < END_ROWS + self.app.journal.items.count:
                self.app.record_full()  # room kept for the rows waiting in the journal and the end's
            return
        if not sp.put(self.row):
            self.app.record_full()
            if self.app.motor_on:
                return
            with open(self.writer.path, "a") as f:  # full: its rows become lines in the file, it starts again
                self._unspool_into(f)
            sp.start(self.writer.record_id, self.writer.prev)
            sp.put(self.row)
        self.row_put = True

    def _unspool_into(self, f):
        """The spooled rows as the writer's next lines, into the open record file f."""
        w = self.writer
        for entry in self.spool.entries():
            t, pairs = self._line(unpack(ROW, entry), 0)
            f.write(w.text(t, pairs))

    def _line(self, d, o):
        """(type, pairs) of the record line for the row at d[o:]: an item or a checkpoint."""
        period = self.app.period_us
        kind = d[o]
        if kind == R_EV:
            ev = d[o + 1]
            pairs = [("ms", d[o + 2]), ("ev", EV_NAMES[ev]), ("phase", d[o + 3]), ("force_dn", d[o + 4])]
            if ev == EV_EDIT:
                pairs.append(("target_dn", d[o + 5]))
            elif ev == EV_FAULT:
                pairs.append(("fault", FAULT_NAME.get(d[o + 5], "INTERNAL")))
            return "ev", pairs
        if kind == R_HOLD:
            n = d[o + 6]
            return "hold", [
                ("phase", d[o + 1]), ("cycle", d[o + 2]), ("target_dn", d[o + 3]),
                ("mean_dn", mean(d[o + 4], d[o + 5], n)), ("peak_dn", d[o + 7]), ("min_dn", d[o + 8]),
                ("ms", n * period // 1000), ("in_tol_ms", d[o + 9] * period // 1000)]
        if kind == R_PHASE:
            n = d[o + 7]
            return "phase", [
                ("phase", d[o + 1]), ("mode", MODE_NAMES[d[o + 2]]), ("ms", d[o + 3]), ("cycles", d[o + 4]),
                ("mean_dn", mean(d[o + 5], d[o + 6], n)), ("peak_dn", max(0, d[o + 8])),
                ("in_tol_ms", d[o + 9] * period // 1000), ("hold_ms", n * period // 1000)]
        hold = None  # R_CHECKPOINT: the row the hold or step under way would have if it ended now
        if d[o + 11]:
            hold = [("cycle", d[o + 12]), ("target_dn", d[o + 13]), ("mean_dn", d[o + 14]),
                    ("peak_dn", d[o + 15]), ("min_dn", d[o + 16]), ("ms", d[o + 17]),
                    ("in_tol_ms", d[o + 18])]
        return "ev", [
            ("ms", d[o + 1]), ("ev", "CHECKPOINT"), ("phase", d[o + 2]), ("force_dn", d[o + 3]),
            ("session_ms", d[o + 4]), ("traction_ms", d[o + 5]), ("paused_ms", d[o + 6]),
            ("pauses", d[o + 7]), ("edits", d[o + 8]), ("peak_dn", d[o + 9]), ("phase_peak_dn", d[o + 10]),
            ("hold", hold)]

    def _checkpoint(self):
        """The session's totals so far, recorded only once every item before them is, so each figure
        covers exactly the lines above it (SPEC 9.2, CHECKPOINT)."""
        app = self.app
        ses = app.session
        period = app.period_us
        self.checkpoint_ms = ses.session_ms
        s = ses.stats
        c = self.ck
        c[0] = R_CHECKPOINT
        c[1] = ses.treatment_ms
        c[2] = ses.index
        c[3] = app.force()
        c[4] = ses.session_ms
        c[5] = ses.traction_ms
        c[6] = ses.paused_ms
        c[7] = ses.pauses
        c[8] = ses.edits
        c[9] = max(0, ses.peak)
        c[10] = max(0, ses.phase_peak)
        c[11] = 1 if s.n and (ses.segment == HOLD or ses.segment == STEP) else 0
        if c[11]:
            c[12] = ses.cycle
            c[13] = ses.seg_target
            c[14] = mean(s.hi, s.lo, s.n)
            c[15] = s.peak
            c[16] = s.min
            c[17] = s.n * period // 1000
            c[18] = s.in_tol * period // 1000
        self._record(c, 0, ROW_WIDTH)

    def _seal(self):
        app = self.app
        ses = app.session
        w = self.writer
        fault = FAULT_NAME.get(app.fault) if app.end_reason == "FAULT" else None
        end = [("reason", app.end_reason), ("fault", fault), ("treatment_ms", ses.treatment_ms),
               ("traction_ms", ses.traction_ms), ("peak_dn", max(0, ses.peak)), ("pauses", ses.pauses),
               ("paused_ms", ses.paused_ms), ("edits", ses.edits), ("end_ms", ses.session_ms)]
        if self.spooling:
            with open(w.path, "a") as f:  # the treatment's lines, end and seal: one append, one commit
                self._unspool_into(f)
                f.write(w.seal_text(end))
            self.spool.clear()
            self.spooling = False
        else:
            w.seal(end)
        app.journal.recording = False
        app.journal.event(E_RECORD, 0, w.record_id, ses.session_ms)
        self.writer = None
        self.open = False
        self.seal_pending = False
        self.recount()
