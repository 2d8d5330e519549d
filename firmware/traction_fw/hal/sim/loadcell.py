# The simulated load cell and its ADC. sample() runs in Clock.wait_tick and may allocate; ready(),
# read() and rails() run inside the application's heap-locked tick and only return stored objects.
from ..samples import SampleRing, ring_size


class LoadCell:
    def __init__(self, params, rng, control_hz):
        self.counts_per_n = params["counts_per_n"]
        self.zero = params["zero_counts"]
        self.noise_n = params["noise_n"]
        self.rating_n = params["rating_n"]
        rails = params["rails"]
        self._rails = (rails[0], rails[1])
        drift = params["drift_n_per_min"] / 60.0
        self.drift_n_s = drift if rng.uniform() < 0.5 else -drift
        # A real cell's zero drift (warm-up, creep) settles: it starts at drift_n_per_min and approaches
        # drift_n_per_min x drift_tau_min exponentially. Without drift_tau_min it never settles.
        tau_min = params.get("drift_tau_min")
        self.drift_tau_s = tau_min * 60.0 if tau_min else 0.0
        self.spike_n = params["spike_n"]
        # A real cell is not a straight line: a bow of nonlin_n at half its rating, and a hysteresis band
        # of hysteresis_n between loading and unloading (a play of half that width each way). Calibration
        # (traction calibrate) measures both; a board config without them has a perfect cell.
        self.nonlin_n = params.get("nonlin_n", 0.0)
        self.play_n = params.get("hysteresis_n", 0.0) / 2.0
        self.played_n = 0.0  # the load as the cell's element last followed it
        # The ADC's timing. A real one converts at its own rate (an HX711 80 times a second, slower than a
        # 100 Hz loop: some periods bring no sample) and its sample shows the force as it was a while
        # before (the conversion and the digital filter's settling: an HX711 at 80 SPS lags by 12.5 ms
        # and more). Without sps, one sample per control period; without latency_ms, of this period's
        # force. The firmware's cross-check must allow for it (crosscheck.py, cell_lag_ms). Above
        # control_hz (an ADS1220 at 660) a period brings several conversions: the plant moves once a
        # period, so they differ by their noise (and drift), and each goes into the ring (hal contract).
        self.per_period = not params.get("sps", 0)
        self.sps = control_hz if self.per_period else params["sps"]
        self.samples = SampleRing(ring_size(self.sps))
        self.latency_s = params.get("latency_ms", 0) / 1000.0
        self.phase = 0  # conversions due, in millionths of a conversion (sps only)
        self.past = []  # the forces of the last periods, oldest first (latency only)
        self.rng = rng
        self.drift_n = 0.0
        self.counts = self.zero
        self._ready = False
        # Faults (see Sim.inject): None or the fault's parameters
        self.disconnected = None  # "rails" or "zero"
        self.stuck = False
        self.stale = False
        self.spike_chance = 0.0
        self.plateau_n = None  # the amplifier clips here (the reading keeps its noise below it)
        self.gain = 1.0  # scale error: 0.9 reads 10 % low
        self.offset_n = 0.0  # a step in the zero (a knock, a shifted mount)

    # -- the hal contract (called in the tick: no allocation) --
    def ready(self):
        return self._ready

    def read(self):
        self._ready = False
        return self.counts

    def rails(self):
        return self._rails

    # -- the simulation side --
    def sample(self, force_n, dt):
        """Take the conversions that complete in this control period, if any."""
        if self.drift_tau_s:
            self.drift_n += (self.drift_n_s - self.drift_n / self.drift_tau_s) * dt
        else:
            self.drift_n += self.drift_n_s * dt
        force_n = self._delayed(force_n, dt)
        if self.stale:
            return
        for _ in range(self._converted(dt)):
            self._ready = True
            self._convert(force_n)
            self.samples.put(self.counts)

    def _convert(self, force_n):
        """One conversion into counts (a stuck ADC repeats its last one)."""
        if self.stuck:
            return
        if self.disconnected == "rails":
            self.counts = self._rails[1]
            return
        if self.disconnected == "zero":
            self.counts = 0
            return
        f = self._element(force_n) * self.gain + self.offset_n + self.drift_n
        if self.plateau_n is not None and f > self.plateau_n:
            f = self.plateau_n
        f += self.noise_n * self.rng.normal()
        if self.spike_chance > 0.0 and self.rng.chance(self.spike_chance):
            f += self.spike_n if self.rng.uniform() < 0.5 else -self.spike_n
        self.counts = self._clip(self.zero + int(round(f * self.counts_per_n)))

    def _delayed(self, force_n, dt):
        """The force latency_s ago, to the nearest control period."""
        if not self.latency_s:
            return force_n
        self.past.append(force_n)
        if len(self.past) > int(self.latency_s / dt + 0.5) + 1:
            self.past.pop(0)
        return self.past[0]

    def _converted(self, dt):
        """How many conversions completed in this period (one, without sps)."""
        if self.per_period:
            return 1
        # In integers (conversions x 1e6 per second): float32 sums of sps x dt, as a 32-bit board's
        # MicroPython makes them, lost a conversion in a few hundred
        self.phase += self.sps * int(dt * 1000000 + 0.5)
        due = self.phase // 1000000
        self.phase -= due * 1000000
        return due

    def _element(self, force_n):
        """What the cell's element reads for a true load: hysteresis (play), then its bow."""
        w = self.play_n
        if force_n > self.played_n + w:
            self.played_n = force_n - w
        elif force_n < self.played_n - w:
            self.played_n = force_n + w
        f = self.played_n if w else force_n
        if self.nonlin_n:
            x = f / self.rating_n
            f += 4.0 * self.nonlin_n * x * (1.0 - x)
        return f

    def reading_n(self):
        """What the last sample says, in newtons (where a plateau injected without a level clips)."""
        return (self.counts - self.zero) / self.counts_per_n

    def _clip(self, c):
        lo, hi = self._rails
        if c < lo:
            return lo
        if c > hi:
            return hi
        return c
