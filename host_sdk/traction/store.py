"""The host's local store (SQLite): sessions, telemetry, events, records and device keys.

Telemetry and events are queued as they arrive (the link's reader thread never waits for SQLite) and a
writer thread commits them every FLUSH_S, so a host crash loses at most that much; sessions, records and
keys are committed at once. Another program may hold the store's write lock for a while (a second
`traction run`, a sqlite3 shell): every write is a short transaction, retried until the lock is free
(up to LOCKED_MAX_S), and queued rows wait in memory meanwhile, so nothing is lost and nothing stalls.
"""

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from traction.errors import TractionError

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
    pass


def _locked(e: sqlite3.OperationalError) -> bool:
    text = str(e)
    return "locked" in text or "busy" in text


def default_path() -> Path:
    env = os.environ.get("TRACTION_STORE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "traction" / "traction.db"


class Store:
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
        self._write(
            "INSERT INTO devices (serial, key, info, seen_utc) VALUES (?, ?, ?, ?) ON CONFLICT(serial) "
            "DO UPDATE SET key = excluded.key, info = COALESCE(excluded.info, info), "
            "seen_utc = excluded.seen_utc",
            (serial, bytes(key), json.dumps(info) if info else None, time.time()))

    def key_for(self, serial: str) -> bytes | None:
        row = next(iter(self._read("SELECT key FROM devices WHERE serial = ?", (serial,))), None)
        return bytes(row["key"]) if row and row["key"] is not None else None

    # ---- commissioning (traction provision, calibrate, selftest) ----
    def add_commissioning(self, serial: str, step: str, passed: bool, report: dict) -> int:
        sql = "INSERT INTO commissioning (serial, step, passed, report, utc) VALUES (?, ?, ?, ?, ?)"
        return self._write(sql, (serial, step, int(passed), json.dumps(report), time.time())).lastrowid

    def commissioning(self, serial: str) -> list[dict]:
        """The board's provisioning, calibration and self-test reports, oldest first."""
        rows = self._read("SELECT * FROM commissioning WHERE serial = ? ORDER BY id", (serial,))
        return [dict(r, passed=bool(r["passed"]), report=json.loads(r["report"])) for r in rows]

    # ---- sessions ----
    def new_session(self, session_id: int, serial: str, treatment: dict, source: str = "",
                    unit: str = "N") -> int:
        return self._write(
            "INSERT INTO sessions (session_id, serial, started_utc, source, treatment, unit) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (session_id, serial, time.time(), source, json.dumps(treatment), unit)).lastrowid

    def end_session(self, session: int, outcome: str, record: int | None = None):
        self._write("UPDATE sessions SET ended_utc = ?, outcome = ?, record = COALESCE(?, record) "
                    "WHERE id = ?", (time.time(), outcome, record, session))

    def attach_unverified(self, session: int, record: int):
        """File an unverified record under a session that has none yet; its outcome, if it has none, is
        RECORD_UNVERIFIED (a verified record replaces both, through end_session)."""
        self._write("UPDATE sessions SET record = COALESCE(record, ?), "
                    "outcome = COALESCE(outcome, 'RECORD_UNVERIFIED') WHERE id = ?", (record, session))

    def session_for(self, serial: str, session_id: int) -> int | None:
        row = next(iter(self._read("SELECT id FROM sessions WHERE serial = ? AND session_id = ? "
                                   "ORDER BY id DESC", (serial, session_id))), None)
        return row["id"] if row else None

    def session(self, session: int) -> dict | None:
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

    # ---- telemetry and events: queued, written by the flush thread ----
    def add_telemetry(self, session: int, rows):
        """Samples as (sample, t_ms, state, phase, segment, force_dn, target_dn); t_ms is device time."""
        self._queue("INSERT INTO telemetry VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(session, *row) for row in rows])

    def add_event(self, session: int, fields: dict):
        self._queue("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(session, fields["event"], fields["ms"], fields["kind"], fields["code"], fields["value"],
                      time.time())])

    def _queue(self, sql, rows):
        with self._pending_lock:
            self._pending.append((sql, rows))

    def telemetry(self, session: int) -> list[dict]:
        rows = self._read("SELECT * FROM telemetry WHERE session = ? ORDER BY sample", (session,))
        return [dict(r) for r in rows]

    def events(self, session: int) -> list[dict]:
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
        self._write("UPDATE records SET acked = 1 WHERE id = ?", (row,))

    def record(self, row: int) -> dict | None:
        found = next(iter(self._read("SELECT * FROM records WHERE id = ?", (row,))), None)
        return dict(found) if found else None

    def records(self) -> list[dict]:
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
