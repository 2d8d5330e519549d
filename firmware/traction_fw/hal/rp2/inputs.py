# Switch inputs latched by a hard IRQ on their active edge: a press that starts and ends between two
# ticks is still reported once. Board config per input: {"pin": GPn, "active": 1 or 0, "pull": "up",
# "down" or null}. Wire the stop and limit switches normally closed to ground with the pull-up, active 1:
# pressing (or a broken wire) lets the pin rise, so a cut cable reads as pressed.
from machine import Pin

PULLS = {"up": Pin.PULL_UP, "down": Pin.PULL_DOWN, None: None}


class Latch:
    def __init__(self, name, params):
        if params.get("pull") not in PULLS:
            raise ValueError("inputs.%s.pull must be up, down or null" % name)
        self.active = 1 if params.get("active", 1) else 0
        self.pin = Pin(params["pin"], Pin.IN, PULLS[params.get("pull")])
        self.seen = False
        self.pin.irq(self._edge, Pin.IRQ_RISING if self.active else Pin.IRQ_FALLING, hard=True)

    def _edge(self, _pin):
        self.seen = True

    def on(self):
        """Active now, or was since the last call."""
        if self.pin.value() == self.active:
            self.seen = False
            return True
        if self.seen:
            self.seen = False
            return True
        return False

    # the hal contract's names for it
    pressed = on
    tripped = on


class Absent:
    """A board without a limit switch."""

    def tripped(self):
        return False
