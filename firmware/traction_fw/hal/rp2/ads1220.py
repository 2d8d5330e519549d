# ADS1220 load-cell ADC over SPI (mode 1), continuous conversion, its DRDY pin on a hard IRQ that reads
# each sample (24 bits) the moment it is ready, into the sample ring (every conversion, for SAMPLES frames).
# The tick takes the newest; at the ADC's rate the IRQ may
# also mark the control periods (Clock.mark, every rate / control_hz samples) so the loop runs in step
# with the conversions. Registers (datasheet 8.6): AIN0-AIN1, gain 128, external reference on
# REFP0/REFN0 (ratiometric with the bridge), turbo mode for 40..2000 samples/s.
import time

from machine import SPI, Pin

from ..samples import SampleRing, ring_size

RAILS = (-8388608, 8388607)
RESET = 0x06
START = 0x08
WREG = 0x40
RREG = 0x20
TURBO_SPS = (40, 90, 180, 350, 660, 1200, 2000)  # DR = index
REG0 = 0x0E  # MUX AIN0/AIN1, gain 128, PGA on
REG2 = 0x40  # external reference REFP0/REFN0, no 50/60 Hz filter (turbo mode has none)
REG3 = 0x00  # DRDY only on its own pin


class ADS1220:
    def __init__(self, params):
        sps = params.get("sps", 660)
        if sps not in TURBO_SPS:
            raise ValueError("loadcell.sps must be one of %s for an ADS1220" % (TURBO_SPS,))
        self.sps = sps
        p = params["ads1220"]
        self._cs = Pin(p["cs"], Pin.OUT, value=1)
        self._spi = SPI(p.get("spi", 0), baudrate=p.get("spi_hz", 1000000), polarity=0, phase=1,
                        sck=Pin(p["sck"]), mosi=Pin(p["mosi"]), miso=Pin(p["miso"]))
        self._drdy = Pin(p["drdy"], Pin.IN, Pin.PULL_UP)
        self._cmd = bytearray(5)
        self._data = bytearray(3)
        self._raw = 0
        self._fresh = False
        self.samples = SampleRing(ring_size(sps))  # every conversion, filled by the IRQ
        self._clock = None
        self._every = 0
        self._left = 0
        self._configure(TURBO_SPS.index(sps))
        self._drdy.irq(self._on_drdy, Pin.IRQ_FALLING, hard=True)

    def _configure(self, dr):
        regs = bytes((REG0, dr << 5 | 0x10 | 0x04, REG2, REG3))  # turbo mode, continuous conversion
        self._send(bytes((RESET,)))
        time.sleep_us(100)
        self._send(bytes((WREG | 3,)) + regs)
        got = bytearray(5)
        self._cs(0)
        self._spi.write_readinto(bytes((RREG | 3, 0, 0, 0, 0)), got)
        self._cs(1)
        if got[1:] != regs:
            raise OSError("ADS1220 does not answer on SPI (registers read %s)" % got[1:].hex())
        self._send(bytes((START,)))

    def _send(self, data):
        self._cs(0)
        self._spi.write(data)
        self._cs(1)

    def _on_drdy(self, _pin):
        # hard IRQ: preallocated buffers only
        self._cs(0)
        self._spi.readinto(self._data)
        self._cs(1)
        d = self._data
        v = d[0] << 16 | d[1] << 8 | d[2]
        self._raw = v - 0x1000000 if v & 0x800000 else v
        self._fresh = True
        self.samples.put(self._raw)
        if self._every:
            self._left -= 1
            if not self._left:
                self._left = self._every
                self._clock.mark()

    def pace(self, clock, control_hz):
        """Mark the control periods from the conversions (the rate must be a multiple of control_hz)."""
        if self.sps % control_hz:
            raise ValueError("clock.pace drdy: loadcell.sps %d is not a multiple of control_hz %d"
                             % (self.sps, control_hz))
        self._clock = clock
        self._left = self._every = self.sps // control_hz

    # -- the hal contract (called in the tick: no allocation) --
    def ready(self):
        return self._fresh

    def read(self):
        self._fresh = False
        return self._raw

    def rails(self):
        return RAILS
