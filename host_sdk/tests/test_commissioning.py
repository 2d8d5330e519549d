"""Commissioning a unit by the commands alone (docs/device-makers.md), and the lockdown that keeps its
provisioned ceiling where it was set (docs/safety.md, "Lockdown")."""

import json
import shutil
import stat
import subprocess
import sys
import time

import pytest
from traction.device import Device
from traction.store import Store
from traction.virtual_board import VirtualBoard, firmware_dir

TRACTION = [sys.executable, "-m", "traction.cli"]
MPREMOTE = [sys.executable, "-m", "mpremote"]
ATTACK = ("import json\nd = json.load(open('settings.json'))\ns = d.get('settings', d)\n"
          "s['hard_max_dn'] = s['lumbar_max_dn'] = 20000\njson.dump(d, open('settings.json', 'w'))\n")
SHORT = """name = "commissioning check"
region = "lumbar"
unit = "N"

[[phase]]
mode = "static"
force = "100 N"
ramp_up = "5 s"
ramp_down = "5 s"
duration = "1 min"
"""


def attempt(port, *args, timeout=15):
    """mpremote against the port: (exit code, or None when it was still waiting for a REPL, stdout)."""
    try:
        done = subprocess.run([*MPREMOTE, "connect", port, *args], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or ""
    return done.returncode, done.stdout


def traction(*args, timeout=180):
    done = subprocess.run([*TRACTION, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def ok(*args):
    code, out = traction(*args)
    assert code == 0, out
    return out


def info(port, host):
    with Device.open(port, store=host, fetch=False) as dev:
        return dev.info, dev.status()


def reboot(vb, jumper=None):
    """Press reset (with the jumper fitted or removed first): the board boots again."""
    if jumper is not None:
        vb.service_jumper(jumper)
    before = vb.restarts
    vb.reset()
    end = time.monotonic() + 20
    while vb.restarts == before and time.monotonic() < end:
        time.sleep(0.05)
    assert vb.restarts > before


def bumped_firmware(tmp_path):
    """The firmware with another version number: what the board reports tells which copy it runs."""
    dest = tmp_path / "fw"
    shutil.copytree(firmware_dir(), dest, ignore=shutil.ignore_patterns("tests", "ports", "boards",
                                                                      "__pycache__"))
    init = dest / "traction_fw" / "__init__.py"
    init.write_text(init.read_text().replace("VERSION = (0, 1, 0)", "VERSION = (0, 1, 99)"))
    return dest


@pytest.mark.hazard("H-20", "H-21")
def test_a_bare_board_is_flashed_provisioned_calibrated_and_self_tested_by_the_commands(tmp_path):
    host = tmp_path / "host.db"
    board = tmp_path / "board"
    with VirtualBoard(store_dir=board, overrides={"provision.serial": "", "repl": "jumper"}) as vb:
        port = vb.port
        first, _ = info(port, host)
        assert first.hard_max_n == 0 and not first.calibrated and first.security & 1 == 0  # bare
        assert first.security & 4 == 0  # a production image: no REPL without the jumper

        code, out = traction("flash", "--port", port)
        assert code == 1 and "offers no REPL" in out  # at once, not an mpremote waiting for ever
        reboot(vb, jumper=True)  # the jumper fitted at boot opens the REPL for the deploy
        out = ok("flash", "--port", port, "--firmware", bumped_firmware(tmp_path))
        assert "deployed" in out and (board / "lib" / "traction_fw" / "app.mpy").is_file()
        assert (board / "lib" / "traction_fw" / "hal" / "sim" / "board.mpy").is_file()  # not flattened
        assert ok("info", "--port", port, "--store", host).count("0.1.99") == 1  # runs the store's copy

        key_file = tmp_path / "TU-0042.key"
        out = ok("provision", "--port", port, "--store", host, "--serial", "TU-0042", "--hard-max", 800,
                 "--cervical-max", 200, "--lumbar-max", 700, "--key-file", key_file)
        assert "device 800 N, cervical 200 N, lumbar 700 N" in out
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = bytes.fromhex(key_file.read_text().strip())
        with Store(host) as s:
            assert s.key_for("TU-0042") == key
        assert (board / "key.bin").read_bytes() == key
        assert key.hex() not in (board / "settings.json").read_text()
        code, out = traction("provision", "--port", port, "--store", host, "--serial", "TU-0042",
                             "--hard-max", 801, "--cervical-max", 200, "--lumbar-max", 700, "--key-file",
                             tmp_path / "again.key")
        assert code == 1 and "limits only go down" in out and not (tmp_path / "again.key").exists()

        out = ok("calibrate", "--port", port, "--store", host, "--weights", "5,10,20,40",
                 "--sim-store", board)
        for check in ("sign: pass", "linearity: pass", "hysteresis: pass", "zero return: pass"):
            assert check in out, out
        cal, _ = info(port, host)
        assert cal.calibrated and cal.cal_points == 4 and cal.cal_id and f"{cal.cal_id:08x}" in out
        assert 0 < cal.cal_nonlin_ppm < 1000  # the virtual cell's bow, measured

        reboot(vb, jumper=False)  # jumper off: locked again
        out = ok("selftest", "--port", port, "--store", host, "--sim-store", board)
        for check in ("port locked", "load-cell zero", "load-cell noise", "current-sense zero", "stop switch",
                      "motor direction", "encoder scale", "driver-enable cut", "watchdog",
                      "port locked after the reset"):
            assert f"{check}: pass" in out, out
        assert "self-test PASSED" in out
        print(out)
        with Store(host) as s:
            steps = [(r["step"], r["passed"]) for r in s.commissioning("TU-0042")]
        assert steps == [("provision", True), ("calibrate", True), ("selftest", True)]

        treatment = tmp_path / "short.toml"
        treatment.write_text(SHORT)
        ok("run", treatment, "--port", port, "--store", host)
        with Store(host) as s:
            record = s.records()[-1]
        head = json.loads(bytes(s_record_data(host, record)).split(b"\n")[0])
        assert head["serial"] == "TU-0042" and head["cal_id"] == f"{cal.cal_id:08x}"
        assert head["cal_weights_dn"] == [round(kg * 98.0665) for kg in (5, 10, 20, 40)]


def s_record_data(host, record):
    with Store(host) as s:
        return s.record(record["id"])["data"]


def test_calibration_refuses_too_few_weights_and_a_board_without_the_jumper(tmp_path):
    host = tmp_path / "host.db"
    with VirtualBoard(store_dir=tmp_path / "board") as vb:
        code, out = traction("calibrate", "--port", vb.port, "--store", host, "--weights", "5,10",
                             "--sim-store", tmp_path / "board")
        assert code == 1 and "at least 3 different reference weights" in out
        code, out = traction("calibrate", "--port", vb.port, "--store", host, "--weights", "5,10,20",
                             "--sim-store", tmp_path / "board")
        assert code == 1 and "fit the service jumper" in out


@pytest.mark.hazard("H-20")
def test_the_repl_attack_is_refused_and_a_tampered_file_is_found_at_boot(tmp_path):
    host = tmp_path / "host.db"
    board = tmp_path / "board"
    with VirtualBoard(store_dir=board, overrides={"repl": "jumper"}) as vb:
        before, _ = info(vb.port, host)
        assert before.hard_max_n == 900 and before.security == 3  # provisioned, settings sound, no REPL
        code, _ = attempt(vb.port, "exec", ATTACK)
        assert code != 0  # no raw REPL: mpremote fails, or waits for one forever
        code, out = attempt(vb.port, "fs", "cat", ":key.bin")
        assert code != 0 and "SIM-0001" not in out
        reboot(vb)
        after, status = info(vb.port, host)
        assert after.hard_max_n == 900 and after.lumbar_max_n == 900 and status.fault is None

        # Someone with the board in hand edits the file (the flash, a REPL with the jumper): found at boot.
        settings = json.loads((board / "settings.json").read_text())
        settings["settings"]["hard_max_dn"] = settings["settings"]["lumbar_max_dn"] = 20000
        (board / "settings.json").write_text(json.dumps(settings))
        reboot(vb)
        tampered, status = info(vb.port, host)
        assert status.state == "FAULT" and status.fault == "TAMPERED"
        assert tampered.hard_max_n == 0 and not tampered.calibrated and not tampered.security & 2
        code, out = traction("info", "--port", vb.port, "--store", host, "--clear-fault")
        assert code == 1 and "CAUSE_PRESENT" in out


def test_on_a_development_image_the_same_attack_gets_a_repl_but_not_a_higher_ceiling(tmp_path):
    host = tmp_path / "host.db"
    with VirtualBoard(store_dir=tmp_path / "board") as vb:  # "repl": "always"
        code, _ = attempt(vb.port, "exec", ATTACK, timeout=60)
        assert code == 0  # the development image keeps its REPL ...
        assert attempt(vb.port, "reset")[0] == 0  # (the board sits at its REPL: the side channel is idle)
        after, status = info(vb.port, host)
        assert after.hard_max_n == 0 and status.fault == "TAMPERED"  # ... and the MAC catches the edit


def test_mpremote_cp_r_to_the_root_keeps_the_package_folder(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "sub" / "a.py").write_text("A = 1\n")
    (package / "b.py").write_text("B = 2\n")
    with VirtualBoard(store_dir=tmp_path / "board") as vb:
        code, _ = attempt(vb.port, "fs", "cp", "-r", str(package), ":", timeout=60)
        assert code == 0
    assert (tmp_path / "board" / "pkg" / "sub" / "a.py").is_file()  # not a.py in the store's root
    assert (tmp_path / "board" / "pkg" / "b.py").is_file() and not (tmp_path / "board" / "b.py").exists()


def test_flash_copies_a_uf2_to_a_pico_in_bootsel_and_refuses_what_is_not_one(tmp_path):
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    image = tmp_path / "traction-pico.uf2"
    image.write_bytes(b"UF2\n\x57\x51\x5d\x9e" + bytes(504))
    code, out = traction("flash", "--uf2", image, "--drive", drive)
    assert code == 1 and "no Pico in BOOTSEL mode" in out and not (drive / image.name).exists()
    (drive / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nBoard-ID: RPI-RP2\n")
    ok("flash", "--uf2", image, "--drive", drive)
    assert (drive / image.name).read_bytes() == image.read_bytes()
    image.write_bytes(b"not a uf2")
    code, out = traction("flash", "--uf2", image, "--drive", drive)
    assert code == 1 and "is not a UF2 image" in out


def test_a_virtual_board_store_from_before_sealed_settings_starts_from_its_factory_settings(tmp_path):
    board = tmp_path / "board"
    board.mkdir()
    legacy = {"serial": "SIM-0001", "key": "11" * 32, "hard_max_dn": 20000, "cervical_max_dn": 2500,
              "lumbar_max_dn": 20000, "provisioned": True, "next_record": 7,
              "calibration": {"zero": 1400, "span_counts": 4000000, "span_dn": 10000, "date_s": 1767225600}}
    (board / "settings.json").write_text(json.dumps(legacy))
    with VirtualBoard(store_dir=board) as vb:
        again, status = info(vb.port, tmp_path / "host.db")
    assert status.fault is None and again.hard_max_n == 900  # the factory's, not the old file's 2000 N
    assert json.loads((board / "settings.v1.json").read_text()) == legacy


@pytest.mark.hazard("H-21")
def test_calibration_checks_find_a_reversed_cell_a_bow_and_hysteresis():
    from traction.commission import calibration_checks

    zero, slope, weights = 1000, 40, (500, 1000, 2000, 4000)  # 40 counts per 0.1 N, full scale 900 N

    def run(points, back=(1000, zero + slope * 1000), zero_after=zero):
        report, checks = calibration_checks(zero, points, back, zero_after, 9000, 0.1, 0.1)
        return report, {name: ok for name, ok, _ in checks}

    straight = [(w, zero + slope * w) for w in weights]
    report, ok = run(straight)
    assert ok == {"sign": True, "linearity": True, "hysteresis": True, "zero return": True}
    assert report["span_counts"] == slope * 4000 and report["zero_counts"] == zero
    assert report["nonlin_pct_fs"] == 0
    assert not run([(w, zero - slope * w) for w in weights])[1]["sign"]  # mounted the wrong way round
    bowed = [(w, c + (slope * 27 if w == 2000 else 0)) for w, c in straight]  # 2.7 N off at 200 N: 0.3 %
    report, ok = run(bowed)
    assert not ok["linearity"] and 0.2 < report["nonlin_pct_fs"] < 0.3
    assert not run(straight, back=(1000, zero + slope * 1018))[1]["hysteresis"]  # 1.8 N high coming down
    assert not run(straight, zero_after=zero + slope * 18)[1]["zero return"]  # drifted, or crept
    assert run(straight, back=(1000, zero + slope * 1005))[1]["hysteresis"]  # 0.5 N: within 0.1 % of 900 N
