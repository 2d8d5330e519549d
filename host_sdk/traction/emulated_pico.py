"""The emulated Pico: the product image (`traction build --target pico`) on rp2040js, with the unit's
peripherals around it, driven by the virtual board's plant.

    with EmulatedPico() as board:
        device = traction.Device.open(board.port, key=board.key)
        board.press_stop()                   # the sim's side channel, as on the virtual board

Three processes: node runs rp2040js with the UF2 (tools/rp2040/harness.mjs: the USB-CDC port bridged to a
pty, the load cell's ADC (HX711, or ADS1220 with loadcell="ads1220"), encoder, current sense and switches
on their pins); the MicroPython unix port runs hal/sim's plant, motor, load cell and switches
(tools/rp2040/plant.py); they exchange the pins every 10 ms of
emulated time, in lock step, over two pipes. This launcher puts the pty behind the same relay as the
virtual board's (traction/pty_relay.py), so `traction`, mpremote and `hil_tests --board PORT` use it
unchanged, and restarts the emulator on the same flash when the board reboots (its watchdog,
machine.reset(), an injected reset). The firmware on it is the product image's: hal/rp2 on the pins of
boards/pico.json; the board config on its filesystem is pico.json with the virtual board's provisioning
(serial, key, calibration), put there by the first-boot steps a device maker follows (docs/firmware.md).
"""

# The relay, runtime folder and processes exist once start() ran, and the methods that use them are for a
# started board, so pyright's None checks are off for them here (as in emulated_board.py).
# pyright: reportOptionalMemberAccess=false, reportOptionalOperand=false, reportArgumentType=false

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import build, build_pico
from .errors import TractionError
from .micropython import interpreter
from .pty_relay import PtyRelay
from .virtual_board import SideChannel, VirtualBoard, firmware_dir, protocol_dir

TOOLS = build.ROOT / "tools" / "rp2040"
HARNESS = TOOLS / "harness.mjs"
PLANT = TOOLS / "plant.py"
BOOTROM_NAME = "rp2040-bootrom-b1.ts"
SERIAL = "PICO-EMU-0001"
EXIT_RESET = 3  # the harness: the board rebooted (its flash saved)
BOOT_TIMEOUT_S = 120.0  # the emulator runs at a fraction of real time
STOP_TIMEOUT_S = 5.0
ADCS = ("hx711", "ads1220")  # the load cell's ADC: boards/pico.json has pins for both
ADS1220_SPS = (40, 90, 180, 350, 660, 1200, 2000)  # turbo mode (hal/rp2/ads1220.py)
ADS1220_DEFAULT_SPS = 660
PACES = ("timer", "drdy")


class EmulatedPicoError(TractionError):
    pass


def unit_config(loadcell="hx711", sps=None, pace="timer"):
    """The emulated unit's board.json: boards/pico.json, provisioned as the virtual board is (its serial
    changed), so its load cell's calibration matches the plant's counts (the HX711's and the ADS1220's
    alike); with loadcell "ads1220", that ADC at sps samples/s (660 by default), the loop paced by the
    timer or by its DRDY (pace "drdy": sps a multiple of control_hz)."""
    config = build_pico.image_config()
    sim = json.loads((build.ROOT / "firmware" / "boards" / "sim.json").read_text())
    config["provision"] = dict(sim["provision"], serial=SERIAL)
    if loadcell not in ADCS:
        raise EmulatedPicoError(f"loadcell must be one of {', '.join(ADCS)}, not {loadcell!r}")
    if pace not in PACES:
        raise EmulatedPicoError(f"pace must be one of {', '.join(PACES)}, not {pace!r}")
    if loadcell == "hx711":
        if sps is not None or pace != "timer":
            raise EmulatedPicoError("sps and pace drdy are the ADS1220's: the HX711 runs at 80 samples/s, "
                                    "the loop paced by the timer")
        return config
    sps = ADS1220_DEFAULT_SPS if sps is None else sps
    if sps not in ADS1220_SPS:
        raise EmulatedPicoError(f"an ADS1220's sps must be one of {ADS1220_SPS} (turbo mode), not {sps}")
    if pace == "drdy" and sps % config["control_hz"]:
        raise EmulatedPicoError(f"pace drdy marks a period every sps / control_hz samples: sps {sps} is "
                                f"not a multiple of control_hz {config['control_hz']} (1200 or 2000 is)")
    config["loadcell"].update(adc="ads1220", sps=sps)
    config["clock"] = {"pace": pace}
    return config


def plant_config(channel):
    """hal/sim's board for the plant process: sim.json, free-running (the emulator sets the pace), the
    side channel in channel, and the Pico's wiring."""
    sim = json.loads((build.ROOT / "firmware" / "boards" / "sim.json").read_text())
    sim["sim"].update(link="memory", free_run=True, time_scale=1, channel=str(channel))
    pico = build_pico.image_config()
    motor = pico["motor"]
    sim["wiring"] = {"inputs": pico["inputs"], "enable_active": motor["enable_active"],
                     "dir_in_level": motor["dir_in_level"]}
    return sim


def harness_wiring(loadcell="hx711", adc_fitted=True):
    """The pins the harness drives and reads (boards/pico.json), with the load cell's ADC on its own; an
    ADS1220 not fitted leaves its pins unanswered (the driver's register read-back fails)."""
    pico = build_pico.image_config()
    motor = pico["motor"]
    adc = dict(pico["loadcell"][loadcell])
    if not adc_fitted:
        adc["absent"] = True
    return {loadcell: adc, "encoder": motor["encoder"], "pwm": motor["pwm"],
            "dir": motor["dir"], "enable": motor["enable"], "current_adc": motor["current_adc"]}


def bootrom():
    """The RP2040 boot ROM rp2040js needs (not in its npm package): $TRACTION_RP2040_BOOTROM, else
    ../shared/vendor's copy."""
    vendored = build.ROOT.parent / "shared" / "vendor" / BOOTROM_NAME
    path = Path(os.environ.get("TRACTION_RP2040_BOOTROM") or vendored)
    if not path.is_file():
        raise EmulatedPicoError(f"no RP2040 boot ROM at {path}: it is rp2040js's demo/bootrom.ts "
                                "(../shared/vendor/README.md); set $TRACTION_RP2040_BOOTROM to its path")
    return path


def check_tools(image=None):
    path = Path(image) if image else build_pico.image_path()
    if not path.is_file():
        raise EmulatedPicoError(f"no Pico image {path}: build it with `traction build --target pico`")
    if shutil.which("node") is None:
        raise EmulatedPicoError("node not found: the emulated Pico runs on rp2040js (Debian: apt-get install "
                                "nodejs npm)")
    if not (TOOLS / "node_modules" / "rp2040js").is_dir():
        raise EmulatedPicoError(f"rp2040js is not installed: run `npm ci --prefix {TOOLS}`")
    return path


class EmulatedPico:
    """The product image on rp2040js behind a pty. Use as a context manager, or start() and close()."""

    # How much slower than real time it may run: rp2040js at 13-40 M instructions/s of host time, with the
    # firmware at about 65 M instructions/s of board time during a session (0.2-0.6x real time measured
    # on 2 shared cores); hil_tests scales its wall-clock timeouts by this.
    SLOWDOWN = 10.0

    def __init__(self, image=None, flash=None, jumper_at_boot=False, loadcell="hx711", sps=None,
                 pace="timer", adc_fitted=True):
        """image: the UF2 (default build/pico/traction-pico.uf2); flash: a flash image to start from
        (default: the unit after its first-boot steps, prepared once per image and board config; "": an
        erased flash, the board at its REPL: start() then does not wait for the firmware to answer);
        jumper_at_boot: the service jumper is fitted at power-on (a production image offers its REPL only
        then); loadcell, sps, pace: the load cell's ADC, "hx711" or "ads1220" (at sps samples/s, the loop
        paced by "timer" or its "drdy"), written into board.json at first boot; adc_fitted=False: the
        ADS1220 is not on the board (its driver's read-back fails at boot, and the board stays silent)."""
        self.config = unit_config(loadcell, sps, pace)
        if not adc_fitted and loadcell != "ads1220":
            raise EmulatedPicoError("adc_fitted=False is the ADS1220's (the board without that chip)")
        self.image = check_tools(image)
        self._jumper_at_boot = jumper_at_boot
        self.loadcell = loadcell
        self._adc_fitted = adc_fitted
        self._start_flash = flash
        self.restarts = 0  # reboots of the board (the emulator started again on its flash)
        self.port = None
        self.channel = None
        self.side = None
        self.flash = None
        self.stats = None
        self.stretches = None
        self._relay = None
        self._runtime = None
        self._procs = ()
        self._closing = False
        self._failure = None
        self._thread = None

    @property
    def serial(self):
        return self.config["provision"]["serial"]

    @property
    def key(self):
        return bytes.fromhex(self.config["provision"]["key_hex"])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def start(self):
        try:
            self._runtime = Path(tempfile.mkdtemp(prefix="traction-pico-"))
            self.channel = self._runtime / "channel"
            self.channel.mkdir()
            self.side = SideChannel(self.channel)
            if self._jumper_at_boot:
                self.side.inject("service_jumper", present=True)  # read by the plant at power-on
            (self._runtime / "plant.json").write_text(json.dumps(plant_config(self.channel)))
            self.flash = self._runtime / "flash.bin"
            self.stats = self._runtime / "cpu.jsonl"  # how busy the CPU is, a line per emulated second
            self.stretches = self._runtime / "stretches.jsonl"  # busy stretches of a period or more
            start = self._start_flash
            if start is None:
                start = first_boot_flash(self.image, self.config)
            if start:
                shutil.copyfile(start, self.flash)
            self._relay = PtyRelay()
            self.port = self._relay.port
            self._relay.start()
            self._spawn()
            self._thread = threading.Thread(target=self._supervise, name="emulated-pico", daemon=True)
            self._thread.start()
            if self._start_flash != "":
                self.wait_answering()
        except BaseException:
            self.close()
            raise
        return self

    def wait_answering(self):
        """Return once the firmware answers HELLO: the emulator boots it at a fraction of real time."""
        from .device import _connect, handshake

        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while True:
            self.check()
            link = _connect(self.port)
            try:
                handshake(link)
                return
            except TractionError as e:
                if time.monotonic() > deadline:
                    raise EmulatedPicoError(f"the emulated Pico's firmware did not answer within "
                                            f"{BOOT_TIMEOUT_S:.0f} s: {e}") from None
            finally:
                link.close()

    # The physical world: the virtual board's own methods, over the same side channel files.
    inject = VirtualBoard.inject
    clear = VirtualBoard.clear
    press_stop = VirtualBoard.press_stop
    release_stop = VirtualBoard.release_stop
    service_jumper = VirtualBoard.service_jumper
    reset = VirtualBoard.reset
    plant = VirtualBoard.plant

    @property
    def _side(self):
        return self.side

    def check(self):
        """Raise EmulatedPicoError if the emulator stopped."""
        if not self.running():
            raise EmulatedPicoError(self.failure())

    def silence_reason(self):
        return None if self.running() else EmulatedPicoError(self.failure())

    def running(self):
        """The supervisor's word: a reboot (the processes started again on the same flash) is not a
        stop, though the processes are briefly gone."""
        return self._failure is None and bool(self._procs) and not self._closing

    def failure(self):
        """Why the emulated board stopped, or None while it runs."""
        if self.running():
            return None
        return self._failure or "the emulated Pico is not running"

    def close(self):
        if self._closing:
            return
        self._closing = True
        self._stop_procs()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        if self._relay is not None:
            self._relay.close()
        if self._runtime is not None:
            shutil.rmtree(self._runtime, ignore_errors=True)

    def _spawn(self):
        """node (the MCU) and the plant, each one's stdout the other's stdin; their stderr to log files
        (a pipe nobody reads would fill and stop the emulator)."""
        to_plant_r, to_plant_w = os.pipe()
        to_mcu_r, to_mcu_w = os.pipe()
        # hal/sim imports the firmware's wire.py, which imports traction_protocol
        env = dict(os.environ, MICROPYPATH=os.pathsep.join((str(firmware_dir()), str(protocol_dir()))))
        wiring = harness_wiring(self.loadcell, self._adc_fitted)
        mcu_cmd = ["node", str(HARNESS), "--uf2", str(self.image), "--bootrom", str(bootrom()),
                   "--tty", os.ttyname(self._relay.board_fd), "--wiring", json.dumps(wiring),
                   "--flash", str(self.flash), "--stats", str(self.stats), "--stretches", str(self.stretches)]
        plant_cmd = [interpreter(), str(PLANT), str(self._runtime / "plant.json")]
        try:
            with open(self._runtime / "plant.log", "ab") as plant_log, \
                    open(self._runtime / "rp2040js.log", "ab") as mcu_log:
                plant = subprocess.Popen(plant_cmd, stdin=to_plant_r, stdout=to_mcu_w, stderr=plant_log,
                                         env=env, start_new_session=True)
                mcu = subprocess.Popen(mcu_cmd, stdin=to_mcu_r, stdout=to_plant_w, stderr=mcu_log,
                                       start_new_session=True)
        finally:
            for fd in (to_plant_r, to_plant_w, to_mcu_r, to_mcu_w):
                os.close(fd)
        self._procs = (mcu, plant)

    def _tail(self, name):
        try:
            text = (self._runtime / f"{name}.log").read_text(errors="replace").strip()
        except OSError:
            text = ""
        return text[-2000:] or "no message"

    def _supervise(self):
        try:
            self._watch()
        except Exception as e:  # noqa: BLE001 - whatever it was, the board is no longer watched
            self._failure = f"the emulated Pico's supervisor failed: {type(e).__name__}: {e}"

    def _watch(self):
        """Restart the pair when the board reboots; note why it stopped otherwise."""
        while not self._closing:
            mcu, plant = self._procs  # pyright: ignore[reportAssignmentType]
            if mcu.poll() is None and plant.poll() is None:
                time.sleep(0.1)
                continue
            if self._closing:
                return
            code = mcu.poll()
            if code is None:
                try:
                    code = mcu.wait(STOP_TIMEOUT_S)  # the plant asked for a reset: the MCU saves its flash
                except subprocess.TimeoutExpired:
                    code = None
            if code == EXIT_RESET:
                self._stop_procs()
                self._relay.flush_board_input()
                self.restarts += 1
                self._spawn()
                continue
            self._stop_procs()
            self._failure = (f"the emulated Pico stopped: rp2040js exited {mcu.returncode} "
                             f"({self._tail('rp2040js')}), the plant {plant.returncode} "
                             f"({self._tail('plant')})")
            return

    def _stop_procs(self):
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()  # node saves the flash on SIGTERM
                try:
                    proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


class EmulatedPicoADS1220(EmulatedPico):
    """The emulated Pico with an ADS1220 for its load cell (`hil_tests --board rp2040-ads1220`)."""

    def __init__(self, image=None, flash=None, jumper_at_boot=False, **options):
        super().__init__(image, flash, jumper_at_boot, loadcell="ads1220", **options)


def first_boot_flash(image, config=None):
    """The unit's flash after a device maker's first-boot steps on the product image (docs/firmware.md):
    boot.py, main.py and board.json (config, default unit_config()) copied onto its filesystem over the
    USB REPL. Made once per image and board config, kept beside the image (build/pico/first-boot-*.bin)."""
    import hashlib

    files = {"boot.py": (build.ROOT / "firmware" / "boot.py").read_bytes(),
             "main.py": (build.ROOT / "firmware" / "main.py").read_bytes(),
             "board.json": (json.dumps(config or unit_config(), indent=1) + "\n").encode()}
    digest = hashlib.sha256(Path(image).read_bytes())
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + data)
    path = Path(image).with_name(f"first-boot-{digest.hexdigest()[:16]}.bin")
    if path.is_file():
        return path
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    # An erased filesystem (the rp2 port formats it at boot), and the service jumper fitted: the product
    # image offers its REPL only then (docs/device-makers.md). It boots on the image's own board.json
    # (the HX711's), so this board has the HX711 whatever the unit's config says.
    board = EmulatedPico(image, flash="", jumper_at_boot=True)
    board.start()
    try:
        # a read timeout, else mpremote's overall timeout is never looked at on a silent pty
        transport = SerialTransport(board.port, baudrate=115200, timeout=1)
        try:
            transport.enter_raw_repl(soft_reset=False, timeout_overall=int(BOOT_TIMEOUT_S))
            for name, data in files.items():
                transport.fs_writefile(name, data)
            transport.exit_raw_repl()
        except TransportError as e:
            raise EmulatedPicoError(f"first boot of the emulated Pico failed: {e} "
                                    f"({board.failure() or 'running'})") from None
        finally:
            transport.close()
        board._stop_procs()  # node writes the flash on SIGTERM
        tmp = path.with_suffix(".tmp")
        shutil.copyfile(board.flash, tmp)
        tmp.replace(path)
    finally:
        board.close()
    return path


def register(subparsers):
    """`traction sim --mcu rp2040`: the Pico image on rp2040js (with emulated_board's cortex-m3)."""
    p = subparsers.choices["sim"]
    p.add_argument("--uf2", metavar="UF2", help="with --mcu rp2040: the image (default "
                   "build/pico/traction-pico.uf2)")
    p.add_argument("--loadcell", choices=ADCS, help="with --mcu rp2040: the load cell's ADC (default "
                   "hx711), written into board.json at first boot")
    p.add_argument("--sps", type=int, metavar="N", help=f"with --loadcell ads1220: its samples per second, "
                   f"one of {', '.join(map(str, ADS1220_SPS))} (default {ADS1220_DEFAULT_SPS})")
    p.add_argument("--pace", choices=PACES, help="with --loadcell ads1220: what paces the control loop, the "
                   "timer (default) or the ADC's DRDY (--sps 1200 or 2000)")
    before = p.get_default("func")

    def run(args, console=None):
        if args.mcu == "rp2040":
            return run_sim(args)
        if args.loadcell or args.sps or args.pace:
            raise EmulatedPicoError("--loadcell, --sps and --pace are the emulated Pico's (--mcu rp2040)")
        return before(args, console)

    p.set_defaults(func=run)


def run_sim(args):
    from .virtual_board import _register_key

    if args.store or args.settings or args.time_scale != 30 or args.board != "sim":
        raise EmulatedPicoError("--store, --set, --time-scale and --board are the unix-port virtual board's: "
                                "the emulated Pico's store is its flash, its config boards/pico.json "
                                "(docs/firmware.md)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with EmulatedPico(args.uf2, loadcell=args.loadcell or "hx711", sps=args.sps,
                          pace=args.pace or "timer") as board:
            host_store = _register_key(board, args.host_store)
            print(board.port, flush=True)
            print(f"emulated Pico {board.serial} (rp2040js, {board.loadcell.upper()}) on {board.port}; "
                  f"image {board.image}; side "
                  f"channel {board.channel}; device key registered in {host_store}. Ctrl-C to stop.",
                  file=sys.stderr, flush=True)
            while board.running():
                time.sleep(0.2)
            raise EmulatedPicoError(board.failure())
    except KeyboardInterrupt:
        return 0
