"""The virtual board launcher: a pty that behaves like a board's USB serial port, for mpremote and the SDK."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial
from traction.device import Device
from traction.store import Store
from traction.virtual_board import FAULTS, VirtualBoard, VirtualBoardError

MPREMOTE = [sys.executable, "-m", "mpremote"]
TRACTION = [sys.executable, "-m", "traction.cli"]


def mpremote(port, *args):
    done = subprocess.run([*MPREMOTE, "connect", port, *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def talk(port, data, wait_for, timeout=5.0):
    """Write bytes to the port and read until wait_for has been seen (or the timeout)."""
    with serial.Serial(port, timeout=0.05) as s:
        s.write(data)
        got = b""
        end = time.monotonic() + timeout
        while wait_for not in got and time.monotonic() < end:
            got += s.read(256)
    return got


def wait_until(check, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    return check()


@pytest.fixture
def board(tmp_path):
    with VirtualBoard(store_dir=tmp_path / "board") as vb:
        yield vb


def hello(port, tmp_path):
    with Device.open(port, store=tmp_path / "host.db", fetch=False) as dev:
        return dev.info


def test_traction_sim_prints_the_port_first_and_mpremote_runs_code_and_lists_files(tmp_path):
    store = tmp_path / "board"
    proc = subprocess.Popen([*TRACTION, "sim", "--store", str(store), "--time-scale", "50",
                             "--host-store", str(tmp_path / "host.db")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().rstrip("\n")
        assert port.startswith("/dev/pts/") and os.path.exists(port)
        assert hello(port, tmp_path).time_scale == 50
        with Store(tmp_path / "host.db") as host:  # registered, so `traction run --port PATH` verifies
            assert host.key_for("SIM-0001") == VirtualBoard(store_dir=store).key
        out = mpremote(port, "resume", "exec", "import sys; print(sys.implementation.name)")
        assert out == "micropython\n"
        listing = mpremote(port, "fs", "ls")
        for name in ("board.json", "settings.json", "records/"):
            assert name in listing
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (store / "board.json").is_file() and (store / "settings.json").is_file()


def test_mpremote_reset_restarts_the_firmware_and_the_protocol_answers_again(board, tmp_path):
    mpremote(board.port, "exec", "print(1)")  # leaves the board at the REPL, as on a real board
    mpremote(board.port, "reset")
    assert hello(board.port, tmp_path).state == "IDLE"


def test_soft_reset_in_the_raw_repl_comes_back_in_the_raw_repl_without_the_firmware(board, tmp_path):
    assert b"raw REPL; CTRL-B to exit\r\n>" in talk(board.port, b"\r\x03\r\x01", b"\r\n>")
    after = talk(board.port, b"\x04", b"CTRL-B to exit\r\n>")
    # What a real board prints: the soft reboot, then the raw REPL again; no banner of a fresh interpreter.
    assert after.endswith(b"MPY: soft reboot\r\nraw REPL; CTRL-B to exit\r\n>")
    assert b"MicroPython" not in after
    assert b"firmware" in talk(board.port, b"print('fir'+'mware')\x04", b"\x04>")
    # Ctrl-B to the friendly REPL, then Ctrl-D there: a soft reset that runs main.py.
    assert b">>> " in talk(board.port, b"\r\x02", b">>> ")
    talk(board.port, b"\x04", b"\n", timeout=0.5)
    assert hello(board.port, tmp_path).state == "IDLE"


def test_the_store_keeps_files_across_board_runs(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("kept\n")
    with VirtualBoard(store_dir=tmp_path / "board") as vb:
        mpremote(vb.port, "fs", "cp", str(note), ":note.txt")
    with VirtualBoard(store_dir=tmp_path / "board") as vb:
        assert mpremote(vb.port, "fs", "cat", "note.txt") == "kept\n"


def test_two_boards_cannot_share_a_store(board):
    with pytest.raises(VirtualBoardError, match="in use by another virtual board"):
        VirtualBoard(store_dir=board.store).start()
    assert board.restarts == 0 and board.failure is None


def test_a_second_board_on_the_default_store_is_told_how_to_run_beside_the_first(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("TRACTION_STORE", str(tmp_path / "host.db"))
    with VirtualBoard() as first:
        assert first.store == tmp_path / "data" / "traction" / "boards" / "SIM-0001"
        with pytest.raises(VirtualBoardError) as e:
            Device.open("sim")
        message = str(e.value)
        assert "\n" not in message and "in use by another virtual board (the default store" in message
        assert "`traction sim --store DIR`" in message and 'sim_options={"store_dir": DIR}' in message
        done = subprocess.run([*TRACTION, "info", "--port", "sim"], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode != 0 and done.stderr.count("\n") == 1
        assert done.stderr.startswith(f"traction: error: the store {first.store} is in use")
        assert "--store DIR" in done.stderr
        # Its own store: both run.
        with Device.open("sim", sim_options={"store_dir": tmp_path / "second"}) as dev:
            assert dev.status().state == "IDLE"
    assert first.failure is None


def test_side_channel_moves_the_physical_world_not_the_link(board, tmp_path):
    with Device.open(board.port, store=tmp_path / "host.db", fetch=False) as dev:
        board.press_stop()
        assert wait_until(lambda: dev.status().stop_switch)
        assert dev.status().fault == "STOP_SWITCH"
        assert wait_until(lambda: board.plant().get("stop_switch"))
        board.release_stop()
        assert wait_until(lambda: not dev.status().stop_switch)
    board.reset()
    assert wait_until(lambda: board.restarts == 1)
    assert hello(board.port, tmp_path).state == "IDLE"
    time.sleep(0.5)
    assert board.restarts == 1  # the replayed side channel does not reset the board again


def test_every_fault_name_is_one_the_board_accepts(board):
    for name in FAULTS:
        if name != "reset":
            board.inject(name)
            board.clear(name)
    board.inject("loadcell_spikes", per_s=3)
    assert wait_until(lambda: "loadcell_spikes" in board.plant().get("faults", []))
    assert not any("sim channel" in line for line in board.stderr_tail())
    with pytest.raises(VirtualBoardError, match="unknown fault 'cable_snapped'"):
        board.inject("cable_snapped")


def test_traction_inject_reaches_a_running_board(board, tmp_path):
    def inject(*args):
        return subprocess.run([*TRACTION, "inject", "--store", str(board.store), *args],
                              capture_output=True, text=True, timeout=30)

    assert inject("service_jumper", "present=true").returncode == 0
    assert wait_until(lambda: board.plant().get("service_jumper"))
    assert inject("--clear", "service_jumper").returncode == 0
    assert wait_until(lambda: board.plant().get("service_jumper") is False)
    bad = inject("no_such_fault")
    assert bad.returncode != 0 and "invalid choice" in bad.stderr


@pytest.mark.parametrize("args, message", [
    (["loadcell_spikes", "per_s=abc"], "loadcell_spikes per_s must be a number, not 'abc'"),
    (["loadcell_disconnected", "mode=sideways"],
     "loadcell_disconnected mode must be one of rails, zero, not 'sideways'"),
    (["loadcell_spikes", "bogus=1"], "loadcell_spikes has no parameter 'bogus' (it takes per_s, size_n)"),
    (["cable_snap", "bogus=1"], "cable_snap takes no parameters, not 'bogus'"),
    (["stop_switch", "pressed=yes"], "stop_switch pressed must be true or false, not 'yes'"),
    (["--clear", "stop_switch", "pressed=true"], "--clear stop_switch takes no parameters"),
])
def test_traction_inject_refuses_bad_parameters_in_one_line(tmp_path, args, message):
    # Checked against the sim's own table before the store is looked up (no board is running here).
    done = subprocess.run([*TRACTION, "inject", "--store", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"traction: error: {message}\n"


def test_bad_injection_parameters_never_reach_the_board(board):
    bad = (("loadcell_spikes", {"per_s": "abc"}), ("cable_snap", {"bogus": 1}),
           ("loadcell_disconnected", {"mode": "sideways"}), ("motor_ignoring", {"speed": 5000}))
    for name, params in bad:
        with pytest.raises(VirtualBoardError, match=f"^{name} "):
            board.inject(name, **params)
    with pytest.raises(VirtualBoardError, match="unknown fault 'cable_snapped'"):
        board.clear("cable_snapped")
    assert not (board.channel / "inject.jsonl").exists()
    board.inject("loadcell_disconnected", mode="zero")
    assert wait_until(lambda: "loadcell_disconnected" in board.plant().get("faults", []))
    assert not any("sim channel" in line for line in board.stderr_tail())


def test_a_firmware_that_cannot_start_stops_with_one_line_and_keeps_its_last_words(tmp_path):
    vb = VirtualBoard(store_dir=tmp_path / "board", overrides={"control_hz": 0})
    with pytest.raises(VirtualBoardError) as started:
        vb.start()  # it waits for the firmware's loop, so a crash loop is its error
    # One line: the last line of the interpreter's last traceback; the tracebacks themselves on the side.
    assert vb.failure == ("virtual board stopped: MicroPython failed 6 times within 10 s "
                          "(last exit code 1): ZeroDivisionError: divide by zero")
    assert "Traceback" in vb.failure_detail and "hal/sim/board.py" in vb.failure_detail
    assert str(started.value) == vb.failure and started.value.detail == vb.failure_detail
    with pytest.raises(VirtualBoardError, match="MicroPython failed 6 times") as e:
        vb.check()
    assert str(e.value) == vb.failure and e.value.detail == vb.failure_detail


def test_last_exception_is_the_last_tracebacks_last_line():
    from traction.virtual_board import last_exception

    lines = ["Traceback (most recent call last):", '  File "a.py", line 1', "KeyError: 'x'", "",
             "Traceback (most recent call last):", '  File "b.py", line 2, in <module>',
             "ValueError: sim.region neck: no such patient", "MicroPython v1.24 on 2025-01-01", ">>> "]
    assert last_exception(lines) == "ValueError: sim.region neck: no such patient"
    assert last_exception(["just output"]) is None


def test_a_crash_loop_on_the_command_line_is_one_line_unless_debugging(tmp_path):
    def sim(**env):
        return subprocess.run([*TRACTION, "sim", "--store", str(tmp_path / "board"), "--host-store",
                               str(tmp_path / "host.db"), "--set", "control_hz=0"],
                              capture_output=True, text=True, timeout=60, env={**os.environ, **env})

    done = sim(TRACTION_DEBUG="")
    assert done.returncode == 1 and done.stdout == ""  # no pty to connect to: the board never ran its loop
    errors = [line for line in done.stderr.splitlines() if not line.startswith("virtual board SIM-0001 on")]
    assert errors == ["traction: error: virtual board stopped: MicroPython failed 6 times within 10 s "
                      "(last exit code 1): ZeroDivisionError: divide by zero "
                      "(set TRACTION_DEBUG=1 to see the board's last output)"]
    debug = sim(TRACTION_DEBUG="1")
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


@pytest.mark.parametrize("setting, message", [
    ("sim.region=neck", 'board setting sim.region must be one of cervical, lumbar, not "neck"'),
    ("loadcell.noise_n=abc", 'board setting loadcell.noise_n must be a number (like 0.1), not "abc"'),
    ("limits.hard_max_dn=9000.5", "board setting limits.hard_max_dn must be a whole number (like 9000), "
                                  "not 9000.5"),
    ("sim.free_run=1", "board setting sim.free_run must be true or false, not 1"),
    ("loadcell.rails=[1]", "board setting loadcell.rails must be a list of 2 like [-8388608, 8388607], "
                           "not [1]"),
    ("loadcell.zero_counts=1400.5", "board setting loadcell.zero_counts must be a whole number (like 1400), "
                                    "not 1400.5"),
    ("patients.lumbar.k_n_per_m=soft",
     'board setting patients.lumbar.k_n_per_m must be a number (like 5000), not "soft"'),
    ("hal=rp2", 'board setting hal must be one of sim, not "rp2"'),
    ("sim.seed=3", "board setting 'sim.seed' is the launcher's: set it with --seed N (VirtualBoard(seed=N))"),
])
def test_a_set_value_of_the_wrong_kind_or_choice_is_refused_before_boot(tmp_path, setting, message):
    done = subprocess.run([*TRACTION, "sim", "--store", str(tmp_path), "--set", setting],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"traction: error: {message}\n"
    assert not (tmp_path / "board.json").exists()


def test_set_values_of_the_right_kind_are_taken():
    vb = VirtualBoard(overrides={"loadcell.noise_n": 1, "sim.region": "cervical", "sim.free_run": False,
                                 "loadcell.rails": [-1000, 1000], "patients.lumbar.k_n_per_m": 5500.5})
    assert vb.config["loadcell"]["noise_n"] == 1 and vb.config["sim"]["region"] == "cervical"
    assert vb.config["loadcell"]["rails"] == [-1000, 1000]


def test_bad_settings_and_a_missing_interpreter_are_one_clear_error(tmp_path, monkeypatch):
    with pytest.raises(VirtualBoardError, match="unknown board setting 'loadcell.noise'"):
        VirtualBoard(overrides={"loadcell.noise": 1})
    with pytest.raises(VirtualBoardError, match="time scale"):
        VirtualBoard(time_scale=0)
    with pytest.raises(VirtualBoardError, match="no board config"):
        VirtualBoard(board="no_such_board")
    monkeypatch.setenv("MICROPYTHON", str(tmp_path / "no-micropython"))
    with pytest.raises(VirtualBoardError, match="MICROPYTHON"):
        VirtualBoard(store_dir=tmp_path / "board").start()


def test_sim_fails_cleanly_from_the_command_line(tmp_path):
    done = subprocess.run([*TRACTION, "sim", "--store", str(tmp_path), "--set", "sim.nope=1"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("traction: error: unknown board setting 'sim.nope'")
    assert not Path(tmp_path / "board.json").exists()
