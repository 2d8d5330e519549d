# Device time and the control period on the RP2040. A hard IRQ (a machine.Timer at control_hz, or the
# load-cell ADC's data-ready every n samples) marks each period start; wait_tick() idles until the next
# mark. A loop that ends after the next period has already started is an overrun: counted, and the
# watchdog is not fed for it (watchdog.py). The period marks are counted in the IRQ, so a long loop
# never makes the next periods come faster: it only shortens the one that starts late.
# When the ADC's data-ready paces the loop, a guard timer marks the periods the ADC fails to: without it
# an ADC that stopped converting would stop the loop, and the watchdog would reset the board, unheard,
# every second, where the timer's pace keeps the loop running until ADC_SILENT latches.
import time

import machine


class Clock:
    def __init__(self, period_us, watchdog):
        self.period_us = period_us
        self.due = 0  # period marks not yet taken by wait_tick (written by the IRQ)
        self.overruns = 0  # loops that ended after the next period had started
        self.missed = 0  # whole periods that passed without a loop
        self.watchdog = watchdog
        self._timer = None
        self._started = False
        self._marked = 0  # ticks_us of the last mark
        self._late_us = 0  # the guard marks a period when none came for this long

    # -- the hal contract (called in the tick: no allocation) --
    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_us(self):
        return time.ticks_us()

    def wait_tick(self):
        irq = machine.disable_irq()
        late = self.due
        self.due = 0
        machine.enable_irq(irq)
        if self._started and late:
            self.overruns += 1
            self.missed += late - 1
        self.watchdog.loop_done(self._started and not late)
        self._started = True
        if late:
            return  # the period has begun already: start its work now
        while not self.due:
            machine.idle()  # WFE: any interrupt (the period mark, USB) wakes it
        irq = machine.disable_irq()
        self.due -= 1
        machine.enable_irq(irq)

    # -- the board side --
    def mark(self, _source=None):
        """A period starts: the pacing IRQ's handler (hard IRQ: no allocation)."""
        self.due += 1
        self._marked = self.ticks_us()

    def pace_by_timer(self, hz):
        self._timer = machine.Timer(-1)
        self._timer.init(mode=machine.Timer.PERIODIC, freq=hz, callback=self.mark, hard=True)

    def guard_pace(self, hz):
        """Another IRQ marks the periods (the ADC's data-ready): check four times a period that one came
        within a period and a quarter (an ADC's own oscillator may run a few per cent slow), else mark it.
        A silent ADC leaves the loop running at 80 % of its rate."""
        self._late_us = self.period_us + self.period_us // 4
        self._marked = self.ticks_us()
        self._timer = machine.Timer(-1)
        self._timer.init(mode=machine.Timer.PERIODIC, freq=4 * hz, callback=self._guard, hard=True)

    def _guard(self, _timer):
        if time.ticks_diff(self.ticks_us(), self._marked) >= self._late_us:
            self.mark()
