# The RP2040's hardware watchdog (machine.WDT), fed only for a loop that did its work in time. The
# application calls feed() in its tick; the real feed happens at the end of the loop, in
# Clock.wait_tick(), and only when the tick asked for it and the loop ended before the next period began.
# A loop that keeps overrunning, or a tick that stops running, lets the watchdog reset the board.
import machine

# WATCHDOG_CTRL's atomic clear alias (RP2040 datasheet 2.1.2, 4.7.6): clearing ENABLE (bit 30) stops it.
CTRL_CLEAR = 0x40058000 + 0x3000
ENABLE = 1 << 30


class Watchdog:
    def __init__(self):
        self._wdt = None
        self._asked = False

    # -- the hal contract --
    def start(self, timeout_ms):
        if not 1 <= timeout_ms <= 8388:
            raise ValueError("watchdog timeout must be 1..8388 ms (the RP2040's range)")
        self._wdt = machine.WDT(timeout=timeout_ms)
        self._asked = False

    def feed(self):
        self._asked = True

    def stop(self):
        """The loop hands the port to the REPL (motor off): nothing feeds the watchdog from here on."""
        if self._wdt is not None:
            machine.mem32[CTRL_CLEAR] = ENABLE
            self._wdt = None

    # -- the board side --
    def loop_done(self, on_time):
        if self._wdt is not None and self._asked and on_time:
            self._wdt.feed()
        self._asked = False
