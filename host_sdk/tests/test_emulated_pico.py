"""The emulated Pico (docs/firmware.md): the product UF2 on rp2040js with the unit's peripherals on its pins.
Runs with `pytest --board rp2040` after `traction build --target pico` and `npm ci --prefix tools/rp2040`
(as .ci/run does); the hil subset covers sessions, the stop switch and a fault. The board with an ADS1220
for its load cell (`--loadcell ads1220`) boots, answers and runs a short session here."""

import re
import subprocess
import sys
import time

import pytest
from traction import Device, Session, Treatment
from traction.emulated_pico import SERIAL, EmulatedPico, EmulatedPicoError, harness_wiring, unit_config

# Waits are bounded by wall-clock time: the emulator runs at 0.05-0.4x real time on two shared cores, so
# what takes the board a few seconds is given SLOWDOWN times that, and a dead emulator fails at once.
WAIT_S = 20 * EmulatedPico.SLOWDOWN
REPL_S = 60  # to get the raw REPL (mpremote's overall timeout; the serial port's own is 1 s per byte)


def _board(request, **kwargs):
    if request.config.getoption("--board") != "rp2040":
        pytest.skip("the emulated Pico runs with --board rp2040 (.ci/run)")
    with EmulatedPico(**kwargs) as b:
        yield b
        b.check()


@pytest.fixture
def board(request):
    yield from _board(request)


@pytest.fixture
def ads1220_board(request):
    """The unit with an ADS1220 for its load cell (660 samples/s, the loop paced by the timer)."""
    yield from _board(request, loadcell="ads1220")


@pytest.fixture
def drdy_paced_board(request):
    """The unit with an ADS1220 at 1200 samples/s whose DRDY paces the loop (every 12th conversion)."""
    yield from _board(request, loadcell="ads1220", sps=1200, pace="drdy")


@pytest.fixture
def jumpered_board(request):
    """Booted with the service jumper fitted: the product image offers its REPL only then (lockdown)."""
    yield from _board(request, jumper_at_boot=True)


def _until(board, check, what, timeout_s=WAIT_S):
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        board.check()
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what}"
        time.sleep(0.1)
    return value


def _raw_repl(port, timeout_s=REPL_S):
    """The board's raw REPL through mpremote, or TransportError within timeout_s (a port whose REPL is not
    offered stays silent: without a serial timeout mpremote would wait for ever)."""
    from mpremote.transport_serial import SerialTransport

    t = SerialTransport(port, timeout=1)
    try:
        t.enter_raw_repl(soft_reset=False, timeout_overall=timeout_s)  # breaks into the firmware (SPEC s. 11)
    except BaseException:
        t.close()
        raise
    return t


def test_the_units_board_json_names_the_adc_chosen():
    # what first boot writes into the emulated flash (runs without the emulator)
    hx711 = unit_config()
    assert hx711["loadcell"]["adc"] == "hx711" and hx711["clock"]["pace"] == "timer"
    ads = unit_config("ads1220")
    assert ads["loadcell"]["adc"] == "ads1220" and ads["loadcell"]["sps"] == 660
    assert ads["clock"] == {"pace": "timer"} and ads["provision"] == hx711["provision"]
    assert unit_config("ads1220", 2000, "drdy")["clock"] == {"pace": "drdy"}
    assert set(harness_wiring("ads1220")) & {"hx711", "ads1220"} == {"ads1220"}  # one chip on the board
    assert harness_wiring("ads1220", adc_fitted=False)["ads1220"]["absent"]
    for bad, message in [(("ads1220", 660, "drdy"), "not a multiple"), (("ads1220", 500), "must be one of"),
                         (("hx711", 660), "ADS1220's"), (("ads1231",), "loadcell must be")]:
        with pytest.raises(EmulatedPicoError, match=message):
            unit_config(*bad)


def test_traction_sim_prints_its_pty_and_traction_info_reads_the_product_image(request, tmp_path):
    # The unit as a device maker may choose it: an ADS1220 at 1200 samples/s whose DRDY paces the loop
    # (every 12th conversion starts a period); the board answers only once that chip read its registers back.
    if request.config.getoption("--board") != "rp2040":
        pytest.skip("the emulated Pico runs with --board rp2040 (.ci/run)")
    store = tmp_path / "host.db"
    sim = subprocess.Popen([sys.executable, "-m", "traction.cli", "sim", "--mcu", "rp2040", "--loadcell",
                            "ads1220", "--sps", "1200", "--pace", "drdy", "--host-store", str(store)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = sim.stdout.readline().strip()
        assert port.startswith("/dev/pts/"), sim.stderr.read()
        info = subprocess.run([sys.executable, "-m", "traction.cli", "info", "--port", port, "--store",
                               str(store)], capture_output=True, text=True, timeout=120)
        assert info.returncode == 0, info.stderr
        assert SERIAL in info.stdout
        assert "real" in info.stdout  # hal/rp2: the product image, not the simulated board
        assert "key           known" in info.stdout  # sim registered the unit's key in the host store
        assert re.search(r"^\s*state\s+IDLE\s*$", info.stdout, re.M), info.stdout  # no fault: the ADC reads
    finally:
        sim.terminate()
        sim.wait(30)


def test_the_hx711_read_by_the_pio_carries_the_plants_counts(board, tmp_path):
    # 24 bits shifted out on PD_SCK edges, read by the PIO program, turned into newtons by the calibration:
    # an 80 N offset on the plant's load cell reads 80 N more, and goes when cleared.
    with Device.open(board.port, store=tmp_path / "host.db", key=board.key) as dev:
        assert abs(dev.status().force_n) < 3
        board.inject("loadcell_offset_step", step_n=80.0)
        _until(board, lambda: abs(dev.status().force_n - 80) < 3, "80 N read")
        board.clear("loadcell_offset_step")
        _until(board, lambda: abs(dev.status().force_n) < 3, "0 N read again")


def test_the_store_on_flash_survives_a_watchdog_reboot(jumpered_board, tmp_path):
    # LittleFS writes go through the boot ROM's flash functions (trapped by the harness); machine.reset()
    # is a watchdog reboot, after which the launcher starts the emulator again on the same flash. The
    # files are written and read over the REPL, so the jumper is fitted (and stays fitted across the
    # reboot, as a technician's would).
    board = jumpered_board
    with Device.open(board.port, store=tmp_path / "host.db", key=board.key) as dev:
        assert dev.status().state == "IDLE"
    t = _raw_repl(board.port)
    try:
        t.fs_writefile("/kept.txt", b"across a reboot")
        t.exec_raw_no_follow("import machine; machine.reset()")
    finally:
        t.close()
    _until(board, lambda: board.restarts == 1, "the board to reboot")
    board.wait_answering()  # the emulator boots the image again: about 10 s
    with Device.open(board.port, store=tmp_path / "host.db", key=board.key) as dev:
        assert dev.info.serial == SERIAL and dev.status().state == "IDLE"
    t = _raw_repl(board.port)
    try:
        assert t.fs_readfile("/kept.txt") == b"across a reboot"
    finally:
        t.close()


def test_a_production_board_booted_without_the_jumper_offers_no_repl(board):
    # Lockdown (docs/safety.md): the break-in is ignored, so mpremote gives up after its timeout instead
    # of waiting for ever, and the firmware still answers afterwards.
    from mpremote.transport import TransportError

    with pytest.raises(TransportError, match="could not enter raw repl"):
        _raw_repl(board.port, timeout_s=15).close()
    board.wait_answering()


# A short static session: 2 s up, a 4 s hold, 2 s down (under a minute of wall time at the emulator's speed).
SHORT_STATIC = """
name = "emulated pico ads1220"
region = "lumbar"
position = "prone"
angle = 12
body_weight = "80 kg"
unit = "N"
tolerance = "5 N"

[[phase]]
mode = "static"
force = "200 N"
ramp_up = "2 s"
ramp_down = "2 s"
duration = "8 s"
"""


def test_a_board_with_an_ads1220_runs_a_session_on_the_plants_counts(ads1220_board, tmp_path):
    # hal/rp2's ADS1220 driver against the emulated chip: at boot it resets it, writes its registers and
    # reads them back (a chip that does not answer stops the board there), then every conversion comes in
    # on a DRDY interrupt over SPI. The force the board reports, and records, is the plant's.
    board = ads1220_board
    with Device.open(board.port, store=tmp_path / "host.db", key=board.key) as dev:
        assert dev.info.serial == SERIAL and dev.info.calibrated
        status = dev.status()
        assert status.state == "IDLE" and status.fault is None, status
        assert abs(status.force_n) < 3
        session = Session(dev, Treatment.from_toml(SHORT_STATIC, file="<short static>"),
                          adc_samples=True).start()  # and every conversion, at the ADC's rate (SAMPLES)
        samples = []
        true_n = []  # the line's true force during the hold, from the plant
        for sample in session.telemetry(timeout=WAIT_S):
            samples.append(sample)
            if sample.segment == "HOLD":
                true_n.append(board.plant()["true_force_dn"] / 10)
        record = session.wait(timeout=WAIT_S)  # fetched, its seal and hash chain verified, acknowledged
    assert record is not None, session.record_error
    assert record.end["reason"] == "COMPLETED" and record.end["fault"] is None, record.end
    hold = [s.force_n for s in samples if s.segment == "HOLD"]
    assert len(hold) > 10, [s.segment for s in samples]
    settled = hold[len(hold) // 2:]
    assert all(abs(f - 200) < 10 for f in settled), settled  # the controller holds what the ADC reads
    assert all(abs(f - 200) < 10 for f in true_n[len(true_n) // 2:]), true_n  # and the line really is there
    assert 150 < record.end["peak_dn"] / 10 < 220
    adc = session.adc
    assert adc is not None and adc.sps == 660 and adc.lost == 0
    assert len(adc) / (adc.t_s[-1] - adc.t_s[0]) > 640  # 660 a second of device time, none lost


@pytest.mark.hazard("H-02")
def test_an_adc_pacing_the_loop_that_falls_silent_at_the_top_of_the_ramp_latches_adc_silent(
        drdy_paced_board, tmp_path):
    # The loop's periods come from the ADC's DRDY. Silent, it would stop the loop with the motor driving
    # until the watchdog reset the board (and again after every boot); hal/rp2's guard timer marks the
    # periods instead, so the safety checks run, ADC_SILENT latches and the line is released.
    board = drdy_paced_board
    with Device.open(board.port, store=tmp_path / "host.db", key=board.key) as dev:
        session = Session(dev, Treatment.from_toml(SHORT_STATIC, file="<short static>")).start()
        for sample in session.telemetry(timeout=WAIT_S):
            if sample.force_n >= 180:  # 90 % of the hold, still ramping: the worst moment
                break
        board.inject("loadcell_stale")
        status = _until(board, lambda: (s := dev.status()).state == "FAULT" and not s.motor_enabled and s,
                        "the fault and the motor off")
        record = session.wait(timeout=WAIT_S)
    assert status.fault == "ADC_SILENT", status
    assert record is not None and record.end["reason"] == "FAULT" and record.end["fault"] == "ADC_SILENT"
    assert board.plant()["peak_force_dn"] / 10 <= session.treatment.max_force_n * 1.05
    assert board.restarts == 0  # the board answered throughout: no watchdog reset
