# The motor driver: PWM for the speed, DIR for the direction, ENABLE pulled to "disabled" outside the
# board so the driver is off until the firmware says otherwise (and off again when the Pico resets).
# The driver's current-sense output is on an ADC pin (12 bits), the encoder on two GPIOs (encoder.py).
from machine import ADC, PWM, Pin

from .encoder import Encoder

DUTY_FULL = 65535


class Motor:
    def __init__(self, params):
        self._on = 1 if params.get("enable_active", 1) else 0
        self._in = 1 if params.get("dir_in_level", 1) else 0
        self._enable = Pin(params["enable"], Pin.OUT, value=1 - self._on)
        self._dir = Pin(params["dir"], Pin.OUT, value=self._in)
        self._pwm = PWM(Pin(params["pwm"]), freq=params.get("pwm_hz", 20000), duty_u16=0)
        self._encoder = Encoder(params["encoder"]) if params.get("encoder") else None
        pin = params.get("current_adc")
        self._adc = ADC(Pin(pin)) if pin is not None else None
        self._enabled = False

    # -- the hal contract (called in the tick: no allocation) --
    def enable(self):
        self._enabled = True
        self._enable.value(self._on)

    def disable(self):
        self._pwm.duty_u16(0)
        self._enable.value(1 - self._on)
        self._enabled = False

    def enabled(self):
        return self._enabled

    def command(self, speed):
        if not self._enabled:
            speed = 0
        elif speed > 1000:
            speed = 1000
        elif speed < -1000:
            speed = -1000
        self._dir.value(self._in if speed >= 0 else 1 - self._in)
        self._pwm.duty_u16((speed if speed >= 0 else -speed) * DUTY_FULL // 1000)

    def position(self):
        return self._encoder.position() if self._encoder is not None else None

    def current(self):
        # read_u16 scales the 12-bit conversion to 16 bits: back to the ADC's own counts (0..4095)
        return self._adc.read_u16() >> 4 if self._adc is not None else None
