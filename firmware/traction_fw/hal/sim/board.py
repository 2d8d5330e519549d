# The simulated board: the hal contract (see hal/__init__.py) over a plant model, plus the sim's own
# side channel for fault injection (Sim, and channel.py for the launcher). Nothing here is reachable
# from the protocol link.
import sys

from . import faults
from .clock import Clock
from .link import MemoryLink, StdioLink
from .loadcell import LoadCell
from .motor import Motor
from .plant import Plant
from .region import FileRegion, MemoryRegion
from .rng import Rng

# Process exit codes in stdio mode; the launcher restarts the board after either.
EXIT_RESET = 3  # reset requested by the firmware (board.reset())
EXIT_UNEXPECTED = 4  # watchdog or injected reset: restart with sim.after_reset = true
G = 9.80665  # standard gravity: a reference weight's mass to newtons
SPOOL_SIZE = 65536  # bytes: ~250 record lines, a long treatment's (spool.py; full, it goes to the file)


class BoardReset(BaseException):
    """Raised in memory-link mode where a real board would restart. cause: as reset_cause().
    A BaseException, like SystemExit in stdio mode, so the firmware's `except Exception` cannot catch it."""

    def __init__(self, cause):
        super().__init__("board reset, cause %d" % cause)
        self.cause = cause


class StopSwitch:
    def __init__(self):
        self._pressed = False

    def pressed(self):
        return self._pressed


class LimitSwitch:
    """A force-limit switch in the line (board config "limit_switch": {"force_n": N}): it trips when the
    true tension passes its setting, opens the driver's enable line in hardware and stays tripped until
    the tension is back below it. A board without one reports never tripped."""

    def __init__(self, params):
        self.force_n = params["force_n"] if params else None
        self._tripped = False

    def tripped(self):
        return self._tripped

    def sense(self, force_n):
        if self.force_n is not None:
            self._tripped = force_n > self.force_n


class Watchdog:
    """Resets the board when not fed within its timeout, in device time. Same range as the rp2 WDT."""

    def __init__(self, clock):
        self._clock = clock
        self.timeout_us = 0  # 0: not started
        self._fed_us = 0

    def start(self, timeout_ms):
        if not 1 <= timeout_ms <= 8388:
            raise ValueError("watchdog timeout must be 1..8388 ms")
        self.timeout_us = timeout_ms * 1000
        self._fed_us = self._clock.device_us

    def feed(self):
        self._fed_us = self._clock.device_us

    def stop(self):
        self.timeout_us = 0

    def expired(self):
        return self.timeout_us and self._clock.device_us - self._fed_us > self.timeout_us


class Board:
    kind = "sim"

    def __init__(self, config):
        sim = config["sim"]
        self.config = config
        self.control_hz = config["control_hz"]
        self.period_us = 1000000 // self.control_hz
        self.time_scale = sim["time_scale"]
        self.store = config.get("store", ".")
        self.spool = self._spool(sim.get("spool"))
        if sim["region"] not in config["patients"]:
            raise ValueError("sim.region %s: no such patient in the board config" % sim["region"])
        if not 1 <= sim["time_scale"] <= 1000:
            raise ValueError("sim.time_scale must be 1..1000 (INFO carries it)")
        if sim["link"] not in ("stdio", "memory"):
            raise ValueError("sim.link must be stdio or memory, not %s" % sim["link"])
        rng = Rng(sim["seed"])
        self.plant = Plant(config["motor"], config["patients"][sim["region"]], rng)
        self.loadcell = LoadCell(config["loadcell"], rng, self.control_hz)
        # the current sense's noise has a generator of its own: adding it left every other noise as it was
        self.motor = Motor(config["motor"], Rng(sim["seed"] + 0x5EED))
        self.stop_switch = StopSwitch()
        self.limit_switch = LimitSwitch(config.get("limit_switch"))
        self.clock = Clock(
            self.period_us, self.time_scale, sim["free_run"], sim["tick_offset_ms"], self._step
        )
        self.watchdog = Watchdog(self.clock)
        self.link = StdioLink() if sim["link"] == "stdio" else MemoryLink()
        self._jumper = False
        self.hung_n = 0.0  # a reference weight hung on the load cell (traction calibrate)
        self._after_reset = sim.get("after_reset", False)
        self.reset_pending = False
        self.sim = Sim(self)
        self.channel = None
        if sim.get("channel"):
            from .channel import Channel

            self.channel = Channel(sim["channel"], self.sim)
            self.channel.poll()  # the physical world as it is at power-on (the jumper, a hung weight)

    def _spool(self, where):
        """The record spool's region: memory at the config's address, else a file in the store."""
        if where and where.get("address"):
            return MemoryRegion(where["address"], where["size"])
        size = where["size"] if where else SPOOL_SIZE
        return FileRegion(self.store + "/record.spool", size)

    # -- the hal contract --
    def service_jumper(self):
        return self._jumper

    def service(self):
        if self.channel is not None:
            self.channel.poll()

    def reset(self):
        self._restart(0)

    def reset_cause(self):
        return 1 if self._after_reset else 0

    # -- the simulation side --
    def _restart(self, cause):
        self.motor.disable()
        if isinstance(self.link, StdioLink):
            sys.exit(EXIT_UNEXPECTED if cause else EXIT_RESET)
        raise BoardReset(cause)

    def _step(self):
        """One control period of the plant; Clock.wait_tick calls it after advancing device time."""
        if self.reset_pending or self.watchdog.expired():
            self._restart(1)
        dt = self.period_us / 1000000.0
        motor = self.motor
        plant = self.plant
        plant.step(dt, motor.driving(), motor.drive_speed())
        self.limit_switch.sense(plant.force)
        motor.hw_cut = self.limit_switch.tripped()
        motor.moved_to(plant.encoder())
        motor.sense(plant.drive_n)
        self.loadcell.sample(plant.force + self.hung_n, dt)


class Sim:
    """Fault injection and read-back, in process. The launcher reaches it through channel.py."""

    def __init__(self, board):
        self.board = board

    def inject(self, name, **params):
        """Set a fault or condition; ValueError (one line) for a name or parameter faults.py does not list."""
        faults.check(name, params)
        b = self.board
        cell = b.loadcell
        if name == "loadcell_disconnected":
            cell.disconnected = params.get("mode", "rails")
        elif name == "loadcell_stuck":
            cell.stuck = True
        elif name == "loadcell_stale":
            cell.stale = True
        elif name == "loadcell_spikes":
            cell.spike_chance = params.get("per_s", 2.0) / b.control_hz
            if "size_n" in params:
                cell.spike_n = params["size_n"]
        elif name == "loadcell_plateau":
            cell.plateau_n = params.get("level_n", cell.reading_n())
        elif name == "loadcell_gain":
            cell.gain = params.get("scale", 0.9)
        elif name == "loadcell_offset_step":
            cell.offset_n += params.get("step_n", -20.0)
        elif name == "current_sense_fail":
            b.motor.current_fail = params.get("mode", "zero")
        elif name == "encoder_fail":
            b.motor.encoder_stuck = True
        elif name == "cable_snap":
            b.plant.snapped = True
        elif name == "motor_stalled":
            b.plant.stalled = True
        elif name == "motor_ignoring":
            b.motor.frozen_speed = params.get("speed", b.motor.drive_speed())
        elif name == "motor_runaway":
            b.motor.frozen_speed = params.get("speed", 1000)
        elif name == "stop_switch":
            b.stop_switch._pressed = params.get("pressed", True)
        elif name == "service_jumper":
            b._jumper = params.get("present", True)
        elif name == "weight":
            b.hung_n = params.get("kg", 0.0) * G
        elif name == "link_silent":
            b.link.silent = True
        elif name == "loop_late":
            b.clock.late = params.get("periods", 1)  # once: the next wait_tick
        elif name == "reset":
            b.reset_pending = True  # takes effect at the next wait_tick
        else:
            raise ValueError("unknown fault " + str(name))

    def clear(self, name):
        faults.params_of(name)  # ValueError for an unknown name
        b = self.board
        cell = b.loadcell
        if name == "loadcell_disconnected":
            cell.disconnected = None
        elif name == "loadcell_stuck":
            cell.stuck = False
        elif name == "loadcell_stale":
            cell.stale = False
        elif name == "loadcell_spikes":
            cell.spike_chance = 0.0
        elif name == "loadcell_plateau":
            cell.plateau_n = None
        elif name == "loadcell_gain":
            cell.gain = 1.0
        elif name == "loadcell_offset_step":
            cell.offset_n = 0.0
        elif name == "current_sense_fail":
            b.motor.current_fail = None
        elif name == "encoder_fail":
            b.motor.encoder_stuck = False
        elif name == "cable_snap":
            b.plant.reattach()
        elif name == "motor_stalled":
            b.plant.stalled = False
        elif name == "motor_ignoring" or name == "motor_runaway":
            b.motor.frozen_speed = None
        elif name == "stop_switch":
            b.stop_switch._pressed = False
        elif name == "service_jumper":
            b._jumper = False
        elif name == "weight":
            b.hung_n = 0.0
        elif name == "link_silent":
            b.link.silent = False
        elif name == "loop_late":
            b.clock.late = 0
        elif name == "reset":
            b.reset_pending = False
        else:
            raise ValueError("unknown fault " + str(name))

    def true_force_dn(self):
        """The plant's real line force (not the load cell's view of it), 0.1 N."""
        return int(self.board.plant.force * 10.0 + 0.5)

    def peak_force_dn(self):
        """Highest true line force since boot or the last reset_peak(), 0.1 N."""
        return int(self.board.plant.peak * 10.0 + 0.5)

    def reset_peak(self):
        self.board.plant.peak = self.board.plant.force

    def motor_enabled(self):
        return self.board.motor.enabled()

    def device_ms(self):
        return self.board.clock.device_ms()

    def state(self):
        """What the side channel publishes in plant.json."""
        b = self.board
        p = b.plant
        return {
            "true_force_dn": self.true_force_dn(),
            "peak_force_dn": self.peak_force_dn(),
            "motor_enabled": b.motor.enabled(),
            "motor_speed_pm": b.motor.drive_speed(),
            "line_m": p.x,
            "device_ms": self.device_ms(),
            "stop_switch": b.stop_switch.pressed(),
            "limit_switch": b.limit_switch.tripped(),
            "service_jumper": b._jumper,
            "weight_n": b.hung_n,
            "faults": self.active(),
        }

    def active(self):
        """Names of the faults in force."""
        b = self.board
        cell = b.loadcell
        flags = (
            ("loadcell_disconnected", cell.disconnected is not None),
            ("loadcell_stuck", cell.stuck),
            ("loadcell_stale", cell.stale),
            ("loadcell_spikes", cell.spike_chance > 0.0),
            ("loadcell_plateau", cell.plateau_n is not None),
            ("loadcell_gain", cell.gain != 1.0),
            ("loadcell_offset_step", cell.offset_n != 0.0),
            ("current_sense_fail", b.motor.current_fail is not None),
            ("encoder_fail", b.motor.encoder_stuck),
            ("cable_snap", b.plant.snapped),
            ("motor_stalled", b.plant.stalled),
            ("motor_ignoring", b.motor.frozen_speed is not None),
            ("link_silent", b.link.silent),
            ("loop_late", b.clock.late > 0),
        )
        return [name for name, on in flags if on]
