"""How much of each control period the product image uses on the emulated RP2040 (docs/firmware.md).

    python benchmarks/rp2040_timing.py [--seconds 60] [--telemetry-hz HZ]
    python benchmarks/rp2040_timing.py --parts
    python benchmarks/rp2040_timing.py --host-in-device-time [--seconds 60]

--parts: what each piece of the loop costs on the emulated RP2040, timed by the board itself
(time.ticks_us, emulated cycles) over its REPL (booted with the service jumper): the heap in use after
boot (verdict: <= 64 KB), then a treatment started on the board (SETUP, PHASE, START as the commands run
them; telemetry every period, the frames sent nowhere) and 700 periods of the loop, each one's tick,
service() and board.service() timed, with the overruns and bytes allocated; then the tick's pieces in that
state, the idle tick and service(), each hal/rp2 call the tick makes, and a gc.collect().
--host-in-device-time: the SDK's wall-clock timers (retransmission waits, heartbeats) stretched by the
emulator's slowness, measured over the quiet seconds before the session, so that the board gets the
commands a host gives a real-time board per second of its own time (the heartbeats at twice a real
host's rate, to keep the lease should the emulator slow down further).

After `traction build --target pico` and `npm ci --prefix tools/rp2040`. A healthy session through the app
and the SDK, as a host runs it: a lumbar static treatment of --seconds, telemetry at the full control rate
(one sample per period), the host's heartbeats, then the record read back and verified. Measured from
outside the firmware, by the emulator harness, in emulated time (rp2040js counts Cortex-M0+ cycles at
125 MHz; no flash wait states): the CPU is busy whenever it is not asleep in WFE (the loop, its
interrupts, USB). Printed: the mean busy share of the time, the worst 10 ms window (the harness's, not
aligned with the firmware's period marks: a loop may be split across two), the longest busy stretch
(from a wake-up to the next sleep: one loop's whole work when nothing splits it), the host's wall time per
emulated second, the overruns the firmware itself counted (STATUS) and the host's retransmissions; then
the verdict on the treatment (from the second after START's reply to the second before its end was seen;
START and the seal commit to the store with the motor off and are judged apart): its longest busy
stretch against 50 % of the 10 ms period at 100 Hz, and the overruns the firmware counted up to the last
STATUS that still said the motor ran, against 0; and its busy stretches of 4 ms or more
(HARNESS_STRETCH_MS sets another length): how many go over 5 ms, what the flash (the trapped boot ROM
functions) and USB did during the longest, and where their cycles went (the sampled program counters
named by the image's symbols, build/pico/build-rp2/firmware.elf).
"""

import argparse
import bisect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from traction import Device, Session, Treatment
from traction.build_pico import BUILD_DIR
from traction.emulated_pico import EmulatedPico

PERIOD_MS = 10.0
TARGET_SHARE = 0.5
HEAP_TARGET = 64 * 1024

TREATMENT = """
name = "rp2040 timing"
region = "lumbar"
position = "prone"
angle = 12
body_weight = "80 kg"
unit = "N"
tolerance = "5 N"

[[phase]]
mode = "static"
force = "250 N"
ramp_up = "4 s"
ramp_down = "4 s"
duration = "{seconds} s"
"""


def seconds_of(board):
    """The emulated second the harness last reported (its stats file, one line per second)."""
    try:
        lines = Path(board.stats).read_text().splitlines()
    except FileNotFoundError:
        return 0
    return json.loads(lines[-1])["t_s"] if lines else 0


class Symbols:
    """The image's function symbols (arm-none-eabi-nm), to name a program counter."""

    def __init__(self, elf):
        self.starts, self.names = [], []
        nm = shutil.which("arm-none-eabi-nm")
        if nm is None or not Path(elf).is_file():
            return
        out = subprocess.run([nm, "-n", "--defined-only", str(elf)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            addr, kind, name = (line.split() + ["", "", ""])[:3]
            if kind.lower() == "t":
                self.starts.append(int(addr, 16) & ~1)
                self.names.append(name)

    def name(self, pc):
        i = bisect.bisect_right(self.starts, pc) - 1
        return self.names[i] if i >= 0 else f"0x{pc:x}"


def read_lines(path):
    try:
        return [json.loads(x) for x in Path(path).read_text().splitlines()]
    except FileNotFoundError:
        return []


def print_stretches(lines, symbols, first_s, last_s, show=12):
    """The logged busy stretches of the session, the longest first, each with where its cycles went
    (the flash's own time aside: the CPU waits in the boot ROM then)."""
    during = [x for x in lines if first_s <= x["t_ms"] / 1000 <= last_s]
    at_least = os.environ.get("HARNESS_STRETCH_MS", 10)
    over = [x for x in during if x["ms"] > TARGET_SHARE * PERIOD_MS]
    print(f"busy stretches of {at_least} ms or more in the treatment: {len(during)}, "
          f"{sum(x['ms'] for x in during):.0f} ms in all; over {TARGET_SHARE * PERIOD_MS:g} ms: {len(over)}, "
          f"{sum(1 for x in over if x['usb_out'])} of them with bytes from the host")
    for x in sorted(during, key=lambda x: -x["ms"])[:show]:
        funcs = {}
        for pc, n in x["pcs"]:
            name = symbols.name(pc)
            funcs[name] = funcs.get(name, 0) + n
        top = sorted(funcs.items(), key=lambda f: -f[1])[:6]
        where = ", ".join(f"{name} {n * 100 // max(1, x['samples'])}%" for name, n in top)
        print(f"  at {x['t_ms'] / 1000:7.3f} s {x['ms']:6.1f} ms: flash erased {x['erased']} B, programmed "
              f"{x['programmed']} B ({x['flash_ns'] / 1e6:.1f} ms); USB from host {x['usb_out']} B, to host "
              f"{x['usb_in']} B; {where}")


# Run on the board's REPL: the application built afresh (startup.app(), as main.py does), then each part
# called N times in a loop, the loop's own cost taken off. Interrupts stay on (the period timer, USB), as
# in the loop. Then a treatment started on it (SETUP, PHASE and START as the commands run them: a lumbar
# static hold at 250 N after a 4 s ramp, telemetry every period, the lease renewed in the loop) and M
# periods of the loop run as run() does, each part timed; then the tick's pieces timed in that state.
PARTS = """
import gc, time
from traction_fw import startup
gc.collect()
before = gc.mem_alloc()
a = startup.app()
gc.collect()
print("\\nPART heap in use after boot, bytes|%d" % gc.mem_alloc())
print("\\nPART ... the application's share, bytes|%d" % (gc.mem_alloc() - before))
b = a.board
N = 200
def per_call(f):
    t0 = time.ticks_us()
    for _ in range(N):
        f()
    return time.ticks_diff(time.ticks_us(), t0) / N
def nothing():
    pass
base = per_call(nothing)
buf = bytearray(64)
def show(parts):
    for name, f in parts:
        try:
            print("\\nPART %s|%.1f" % (name, per_call(f) - base))
        except Exception as e:
            print("\\nPART %s|raised %r" % (name, e))
class Sink:  # the frames go nowhere: a 0x04 in one would end mpremote's raw-REPL reply
    def write(self, buf, off, n):
        return n
b.link._port._out = Sink()
c = a.link.commands
c.setup({"region": 2, "angle_dd": 120, "session_max_dn": 3000, "tolerance_dn": 50, "phase_count": 1,
         "telemetry_div": 1, "session_id": 1})
c.phase({"index": 0, "mode": 1, "force_dn": 2500, "base_dn": 0, "hold_ms": 0, "rest_ms": 0,
         "ramp_up_ms": 4000, "ramp_down_ms": 4000, "steps": 0, "repeats": 0, "duration_ms": 60000})
print("\\nPART START refused (0: started)|%s" % c.start({}))
M = 700
tk = [0, 0]
sv = [0, 0]
bs = [0, 0]
def add(acc, us):
    acc[0] += us
    if us > acc[1]:
        acc[1] = us
for _ in range(10):  # START's own call (the store, a collection) overran, and the periods it delayed
    b.clock.wait_tick()
    a.renew_lease()
    a.locked_tick()
    a.service()
    b.service()
over = b.clock.overruns
free = gc.mem_free()
for _ in range(M):
    b.clock.wait_tick()
    a.renew_lease()
    t0 = time.ticks_us()
    a.locked_tick()
    t1 = time.ticks_us()
    a.service()
    t2 = time.ticks_us()
    b.service()
    t3 = time.ticks_us()
    add(tk, time.ticks_diff(t1, t0))
    add(sv, time.ticks_diff(t2, t1))
    add(bs, time.ticks_diff(t3, t2))
alloc = free - gc.mem_free()
print("\\nPART treating: state (3 RUNNING), fault|%d %d" % (a.state, a.fault))
print("\\nPART treating: app tick, mean|%.1f" % (tk[0] / M))
print("\\nPART treating: app tick, worst|%.1f" % tk[1])
print("\\nPART treating: app service, mean|%.1f" % (sv[0] / M))
print("\\nPART treating: app service, worst|%.1f" % sv[1])
print("\\nPART treating: board.service, mean|%.1f" % (bs[0] / M))
print("\\nPART treating: board.service, worst|%.1f" % bs[1])
print("\\nPART treating: overruns in %d periods, count|%d" % (M, b.clock.overruns - over))
print("\\nPART treating: heap allocated in %d periods, bytes|%d" % (M, alloc))
f = a.safety.force
pos = b.motor.position()
cur = b.motor.current()
ms = time.ticks_ms()
raw = a.raw
ses = a.session
show([("treating: settings.to_dn", lambda: a.settings.to_dn(raw)),
      ("treating: safety.sample", lambda: a.safety.sample(True, raw, f)),
      ("treating: safety.check", lambda: a.safety.check(a.target, a.speed, a.limit, pos, True, True)),
      ("treating: cross.update", lambda: a.cross.update(f, True, pos, cur, a.speed, True, ms)),
      ("treating: app._watch (switches, lease, checks)", lambda: a._watch(f, pos)),
      ("treating: ctrl.update", lambda: a.ctrl.update(ses.target, f, ses.slope)),
      ("treating: session.tick", lambda: ses.tick(f, 10000)),
      ("treating: app._actuate", a._actuate),
      ("treating: motor.command", lambda: b.motor.command(100)),
      ("treating: motor.position", b.motor.position),
      ("treating: app._sample_telemetry", lambda: a._sample_telemetry(f))])
a = startup.app()  # a fresh one, idle (the one above is treating)
b = a.board
b.link._port._out = Sink()
show([("app tick (heap locked, idle)", a.locked_tick), ("app service (no host)", a.service),
      ("board.service (USB drain)", b.service), ("clock.ticks_us", b.clock.ticks_us),
      ("loadcell.ready (PIO FIFO)", b.loadcell.ready), ("loadcell.read (PIO FIFO)", b.loadcell.read),
      ("motor.position (encoder PIO)", b.motor.position), ("motor.current (ADC)", b.motor.current),
      ("motor.command(0)", lambda: b.motor.command(0)), ("stop_switch.pressed", b.stop_switch.pressed),
      ("watchdog.feed", b.watchdog.feed), ("link.read (nothing there)", lambda: b.link.read(buf))])
gc.collect()
t0 = time.ticks_us()
gc.collect()
print("\\nPART gc.collect (after boot)|%.1f" % time.ticks_diff(time.ticks_us(), t0))
"""


def parts():
    """Each part's cost in microseconds of emulated time, printed."""
    from mpremote.transport_serial import SerialTransport

    with EmulatedPico(jumper_at_boot=True) as board:
        t = SerialTransport(board.port, timeout=1)
        try:
            t.enter_raw_repl(soft_reset=False, timeout_overall=60)
            out, err = t.exec_raw(PARTS, timeout=60 * board.SLOWDOWN)
            if err:
                raise SystemExit(f"the board raised: {err.decode(errors='replace')}")
            out = out.decode(errors="replace")  # the app's frames go out on the same port
        finally:
            t.close()
    period_us = PERIOD_MS * 1000
    heap = None
    for line in out.splitlines():
        if line.startswith("PART "):
            name, value = line[5:].split("|")
            if "bytes" in name or "count" in name or " " in value or not value[-1:].isdigit():
                print(f"{name:48s} {value:>9s}")
            else:
                print(f"{name:48s} {float(value):9.1f} us ({float(value) / period_us * 100:4.1f} % of the "
                      f"period)")
            if name.startswith("heap in use after boot"):
                heap = int(value)
    if heap is not None:
        print(f"verdict: heap in use after boot {heap / 1024:.1f} KB, target <= {HEAP_TARGET // 1024} KB: "
              f"{'met' if heap <= HEAP_TARGET else 'NOT met'}")
    return 0


def stretch_host_timers(dev, board, seconds=2):
    """Scale the SDK's wall-clock timers by how much slower than real time the emulator runs now."""
    t0, wall0 = seconds_of(board), time.monotonic()
    while seconds_of(board) < t0 + seconds:
        time.sleep(0.1)
    slow = max(1.0, (time.monotonic() - wall0) / (seconds_of(board) - t0))
    link = dev.link
    link.rto_first, link.rto_max, link.budget_s = (x * slow for x in (link.rto_first, link.rto_max,
                                                                      link.budget_s))
    dev.heartbeat_s *= slow / 2
    print(f"host timers stretched {slow:.1f}x (the emulator's slowness over {seconds} emulated s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="treatment length (device seconds)")
    parser.add_argument("--telemetry-hz", type=float, default=None,
                        help="telemetry rate (default: the control rate, one sample per period)")
    parser.add_argument("--parts", action="store_true", help="the cost of each part of the loop instead")
    parser.add_argument("--host-in-device-time", action="store_true",
                        help="the SDK's timers stretched by the emulator's slowness")
    args = parser.parse_args()
    if args.parts:
        return parts()
    os.environ.setdefault("HARNESS_STRETCH_MS", "4")  # the harness logs stretches from 4 ms
    treatment = Treatment.from_toml(TREATMENT.format(seconds=args.seconds), file="<rp2040 timing>")
    with tempfile.TemporaryDirectory() as tmp, EmulatedPico() as board:
        with Device.open(board.port, store=Path(tmp) / "host.db", key=board.key) as dev:
            # boot and the SDK's opening commands out of the way: two quiet emulated seconds first
            quiet = seconds_of(board) + 2
            while seconds_of(board) < quiet:
                time.sleep(0.2)
            start = seconds_of(board)  # the session starts within the second after this one
            if args.host_in_device_time:
                stretch_host_timers(dev, board)
            first = start + 1
            wall0 = time.monotonic()
            hz = args.telemetry_hz or dev.info.control_hz
            session = Session(dev, treatment, telemetry_hz=hz).start()
            # the treatment: from the second after the one START's reply came in (START commits to the
            # store, motor off) to the second before the one its end was seen in (the seal follows)
            started = seconds_of(board) + 2
            overruns_started = overruns_ended = dev.status().overruns
            # The overruns until the release's end: the last STATUS that still says the motor runs (the
            # seal that follows it commits to the store, an overrun with the motor off)
            samples, asked = 0, 0.0
            for sample in session.telemetry(timeout=60 * board.SLOWDOWN):
                samples += 1
                if sample.state == "RELEASING" and time.monotonic() - asked > 0.5:
                    asked = time.monotonic()
                    status = dev.status()
                    if status.state in ("RUNNING", "PAUSED", "RELEASING"):
                        overruns_ended = status.overruns
            ended = seconds_of(board) - 1
            record = session.wait(timeout=60 * board.SLOWDOWN)
            last = seconds_of(board)
            wall = time.monotonic() - wall0
            overruns = dev.status().overruns
            retransmissions = dev.link.retransmissions
        lines = [json.loads(x) for x in Path(board.stats).read_text().splitlines()]
        stretches = read_lines(board.stretches)
    during = [x for x in lines if first <= x["t_s"] <= last]
    treating = [x for x in lines if started <= x["t_s"] <= ended]
    if not during or not treating or record is None:
        print(f"no measurement: session {'record missing' if record is None else 'too short'}")
        return 1
    busy = sum(x["busy_ns"] for x in during) / (len(during) * 1e9)
    window = max(x["window_max_ns"] for x in during) / 1e6
    stretch = max(x["stretch_max_ns"] for x in during) / 1e6
    treat_stretch = max(x["stretch_max_ns"] for x in treating) / 1e6
    treat_busy = sum(x["busy_ns"] for x in treating) / (len(treating) * 1e9)
    target_ms = TARGET_SHARE * PERIOD_MS
    fault = f" ({record.end['fault']})" if record.end["fault"] else ""
    print(f"session: {record.end['reason']}{fault}, {samples} telemetry samples at {hz:g} Hz, record "
          f"verified; {len(during)} emulated s measured in {wall:.0f} s of wall time "
          f"({len(during) / wall:.2f}x real time)")
    print(f"CPU busy (not in WFE), mean           {busy * 100:5.1f} % (the treatment alone "
          f"{treat_busy * 100:.1f} %)")
    print(f"worst 10 ms window busy               {window:5.2f} ms "
          f"({window / PERIOD_MS * 100:.0f} % of the period)")
    print(f"longest busy stretch, START to the record read back {stretch:5.2f} ms")
    print(f"overruns counted by the firmware since boot {overruns} (STATUS); host retransmissions "
          f"{retransmissions}")
    treat_overruns = overruns_ended - overruns_started
    print(f"verdict, the treatment (emulated s {started}-{ended}: ramp, hold, release; START and the seal, "
          f"motor off, left out; the overruns up to the last STATUS in the release):")
    print(f"  longest busy stretch (one loop's work) {treat_stretch:6.2f} ms  target <= {target_ms:.1f} ms: "
          f"{'met' if treat_stretch <= target_ms else 'NOT met'}")
    print(f"  overruns counted by the firmware        {treat_overruns:6d}     target 0: "
          f"{'met' if treat_overruns == 0 else 'NOT met'}")
    print("  heap after boot: see --parts")
    print_stretches(stretches, Symbols(BUILD_DIR / "build-rp2" / "firmware.elf"), started, ended)
    return 0


if __name__ == "__main__":
    sys.exit(main())
