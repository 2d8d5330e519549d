# Virtual device time. ticks_ms()/ticks_us() wrap exactly like this port's time.ticks_* (period
# time.ticks_add(0, -1) + 1), so the application must compare them with time.ticks_diff. The first
# reading is time.ticks_add(0, tick_offset_ms): a negative offset makes the ticks wrap that many ms
# after boot. Time stands still inside a control period and jumps by one period in wait_tick(), so device
# time never overruns; `overruns` counts the periods whose wall-clock pacing found the wall a whole period
# past its mark already (the machine running the board could not keep its time scale).
import time

MASK = time.ticks_add(0, -1)


class Clock:
    def __init__(self, period_us, time_scale, free_run, tick_offset_ms, on_tick):
        self.period_us = period_us
        self.device_us = 0  # device time since boot, unbounded
        self._offset_ms = tick_offset_ms
        self._ms = 0
        self._us = 0
        self._set_ticks()
        self._on_tick = on_tick
        self._free_run = free_run
        self._time_scale = time_scale
        self._wall_rem = 0  # device us not yet turned into whole wall us
        self._wall_next = time.ticks_us()
        self.overruns = 0
        self.late = 0  # periods the next tick starts late (the loop_late fault): the plant runs on meanwhile

    # -- the hal contract (called in the tick: stored ints only) --
    def ticks_ms(self):
        return self._ms

    def ticks_us(self):
        return self._us

    def wait_tick(self):
        """Start the next control period: pace wall time, advance device time, step the plant."""
        periods = 1 + self.late
        self.late = 0
        for _ in range(periods):
            if not self._free_run:
                self._pace()
            self.device_us += self.period_us
            self._set_ticks()
            self._on_tick()

    # -- the simulation side --
    def device_ms(self):
        return self.device_us // 1000

    def _set_ticks(self):
        self._ms = (self._offset_ms + self.device_us // 1000) & MASK
        self._us = (self._offset_ms * 1000 + self.device_us) & MASK

    def _pace(self):
        self._wall_rem += self.period_us
        step = self._wall_rem // self._time_scale
        self._wall_rem -= step * self._time_scale
        self._wall_next = time.ticks_add(self._wall_next, step)
        late = time.ticks_diff(time.ticks_us(), self._wall_next)
        if late < 0:
            time.sleep_us(-late)
            return
        if late >= step:
            self.overruns += 1
        if late > 200000:
            # Far behind (a debugger, a loaded host): catch up from now rather than race.
            self._wall_next = time.ticks_us()
