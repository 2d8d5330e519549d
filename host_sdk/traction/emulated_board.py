"""The emulated board: the firmware image (`traction build --target qemu`) on an emulated Cortex-M3.

    with EmulatedBoard() as board:
        device = traction.Device.open(board.port)
        board.side.inject("stop_switch")     # the sim's side channel, on the board's second UART

QEMU runs the MPS2-AN385 image; its console UART is the board's serial port, behind the same pty relay as
the virtual board's (traction/pty_relay.py), so `traction`, mpremote and `hil_tests --board PORT` use it
unchanged. The board's store is LittleFS in the emulated board's RAM: it survives machine.reset() (QEMU
restarts the image) but not the end of QEMU. hal/sim runs on the MCU: no real peripherals. The side
channel: UART1 carries the injections in and the plant state out, one JSON line each; this launcher keeps
the same files as a virtual board's (inject.jsonl, plant.json), so SideChannel and `traction inject` work.
See docs/firmware.md.
"""

# The board's process, relay and side channel are None until start() and set for as long as it runs; the
# methods that use them are for a started board, so pyright's None checks are off for them here.
# pyright: reportOptionalMemberAccess=false, reportOptionalOperand=false, reportOptionalSubscript=false

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import build
from .errors import TractionError
from .pty_relay import PtyRelay
from .virtual_board import SideChannel, VirtualBoard

QEMU = "qemu-system-arm"
MACHINE = "mps2-an385"
MCUS = ("cortex-m3", "rp2040")  # rp2040: traction.emulated_pico
BOOT_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 3.0


class EmulatedBoardError(TractionError):
    """An emulated Cortex-M3 board that could not start or stopped: what happened and what to do."""


def qemu_command(image, serial0, serial1=None, icount=False):
    """The QEMU command line for an image: UART0 on serial0 (a tty path or a chardev spec), UART1 on
    serial1 (or nowhere). icount: 1 instruction = 1 ns of the board's time, deterministic."""
    cmd = [QEMU, "-machine", MACHINE, "-nographic", "-monitor", "none", "-semihosting", "-kernel",
           str(image), "-serial", serial0, "-serial", serial1 or "null"]
    if icount:
        cmd += ["-icount", "shift=0"]
    return cmd


def find_image(variant="rt", image=None):
    """The emulated board's image (given, or the built variant); EmulatedBoardError says how to build it."""
    path = Path(image) if image else build.image_path(variant)
    if not path.is_file():
        raise EmulatedBoardError(f"no board image {path}: build it with `traction build --target qemu`")
    if shutil.which(QEMU) is None:
        raise EmulatedBoardError(f"{QEMU} not found (Debian: apt-get install qemu-system-arm)")
    return path


class EmulatedBoard:
    """The real-time image under QEMU on a pty. Use as a context manager, or start() and close()."""

    # How much slower than real time it may run. It keeps real time on a quarter of an idle core, but its
    # clock is the sim's, paced by wall time and never jumping: at a load average of 7 on 2 shared cores
    # it ran at 0.6x. hil_tests scales its wall-clock timeouts by this.
    SLOWDOWN = 3.0

    def __init__(self, image=None, icount=False):
        """image: the ELF (default: the built rt image, or the icount one with icount=True); icount: run
        with -icount shift=0 (1 instruction = 1 ns of board time; slower than real time)."""
        self.icount = icount
        self.image = find_image("icount" if icount else "rt", image)
        self.config = build.image_config()  # what the image's board.json holds (serial, key, time scale)
        self.restarts = 0  # the board restarts inside QEMU: the launcher never restarts it
        self.port = None
        self.channel = None
        self.side = None
        self._proc = None
        self._relay = None
        self._runtime = None
        self._sock = None
        self._closing = False
        self._thread = None

    @property
    def serial(self):
        """The serial the emulated board is provisioned with."""
        return self.config["provision"]["serial"]

    @property
    def key(self):
        """The emulated board's record key."""
        return bytes.fromhex(self.config["provision"]["key_hex"])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def start(self):
        """Boot the image under QEMU with its UART on a pty (self.port); returns once it answers."""
        try:
            self._runtime = Path(tempfile.mkdtemp(prefix="traction-mcu-"))
            self.channel = self._runtime / "channel"
            self.channel.mkdir()
            self.side = SideChannel(self.channel)
            self._relay = PtyRelay()
            self.port = self._relay.port
            self._relay.start()
            sock_path = self._runtime / "uart1.sock"
            tty = os.ttyname(self._relay.board_fd)  # type: ignore[arg-type]  (a started relay has it)
            cmd = qemu_command(self.image, tty, f"unix:{sock_path},server=on,wait=off", self.icount)
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE)
            self._sock = _connect(sock_path, self._proc)
            self._thread = threading.Thread(target=self._side_channel, name="mcu-side-channel", daemon=True)
            self._thread.start()
        except BaseException:
            self.close()
            raise
        return self

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
        """Raise EmulatedBoardError if QEMU stopped."""
        if not self.running():
            raise EmulatedBoardError(self.failure())

    def silence_reason(self):
        """Why the board went quiet (QEMU exited), or None while it runs."""
        return None if self.running() else EmulatedBoardError(self.failure())

    def running(self):
        """Whether QEMU still runs."""
        return self._proc is not None and self._proc.poll() is None

    def failure(self):
        """Why QEMU stopped (its stderr), or None while it runs."""
        if self.running():
            return None
        err = self._proc.stderr.read().decode(errors="replace").strip() if self._proc else ""
        return f"QEMU exited ({self._proc.returncode if self._proc else '?'}): {err or 'no message'}"

    def close(self):
        """Stop QEMU and the pty relay, and remove the runtime folder."""
        if self._closing:
            return
        self._closing = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        if self._relay is not None:
            self._relay.close()
        if self._runtime is not None:
            shutil.rmtree(self._runtime, ignore_errors=True)

    def _side_channel(self):
        """UART1 <-> the channel files: new lines of inject.jsonl go to the board, its plant lines to
        plant.json (written whole, then renamed, as the virtual board's channel does)."""
        inject = self.channel / "inject.jsonl"
        sent = 0
        pending = b""
        self._sock.settimeout(0.05)
        while not self._closing:
            try:
                size = inject.stat().st_size
            except FileNotFoundError:
                size = 0
            if size > sent:
                with open(inject, "rb") as f:
                    f.seek(sent)
                    data = f.read(size - sent)
                end = data.rfind(b"\n")
                if end >= 0:
                    self._send(data[:end + 1])
                    sent += end + 1
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self._publish(line)

    def _send(self, data):
        try:
            self._sock.sendall(data)
        except OSError:
            pass

    def _publish(self, line):
        try:
            state = json.loads(line)["plant"]
        except (ValueError, KeyError, TypeError):
            return  # the board's own messages (an ignored injection) are not the plant state
        tmp = self.channel / "plant.json.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(self.channel / "plant.json")


def _connect(path, proc):
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace").strip()
            raise EmulatedBoardError(f"QEMU did not start (exit {proc.returncode}): {err}")
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(path))
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() > deadline:
                raise EmulatedBoardError(f"QEMU did not open its UART1 socket {path} within "
                                         f"{BOOT_TIMEOUT_S:.0f} s") from None
            time.sleep(0.05)


def register(subparsers):
    """`traction sim --mcu cortex-m3`: the emulated board instead of the unix-port virtual board."""
    p = subparsers.choices["sim"]
    p.add_argument("--mcu", choices=MCUS, help="run the firmware image on an emulated microcontroller "
                   "instead of the MicroPython unix port: cortex-m3 (QEMU MPS2-AN385; build it with "
                   "`traction build --target qemu`) or rp2040 (the Pico image on rp2040js; `traction build "
                   "--target pico`, `npm ci --prefix tools/rp2040`)")
    p.add_argument("--image", metavar="ELF",
                   help="with --mcu: the image (default build/qemu/firmware-rt.elf)")
    unix_sim = p.get_default("func")

    def run(args, console=None):
        return run_sim(args) if args.mcu else unix_sim(args, console)

    p.set_defaults(func=run)


def run_sim(args):
    """`traction sim --mcu cortex-m3`: start the emulated board, print its pty, run until interrupted."""
    from .virtual_board import _register_key

    if args.store or args.settings or args.time_scale != 30 or args.board != "sim":
        raise EmulatedBoardError("--store, --set, --time-scale and --board are the unix-port virtual "
                                 "board's: the emulated board's store is its own RAM filesystem, its config "
                                 "the image's, and it runs at real time (docs/firmware.md)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a clean stop: QEMU and the relay closed
    try:
        with EmulatedBoard(args.image) as board:
            host_store = _register_key(board, args.host_store)
            print(board.port, flush=True)
            print(f"emulated board {board.serial} ({MACHINE}, Cortex-M3) on {board.port}; image "
                  f"{board.image}; side channel {board.channel}; device key registered in {host_store}. "
                  "Ctrl-C to stop.", file=sys.stderr, flush=True)
            while board.running():
                time.sleep(0.2)
            raise EmulatedBoardError(board.failure())
    except KeyboardInterrupt:
        return 0


def run_test_module(path, names, timeout_s):
    """Run test functions of a MicroPython test module frozen into the image (tools/mp_runner.py, frozen
    too) on a fresh emulated board, from its raw REPL, in the same layout as the unix run: the current
    directory is the test's folder, and the JSON files beside that folder (firmware/boards) and
    protocol/vectors are copied to the same places on the board's filesystem. Returns (stdout, stderr,
    exit status) as the unix interpreter's run would, for the same parser."""
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    path = Path(path).resolve()
    root = build.ROOT
    folder = "/" + path.parent.relative_to(root).as_posix()
    argv = ["mp_runner", "", path.stem, *names]
    code = f"import os, sys\nos.chdir({folder!r})\nsys.argv[:] = {argv!r}\nimport mp_runner\n"
    with EmulatedBoard() as board:
        transport = SerialTransport(board.port, baudrate=115200)
        try:
            transport.enter_raw_repl(soft_reset=True)
            _mkdirs(transport, folder)
            # protocol/vectors too: the firmware's own frame encoder is held to them (mp_test_wire.py)
            shared = {*path.parent.parent.glob("*/*.json"), *(root / "protocol" / "vectors").glob("*.json")}
            for data in sorted(shared):
                target = "/" + data.relative_to(root).as_posix()
                _mkdirs(transport, target.rsplit("/", 1)[0])
                transport.fs_writefile(target, data.read_bytes())
            out, err = transport.exec_raw(code, timeout=timeout_s)
            transport.exit_raw_repl()
        except TransportError as e:
            return "", f"{e}\n{board.failure() or ''}", 1
        finally:
            transport.close()
    return out.decode(errors="replace"), err.decode(errors="replace"), 1 if err else 0


def _mkdirs(transport, folder):
    at = ""
    for part in folder.strip("/").split("/"):
        at += "/" + part
        if not transport.fs_exists(at):
            transport.fs_mkdir(at)
