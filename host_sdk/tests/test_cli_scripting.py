"""The `traction` command for scripts (issue 15): --version, --json, ports, completion, -v, status on
stderr, and plain progress lines when stdout is not a terminal."""

import json
from importlib.metadata import version

import pytest
from test_cli import private_home, run  # noqa: F401  (the home kept private: an autouse fixture)
from traction import cli
from traction.cli import main
from traction.store import Store


def test_version_is_the_installed_packages(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"traction {version('traction-unit')}\n"


def test_usage_errors_exit_2_for_every_command(capsys):
    for argv in (["run"], ["bill"], ["sessions", "--nope"], ["completion", "fish"], ["nope"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == cli.EXIT_USAGE, argv


def test_sessions_json_is_one_array_of_the_stored_sessions(tmp_path, capsys):
    db = tmp_path / "s.db"
    with Store(db) as store:
        first = store.new_session(11, "SIM-0001", {}, source="a.toml")
        second = store.new_session(12, "SIM-0002", {}, source="b.toml")
        store.end_session(first, "COMPLETED")
    code, out, err = run(["sessions", "--json", "--store", str(db)], capsys)
    rows = json.loads(out)
    assert code == 0 and err == ""
    assert [(r["id"], r["session_id"], r["serial"], r["outcome"]) for r in rows] == [
        (second, 12, "SIM-0002", None), (first, 11, "SIM-0001", "COMPLETED")]


def test_ports_json_lists_what_pyserial_finds(capsys, monkeypatch):
    class Port:
        device, description, hwid, serial_number, manufacturer = "/dev/ttyACM7", "Pico", "USB VID:PID=2E8A", \
            "E66", "Raspberry Pi"

    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: [Port()])
    code, out, _ = run(["ports", "--json"], capsys)
    assert code == 0 and json.loads(out) == [{"device": "/dev/ttyACM7", "description": "Pico",
                                              "hwid": "USB VID:PID=2E8A", "serial_number": "E66",
                                              "manufacturer": "Raspberry Pi"}]
    code, out, _ = run(["ports"], capsys)
    assert out == "/dev/ttyACM7\tPico\tUSB VID:PID=2E8A\n"


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_knows_every_command(shell, capsys):
    code, out, _ = run(["completion", shell], capsys)
    assert code == 0
    for command in ("info", "run", "sessions", "ports", "demo", "bill", "sim", "inject"):
        assert command in out, command


def test_verbose_shows_the_sdks_log_on_stderr(tmp_path, capsys):
    import logging

    try:
        code, _, err = run(["-v", "sessions", "--store", str(tmp_path / "nope.db")], capsys)
        logging.getLogger("traction.device").warning("a warning from the SDK")
        assert "a warning from the SDK" in capsys.readouterr().err
    finally:
        log = logging.getLogger("traction")
        log.handlers.clear()
        log.setLevel(logging.NOTSET)


def _short_treatment(tmp_path):
    path = tmp_path / "short.toml"
    path.write_text('region = "lumbar"\nbody_weight = "80 kg"\nunit = "lbf"\n[[phase]]\nmode = "static"\n'
                    'force = 50\nramp_up = "5 s"\nduration = "1 min"\n')
    return path


@pytest.mark.e2e
def test_e2e_run_json_is_one_object_a_line_started_events_progress_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("traction.progress.PLAIN_EVERY_S", 0.5)
    code, out, err = run(["run", str(_short_treatment(tmp_path)), "--port", "sim", "--store",
                          str(tmp_path / "s.db"), "--json"], capsys)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0, err
    assert lines[0]["type"] == "started" and lines[-1]["type"] == "end"
    assert lines[-1]["reason"] == "COMPLETED" and lines[-1]["fault"] is None
    kinds = {line["type"] for line in lines}
    assert kinds == {"started", "event", "progress", "end"}
    assert any(e["type"] == "event" and e["kind"] == "RECORD" for e in lines)
    assert "Running" in err  # status on stderr, never in the JSON


@pytest.mark.e2e
def test_e2e_run_into_a_pipe_prints_plain_progress_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("traction.progress.PLAIN_EVERY_S", 0.5)
    code, out, err = run(["run", str(_short_treatment(tmp_path)), "--port", "sim", "--store",
                          str(tmp_path / "s.db")], capsys)
    progress = [line for line in out.splitlines() if line.startswith("RUNNING phase 1/1")]
    assert code == 0, err
    assert len(progress) >= 2 and "force" in progress[0] and "left" in progress[0]
    assert "Ended: COMPLETED" in out and "Running" in err and "Running" not in out


@pytest.mark.e2e
def test_e2e_info_json_is_one_object_with_the_boards_info_and_status(tmp_path, capsys):
    code, out, err = run(["info", "--port", "sim", "--store", str(tmp_path / "s.db"), "--json"], capsys)
    info = json.loads(out)
    assert code == 0, err
    assert info["info"]["serial"] == "SIM-0001" and info["info"]["sim"] is True
    assert info["info"]["hard_max_n"] > 0 and isinstance(info["info"]["modes"], list)
    assert info["status"]["state"] == "IDLE" and info["key_known"] is True
    assert info["store"] == str(tmp_path / "s.db")
