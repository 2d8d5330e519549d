# Fixed-size rings of integers that the control tick fills and service() drains: EVENT frames for the
# host, and items for the session record. Preallocated so the tick never allocates; when a ring is full
# the newest item is dropped and counted (the host sees the gap in the event numbers).


class Ring:
    def __init__(self, width, size):
        self.width = width
        self.size = size
        self.data = [0] * (width * size)
        self.head = 0  # next row to read
        self.count = 0
        self.dropped = 0

    def claim(self):
        """Offset of a free row in data to fill in, or -1 when full."""
        if self.count == self.size:
            self.dropped += 1
            return -1
        row = (self.head + self.count) % self.size
        self.count += 1
        return row * self.width

    def peek(self):
        """Offset of the oldest row, or -1 when empty."""
        return self.head * self.width if self.count else -1

    def pop(self, n=1):
        """Take the n oldest rows off."""
        self.head = (self.head + n) % self.size
        self.count -= n

    def clear(self):
        self.head = 0
        self.count = 0


# record item kinds
R_EV = 1
R_HOLD = 2
R_PHASE = 3
RECORD_WIDTH = 12

# record `ev` names (SPEC 9.2); index = code in a R_EV item
EV_NAMES = ("", "PAUSE", "RESUME", "EDIT", "STOP", "ESTOP", "FAULT", "STOP_SWITCH", "RECORD_FULL")
EV_PAUSE = 1
EV_RESUME = 2
EV_EDIT = 3
EV_STOP = 4
EV_ESTOP = 5
EV_FAULT = 6
EV_STOP_SWITCH = 7
EV_RECORD_FULL = 8  # the board stopped the treatment: its record's spool was nearly full (recorder.py)


class Journal:
    """Events for the link and items for the record, with the running event number."""

    def __init__(self, events=64, items=64):
        self.events = Ring(4, events)  # kind, code, value, ms
        self.items = Ring(RECORD_WIDTH, items)
        self.event_number = 0
        self.recording = False  # record items are kept only while a session record is open

    def event(self, kind, code, value, ms):
        o = self.events.claim()
        if o < 0:
            self.event_number = (self.event_number + 1) & 0xFFFF  # the gap tells the host
            return
        d = self.events.data
        d[o] = kind
        d[o + 1] = code
        d[o + 2] = value
        d[o + 3] = ms

    def item(self, kind, a, b, c, d, e, f, g, h, i, j, k):
        if not self.recording:
            return
        o = self.items.claim()
        if o < 0:
            return
        r = self.items.data
        r[o] = kind
        r[o + 1] = a
        r[o + 2] = b
        r[o + 3] = c
        r[o + 4] = d
        r[o + 5] = e
        r[o + 6] = f
        r[o + 7] = g
        r[o + 8] = h
        r[o + 9] = i
        r[o + 10] = j
        r[o + 11] = k
