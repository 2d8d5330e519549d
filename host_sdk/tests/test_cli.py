"""The `traction` command: one error line for bad input, and (e2e) real runs on a virtual board."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from traction.cli import main
from traction.store import Store
from traction.virtual_board import VirtualBoard

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """Keep the store and the virtual board's files out of the real home."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("TRACTION_STORE", raising=False)


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, words", [
    (["info", "--port", "/dev/ttyNOPE3"], "port /dev/ttyNOPE3 does not exist"),
    (["info", "--port", "socket://127.0.0.1:1"], "cannot open port socket://127.0.0.1:1"),
    (["run", "nope.toml", "--port", "sim"], "nope.toml: no such file"),
    (["sessions", "--store", "/proc/version/x.db"], "no store at /proc/version/x.db"),
])
def test_bad_input_is_one_error_line_and_a_non_zero_exit(argv, words, capsys):
    code, out, err = run(argv, capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("traction: error: ") and words in err
    assert "Traceback" not in err + out


def test_a_treatment_over_the_region_maximum_is_refused_naming_field_and_fix(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text((EXAMPLES / "cervical_intermittent.toml").read_text().replace('"11 lbf"', '"60 lbf"'))
    code, _, err = run(["run", str(bad), "--port", "/dev/ttyNOPE3"], capsys)
    assert code == 1
    assert err == (f"traction: error: {bad}: phase 1: force: 60.0 lbf is above the cervical maximum of "
                   "50.0 lbf; lower it to at most 50.0 lbf\n")


def test_usage_errors_exit_2_without_a_traceback(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run"])
    assert e.value.code == 2
    assert "required" in capsys.readouterr().err


@pytest.mark.parametrize("hz", ["nan", "inf", "0", "-1", "fast"])
def test_a_telemetry_rate_that_is_not_a_positive_number_is_a_usage_error(hz, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", str(EXAMPLES / "cervical_intermittent.toml"), "--port", "sim", "--telemetry-hz", hz])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --telemetry-hz: '{hz}' is not a number" in err and "Traceback" not in err


def test_sessions_on_an_empty_store(tmp_path, capsys):
    Store(tmp_path / "s.db").close()
    code, out, _ = run(["sessions", "--store", str(tmp_path / "s.db")], capsys)
    assert code == 0 and "no sessions in" in out


def test_sessions_on_a_store_that_does_not_exist_creates_nothing(tmp_path, capsys):
    typo = tmp_path / "typo" / "dir" / "x.db"
    code, out, err = run(["sessions", "--store", str(typo)], capsys)
    assert code == 1 and out == ""
    assert err.startswith(f"traction: error: no store at {typo}: check the path") and err.count("\n") == 1
    assert not (tmp_path / "typo").exists()
    code, _, err = run(["sessions"], capsys)  # the default store, before anything was recorded
    assert code == 1 and "no store at" in err and not (tmp_path / "data").exists()


def test_sessions_on_a_file_that_is_not_a_store(tmp_path, capsys):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database, just some text that is long enough to have a header\n" * 20)
    code, _, err = run(["sessions", "--store", str(junk)], capsys)
    assert code == 1 and err.startswith(f"traction: error: cannot open the store {junk}")


def test_sessions_into_a_pipe_closed_early_ends_quietly(tmp_path):
    db = tmp_path / "s.db"
    with Store(db) as store:
        for n in range(3000):
            store.new_session(n, "SIM-0001", {}, source=f"examples/{n}.toml")
    proc = subprocess.Popen([sys.executable, "-m", "traction.cli", "sessions", "--store", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"sessions in")
    proc.stdout.close()  # as `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 141 and err == ""


def test_output_into_a_file_is_not_wrapped_at_80_columns(tmp_path, capsys):
    from fakeboard import FakeBoard

    board = FakeBoard()
    db = tmp_path / ("a-folder-with-a-long-name-" * 4) / "store.db"
    code, out, err = run(["info", "--port", board.url, "--store", str(db)], capsys)
    board.close()
    assert code == 0, err
    assert f"store: {db}\n" in out and "unknown: records cannot be verified (give --key-file)" in out


@pytest.mark.parametrize("security, lock", [
    (3, "lock provisioned, settings sealed, REPL locked"),
    (4, "lock NOT provisioned, settings TAMPERED, REPL open (service jumper or development image)"),
])
def test_info_names_the_calibration_in_force_and_the_lock_state(tmp_path, capsys, security, lock):
    from fakeboard import FakeBoard

    board = FakeBoard()
    board.security = security
    code, out, err = run(["info", "--port", board.url, "--store", str(tmp_path / "s.db")], capsys)
    board.close()
    assert code == 0, err
    rows = [" ".join(line.split()) for line in out.splitlines()]
    assert "calibrated 2026-01-01 (id 5a17c0de, 3 weights, nonlinearity 0.01 % of full scale)" in rows
    assert lock in rows


def _short_treatment(tmp_path, minutes):
    path = tmp_path / "short.toml"
    path.write_text(f'region = "lumbar"\nbody_weight = "80 kg"\nunit = "lbf"\n[[phase]]\nmode = "static"\n'
                    f'force = 50\nramp_up = "5 s"\nduration = "{minutes} min"\n')
    return path


@pytest.mark.e2e
def test_e2e_run_on_a_virtual_board_stores_a_verified_record(tmp_path, capsys):
    db = tmp_path / "s.db"
    treatment = _short_treatment(tmp_path, 1)
    code, out, err = run(["run", str(treatment), "--port", "sim", "--store", str(db)], capsys)
    assert code == 0, err
    assert "Ended: COMPLETED" in out
    with Store(db) as store:
        (row,) = store.sessions()
    assert row["outcome"] == "COMPLETED" and row["verified"] == 1 and row["samples"] > 0
    code, out, _ = run(["sessions", "--store", str(db)], capsys)
    assert code == 0 and "COMPLETED" in out and "verified" in out


@pytest.mark.e2e
def test_e2e_a_plan_with_more_cycles_than_the_board_can_record_is_refused_before_any_pull(tmp_path, capsys):
    db = tmp_path / "s.db"
    plan = tmp_path / "long.toml"  # an hour of 5 s cycles: 721 hold lines and 121 CHECKPOINTs, 779 fit
    plan.write_text('region = "lumbar"\nbody_weight = "80 kg"\nunit = "lbf"\n[[phase]]\n'
                    'mode = "intermittent"\nforce = 50\nrest_force = 20\nhold = "2 s"\nrest = "1 s"\n'
                    'ramp_up = "1 s"\nramp_down = "1 s"\nduration = "60 min"\n')
    code, out, err = run(["run", str(plan), "--port", "sim", "--store", str(db)], capsys)
    assert code == 1, out
    assert "PLAN_TOO_LONG" in err and "fewer or longer cycles, or a shorter plan" in err, err
    assert "Traceback" not in err + out
    with Store(db) as store:
        (row,) = store.sessions()
    assert row["outcome"] == "NOT_STARTED"


def test_a_bad_key_file_is_one_usage_line(tmp_path, capsys):
    bad = tmp_path / "key.hex"
    bad.write_text("abc\n")
    with pytest.raises(SystemExit) as e:
        main(["info", "--port", "/dev/ttyNOPE3", "--key-file", str(bad)])
    assert e.value.code == 2
    assert f"{bad}: the device key must be 64 hex digits" in capsys.readouterr().err


@pytest.mark.e2e
def test_e2e_a_key_file_is_remembered_and_verifies_records(tmp_path, capsys):
    with VirtualBoard(store_dir=tmp_path / "board") as vb:
        port = ["--port", vb.port, "--store", str(tmp_path / "s.db")]
        code, out, _ = run(["info", *port], capsys)
        assert code == 0 and "unknown: records cannot be verified" in out
        key_file = tmp_path / "key.hex"
        key_file.write_text(vb.key.hex() + "\n")
        code, out, _ = run(["info", *port, "--key-file", str(key_file)], capsys)
        assert code == 0 and "known" in out and "unknown" not in out
        code, out, err = run(["run", str(_short_treatment(tmp_path, 1)), *port], capsys)
        assert code == 0, err
        db = tmp_path / "s.db"
    with Store(db) as store:
        (row,) = store.sessions()
    assert row["verified"] == 1


@pytest.mark.e2e
def test_e2e_ctrl_c_stops_gently_and_still_saves_the_record(tmp_path):
    db = tmp_path / "s.db"
    argv = ["run", str(_short_treatment(tmp_path, 10)), "--port", "sim", "--store", str(db)]
    # A shell that starts the tests in the background ignores SIGINT for them, and children inherit
    # that: give this one the default, as a terminal's Ctrl-C would find it.
    proc = subprocess.Popen([sys.executable, "-m", "traction.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in proc.stderr:  # status goes to stderr
            if line.startswith("Running"):
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopping gently" in err and "Ended: STOPPED" in out
    with Store(db) as store:
        (row,) = store.sessions()
    assert row["outcome"] == "STOPPED" and row["verified"] == 1


@pytest.mark.e2e
def test_e2e_demo_writes_the_summary_the_plot_and_the_billing_files(tmp_path, capsys):
    import json

    out = tmp_path / "demo-out"
    code, stdout, err = run(["demo", "--out", str(out)], capsys)  # the default time scale, x100
    assert code == 0, err
    summary = json.loads((out / "session.json").read_text())
    assert summary["end"]["reason"] == "COMPLETED" and summary["treatment_s"] == 900.0
    assert summary["phases"][0]["mode"] == "intermittent" and summary["phases"][0]["delivered"]["cycles"] == 9
    assert (out / "force.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("session.rec", "claim.fhir.json", "note.md", "summary.json"):
        assert (out / name).stat().st_size > 0
        assert name in stdout


@pytest.mark.e2e
def test_e2e_a_demo_whose_treatment_does_not_complete_fails_with_nothing_to_bill(tmp_path, capsys,
                                                                               monkeypatch):
    import traction.demo

    real_follow = traction.demo.follow

    def emergency_stop_first(session, console, unit, **kw):
        session.estop()  # the treatment ends in FAULT (ESTOP): not COMPLETED or STOPPED
        return real_follow(session, console, unit, **kw)

    monkeypatch.setattr(traction.demo, "follow", emergency_stop_first)
    out = tmp_path / "demo-out"
    code, stdout, err = run(["demo", "--out", str(out)], capsys)
    assert code == 3
    assert err.startswith("traction: error: demo failed: the treatment ended FAULT (ESTOP), not COMPLETED or "
                          "STOPPED")
    assert "billing-ready" not in stdout and "Done" not in stdout
    assert (out / "session.rec").stat().st_size > 0  # what happened is kept
    assert not (out / "summary.json").exists() and not (out / "claim.837").exists()


def test_force_plot_from_stored_rows(tmp_path):
    from traction.plot import plot_session

    telemetry = [{"t_ms": 1000.0 + 100 * i, "state": 3 if i < 50 else 5, "phase": i // 25, "segment": 2,
                  "force_dn": min(i, 40) * 25, "target_dn": 1000} for i in range(60)]
    events = [{"event": 1, "ms": 0, "kind": 1, "code": 3, "value": 0},  # RUNNING: times count from here
              {"event": 2, "ms": 2000, "kind": 5, "code": 0, "value": 1000},
              {"event": 3, "ms": 3000, "kind": 6, "code": 0, "value": 0}]
    path = plot_session(telemetry, events, tmp_path / "f.png", unit="lbf", title="t")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


@pytest.mark.e2e
def test_e2e_a_treatment_ended_by_a_board_reset_exits_3(tmp_path):
    """The board restarts mid-treatment: the record ends RESET (fault RESET), which is not a success."""
    with VirtualBoard(store_dir=tmp_path / "board", time_scale=60) as vb:
        key_file = tmp_path / "key.hex"
        key_file.write_text(vb.key.hex() + "\n")
        argv = ["run", str(_short_treatment(tmp_path, 10)), "--port", vb.port, "--store",
                str(tmp_path / "s.db"), "--key-file", str(key_file)]
        proc = subprocess.Popen([sys.executable, "-m", "traction.cli", *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        try:
            for line in proc.stderr:  # status goes to stderr
                if line.startswith("Running"):
                    break
            time.sleep(0.5)
            vb.reset()
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    assert "Ended: RESET (RESET); treatment at least" in out, out + err
    assert proc.returncode == 3, err


def test_a_virtual_board_whose_interpreter_dies_says_so_not_check_the_cable(monkeypatch, capsys):
    monkeypatch.setenv("MICROPYTHON", "/bin/false")
    code, out, err = run(["info", "--port", "sim"], capsys)
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith("traction: error: virtual board stopped: MicroPython failed")
    assert "cable" not in err and "HELLO" not in err


def test_a_multi_line_error_keeps_its_first_and_last_lines(capsys, monkeypatch):
    from traction import cli
    from traction.errors import TractionError

    def boom(args, console):
        raise TractionError("board stopped (exit 1). Its last words:\nTraceback (most recent call last):\n"
                            '  File "main.py", line 3\nImportError: no module named x\n\n')

    monkeypatch.setattr(cli, "cmd_sessions", boom)
    code, _, err = run(["sessions"], capsys)
    assert code == 1
    assert err == "traction: error: board stopped (exit 1). Its last words: ImportError: no module named x\n"
    assert cli._one_line(TractionError("first\nmiddle\nlast")) == "first ... last"


def test_sessions_lists_an_unverified_record_and_then_its_verification(tmp_path, capsys):
    from fakeboard import KEY, SERIAL, FakeBoard, signed_record

    db = tmp_path / "s.db"
    with Store(db) as store:
        store.new_session(42, SERIAL, {}, source="examples/x.toml")
    board = FakeBoard()
    board.records = {7: signed_record(record_id=7, session_id=42)}
    code, out, err = run(["info", "--port", board.url, "--store", str(db)], capsys)
    assert code == 0 and "record 7 picked up from the board: kept unverified" in out, err
    code, out, _ = run(["sessions", "--store", str(db)], capsys)
    (line,) = [line for line in out.splitlines() if line.endswith("x.toml")]
    assert "RECORD_UNVERIFIED" in line and "7 UNVERIFIED" in line
    key_file = tmp_path / "key.hex"
    key_file.write_text(KEY.hex())
    board.close()
    board = FakeBoard()  # the same board, connected again (the fake takes one connection)
    board.records = {7: signed_record(record_id=7, session_id=42)}
    code, out, err = run(["info", "--port", board.url, "--store", str(db), "--key-file", str(key_file)],
                         capsys)
    assert code == 0 and "record 7 picked up from the board: verified, stored, acknowledged" in out, err
    board.close()
    code, out, _ = run(["sessions", "--store", str(db)], capsys)
    (line,) = [line for line in out.splitlines() if line.endswith("x.toml")]
    assert "COMPLETED" in line and "7 verified" in line and "UNVERIFIED" not in line
