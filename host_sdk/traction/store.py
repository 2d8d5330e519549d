"""The host's local store (SQLite): sessions, telemetry, events, records and device keys.

Telemetry and events are queued as they arrive (the link's reader thread never waits for SQLite) and a
writer thread commits them every FLUSH_S, so a host crash loses at most that much; sessions, records and
keys are committed at once. Another program may hold the store's write lock for a while (a second
`traction run`, a sqlite3 shell): every write is a short transaction, retried until the lock is free
(up to LOCKED_MAX_S), and queued rows wait in memory meanwhile, so nothing is lost and nothing stalls.

For programs that read the store: list_sessions(), get_session(), samples(), session_events(),
get_record() and load_record() return typed objects (StoredSession, StoredSample, traction.session.Event,
StoredRecord, a verified traction.record.Record). The other readers (sessions(), session(), telemetry(),
events(), record(), records()) return the raw rows as SQLite holds them (forces in 0.1 N, times in ms,
the treatment as JSON text), for the SDK's own plots and exports.
"""

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traction_protocol.constants import SEGMENT_NAME, STATE_NAME

from traction.errors import TractionError

if TYPE_CHECKING:
    from traction.record import Record
    from traction.session import Event

FLUSH_S = 0.25
BUSY_TIMEOUT_S = 0.1  # SQLite's own wait for a lock, per attempt: short, so no caller holds _lock long
RETRY_S = 0.05
LOCKED_MAX_S = 120.0  # a write waits this long for another program's lock, then says so
SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (serial TEXT PRIMARY KEY, key BLOB, info TEXT, seen_utc REAL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY, session_id INTEGER, serial TEXT, started_utc REAL, source TEXT,
    treatment TEXT, unit TEXT, ended_utc REAL, outcome TEXT, record INTEGER);
CREATE TABLE IF NOT EXISTS telemetry (
    session INTEGER, sample INTEGER, t_ms REAL, state INTEGER, phase INTEGER, segment INTEGER,
    force_dn INTEGER, target_dn INTEGER);
CREATE INDEX IF NOT EXISTS telemetry_session ON telemetry (session, sample);
CREATE TABLE IF NOT EXISTS events (
    session INTEGER, event INTEGER, ms INTEGER, kind INTEGER, code INTEGER, value INTEGER, received_utc REAL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY, serial TEXT, record_id INTEGER, session_id INTEGER, data BLOB,
    sha256 TEXT UNIQUE, verified INTEGER, error TEXT, received_utc REAL, acked INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS commissioning (
    id INTEGER PRIMARY KEY, serial TEXT, step TEXT, passed INTEGER, report TEXT, utc REAL);
"""


log = logging.getLogger(__name__)


class StoreError(TractionError):
    """The store cannot be opened or written (a bad path, another program holding its lock too long)."""


@dataclass(frozen=True)
class StoredSession:
    """A session as the store holds it (Store.list_sessions, Store.get_session)."""

    id: int  # the store's number for it: `traction sessions`, `traction bill N`
    session_id: int  # the number the host gave the board (the record's session_id)
    serial: str  # the board's
    started_utc: datetime
    ended_utc: datetime | None
    # COMPLETED, STOPPED, FAULT, RESET (the record's end), NOT_STARTED, NO_RECORD, RECORD_UNVERIFIED;
    # None while it runs, or when the host never saw its end
    outcome: str | None
    source: str  # the treatment file it came from
    unit: str  # the unit the treatment file showed forces in
    treatment: dict[str, Any]  # the treatment as sent (Treatment.to_dict())
    record_row: int | None  # its record in the store (get_record, load_record), None when none arrived
    record_id: int | None  # the record's number on the board
    verified: bool  # the record verified with the device key
    samples: int  # telemetry samples stored
    events: int  # events stored


@dataclass(frozen=True)
class StoredSample:
    """One telemetry sample as stored (Store.samples), in SI units."""

    sample: int  # the board's running sample number
    device_s: float  # the board's clock, seconds (subtract the first RUNNING sample's for Sample.t_s)
    state: str
    phase: int  # from 0
    segment: str
    force_n: float
    target_n: float


@dataclass(frozen=True)
class StoredRecord:
    """A session record as received from a board (Store.get_record); load_record verifies it."""

    id: int  # its row in the store
    serial: str
    record_id: int  # its number on the board
    session_id: int | None  # the session it claims (trusted once verified)
    verified: bool
    error: str | None  # why it did not verify
    received_utc: datetime
    acked: bool  # the board was told it may delete it
    data: bytes  # the signed record, as the board wrote it


def _utc(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _locked(e: sqlite3.OperationalError) -> bool:
    text = str(e)
    return "locked" in text or "busy" in text


def default_path() -> Path:
    """The default store: $TRACTION_STORE, else $XDG_DATA_HOME (or ~/.local/share)/traction/traction.db."""
    env = os.environ.get("TRACTION_STORE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "traction" / "traction.db"


class Store:
    """The host's SQLite store of sessions, telemetry, events, records and device keys (see the module's
    doc)."""
    def __init__(self, path=None, create: bool = True):
        """path: the store file (default: default_path()). create=False for readers: a store that does
        not exist is a StoreError ("no store at PATH"), not a new empty file and its folders."""
        self.path = Path(path) if path else default_path()
        if not create and not self.path.is_file():
            raise StoreError(f"no store at {self.path}: check the path (--store, $TRACTION_STORE); a store "
                             "is created by the first `traction info` or `traction run` that uses it")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"cannot open the store {self.path}: {e}; set $TRACTION_STORE or --store "
                             "to a writable file") from e
        self._lock = threading.RLock()
        try:
            # WAL with synchronous=NORMAL: a commit survives the host process crashing without an fsync,
            # and readers never wait for a writer.
            self._retry(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._retry(lambda: self._db.executescript(SCHEMA))
        except sqlite3.Error as e:
            self._db.close()
            raise StoreError(f"cannot open the store {self.path}: {e}; set $TRACTION_STORE or --store "
                             "to a writable file") from e
        self._db.row_factory = sqlite3.Row
        self._pending = []  # (sql, rows) queued by add_telemetry/add_event, oldest first
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._closed = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="traction-store-flush", daemon=True)
        self._flusher.start()

    # ---- one short transaction at a time, retried while another program holds the lock ----
    def _retry(self, fn):
        deadline = time.monotonic() + LOCKED_MAX_S
        while True:
            try:
                with self._lock:
                    return fn()
            except sqlite3.OperationalError as e:
                with self._lock:
                    if self._db.in_transaction:
                        self._db.rollback()
                if not _locked(e):
                    raise
                if time.monotonic() > deadline:
                    raise StoreError(f"the store {self.path} has been locked by another program for "
                                     f"{LOCKED_MAX_S:g} s (another `traction`, a sqlite3 shell with a "
                                     "transaction open): close it; nothing received was lost until "
                                     "now") from e
                time.sleep(RETRY_S)

    def _write(self, sql, params=()):
        """One statement, committed; returns its cursor."""
        def run():
            cur = self._db.execute(sql, params)
            self._db.commit()
            return cur
        return self._retry(run)

    def _read(self, sql, params=()):
        self.flush()  # a reader sees what was queued before it asked
        return self._retry(lambda: self._db.execute(sql, params).fetchall())

    # ---- device keys ----
    def set_key(self, serial: str, key: bytes, info: dict | None = None):
        """Remember a board's device key (and what it reported), by serial."""
        self._write(
            "INSERT INTO devices (serial, key, info, seen_utc) VALUES (?, ?, ?, ?) ON CONFLICT(serial) "
            "DO UPDATE SET key = excluded.key, info = COALESCE(excluded.info, info), "
            "seen_utc = excluded.seen_utc",
            (serial, bytes(key), json.dumps(info) if info else None, time.time()))

    def key_for(self, serial: str) -> bytes | None:
        """The device key the store holds for a board, or None."""
        row = next(iter(self._read("SELECT key FROM devices WHERE serial = ?", (serial,))), None)
        return bytes(row["key"]) if row and row["key"] is not None else None

    # ---- commissioning (traction provision, calibrate, selftest) ----
    def add_commissioning(self, serial: str, step: str, passed: bool, report: dict) -> int:
        """Keep a commissioning step's report (provision, calibrate, selftest) for a board; its row id."""
        sql = "INSERT INTO commissioning (serial, step, passed, report, utc) VALUES (?, ?, ?, ?, ?)"
        row = self._write(sql, (serial, step, int(passed), json.dumps(report), time.time())).lastrowid
        assert row is not None  # an INSERT always sets it
        return row

    def commissioning(self, serial: str) -> list[dict]:
        """The board's provisioning, calibration and self-test reports, oldest first."""
        rows = self._read("SELECT * FROM commissioning WHERE serial = ? ORDER BY id", (serial,))
        return [dict(r, passed=bool(r["passed"]), report=json.loads(r["report"])) for r in rows]

    # ---- sessions ----
    def new_session(self, session_id: int, serial: str, treatment: dict, source: str = "",
                    unit: str = "N") -> int:
        """File a new session; its row id (StoredSession.id)."""
        row = self._write(
            "INSERT INTO sessions (session_id, serial, started_utc, source, treatment, unit) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, serial, time.time(), source, json.dumps(treatment), unit)).lastrowid
        assert row is not None  # an INSERT's cursor always has it
        return row

    def end_session(self, session: int, outcome: str, record: int | None = None):
        """Record how a session ended, and its record's row when there is one."""
        self._write("UPDATE sessions SET ended_utc = ?, outcome = ?, record = COALESCE(?, record) "
                    "WHERE id = ?", (time.time(), outcome, record, session))

    def attach_unverified(self, session: int, record: int):
        """File an unverified record under a session that has none yet; its outcome, if it has none, is
        RECORD_UNVERIFIED (a verified record replaces both, through end_session)."""
        self._write("UPDATE sessions SET record = COALESCE(record, ?), "
                    "outcome = COALESCE(outcome, 'RECORD_UNVERIFIED') WHERE id = ?", (record, session))

    def session_for(self, serial: str, session_id: int) -> int | None:
        """The row of the newest session of this board with this session number, or None."""
        row = next(iter(self._read("SELECT id FROM sessions WHERE serial = ? AND session_id = ? "
                                   "ORDER BY id DESC", (serial, session_id))), None)
        return row["id"] if row else None

    def session(self, session: int) -> dict | None:
        """A session's raw row, or None (get_session gives a StoredSession)."""
        row = next(iter(self._read("SELECT * FROM sessions WHERE id = ?", (session,))), None)
        return dict(row) if row else None

    def sessions(self) -> list[dict]:
        """Every session, newest first, with its record's verification state."""
        rows = self._read(
            "SELECT s.*, r.record_id AS record_id, r.verified AS verified, r.acked AS acked, "
            "(SELECT COUNT(*) FROM telemetry t WHERE t.session = s.id) AS samples, "
            "(SELECT COUNT(*) FROM events e WHERE e.session = s.id) AS events "
            "FROM sessions s LEFT JOIN records r ON r.id = s.record ORDER BY s.id DESC")
        return [dict(r) for r in rows]

    # ---- typed readers ----
    def list_sessions(self) -> list[StoredSession]:
        """Every session, newest first."""
        return [self._stored_session(r) for r in self.sessions()]

    def get_session(self, session: int) -> StoredSession | None:
        """The session numbered session in the store (StoredSession.id), or None."""
        return next((s for s in self.list_sessions() if s.id == session), None)

    def samples(self, session: int) -> list[StoredSample]:
        """A session's telemetry, oldest first."""
        return [StoredSample(r["sample"], r["t_ms"] / 1000, STATE_NAME.get(r["state"], str(r["state"])),
                             r["phase"], SEGMENT_NAME.get(r["segment"], str(r["segment"])),
                             r["force_dn"] / 10, r["target_dn"] / 10) for r in self.telemetry(session)]

    def session_events(self, session: int) -> "list[Event]":
        """A session's events as the board sent them, oldest first (Event.describe reads them out)."""
        from traction.session import Event

        return [Event.from_fields(r) for r in self.events(session)]

    def get_record(self, row: int) -> StoredRecord | None:
        """A record as received (StoredSession.record_row), verified or not; None if there is none."""
        r = self.record(row)
        if r is None:
            return None
        return StoredRecord(r["id"], r["serial"], r["record_id"], r["session_id"], bool(r["verified"]),
                            r["error"], datetime.fromtimestamp(r["received_utc"], UTC), bool(r["acked"]),
                            bytes(r["data"]))

    def load_record(self, row: int, key: bytes | None = None) -> "Record":
        """The record verified with key (default: the key the store holds for its board), ready for
        traction.summary.summarize or traction.billing.bill. RecordError when it cannot be verified."""
        from traction.record import RecordError, verify

        stored = self.get_record(row)
        if stored is None:
            raise RecordError(f"no record {row} in the store {self.path}")
        key = key or self.key_for(stored.serial)
        if key is None:
            raise RecordError(f"record {row}: no key for device {stored.serial} in the store {self.path}; "
                              "give the device key")
        return verify(stored.data, key)

    @staticmethod
    def _stored_session(r: dict) -> StoredSession:
        started = _utc(r["started_utc"])
        assert started is not None  # every session row has its start
        return StoredSession(r["id"], r["session_id"], r["serial"] or "", started, _utc(r["ended_utc"]),
                             r["outcome"], r["source"] or "", r["unit"] or "N",
                             json.loads(r["treatment"]) if r["treatment"] else {}, r["record"],
                             r["record_id"], bool(r["verified"]), r["samples"], r["events"])

    # ---- telemetry and events: queued, written by the flush thread ----
    def add_telemetry(self, session: int, rows):
        """Samples as (sample, t_ms, state, phase, segment, force_dn, target_dn); t_ms is device time."""
        self._queue("INSERT INTO telemetry VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(session, *row) for row in rows])

    def add_event(self, session: int, fields: dict):
        """Queue one EVENT message's fields for the writer thread."""
        self._queue("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(session, fields["event"], fields["ms"], fields["kind"], fields["code"], fields["value"],
                      time.time())])

    def _queue(self, sql, rows):
        with self._pending_lock:
            self._pending.append((sql, rows))

    def telemetry(self, session: int) -> list[dict]:
        """A session's raw telemetry rows (samples() gives StoredSamples)."""
        rows = self._read("SELECT * FROM telemetry WHERE session = ? ORDER BY sample", (session,))
        return [dict(r) for r in rows]

    def events(self, session: int) -> list[dict]:
        """A session's raw event rows (session_events() gives Events)."""
        rows = self._read("SELECT * FROM events WHERE session = ? ORDER BY rowid", (session,))
        return [dict(r) for r in rows]

    # ---- records ----
    def save_record(self, serial: str, record_id: int, data: bytes, verified: bool, error: str | None = None,
                    session_id: int | None = None) -> int:
        """Store a record's raw bytes (once: the same bytes again return the same row id)."""
        digest = hashlib.sha256(data).hexdigest()
        def run():
            self._db.execute(
                "INSERT INTO records (serial, record_id, session_id, data, sha256, verified, error, "
                "received_utc) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(sha256) DO UPDATE SET "
                "verified = MAX(verified, excluded.verified), "
                "error = CASE WHEN excluded.verified THEN NULL ELSE error END",
                (serial, record_id, session_id, bytes(data), digest, int(verified), error, time.time()))
            row = self._db.execute("SELECT id FROM records WHERE sha256 = ?", (digest,)).fetchone()
            self._db.commit()
            return row["id"]
        return self._retry(run)

    def mark_acked(self, row: int):
        """Note that the board was told it may delete the record."""
        self._write("UPDATE records SET acked = 1 WHERE id = ?", (row,))

    def record(self, row: int) -> dict | None:
        """A record's raw row, or None (get_record gives a StoredRecord)."""
        found = next(iter(self._read("SELECT * FROM records WHERE id = ?", (row,))), None)
        return dict(found) if found else None

    def records(self) -> list[dict]:
        """Every record's raw row without its data, oldest first."""
        rows = self._read("SELECT id, serial, record_id, session_id, verified, error, acked, "
                          "received_utc FROM records ORDER BY id")
        return [dict(r) for r in rows]

    # ---- lifetime ----
    def flush(self):
        """Write what is queued, in one transaction (retried while the store is locked)."""
        with self._flush_lock:  # one batch at a time: two flushes must not write the same rows
            with self._pending_lock:
                batch = list(self._pending)
            if not batch:
                return

            def run():
                for sql, rows in batch:
                    self._db.executemany(sql, rows)
                self._db.commit()
            self._retry(run)
            with self._pending_lock:
                del self._pending[:len(batch)]

    def _flush_loop(self):
        while not self._closed.wait(FLUSH_S):
            try:
                self.flush()
            except StoreError as e:  # locked for long: the rows stay queued, the next round tries again
                log.warning("%s", e)

    def close(self):
        """Write what is queued and close the database."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.flush()
        with self._lock:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
