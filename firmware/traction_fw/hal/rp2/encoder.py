# The motor's quadrature encoder, counted by a PIO state machine at the system clock, so no edge is
# missed whatever the CPU does. The program keeps the count in X; each pass reads the two pins, forms
# (previous state << 2 | state) and jumps through a 16-entry table at instruction 0 to count up, down or
# not at all (no change, or an invalid double step). It pushes X every pass; position() takes the newest.
# The table needs the program at offset 0 of its PIO block: it is padded to the block's 32 instructions,
# which the SDK can only place there, so the encoder has PIO1 to itself.
from array import array

import rp2
from machine import Pin

from .pio import quadrature

PIO1_SM = 4


class Encoder:
    def __init__(self, params):
        a = params["a"]
        if params["b"] != a + 1:
            raise ValueError("motor.encoder.b must be the GPIO after motor.encoder.a (the PIO reads both)")
        self._pins = (Pin(a, Pin.IN, Pin.PULL_UP), Pin(a + 1, Pin.IN, Pin.PULL_UP))
        self._sign = -1 if params.get("reverse") else 1
        self._word = array("i", [0])
        self._sm = rp2.StateMachine(PIO1_SM, quadrature, in_base=self._pins[0])
        self._sm.active(1)
        self._zero = self._read()

    def position(self):
        return (self._read() - self._zero) * self._sign

    def _read(self):
        sm = self._sm
        word = self._word
        n = sm.rx_fifo()
        while n:
            sm.get(word)  # older counts: drop
            n -= 1
        sm.get(word)  # the state machine pushes every pass: this one is at most a pass old
        return word[0]
