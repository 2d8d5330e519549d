# The motor driver as the application sees it. command() only stores the speed: the plant reads it in
# Clock.wait_tick. The enable line is an independent path (a driver enable pin and power relay), so
# disable() works even when the speed input is faulty ("motor_ignoring").


class Motor:
    def __init__(self):
        self._enabled = False  # disabled at boot
        self._speed = 0
        self._position = 0
        self.frozen_speed = None  # set by the motor_ignoring fault: the speed the driver is stuck at

    # -- the hal contract (called in the tick: no allocation) --
    def enable(self):
        self._enabled = True

    def disable(self):
        self._enabled = False
        self._speed = 0

    def enabled(self):
        return self._enabled

    def command(self, speed):
        if speed > 1000:
            speed = 1000
        elif speed < -1000:
            speed = -1000
        self._speed = speed

    def position(self):
        return self._position

    # -- the simulation side --
    def moved_to(self, counts):
        self._position = counts

    def drive_speed(self):
        """The speed the driver actually applies, per-mille."""
        if self.frozen_speed is not None:
            return self.frozen_speed
        return self._speed
