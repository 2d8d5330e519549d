"""The virtual board: the real firmware on the MicroPython unix port, behind a pty, restarted like a board.

    with VirtualBoard(seed=1, time_scale=30) as vb:
        device = traction.Device.open(vb.port)
        vb.press_stop()          # fault injection through the sim's side channel, never the link

The board's file store is a folder that outlives the process (records, settings.json, board.json). The
interpreter runs there on pty A; users open pty B (``vb.port``), which stays open while the interpreter
exits and starts again: Ctrl-D at the REPL or board.reset() ends the unix port, and the launcher starts it
again as a board reboots. A soft reset from mpremote's raw REPL brings the board back in the raw REPL
without main.py, as on a real board. See docs/virtual-board.md.
"""

# The board's process, relay and side channel are None until start() and set for as long as it runs; the
# methods that use them are for a started board, so pyright's None checks are off for them here.
# pyright: reportOptionalMemberAccess=false, reportOptionalOperand=false, reportOptionalSubscript=false

import argparse
import collections
import fcntl
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

from traction_fw.hal.sim import faults as sim_faults

from .errors import TractionError
from .micropython import InterpreterNotFound, interpreter
from .pty_relay import PtyRelay
from .resources import resource

RAW_REPL_BANNER = b"raw REPL; CTRL-B to exit\r\n"
SOFT_REBOOT = b"MPY: soft reboot\r\n"
CTRL_B = b"\x02"

# Process exit codes of the firmware (hal/sim/board.py).
EXIT_RESET = 3  # board.reset() or machine.reset(): a hard reset, main.py runs again
EXIT_UNEXPECTED = 4  # watchdog or injected reset: the firmware must see an unexpected reset cause

# What the sim's side channel accepts: the sim's own table (firmware/traction_fw/hal/sim/faults.py, which
# Sim.inject checks too), so a misspelt fault or a bad parameter is an error here, not a line the board
# reports on its stderr and skips.
FAULTS = sim_faults.NAMES

CRASH_LOOP_RESTARTS = 5
CRASH_LOOP_WINDOW_S = 10.0
STDERR_LINES = 20
OUTPUT_TAIL_BYTES = 2048  # of the board's output for the crash message: the unix port prints tracebacks there
STOP_TIMEOUT_S = 3.0
BOOT_TIMEOUT_S = 60.0  # from the interpreter's start to the firmware's loop (about 1 s on a quiet machine)
LAST_WORDS_S = 2.0  # how long a crash verdict waits for the interpreter's last output to arrive

# machine.reset() is missing on the unix port; a board's mpremote `reset` needs it. This module shadows
# the built-in one (which it re-exports) on the interpreter's path.
MACHINE_SHIM = '''\
# Virtual board: machine.reset() hard-resets the board (the launcher restarts the interpreter).
from umachine import *


def reset():
    import sys

    sys.exit(3)
'''

# The unix port's os.stat('') raises where a board's VFS answers for its current folder, and mpremote's
# `fs cp -r DIR :` asks it: the package then landed flattened in the store root. Shadowed the same way.
OS_SHIM = '''\
# Virtual board: os.stat("") is the current folder, as on a board's filesystem.
from uos import *
import uos


def stat(path):
    return uos.stat(path or ".")
'''


class VirtualBoardError(TractionError):
    """The virtual board cannot start or stopped restarting; the message (one line) says why. detail: the
    longer story when there is one (a crash loop's last output and stderr lines), else None."""

    def __init__(self, message, detail=None):
        super().__init__(message)
        self.detail = detail


def default_store(config):
    """~/.local/share/traction/boards/<serial> (or the board's name when it has no serial)."""
    name = config.get("provision", {}).get("serial") or config.get("name", "sim")
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "traction" / "boards" / name


def firmware_dir():
    """The folder holding main.py, boards/ and the traction_fw package (package data, traction.resources)."""
    return resource("firmware")


def protocol_dir():
    """The folder holding the traction_protocol package, and nothing else MicroPython could import by mistake
    (not site-packages, whose CPython packages, crcmod among them, would shadow the firmware's own)."""
    return resource("protocol")


def board_config(board="sim", overrides=None):
    """firmware/boards/<board>.json with overrides ({"dotted.key": value}) applied."""
    path = firmware_dir() / "boards" / f"{board}.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        known = sorted(p.stem for p in path.parent.glob("*.json"))
        names = ", ".join(known) or "none"
        raise VirtualBoardError(f"no board config {path} (known boards: {names})") from None
    for key, value in (overrides or {}).items():
        set_dotted(config, key, value)
    return config


# Settings the launcher writes itself: an override would be lost, so it is refused with the way to set it.
LAUNCHER_SETTINGS = {
    "sim.seed": "--seed N (VirtualBoard(seed=N))",
    "sim.time_scale": "--time-scale N (VirtualBoard(time_scale=N))",
    "sim.link": "nothing: a virtual board's link is always its pty",
    "sim.channel": "nothing: each run gets a fresh side channel",
    "sim.after_reset": "nothing: the launcher sets it when it restarts the board after a reset",
    "store": "--store DIR (VirtualBoard(store_dir=DIR))",
}


def set_dotted(config, key, value):
    """config["a"]["b"] = value for key "a.b". The path must exist, so a typo is an error, not a no-op, and
    the value must be of the kind it replaces (a number, text, true/false, a list or table of the same
    shape) and one of its choices where it has some, so a bad value is refused here rather than crashing
    the firmware at boot."""
    node = config
    parts = key.split(".")
    if key in LAUNCHER_SETTINGS:
        raise VirtualBoardError(f"board setting {key!r} is the launcher's: set it with "
                                f"{LAUNCHER_SETTINGS[key]}")
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:i]) or "the top level"
            choices = ", ".join(sorted(node)) if isinstance(node, dict) else "none (not a table)"
            raise VirtualBoardError(f"unknown board setting {key!r}: {where} has {choices}")
        if i == len(parts) - 1:
            _check_setting(config, key, node[part], value)
            node[part] = value
        else:
            node = node[part]


def _choices(config, key):
    """The values a text setting may take, or None when any text will do."""
    if key == "sim.region":
        return sorted(config.get("patients", {}))
    if key == "hal":
        return ["sim"]  # the unix port has no other hal
    if key == "repl":
        return ["always", "jumper"]  # a development or a production image
    return None


# The plant's physical parameters take any number where the shipped value happens to be whole; elsewhere
# a whole number stays whole (limits, counts, rates: the firmware's integer arithmetic).
PHYSICAL_SETTINGS = ("patients.", "motor.", "loadcell.noise_n", "loadcell.drift_", "loadcell.rating_n",
                     "loadcell.spike_n", "loadcell.counts_per_n")


def _check_setting(config, key, old, new):
    if isinstance(old, int) and not isinstance(old, bool) and key.startswith(PHYSICAL_SETTINGS):
        old = float(old)
    problem = _kind_mismatch(old, new)
    if problem:
        raise VirtualBoardError(f"board setting {key} must be {problem}, not {json.dumps(new)}")
    choices = _choices(config, key)
    if choices is not None and new not in choices:
        raise VirtualBoardError(f"board setting {key} must be one of {', '.join(choices)}, "
                                f"not {json.dumps(new)}")


def _kind_mismatch(old, new):
    """None if new may replace old, else what new should have been ("a number (like 0.1)")."""
    like = f" (like {json.dumps(old)})" if not isinstance(old, float) or old != int(old) else \
        f" (like {int(old)})"
    if old is None:
        return None  # a placeholder: anything goes
    if isinstance(old, bool):
        return None if isinstance(new, bool) else "true or false"
    if isinstance(old, int):
        return None if isinstance(new, int) and not isinstance(new, bool) else "a whole number" + like
    if isinstance(old, float):
        return None if isinstance(new, (int, float)) and not isinstance(new, bool) else "a number" + like
    if isinstance(old, str):
        return None if isinstance(new, str) else "text" + like
    if isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old) or any(
                _kind_mismatch(o, n) for o, n in zip(old, new, strict=True)):
            return f"a list of {len(old)} like {json.dumps(old)}"
        return None
    if isinstance(old, dict):
        if not isinstance(new, dict) or set(new) != set(old) or any(
                _kind_mismatch(old[k], new[k]) for k in old):
            return (f"a table with the keys {', '.join(old)} and values of their kinds "
                    "(or set them one by one)")
        return None
    return None


# The lease range a board in real time grants (the firmware's defaults), in device ms.
LEASE_RANGE_MS = (300, 10000)


def scaled_lease(config, time_scale):
    """The board config's lease range for a clock running time_scale times faster than the wall. A real
    board's longest lease is 10 s; here 10 s of device time is only 10/time_scale s of wall time, so the
    board grants every host the longest lease of a real board in wall time (10 s = 10000 x time_scale ms
    of device time, which INFO's u32 fields carry at any scale), by raising lease_min_ms to it: its own
    clamp lifts any request (SPEC section 6). In real time the firmware's own range holds."""
    lo, hi = config.get("lease_min_ms", LEASE_RANGE_MS[0]), config.get("lease_max_ms", LEASE_RANGE_MS[1])
    if time_scale == 1:
        return {"lease_min_ms": lo, "lease_max_ms": hi}
    longest = hi * time_scale
    return {"lease_min_ms": longest, "lease_max_ms": longest}


class SideChannel:
    """The sim's file side channel (docs/virtual-plant.md): the board's physical world, not its link."""

    def __init__(self, path):
        self.path = Path(path)

    @classmethod
    def of_store(cls, store):
        """The side channel of the virtual board running on this store (from the store's board.json)."""
        config_path = Path(store) / "board.json"
        try:
            channel = json.loads(config_path.read_text())["sim"]["channel"]
        except (OSError, ValueError, KeyError, TypeError):
            raise VirtualBoardError(f"no virtual board config at {config_path}: start one with "
                                    f"`traction sim --store {store}`") from None
        if not channel or not Path(channel).is_dir():
            raise VirtualBoardError(f"the virtual board of {store} is not running (no side channel "
                                    f"{channel}): start it with `traction sim --store {store}`")
        return cls(channel)

    def inject(self, name, **params):
        """Inject a named fault or physical event with its parameters."""
        try:
            sim_faults.check(name, params)
        except ValueError as e:
            raise VirtualBoardError(str(e)) from None
        self._append({"inject": name, **params})

    def clear(self, name):
        """Clear a named fault or event."""
        try:
            sim_faults.params_of(name)
        except ValueError as e:
            raise VirtualBoardError(str(e)) from None
        self._append({"clear": name})

    def plant(self):
        """The board's last published physical state (plant.json), or {} before its first."""
        try:
            return json.loads((self.path / "plant.json").read_text())
        except FileNotFoundError:
            return {}

    def _append(self, message):
        # One write of one whole line: the board applies complete lines only, in order.
        line = (json.dumps(message) + "\n").encode()
        fd = os.open(self.path / "inject.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


class VirtualBoard:
    """A simulated traction board on a pty. Use as a context manager, or start() and close()."""

    def __init__(self, seed=1, time_scale=30, store_dir=None, board="sim", overrides=None, on_stderr=None):
        """seed: the plant's noise; time_scale: device seconds per wall second (1..1000); store_dir: the
        board's file store (default ~/.local/share/traction/boards/<serial>); board: firmware/boards/
        <board>.json; overrides: {"dotted.key": value} on that config; on_stderr(line): the interpreter's
        stderr, line by line (the last lines are kept in any case, see stderr_tail())."""
        if not isinstance(time_scale, int) or not 1 <= time_scale <= 1000:
            raise VirtualBoardError(f"time scale must be a whole number 1..1000, not {time_scale!r}")
        self.config = board_config(board, overrides)
        self.config["sim"].update(seed=seed, time_scale=time_scale, link="stdio")
        self.config.update(scaled_lease(self.config, time_scale))
        self.store = Path(store_dir) if store_dir else default_store(self.config)
        self.port = None
        self.restarts = 0
        self.failure = None
        self.failure_detail = None
        self._on_stderr = on_stderr
        self._stderr_tail = collections.deque(maxlen=STDERR_LINES)
        self._restart_times = collections.deque()
        self._in_raw_repl = False
        self._saw_soft_reboot = False
        self._swallow_until_raw = False
        self._swallowed = b""
        self._output_tail = b""
        self._last_output = b""
        self._proc = None
        self._stderr_reader = None
        self._closing = False
        self._runtime = None
        self._relay = None
        self._supervisor = None
        self._exe = self._lib = self._main = None
        self._kind = None
        self.channel = None
        self._side = None
        self._store_lock = None

    # -- lifecycle --

    def start(self):
        """Start the firmware under MicroPython behind a pty (self.port); returns once it answers."""
        try:
            exe = interpreter()
        except InterpreterNotFound as e:
            raise VirtualBoardError(str(e)) from None
        main = firmware_dir() / "main.py"
        if not main.is_file():
            raise VirtualBoardError(f"firmware not found: {main} does not exist")
        self.store.mkdir(parents=True, exist_ok=True)
        self._lock_store()
        _set_aside_unsealed_settings(self.store)
        try:
            self._launch(exe, main)
            self._wait_for_boot()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_for_boot(self):
        """Until the firmware's loop runs (its first plant.json, about a second after the interpreter
        starts): a HELLO sent sooner counted the start-up against the link's 3.5 s, which a loaded
        machine can stretch past it."""
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while not (self.channel / "plant.json").exists():
            if self.failure:
                raise VirtualBoardError(self.failure, detail=self.failure_detail)
            if time.monotonic() > deadline:
                raise VirtualBoardError(f"virtual board did not start its control loop within "
                                        f"{BOOT_TIMEOUT_S:.0f} s", detail="\n".join(self.stderr_tail()))
            time.sleep(0.02)

    def _lock_store(self):
        # Two boards on one store would write the same records: the second one is refused.
        fd = os.open(self.store, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            shared = (" (the default store, shared by `traction sim`, `--port sim` and Device.open(\"sim\"))"
                      if self.store == default_store(self.config) else "")
            raise VirtualBoardError(
                f"the store {self.store} is in use by another virtual board{shared}: stop that one, or give "
                "this one its own store: `traction sim --store DIR` (and `--port` the path it prints), "
                "VirtualBoard(store_dir=DIR) or Device.open(\"sim\", sim_options={\"store_dir\": DIR})"
            ) from None
        self._store_lock = fd

    def _launch(self, exe, main):
        self._runtime = Path(tempfile.mkdtemp(prefix="traction-sim-"))
        self.channel = self._runtime / "channel"
        self.channel.mkdir()
        self._side = SideChannel(self.channel)
        lib = self._runtime / "lib"
        lib.mkdir()
        (lib / "machine.py").write_text(MACHINE_SHIM)
        (lib / "os.py").write_text(OS_SHIM)
        self.config["sim"]["channel"] = str(self.channel)
        self._write_config(after_reset=False)
        self._exe, self._lib, self._main = exe, lib, main
        self._relay = PtyRelay(on_board_output=self._board_output, on_user_input=self._user_input)
        self.port = self._relay.port
        self._relay.start()
        self._spawn("firmware")
        self._supervisor = threading.Thread(target=self._supervise, name="virtual-board", daemon=True)
        self._supervisor.start()

    def close(self):
        """Stop the interpreter and the relay. The store stays; the side channel goes."""
        if self._closing:
            return
        self._closing = True
        _stop(self._proc)
        if self._supervisor is not None:
            self._supervisor.join(STOP_TIMEOUT_S)
        _stop(self._proc)  # one the supervisor may have started as we began to close
        if self._relay is not None:
            self._relay.close()
        if self._runtime is not None:
            shutil.rmtree(self._runtime, ignore_errors=True)
        if self._store_lock is not None:
            os.close(self._store_lock)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def check(self):
        """Raise VirtualBoardError if the board stopped restarting (a crash loop)."""
        if self.failure:
            raise VirtualBoardError(self.failure, detail=self.failure_detail)

    def silence_reason(self):
        """Why a board that did not answer is silent, from its own side (a VirtualBoardError), or None when
        the interpreter ran on as far as the launcher can tell."""
        if self.failure:
            return VirtualBoardError(self.failure, detail=self.failure_detail)
        if not self.restarts:
            return None
        tail = self.stderr_tail()
        words = last_exception(tail) or next((line.strip() for line in reversed(tail) if line.strip()), None)
        return VirtualBoardError(f"the virtual board did not answer: MicroPython ended {self.restarts} "
                                 "times since it started" + (f"; its last words: {words}" if words else ""),
                                 detail="\n".join(tail) or None)

    def stderr_tail(self):
        """The last lines the interpreter wrote to stderr (for error messages)."""
        return list(self._stderr_tail)

    # -- the physical world, through the sim's side channel (never the link) --

    def inject(self, name, **params):
        """Set a fault or physical condition: inject("cable_snap"), inject("loadcell_spikes", per_s=5)."""
        self._side.inject(name, **params)

    def clear(self, name):
        """Clear an injected fault or event."""
        self._side.clear(name)

    def press_stop(self):
        """The patient presses the stop switch (and holds it until release_stop())."""
        self._side.inject("stop_switch", pressed=True)

    def release_stop(self):
        """Release the patient stop switch."""
        self._side.clear("stop_switch")

    def service_jumper(self, on):
        """Fit (True) or remove (False) the service jumper."""
        self._side.inject("service_jumper", present=bool(on))

    def reset(self):
        """Press the reset button: the board restarts at its next control period (an unexpected reset)."""
        self._side.inject("reset")

    def plant(self):
        """What really happens on the line, published by the board a few times a second (plant.json):
        true_force_dn, peak_force_dn, motor_enabled, motor_speed_pm, line_m, device_ms, stop_switch,
        service_jumper, faults."""
        return self._side.plant()

    # -- the board's identity --

    @property
    def serial(self):
        """The serial the virtual board reports."""
        return self._identity()[0]

    @property
    def key(self):
        """The device key that signs records (bytes): the store's settings, else the board config's."""
        return self._identity()[1]

    def _identity(self):
        settings, key = self.store / "settings.json", self.store / "key.bin"
        if settings.is_file() and key.is_file():
            return json.loads(settings.read_text())["settings"]["serial"], key.read_bytes()
        provision = self.config.get("provision", {})
        key = provision.get("key_hex") or provision.get("key", "")
        return provision.get("serial", ""), bytes.fromhex(key)

    # -- the process --

    def _write_config(self, after_reset):
        self.config["sim"]["after_reset"] = after_reset
        tmp = self.store / "board.json.tmp"
        tmp.write_text(json.dumps(self.config, indent=2) + "\n")
        tmp.replace(self.store / "board.json")

    def _spawn(self, kind, keep_input=False):
        if not keep_input:
            self._relay.flush_board_input()
        self._kind = kind
        self._saw_soft_reboot = False
        cmd, path = self._firmware()
        self._proc = subprocess.Popen(
            [str(self._exe), *cmd] if kind == "firmware" else [str(self._exe)], stdin=self._relay.board_fd,
            stdout=self._relay.board_fd, stderr=subprocess.PIPE, cwd=self.store,
            env=dict(os.environ, MICROPYPATH=os.pathsep.join(map(str, [self._lib, *path]))),
            start_new_session=True,
        )
        self._stderr_reader = threading.Thread(target=self._read_stderr, args=(self._proc,),
                                               name="virtual-board-stderr", daemon=True)
        self._stderr_reader.start()

    def _firmware(self):
        """(main.py argument, module path) of what this boot runs: the firmware deployed on the store
        (`traction flash --port`: its main.py at the root, as on a board), else the repository's."""
        if (self.store / "main.py").is_file():
            return ["main.py"], [self.store, self.store / "lib"]
        return [str(self._main)], [firmware_dir(), protocol_dir()]

    def _supervise(self):
        while True:
            code = self._proc.wait()
            if self._closing:
                return
            if code != 0 and self._crash_loop():
                self._await_last_words()
                self.failure_detail = self._crash_detail(code)
                self.failure = self._crash_summary(code)
                return
            self.restarts += 1
            try:
                self._restart(code)
            except OSError as e:
                self.failure = f"virtual board stopped: cannot restart MicroPython ({e})"
                return

    def _restart(self, code):
        """Start what a board would run after the interpreter ended with this exit code."""
        if code == 0 and self._kind == "firmware":
            # main.py returned to hand the port to the REPL: the bytes after the REPL tool's CR Ctrl-C
            # (mpremote's CR Ctrl-A) are still unread and go to the REPL.
            self._spawn("repl", keep_input=True)
        elif code == 0 and self._in_raw_repl:
            # A soft reset in the raw REPL: a real board comes back in the raw REPL, without main.py.
            # Its plain REPL banner is hidden (and with it, maybe, the old interpreter's last "OK").
            if not self._saw_soft_reboot:
                self._relay.to_user(SOFT_REBOOT)
            self._swallow_until_raw = True
            self._spawn("repl")
            self._relay.to_board(b"\r\x01")
        else:
            # Ctrl-D at the friendly REPL, a reset, or a crash: the board boots its firmware.
            if code == EXIT_UNEXPECTED:
                # The booting board replays the side channel from its start to learn the physical state;
                # a reset is an event, not a state, so it must not reset the board again.
                self._side.clear("reset")
            self._in_raw_repl = False
            self._write_config(after_reset=code not in (0, EXIT_RESET))
            self._spawn("firmware")

    def _await_last_words(self):
        """The interpreter has exited, but its last output may still be on its way (the stderr pipe, the
        relay): a loaded machine delays both. Wait for them a little, so the verdict quotes them."""
        self._stderr_reader.join(LAST_WORDS_S)
        deadline = time.monotonic() + LAST_WORDS_S
        while time.monotonic() < deadline and not (
                last_exception(self._last_output.decode("ascii", errors="replace").splitlines())
                or last_exception(self._stderr_tail)):
            time.sleep(0.05)

    def _crash_loop(self):
        now = time.monotonic()
        self._restart_times.append(now)
        while self._restart_times and now - self._restart_times[0] > CRASH_LOOP_WINDOW_S:
            self._restart_times.popleft()
        return len(self._restart_times) > CRASH_LOOP_RESTARTS

    def _crash_head(self, code):
        return (f"virtual board stopped: MicroPython failed {CRASH_LOOP_RESTARTS + 1} times within "
                f"{CRASH_LOOP_WINDOW_S:.0f} s (last exit code {code})")

    def _crash_summary(self, code):
        """One line: why, and the last line of the interpreter's last traceback (its exception)."""
        output = self._last_output.decode("ascii", errors="replace").splitlines()
        words = last_exception(output) or last_exception(self._stderr_tail)
        if words is None:
            words = next((line.strip() for line in reversed([*output, *self._stderr_tail]) if line.strip()),
                         "no output")
        return f"{self._crash_head(code)}: {words}"

    def _crash_detail(self, code):
        output = self._last_output.decode("ascii", errors="replace").splitlines()[-STDERR_LINES:]
        lines = "\n".join([*output, *self._stderr_tail]) or "(nothing)"
        return f"{self._crash_head(code)}. Its last words:\n{lines}"

    def _read_stderr(self, proc):
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self._stderr_tail.append(line)
            if self._on_stderr:
                self._on_stderr(line)
        proc.stderr.close()

    # -- what passes through the port (relay thread) --

    def _board_output(self, data):
        self._last_output = (self._last_output + data)[-OUTPUT_TAIL_BYTES:]
        seen = self._output_tail + data
        self._output_tail = seen[-len(RAW_REPL_BANNER):]
        if RAW_REPL_BANNER in seen:
            self._in_raw_repl = True
        if b"soft reboot" in seen:
            self._saw_soft_reboot = True
        if self._swallow_until_raw:
            # Hide the plain REPL's banner: a soft-rebooted board shows only the raw REPL's.
            self._swallowed += data
            at = self._swallowed.find(RAW_REPL_BANNER)
            if at < 0:
                return b""
            data, self._swallowed, self._swallow_until_raw = self._swallowed[at:], b"", False
        return data

    def _user_input(self, data):
        if self._in_raw_repl and CTRL_B in data:
            self._in_raw_repl = False
        return data


def _set_aside_unsealed_settings(store):
    """A store from before sealed settings (docs/safety.md, "Lockdown") would boot TAMPERED: the settings it
    has, in the old format with the key inside, are set aside as settings.v1.json and the board starts again
    from its factory settings. The launcher stands for a hand on the board, as erasing a store does."""
    old = store / "settings.json"
    try:
        legacy = "key" in json.loads(old.read_text()) and not (store / "key.bin").exists()
    except (OSError, ValueError):
        return
    if legacy:
        old.replace(store / "settings.v1.json")


def last_exception(lines):
    """The exception line ("ValueError: ...") of the last traceback in these lines, or None."""
    lines = list(lines)
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return None
    for line in lines[starts[-1] + 1:]:
        if line.strip() and not line.startswith((" ", "\t")):
            return line.strip()
    return None


def _stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the `traction sim` command --

def register(subparsers):
    """Add `sim` (and `inject`) to the `traction` command line."""
    p = subparsers.add_parser(
        "sim", help="run a virtual board; prints its port path alone on the first line",
        description="Run the firmware on the MicroPython unix port with simulated hardware, behind a pty. "
                    "The port path is printed alone on the first line of stdout; the rest goes to stderr. "
                    "Runs until Ctrl-C or SIGTERM; the board's file store is kept.")
    p.add_argument("--seed", type=int, default=1, help="seed of the simulated plant's noise (default 1)")
    p.add_argument("--time-scale", type=_time_scale, default=30, metavar="N",
                   help="device seconds per wall-clock second, 1..1000 (default 30)")
    p.add_argument("--store", metavar="DIR", help="the board's file store (default "
                   "~/.local/share/traction/boards/<serial>); kept across runs")
    p.add_argument("--board", default="sim", help="board config firmware/boards/<BOARD>.json (default sim)")
    p.add_argument("--host-store", metavar="FILE", help="host store where the board's device key is "
                   "registered, so `traction run --port PATH` verifies its records (default $TRACTION_STORE "
                   "or ~/.local/share/traction/traction.db)")
    p.add_argument("--set", dest="settings", metavar="KEY=VALUE", action="append", default=[],
                   type=_setting, help="override a board config value by its dotted key, e.g. "
                   "sim.region=cervical or loadcell.noise_n=0.5 (VALUE is JSON, else text); repeatable")
    p.set_defaults(func=run_sim)

    q = subparsers.add_parser(
        "inject", help="change a running virtual board's physical world (faults, stop switch, jumper)",
        description="Write to the side channel of the virtual board running on a store. Faults and their "
                    "parameters: " + fault_usage() + ". Parameters are KEY=VALUE (VALUE is JSON, else text).")
    q.add_argument("fault", nargs="?", choices=FAULTS, metavar="FAULT", help="fault or condition to set")
    q.add_argument("params", nargs="*", type=_setting, metavar="KEY=VALUE", help="the fault's parameters")
    q.add_argument("--clear", action="store_true", help="clear FAULT instead of setting it")
    q.add_argument("--plant", action="store_true", help="print the board's physical state (JSON) and exit")
    q.add_argument("--store", metavar="DIR", help="the board's store, as given to `traction sim` "
                   "(default: the default sim board's)")
    q.set_defaults(func=run_inject)


def run_inject(args, console=None):
    """`traction inject`; a VirtualBoardError goes to the command's one-line error report (traction.cli)."""
    params = dict(args.params)
    if not args.plant:
        # What the board would refuse is refused here, before the store is looked up.
        if args.fault is None:
            raise VirtualBoardError("name a fault to inject (or --plant): one of " + ", ".join(FAULTS))
        if args.clear and params:
            raise VirtualBoardError(f"--clear {args.fault} takes no parameters")
        try:
            sim_faults.check(args.fault, params)
        except ValueError as e:
            raise VirtualBoardError(str(e)) from None
    store = args.store or default_store(board_config())
    side = SideChannel.of_store(store)
    if args.plant:
        print(json.dumps(side.plant(), indent=2))
    elif args.clear:
        side.clear(args.fault)
    else:
        side.inject(args.fault, **params)
    return 0


def run_sim(args, console=None):
    """`traction sim`; a VirtualBoardError goes to the command's one-line error report (traction.cli)."""

    def stderr(line):
        print(f"board: {line}", file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    board = None
    try:
        board = VirtualBoard(seed=args.seed, time_scale=args.time_scale, store_dir=args.store,
                             board=args.board, overrides=dict(args.settings), on_stderr=stderr)
        board.start()
        host_store = _register_key(board, args.host_store)
        print(board.port, flush=True)
        key = f"device key registered in {host_store}" if host_store else \
            "not provisioned (traction provision, docs/device-makers.md)"
        print(f"virtual board {board.serial or '(bare)'} on {board.port}; store {board.store}; side channel "
              f"{board.channel}; time scale {args.time_scale}; {key}. Ctrl-C to stop.", file=sys.stderr,
              flush=True)
        while board.failure is None:
            time.sleep(0.2)
        board.check()  # a crash loop: reported in one line by traction.cli, its tracebacks on request
    except KeyboardInterrupt:
        return 0
    finally:
        if board is not None:
            board.close()


def fault_usage():
    """'loadcell_disconnected [mode=rails|zero], loadcell_stuck, ...' from the sim's table."""
    kinds = {"number": "N", "int": "N", "bool": "true|false"}
    parts = []
    for name, specs in sim_faults.FAULTS:
        params = [f"[{key}={'|'.join(map(str, limits or ())) if kind == 'text' else kinds[kind]}]"
                  for key, kind, limits in specs]
        parts.append(" ".join([name, *params]))
    return ", ".join(parts)


def _register_key(board, path):
    """What provisioning does for a real board: the host store learns the key that signs its records."""
    from traction.store import Store

    if not board.serial:
        return None  # a bare board has no key yet: provisioning gives it one
    with Store(path) as store:
        store.set_key(board.serial, board.key)
        return store.path


def _time_scale(text):

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"time scale must be a whole number, not {text!r}") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"time scale must be 1..1000, not {value}")
    return value


def _setting(text):

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value
