# The Pico board (RP2040): the hal contract (hal/__init__.py) over MicroPython's machine and rp2 modules.
# The board config (boards/pico.json; the wiring table is in docs/firmware.md) chooses the load-cell ADC
# (HX711 by PIO, or ADS1220 over SPI), the pins, the rates and what paces the loop. The store is the
# LittleFS filesystem that the image's _boot.py mounts on the flash at "/", and the record spool the last
# 64 KB of the flash, outside it (firmware/ports/rp2/flashstore.py, region.py).
import machine

from .ads1220 import ADS1220
from .clock import Clock
from .hx711 import HX711
from .inputs import Absent, Latch
from .link import UsbLink
from .motor import Motor
from .region import FlashRegion
from .watchdog import Watchdog

# machine.reset() is a watchdog reboot on the RP2040, so machine.reset_cause() cannot tell a requested
# reset from a bite: board.reset() leaves this mark in watchdog scratch register 0, which a watchdog
# reset keeps and a power cycle clears. (The SDK's own reboot uses scratch 4..7.)
SCRATCH0 = 0x40058000 + 0x0C
RESET_MARK = 0x0DE5E7


class Board:
    kind = "real"
    time_scale = 1

    def __init__(self, config):
        self.config = config
        self.control_hz = config["control_hz"]
        self.period_us = 1000000 // self.control_hz
        self.store = config.get("store", ".")
        self._cause = _boot_cause()
        inputs = config["inputs"]
        self.motor = Motor(config["motor"])  # first: its ENABLE pin is driven to "disabled" at once
        self.watchdog = Watchdog()
        self.clock = Clock(self.period_us, self.watchdog)
        self.loadcell = _loadcell(config["loadcell"], self.control_hz)
        self.stop_switch = Latch("stop_switch", inputs["stop_switch"])
        limit = inputs.get("limit_switch")
        self.limit_switch = Latch("limit_switch", limit) if limit else Absent()
        self._jumper = Latch("service_jumper", inputs["service_jumper"])
        self.link = UsbLink(config.get("link", {}).get("queue_bytes", 4096))
        self.spool = _spool()
        self._pace(config.get("clock", {}).get("pace", "timer"))

    def _pace(self, how):
        if how == "timer":
            self.clock.pace_by_timer(self.control_hz)
        elif how == "drdy" and isinstance(self.loadcell, ADS1220):
            self.loadcell.pace(self.clock, self.control_hz)
            self.clock.guard_pace(self.control_hz)
        else:
            raise ValueError("clock.pace must be timer, or drdy with an ADS1220, not %s" % how)

    # -- the hal contract --
    def service_jumper(self):
        return self._jumper.on()

    def service(self):
        self.link.drain()

    def reset(self):
        self.motor.disable()
        machine.mem32[SCRATCH0] = RESET_MARK
        machine.reset()

    def reset_cause(self):
        return self._cause

    def overruns(self):
        """Loops that ended after the next period had begun, since boot."""
        return self.clock.overruns


def _spool():
    """The record spool's region, if the image's store layout sets one apart (flashstore.py), else None:
    the record's lines are then appended to its file as they come, as on a board formatted before."""
    try:
        import flashstore  # pyright: ignore[reportMissingImports] - frozen into the product image
    except ImportError:
        return None
    return FlashRegion(flashstore.spool) if flashstore.spool is not None else None


def _loadcell(params, control_hz):
    adc = params.get("adc")
    if adc == "hx711":
        return HX711(params, control_hz)
    if adc == "ads1220":
        return ADS1220(params)
    raise ValueError("loadcell.adc must be hx711 or ads1220, not %s" % adc)


def _boot_cause():
    """0 after power-on or board.reset(), 1 after the watchdog (or any reset nobody asked for)."""
    mark = machine.mem32[SCRATCH0]
    machine.mem32[SCRATCH0] = 0
    if machine.reset_cause() == machine.WDT_RESET and mark != RESET_MARK:
        return 1
    return 0
