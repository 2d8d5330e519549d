# HX711 load-cell ADC, clocked by a PIO state machine. PD_SCK held high for more than 60 us powers the
# chip down, so the clock must never stretch: the PIO drives it at 1 MHz (4 us high, 4 us low per bit)
# whatever the CPU does (a GC pause, an IRQ). It waits for DOUT to fall (a conversion is ready), clocks in
# 24 bits, pushes them into the RX FIFO and gives the 25th pulse that keeps channel A at gain 128.
# The RATE pin, when wired to a GPIO, is driven high: 80 samples/s (10 with it low: too slow for the
# safety's "no sample for more than 2 periods" at 100 Hz, so the board refuses it).
from array import array

import rp2
from machine import Pin

from ..samples import SampleRing, ring_size
from .pio import hx711_read

PIO0_SM = 0
RAILS = (-8388608, 8388607)  # 24-bit two's complement


class HX711:
    def __init__(self, params, control_hz):
        sps = params.get("sps", 80)
        if sps not in (10, 80):
            raise ValueError("loadcell.sps must be 10 or 80 for an HX711")
        if sps * 3 <= control_hz:
            raise ValueError("loadcell.sps %d: at control_hz %d the safety would see the HX711 as "
                             "silent; wire RATE to loadcell.hx711.rate for 80 samples/s" % (sps, control_hz))
        self.sps = sps
        self.samples = SampleRing(ring_size(sps))  # every word read() takes (the tick reads each period)
        pins = params["hx711"]
        if "rate" in pins:
            self._rate = Pin(pins["rate"], Pin.OUT, value=1 if sps == 80 else 0)
        self._word = array("i", [0])
        self._raw = 0
        self._sm = rp2.StateMachine(PIO0_SM, hx711_read, freq=1000000,
                                    in_base=Pin(pins["dout"], Pin.IN), sideset_base=Pin(pins["pd_sck"]))
        self._sm.active(1)

    # -- the hal contract (called in the tick: no allocation) --
    def ready(self):
        return self._sm.rx_fifo() > 0

    def read(self):
        sm = self._sm
        while sm.rx_fifo():
            sm.get(self._word)
            self._raw = self._word[0] >> 8
            self.samples.put(self._raw)
        return self._raw

    def rails(self):
        return RAILS
