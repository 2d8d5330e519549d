# The motor driver as the application sees it. command() only stores the speed: the plant reads it in
# Clock.wait_tick. The enable line is an independent path (a driver enable pin and power relay), so
# disable() works even when the speed input is faulty ("motor_ignoring", "motor_runaway"). The limit
# switch opens that same enable line in hardware (hw_cut), whatever the firmware asks.
#
# Current sense: the driver's current-sense output on its own ADC input (a bidirectional shunt amplifier
# with a mid-rail reference). The plant gives the drive force the motor delivers at the line (tension,
# friction, losses, inertia: Plant.drive_n); sense() turns it into counts with the amplifier's offset and
# noise. Nothing here looks at the load cell.


class Motor:
    def __init__(self, params, rng):
        self._enabled = False  # disabled at boot
        self._speed = 0
        self._position = 0
        self.frozen_speed = None  # set by motor_ignoring / motor_runaway: the speed the driver is stuck at
        self.hw_cut = False  # the limit switch opened the enable line
        self.force_per_amp_n = params["force_per_amp_n"]
        self.counts_per_a = params["current_counts_per_a"]
        self.current_zero = params["current_zero_counts"]
        self.current_offset_a = params["current_offset_a"]
        self.current_noise_a = params["current_noise_a"]
        rails = params["current_rails"]
        self.current_rails = (rails[0], rails[1])
        self.rng = rng
        self._current = self.current_zero
        # Faults (see Sim.inject): None, or how the channel fails
        self.current_fail = None  # "zero", "rails" or "stuck"
        self.encoder_stuck = False

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

    def current(self):
        return self._current

    # -- the simulation side --
    def driving(self):
        """The driver's output stage is powered: enabled by the firmware and not cut by the hardware."""
        return self._enabled and not self.hw_cut

    def moved_to(self, counts):
        if not self.encoder_stuck:
            self._position = counts

    def drive_speed(self):
        """The speed the driver actually applies, per-mille."""
        if self.frozen_speed is not None:
            return self.frozen_speed
        return self._speed

    def sense(self, drive_n):
        """Sample the current-sense ADC for a motor delivering drive_n newtons at the line."""
        if self.current_fail == "stuck":
            return
        if self.current_fail == "zero":
            self._current = self.current_zero
            return
        lo, hi = self.current_rails
        if self.current_fail == "rails":
            self._current = hi
            return
        amps = drive_n / self.force_per_amp_n if self.driving() else 0.0
        amps += self.current_offset_a + self.current_noise_a * self.rng.normal()
        c = self.current_zero + int(round(amps * self.counts_per_a))
        self._current = lo if c < lo else (hi if c > hi else c)
