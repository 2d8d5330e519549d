"""Commissioning a unit, from a bare board: `traction flash`, `provision`, `calibrate` and `selftest`.

Each step talks to the board through the protocol alone (the service jumper fitted for provisioning and
calibration), asks the operator what only a person can do (hang a weight, press the stop switch), and
keeps its report in the host store. On a virtual board, `--sim-store DIR` does the operator's part
through the board's side channel instead, so a test can drive the whole sequence. docs/device-makers.md
walks through it.
"""

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from traction_protocol.constants import FAULT_NAME, SECURITY_REPL

from traction.errors import NakError, TractionError
from traction.units import from_dn

G = 9.80665  # standard gravity: a reference mass in kg to newtons
SAMPLES = 64  # readings averaged per calibration point
SETTLE_S = 0.5  # wall time a hung weight is left to settle before it is read
MIN_WEIGHTS = 3
MAX_NONLIN_PCT = 0.1  # of full scale: a deviation from the straight line beyond this fails calibration
MAX_HYSTERESIS_PCT = 0.1
MAX_ZERO_N = 5.0  # selftest: the unloaded reading after TARE's window
MAX_NOISE_N = 1.0  # selftest: the load cell's standard deviation at rest
JOG_PM = 200  # selftest: the motor at 20 % of full speed ...
JOG_MS = 500  # ... for half a second, each way
SCALE_TOLERANCE = 0.25  # encoder counts within 25 % of what full_speed_counts_s predicts
WATCHDOG_BACK_S = 30.0  # wall time for a starved watchdog to reset the board and the firmware to answer
CURRENT_BACK_COUNTS = 5  # after the driver is disabled the current is back at its motor-off reading
KEY_MODE = 0o600
MPREMOTE_S = 300  # a deploy of the whole firmware takes well under this; a REPL that never comes, for ever


class CommissionError(TractionError):
    """A commissioning step that cannot go on; the message says why and what to do."""


# ---- the operator: a person at a prompt, or the virtual board's side channel ----

class Operator:
    """What a person does during commissioning. yes: accept without asking (scripted runs)."""

    def __init__(self, yes=False, out=print):
        self.yes = yes
        self.out = out

    def hang(self, kg):
        """Ask the person to hang a reference weight of kg on the load cell."""
        self._wait(f"Hang {kg:g} kg on the load cell (nothing else on it), then press Enter")

    def unload(self):
        """Ask the person to take every weight off the load cell."""
        self._wait("Take every weight off the load cell (line slack), then press Enter")

    def stop_switch(self, pressed):
        """Ask the person to press (or release) the patient stop switch."""
        self._wait("Press and hold the patient stop switch, then press Enter" if pressed else
                   "Release the stop switch, then press Enter")

    def jumper(self, fitted):
        """Ask the person to fit (or remove) the service jumper."""
        self._wait("Fit the service jumper, then press Enter" if fitted else
                   "Remove the service jumper, then press Enter")

    def accept(self, question):
        """Whether the person accepts a result (always, with --yes)."""
        if self.yes:
            self.out(f"{question} yes (--yes)")
            return True
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")

    def _wait(self, text):
        if self.yes:
            raise CommissionError(f"--yes cannot do this for you: {text.split(',')[0].lower()}; run "
                                  "interactively, or on a virtual board give --sim-store")
        input(text + " ")


class SimOperator(Operator):
    """A virtual board's physical world (its side channel) in place of the person."""

    def __init__(self, store, out=print):
        from traction.virtual_board import SideChannel

        super().__init__(yes=True, out=out)
        self.side = SideChannel.of_store(store)

    def hang(self, kg):
        """Hang kg on the virtual board's load cell."""
        self.out(f"side channel: {kg:g} kg hung on the load cell")
        self.side.inject("weight", kg=kg)
        time.sleep(SETTLE_S)

    def unload(self):
        """Take every weight off the virtual board's load cell."""
        self.out("side channel: load cell unloaded")
        self.side.clear("weight")
        time.sleep(SETTLE_S)

    def stop_switch(self, pressed):
        """Press (or release) the virtual board's stop switch."""
        self.out(f"side channel: stop switch {'pressed' if pressed else 'released'}")
        if pressed:
            self.side.inject("stop_switch", pressed=True)
        else:
            self.side.clear("stop_switch")
        time.sleep(SETTLE_S)

    def jumper(self, fitted):
        """Fit (or remove) the virtual board's service jumper."""
        self.out(f"side channel: service jumper {'fitted' if fitted else 'removed'}")
        self.side.inject("service_jumper", present=fitted)
        time.sleep(SETTLE_S)


def operator_for(args, out):
    """The person at the bench, or the virtual board's side channel with --sim-store."""
    if getattr(args, "sim_store", None):
        return SimOperator(args.sim_store, out)
    return Operator(yes=args.yes, out=out)


# ---- board access ----

def open_device(args):
    """The board on --port, with the host store of --store."""
    from traction.device import Device

    return Device.open(args.port, store=args.store)


def service(dev):
    """Enter SERVICE (the jumper must be fitted); CommissionError with what to do otherwise."""
    status = dev.status()
    if status.state == "SERVICE":
        return
    if status.fault:
        raise CommissionError(f"the board has a fault latched ({status.fault}): clear it first "
                              "(`traction info --clear-fault`); a TAMPERED board needs its store erased")
    if not status.service_jumper:
        raise CommissionError("fit the service jumper: provisioning and calibration need it")
    dev.command("SERVICE_ENTER")


def leave_service(dev):
    """Back to IDLE from SERVICE; a board not in SERVICE is left as it is."""
    try:
        dev.command("SERVICE_EXIT")
    except NakError:
        pass


def read_average(dev, n=SAMPLES):
    """n distinct control samples of LOADCELL_READ: (mean counts, standard deviation, mean current or None,
    list of raw counts)."""
    raw, cur, seen = [], [], set()
    deadline = time.monotonic() + 30 + n * 0.1
    while len(raw) < n:
        m = dev.command("LOADCELL_READ")
        if m["sample"] not in seen:
            seen.add(m["sample"])
            raw.append(m["raw_counts"])
            if m["current_counts"] >= 0:
                cur.append(m["current_counts"])
        elif time.monotonic() > deadline:
            raise CommissionError(f"the board gave only {len(raw)} fresh load-cell samples of {n}")
        else:
            time.sleep(0.002)
    return statistics.fmean(raw), statistics.pstdev(raw), statistics.fmean(cur) if cur else None, raw


# ---- traction flash ----

def firmware_files(firmware, protocol, mpy):
    """[(local file, path on the board)]: boot.py and main.py at the root, the packages under lib/."""
    files = [(firmware / "boot.py", "boot.py"), (firmware / "main.py", "main.py")]
    for root, package in ((firmware, "traction_fw"), (protocol, "traction_protocol")):
        for src in sorted((root / package).rglob("*.py")):
            rel = src.relative_to(root).as_posix()
            files.append((src, "lib/" + (rel[:-3] + ".mpy" if mpy else rel)))
    return files


# sys.implementation._mpy >> 10 on a board: its native code architecture, by mpy-cross's -march name
MPY_ARCH = ("", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp", "xtensa",
            "xtensawin", "rv32imc")


def board_arch(port):
    """The board's native architecture (viper modules are machine code for it), asked over its REPL."""
    cmd = [sys.executable, "-m", "mpremote", "connect", port, "exec",
           "import sys; print(sys.implementation._mpy >> 10 & 15)"]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=MPREMOTE_S)
    except subprocess.TimeoutExpired:
        raise CommissionError(f"mpremote got no REPL on {port} within {MPREMOTE_S} s") from None
    try:
        arch = MPY_ARCH[int(run.stdout.strip().splitlines()[-1])]
    except (ValueError, IndexError):
        raise CommissionError(f"could not ask the board on {port} its architecture: "
                              f"{(run.stderr or run.stdout).strip() or 'no answer'}") from None
    if not arch:
        raise CommissionError(f"the board on {port} runs no native code: the firmware's viper modules "
                              "need a MicroPython built with a native emitter")
    return arch


def compile_mpy(files, work, arch):
    """Compile each package module with mpy-cross for arch; boot.py and main.py stay source (a board runs
    them)."""
    out = []
    for src, dest in files:
        if dest.endswith(".mpy"):
            target = work / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            run = subprocess.run([sys.executable, "-m", "mpy_cross", "-march=" + arch, "-o", str(target),
                                  str(src)],
                                 capture_output=True, text=True)
            if run.returncode:
                raise CommissionError(f"mpy-cross failed on {src}: {run.stderr.strip()}")
            src = target
        out.append((src, dest))
    return out


# What `flash` runs on the board before copying: an old deploy's packages go first (a stale .py would be
# imported before a new .mpy), then the folders the copy needs.
PREPARE = """
import os
def rm(p):
    try:
        names = os.listdir(p)
    except OSError:
        return
    for n in names:
        q = p + '/' + n
        try:
            os.remove(q)
        except OSError:
            rm(q)
    os.rmdir(p)
for p in ('lib/traction_fw', 'lib/traction_protocol'):
    rm(p)
for d in %r:
    try:
        os.mkdir(d)
    except OSError:
        pass
"""


def check_repl_offered(port):
    """CommissionError when the firmware answers and says it offers no REPL (mpremote would wait for one
    for ever); a board that does not answer (at its REPL already, or another firmware) is left to mpremote."""
    from traction.device import _connect, handshake

    try:
        link = _connect(port)
    except TractionError:
        return
    try:
        info = handshake(link)
    except TractionError:
        return
    finally:
        link.close()
    if not info.security & SECURITY_REPL:
        raise CommissionError(f"board {info.serial or '(unprovisioned)'} offers no REPL on {port} (a "
                              "production image): fit the service jumper, reset the board, and flash again")


def flash_mpremote(port, firmware=None, protocol=None, mpy=True, out=print):
    """Deploy the firmware as files through mpremote (a development image's REPL), then reset the board."""
    from traction.virtual_board import firmware_dir, protocol_dir

    check_repl_offered(port)
    firmware = Path(firmware or firmware_dir())
    protocol = Path(protocol or protocol_dir())
    with tempfile.TemporaryDirectory(prefix="traction-flash-") as tmp:
        files = firmware_files(firmware, protocol, mpy)
        if mpy:
            files = compile_mpy(files, Path(tmp), board_arch(port))
        dirs = sorted({str(Path(d).parent) for _, d in files if "/" in d}, key=lambda d: d.count("/"))
        dirs = sorted({"lib", *dirs}, key=lambda d: (d.count("/"), d))
        cmd = [sys.executable, "-m", "mpremote", "connect", port, "exec", PREPARE % (dirs,)]
        for src, dest in files:
            cmd += ["+", "fs", "cp", str(src), ":" + dest]
        cmd += ["+", "reset"]
        try:
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=MPREMOTE_S)
        except subprocess.TimeoutExpired:
            raise CommissionError(f"mpremote got no REPL on {port} within {MPREMOTE_S} s: fit the service "
                                  "jumper and reset the board (a production image), or stop what uses the "
                                  "port") from None
        if run.returncode:
            why = (run.stderr.strip() or run.stdout.strip()).splitlines()
            raise CommissionError(f"mpremote could not deploy to {port}: {why[-1] if why else 'no output'} "
                                  "(a production image offers no REPL without the service jumper fitted "
                                  "at boot)")
    out(f"deployed {len(files)} files ({'.mpy' if mpy else 'source'}) to {port} and reset it")
    return files


def bootsel_drive():
    """The mounted RPI-RP2 drive of a Pico in BOOTSEL mode, or None."""
    user = os.environ.get("USER", "")
    for base in (Path("/media") / user, Path("/run/media") / user, Path("/media"), Path("/Volumes")):
        if base.is_dir():
            for d in sorted(base.iterdir()):
                if (d / "INFO_UF2.TXT").is_file():
                    return d
    return None


def flash_uf2(image, drive=None, out=print):
    """Copy a UF2 image onto a Pico in BOOTSEL mode (its RPI-RP2 drive, found or given)."""
    image = Path(image)
    if not image.is_file():
        raise CommissionError(f"no image {image}: build it with `traction build --target pico`")
    if image.read_bytes()[:8] != b"UF2\n\x57\x51\x5d\x9e":
        raise CommissionError(f"{image} is not a UF2 image")
    drive = Path(drive) if drive else bootsel_drive()
    if drive is None or not (drive / "INFO_UF2.TXT").is_file():
        raise CommissionError("no Pico in BOOTSEL mode: hold BOOTSEL while plugging it in, and check its "
                              "drive (RPI-RP2) is mounted; or give --drive")
    shutil.copyfile(image, drive / image.name)
    out(f"copied {image} to {drive}: the Pico restarts into the new image")


def cmd_flash(args, console):
    """`traction flash`: a UF2 onto a Pico in BOOTSEL, or the firmware's .mpy files over the REPL."""
    out = console.print
    if args.uf2 is not None:
        from traction.build_pico import image_path

        flash_uf2(args.uf2 or image_path(), args.drive, out)
        return 0
    if not args.port:
        raise CommissionError("give --port (mpremote deploy) or --uf2 (a Pico in BOOTSEL mode)")
    flash_mpremote(args.port, args.firmware, None, not args.source, out)
    return 0


# ---- traction provision ----

def write_key_file(path, key):
    """The key, hex, in a file only its owner can read; an existing file is never overwritten."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_MODE)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")
    return path


def provision(dev, serial, hard_n, cervical_n, lumbar_n, key_file, out=print):
    """Generate the device key, send PROVISION, register the key; returns the report."""
    limits = {"hard_max_dn": round(hard_n * 10), "cervical_max_dn": round(cervical_n * 10),
              "lumbar_max_dn": round(lumbar_n * 10)}
    key = secrets.token_bytes(32)
    service(dev)
    path = write_key_file(key_file, key)  # before the board has it: a key the host lost is a dead board
    try:
        dev.command("PROVISION", serial=serial, key=key, **limits)
    except NakError as e:
        path.unlink()
        leave_service(dev)
        info = dev.info
        if e.error == "LIMIT_RAISE":
            raise CommissionError(
                f"limits only go down once a board is provisioned: it has device {info.hard_max_n:g} N, "
                f"cervical {info.cervical_max_n:g} N, lumbar {info.lumbar_max_n:g} N") from None
        if e.error == "OUT_OF_RANGE":
            raise CommissionError("the board refused these limits: a region above the device maximum, "
                                  "or one above what the board is built for (its config's limits)") from None
        raise
    dev.store.set_key(serial, key)
    report = {"serial": serial, "key_file": str(path), **limits,
              "utc": datetime.now(UTC).isoformat(timespec="seconds")}
    dev.store.add_commissioning(serial, "provision", True, report)
    leave_service(dev)
    out(f"provisioned {serial}: device {hard_n:g} N, cervical {cervical_n:g} N, lumbar {lumbar_n:g} N")
    out(f"device key: {path} (mode 0600), registered in {dev.store.path}")
    return report


def cmd_provision(args, console):
    """`traction provision`: serial, key and maxima onto a board in service mode; then limits only go down."""
    key_file = args.key_file or f"{args.serial}.key"
    with open_device(args) as dev:
        provision(dev, args.serial, args.hard_max, args.cervical_max, args.lumbar_max, key_file,
                  console.print)
    return 0


# ---- traction calibrate ----

def fit(zero, points):
    """Least squares through the tare: counts - zero = slope x load. points: [(load_dn, counts)].
    Returns (slope counts per dn, [deviation of each point, dn])."""
    slope = sum(w * (c - zero) for w, c in points) / sum(w * w for w, _ in points)
    return slope, [((c - zero) - slope * w) / slope for w, c in points]


def calibration_checks(zero, points, back, zero_after, full_scale_dn, max_nonlin_pct, max_hyst_pct):
    """The calibration's numbers and its checks: (report dict, [(check, passed, detail)])."""
    slope, dev = fit(zero, points)
    rising = all(b[1] > a[1] for a, b in zip([(0, zero), *points], points, strict=False))
    nonlin = max(abs(d) for d in dev) / full_scale_dn * 100
    mid_w, mid_up = back[0], dict(points)[back[0]]
    hyst = abs(back[1] - mid_up) / abs(slope) / full_scale_dn * 100
    zero_return = abs(zero_after - zero) / abs(slope) / full_scale_dn * 100
    checks = [
        ("sign", slope > 0 and rising, "the reading rises with each weight" if slope > 0 and rising else
         "the reading does not rise with the load: the cell is mounted or wired the wrong way round"),
        ("linearity", nonlin <= max_nonlin_pct, f"{nonlin:.3f} % of full scale (limit {max_nonlin_pct} %)"),
        ("hysteresis", hyst <= max_hyst_pct, f"{hyst:.3f} % of full scale between loading and unloading "
         f"at {from_dn(mid_w):g} N (limit {max_hyst_pct} %)"),
        ("zero return", zero_return <= max_hyst_pct, f"{zero_return:.3f} % of full scale between the tare "
         f"and the unloaded reading at the end (limit {max_hyst_pct} %)" + ("" if zero_return <= max_hyst_pct
         else ": creep, or a cell still warming up (power the board 30 min before calibrating)")),
    ]
    span_dn = max(w for w, _ in points)
    report = {"zero_counts": round(zero), "span_counts": round(slope * span_dn), "span_dn": span_dn,
              "weights_dn": [w for w, _ in points], "counts_per_n": slope * 10,
              "deviation_n": [round(d / 10, 3) for d in dev], "nonlin_pct_fs": round(nonlin, 4),
              "hysteresis_pct_fs": round(hyst, 4), "zero_return_pct_fs": round(zero_return, 4),
              "full_scale_n": from_dn(full_scale_dn)}
    return report, checks


def calibrate(dev, weights_kg, operator, samples=SAMPLES, full_scale_n=None, max_nonlin_pct=MAX_NONLIN_PCT,
              max_hyst_pct=MAX_HYSTERESIS_PCT, out=print):
    """Tare, weights up, one back down, unload; check; save on the board when accepted. Returns the report
    (report["saved"] says whether it was)."""
    weights_kg = sorted(weights_kg)
    if len(set(weights_kg)) < MIN_WEIGHTS:
        raise CommissionError(f"give at least {MIN_WEIGHTS} different reference weights (--weights 5,10,20)")
    full_scale_dn = round((full_scale_n or dev.info.hard_max_n) * 10)
    if full_scale_dn <= 0:
        raise CommissionError("the board is not provisioned (no maximum to take as full scale): run "
                              "`traction provision` first, or give --full-scale")
    service(dev)
    try:
        operator.unload()
        zero, noise, _, _ = read_average(dev, samples)
        out(f"tare: {zero:.0f} counts (noise {noise:.1f} counts)")
        points = []
        for kg in weights_kg:
            operator.hang(kg)
            mean, _, _, _ = read_average(dev, samples)
            points.append((round(kg * G * 10), mean))
            out(f"{kg:g} kg ({kg * G:.1f} N): {mean:.0f} counts")
        mid = weights_kg[len(weights_kg) // 2]
        operator.hang(mid)  # coming down from the heaviest: the same load, read unloading
        back = (round(mid * G * 10), read_average(dev, samples)[0])
        operator.unload()
        zero_after = read_average(dev, samples)[0]
        report, checks = calibration_checks(zero, points, back, zero_after, full_scale_dn, max_nonlin_pct,
                                            max_hyst_pct)
        for name, ok, detail in checks:
            out(f"{name}: {'pass' if ok else 'FAIL'}: {detail}")
        passed = all(ok for _, ok, _ in checks)
        report.update(checks={n: {"passed": ok, "detail": d} for n, ok, d in checks}, passed=passed,
                      date_s=int(time.time()), saved=False, serial=dev.info.serial)
        if passed and operator.accept("Save this calibration on the board?"):
            dev.command("CALIBRATE", zero_counts=report["zero_counts"], span_counts=report["span_counts"],
                        span_dn=report["span_dn"], date_s=report["date_s"],
                        nonlin_ppm=min(65535, round(report["nonlin_pct_fs"] * 10000)),
                        weights=report["weights_dn"])
            report["saved"] = True
    finally:
        leave_service(dev)
    dev.store.add_commissioning(report["serial"], "calibrate", report["saved"], report)
    if report["saved"]:
        from traction.device import handshake

        report["cal_id"] = f"{handshake(dev.link).cal_id:08x}"
        out(f"calibration {report['cal_id']} saved on {report['serial']}")
    else:
        out("calibration NOT saved" + ("" if passed else ": a check failed"))
    return report


def _weights(text):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise CommissionError(f"--weights takes kilograms separated by commas (5,10,20), not {text!r}") \
            from None
    if any(v <= 0 for v in values):
        raise CommissionError("--weights must all be above 0 kg")
    return values


def cmd_calibrate(args, console):
    """`traction calibrate`: tare and reference weights, checked and saved with their date."""
    weights = _weights(args.weights) if args.weights else None
    if weights is None:
        text = input("Reference weights you will hang, in kg, separated by commas (at least 3): ")
        weights = _weights(text)
    with open_device(args) as dev:
        report = calibrate(dev, weights, operator_for(args, console.print), args.samples, args.full_scale,
                           out=console.print)
    return 0 if report["saved"] else 1


# ---- traction selftest ----

def selftest(dev, operator, samples=SAMPLES, out=print):
    """The checks the protocol reaches; a report with each pass/fail, saved in the store."""
    results = []

    def check(name, ok, detail):
        results.append({"check": name, "passed": bool(ok), "detail": detail})
        out(f"{name}: {'pass' if ok else 'FAIL'}: {detail}")

    info = dev.info
    check("provisioned", info.hard_max_n > 0, f"device maximum {info.hard_max_n:g} N")
    check("calibrated", info.calibrated, f"calibration {info.cal_id:08x} of {info.cal_points} weights"
          if info.calibrated else "no calibration: run `traction calibrate`")
    check("port locked", not info.security & SECURITY_REPL,
          "no REPL on the port" if not info.security & SECURITY_REPL else
          "the REPL is offered (development image, or the jumper was fitted at boot)")
    operator.unload()
    status = dev.status()
    forces = []
    for _ in range(samples):
        forces.append(dev.status().force_n)
    zero_n, noise_n = statistics.fmean(forces), statistics.pstdev(forces)
    check("load-cell zero", abs(zero_n) <= MAX_ZERO_N, f"{zero_n:+.2f} N unloaded (limit {MAX_ZERO_N:g} N)")
    _, raw_sd, current, _ = read_average(dev, samples)
    check("load-cell noise", noise_n <= MAX_NOISE_N,
          f"{noise_n:.2f} N standard deviation ({raw_sd:.1f} counts)")
    if current is not None:
        check("current-sense zero", 0 < current < 4095, f"{current:.0f} counts with the motor off, "
              "off the rails")
    check("no fault", status.fault is None, status.fault or "none latched")
    operator.stop_switch(True)
    pressed = dev.status()
    operator.stop_switch(False)
    released = dev.status()
    check("stop switch", pressed.stop_switch and not released.stop_switch,
          "seen pressed and released" if pressed.stop_switch and not released.stop_switch else
          "not seen pressed: check its wiring")
    if released.fault == FAULT_NAME[9]:  # STOP_SWITCH, latched by the press: the cause is gone
        try:
            dev.clear_fault()
        except NakError as e:
            check("stop switch fault cleared", False, str(e))
    operator.jumper(True)
    try:
        service(dev)
        motion_checks(dev, info, samples, check)
    finally:
        operator.jumper(False)  # SERVICE stays; the watchdog's reset then boots without it: port locked
    try:
        watchdog_check(dev, check)
    finally:
        leave_service(dev)
    passed = all(r["passed"] for r in results)
    not_run = ["limit switch"]
    report = {"serial": info.serial, "passed": passed, "checks": results, "not_run": not_run,
              "utc": datetime.now(UTC).isoformat(timespec="seconds")}
    dev.store.add_commissioning(info.serial, "selftest", passed, report)
    out(f"self-test {'PASSED' if passed else 'FAILED'}; not run by this version: {', '.join(not_run)}")
    return report


def jog(dev, speed_pm, ms=JOG_MS):
    """JOG, and wait (by the board's own sample count) until its time is up and the motor stopped: the
    encoder's travel."""
    start = dev.command("LOADCELL_READ")
    dev.command("JOG", speed_pm=speed_pm, ms=ms)
    done = start["sample"] + ms * dev.info.control_hz // 1000 + 5
    deadline = time.monotonic() + 30
    while True:
        now = dev.command("LOADCELL_READ")
        if now["sample"] >= done and not dev.status().motor_enabled:
            return now["position"] - start["position"]
        if time.monotonic() > deadline:
            dev.command("JOG", speed_pm=0, ms=0)
            raise CommissionError("the motor did not stop after its jog")
        time.sleep(0.005)


def motion_checks(dev, info, samples, check):
    """Motor direction against the encoder, encoder scale, the current after the driver is disabled."""
    _, off_sd, off, _ = read_average(dev, samples)
    wound = jog(dev, JOG_PM)
    paid = jog(dev, -JOG_PM)
    check("motor direction", wound > 0 > paid, f"winding in moved the encoder {wound:+d} counts, paying out "
          f"{paid:+d}" + ("" if wound > 0 > paid else ": motor or encoder wired the wrong way round"))
    full = info.full_speed_counts_s
    if full:
        want = full * JOG_PM / 1000 * JOG_MS / 1000
        got = (wound - paid) / 2
        check("encoder scale", abs(got - want) <= SCALE_TOLERANCE * want,
              f"{got:.0f} counts per jog, {want:.0f} expected from {full} counts/s at full speed")
    if off is not None:
        after = read_average(dev, samples)[2]
        assert after is not None  # the current sense answered before the jog (off)
        back = abs(after - off) <= max(CURRENT_BACK_COUNTS, 4 * off_sd)
        check("driver-enable cut", back and not dev.status().motor_enabled,
              f"current {after:.1f} counts after the jog, {off:.1f} before (motor disabled)")


def watchdog_check(dev, check):
    """WATCHDOG_TEST: the board stops feeding its watchdog; it must come back by itself, reset by it."""
    from traction.device import handshake

    dev.command("WATCHDOG_TEST")
    deadline = time.monotonic() + WATCHDOG_BACK_S
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            info = handshake(dev.link)
        except TractionError:
            continue  # silent while it resets
        if info.state != "SERVICE":
            check("watchdog", info.reset_cause == 1, "the board reset itself and came back in "
                  f"{info.state}" + ("" if info.reset_cause == 1 else ", but not by its watchdog"))
            check("port locked after the reset", not info.security & SECURITY_REPL,
                  "booted without the jumper: no REPL" if not info.security & SECURITY_REPL else
                  "the REPL is offered: was the jumper still fitted?")
            return
    check("watchdog", False, f"the board was still in SERVICE {WATCHDOG_BACK_S:g} s after its watchdog "
          "stopped being fed")


def cmd_selftest(args, console):
    """`traction selftest`: the checks a unit passes before it leaves the bench; the report is stored."""
    with open_device(args) as dev:
        report = selftest(dev, operator_for(args, console.print), args.samples, console.print)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["passed"] else 1


# ---- the command line ----

def _port(p, required=True):
    p.add_argument("--port", required=required, help="the board's port (/dev/ttyACM0, a pty, socket://...)")
    p.add_argument("--store", help="host store (default $TRACTION_STORE or "
                   "~/.local/share/traction/traction.db)")


def _operator_args(p):
    p.add_argument("--yes", action="store_true", help="accept without asking (scripted runs)")
    p.add_argument("--sim-store", metavar="DIR", help="virtual board only: do the operator's part (weights, "
                   "stop switch) through the side channel of the board running on this store")
    p.add_argument("--samples", type=int, default=SAMPLES, help=f"readings averaged per point ({SAMPLES})")


def register(sub):
    """Add flash, provision, calibrate and selftest to the CLI's subcommands."""
    p = sub.add_parser("flash", help="put the firmware on a board: UF2 onto a Pico in BOOTSEL, or files "
                       "through mpremote (development)")
    _port(p, required=False)
    p.add_argument("--uf2", nargs="?", const="", metavar="IMAGE", help="copy a UF2 image (default: the one "
                   "`traction build --target pico` made) to a Pico in BOOTSEL mode")
    p.add_argument("--drive", help="the Pico's BOOTSEL drive (default: found among mounted drives)")
    p.add_argument("--firmware", metavar="DIR", help="firmware folder to deploy (default: the installed one)")
    p.add_argument("--source", action="store_true", help="deploy .py source instead of .mpy")
    p.set_defaults(func=cmd_flash)

    p = sub.add_parser("provision", help="give a board its serial, limits and device key (service jumper)")
    _port(p)
    p.add_argument("--serial", required=True, help="the unit's serial number (printable ASCII, up to 16)")
    p.add_argument("--hard-max", type=float, required=True, metavar="N", help="device maximum, newtons")
    p.add_argument("--cervical-max", type=float, required=True, metavar="N", help="cervical maximum, newtons")
    p.add_argument("--lumbar-max", type=float, required=True, metavar="N", help="lumbar maximum, newtons")
    p.add_argument("--key-file", metavar="FILE", help="where the device key goes (default SERIAL.key); "
                   "never overwritten")
    p.set_defaults(func=cmd_provision)

    p = sub.add_parser("calibrate", help="calibrate the load cell with reference weights (service jumper)")
    _port(p)
    p.add_argument("--weights", metavar="KG,KG,KG",
                   help="reference weights, kg (at least 3; asked if absent)")
    p.add_argument("--full-scale", type=float, metavar="N", help="full scale for the %% checks (default: "
                   "the device maximum)")
    _operator_args(p)
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("selftest", help="check the board's sensors and switches; report saved in the store")
    _port(p)
    p.add_argument("--report", metavar="FILE", help="also write the report as JSON")
    _operator_args(p)
    p.set_defaults(func=cmd_selftest)
