"""The local SQLite store: keys, sessions, records, and telemetry that survives a host crash."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from traction.store import Store, StoreError, default_path


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACTION_STORE", str(tmp_path / "x.db"))
    assert default_path() == tmp_path / "x.db"
    monkeypatch.delenv("TRACTION_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_path() == tmp_path / "traction" / "traction.db"


def test_keys_by_serial(tmp_path):
    with Store(tmp_path / "s.db") as store:
        assert store.key_for("A1") is None
        store.set_key("A1", b"k" * 32)
        store.set_key("A1", b"j" * 32)
        assert store.key_for("A1") == b"j" * 32


def test_a_record_is_stored_once_and_keeps_its_best_verification(tmp_path):
    with Store(tmp_path / "s.db") as store:
        row = store.save_record("A1", 3, b"data\n", verified=False, error="no key")
        assert store.save_record("A1", 3, b"data\n", verified=True) == row
        assert store.save_record("A1", 3, b"data\n", verified=False, error="again") == row
        saved = store.record(row)
        assert saved["verified"] == 1 and saved["error"] is None and saved["data"] == b"data\n"
        store.mark_acked(row)
        assert store.records()[0]["acked"] == 1


def test_sessions_list_joins_their_record_and_counts(tmp_path):
    with Store(tmp_path / "s.db") as store:
        s = store.new_session(77, "A1", {"region": "lumbar"}, source="t.toml", unit="lbf")
        store.add_telemetry(s, [(10, 100.0, 3, 0, 2, 100, 110), (11, 110.0, 3, 0, 2, 105, 110)])
        store.add_event(s, {"event": 4, "ms": 1000, "kind": 1, "code": 3, "value": 0})
        rec = store.save_record("A1", 1, b"r\n", verified=True, session_id=77)
        store.end_session(s, "COMPLETED", rec)
        (row,) = store.sessions()
        assert (row["session_id"], row["outcome"], row["verified"], row["samples"], row["events"]) == (
            77, "COMPLETED", 1, 2, 1)
        assert [t["sample"] for t in store.telemetry(s)] == [10, 11]
        assert store.session_for("A1", 77) == s


def test_an_unwritable_store_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(blocker / "sub" / "s.db")


def test_telemetry_survives_a_host_crash(tmp_path):
    """A process killed with SIGKILL leaves what it received more than FLUSH_S ago in the store."""
    path = tmp_path / "crash.db"
    script = textwrap.dedent(f"""
        import sys, time
        from traction.store import Store
        store = Store({str(path)!r})
        s = store.new_session(1, "A1", {{}})
        for i in range(20):
            store.add_telemetry(s, [(i, i * 10.0, 3, 0, 2, i, i)])
            store.add_event(s, {{"event": i, "ms": i, "kind": 2, "code": 0, "value": 0}})
        print("written", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        # Nothing calls flush() or close(): the writer thread commits on its own (every FLUSH_S). Wait
        # until another connection sees it, however loaded the machine, then kill the process.
        deadline = time.monotonic() + 60
        while _committed_samples(path) < 20:
            assert time.monotonic() < deadline, "the writer thread never committed"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with Store(path) as store:
        (row,) = store.sessions()
        assert row["samples"] == 20 and row["events"] == 20


def _committed_samples(path):
    import sqlite3

    db = sqlite3.connect(str(path), timeout=0.1)
    try:
        return db.execute("SELECT COUNT(*) FROM telemetry").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet, or locked for a moment
    finally:
        db.close()
