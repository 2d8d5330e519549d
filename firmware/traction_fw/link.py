# The protocol server (SPEC sections 3-6, 11): reads the port a byte at a time, decodes frames, runs each
# command once (a retransmission gets the remembered reply), answers ACK/NAK/data, and sends the
# telemetry and events the tick left in its rings. Everything here runs in service(), outside the tick,
# with a bounded amount of work per call (docs/firmware.md, instruction budgets): the bytes read, then
# the replies to what they held, else up to EVENTS_PER_SERVICE events, else one telemetry frame.

from struct import pack_into

from traction_protocol import BY_NAME, FrameDecoder, MessageError, decode
from traction_protocol.constants import ERROR
from traction_protocol.errors import EncodeError
from traction_protocol.framing import Frame
from traction_protocol.messages import encode_payload

from .commands import Commands
from .wire import START, FrameWriter

READ_MAX = 256  # bytes taken from the port per service() call
EVENTS_PER_SERVICE = 2  # an EVENT frame costs ~80k instructions to encode on a Cortex-M3
# Samples per TELEMETRY frame (the SPEC allows 40): encoding 40 costs ~550k instructions on a Cortex-M3,
# 10 about 200k; 10 a frame at 100 Hz is still under a tenth of 115200 baud.
TELEMETRY_MAX = 10
TELEMETRY_AGE = 25  # control periods: a batch this old goes out even if short
HELLO = 0x01
TELEMETRY = BY_NAME["TELEMETRY"]
TELEMETRY_HEAD = TELEMETRY.fmt
TELEMETRY_ITEM = TELEMETRY.item_fmt
REPL_BREAK_1 = 0x0D  # CR, Ctrl-C: what mpremote sends to reach the REPL (SPEC section 11)
REPL_BREAK_2 = 0x03


class Link:
    def __init__(self, app):
        self.app = app
        self.port = app.board.link
        self.decoder = FrameDecoder()
        self.byte = bytearray(1)
        self.chunk = bytearray(READ_MAX)
        self.block = 0  # bytes since the last delimiter
        self.first = 0
        self.repl = False  # a REPL break-in was seen: the loop must hand the port over
        self.seq = 0
        self.last_key = None  # (seq, type, payload) of the last command executed
        self.last_reply = None
        self.commands = Commands(app)
        self.writer = FrameWriter()

    def service(self):
        n = self._read()
        replied = False
        if n:
            for item in self.decoder.feed(bytes(self.chunk[:n])):
                if isinstance(item, Frame):
                    self._command(item)
                    replied = True
                # frame errors (SPEC 3.1 steps 1-5) are silent: the host retransmits
        if replied or self._send_events():
            return  # the rings wait for the next call
        self._send_telemetry()

    def _read(self):
        n = 0
        port = self.port
        while n < READ_MAX and port.read(self.byte):
            b = self.byte[0]
            if b == 0:
                self.block = 0
            else:
                self.block += 1
                if self.block == 1:
                    self.first = b
                elif (self.block == 2 and self.first == REPL_BREAK_1 and b == REPL_BREAK_2
                      and self.app.repl_allowed()):
                    # what follows is the REPL's: stop reading here
                    self.repl = True
                    self.app.board.watchdog.stop()  # nothing feeds it once the loop has returned
                    self.decoder.reset()
                    return 0
            self.chunk[n] = b
            n += 1
        return n

    def send(self, name, fields):
        payload = encode_payload(name, fields)
        self.port.write(self.writer.frame(self._next_seq(), BY_NAME[name].type_id, payload))

    def _next_seq(self):
        # The sequence number moves on before the write: a port that raises part-way through a frame
        # must not get the same frame again, or the board would repeat it forever (SPEC 3: a repeated
        # sequence number is a retransmission).
        seq = self.seq
        self.seq = (seq + 1) & 0xFF
        return seq

    def _command(self, frame):
        key = (frame.seq, frame.type_id, bytes(frame.payload))
        if frame.type_id != HELLO and key == self.last_key:
            self.app.renew_lease()
            self._reply(self.last_reply)  # a retransmission: same answer, not run again
            return
        try:
            msg = decode(frame)
        except MessageError as e:
            reply = ("NAK", {"re": frame.seq, "error": ERROR[e.name], "state": self.app.state})
        else:
            self.app.renew_lease()
            reply = self.commands.run(msg)
        if frame.type_id == HELLO:
            self.last_key = None  # a new host starts clean
        else:
            self.last_key = key
            self.last_reply = reply
        self._reply(reply)

    def _reply(self, reply):
        self.send(reply[0], reply[1])

    def _send_events(self):
        """Up to EVENTS_PER_SERVICE events; whether there were any."""
        app = self.app
        ring = app.journal.events
        sent = False
        for _ in range(EVENTS_PER_SERVICE):
            o = ring.peek()
            if o < 0:
                return sent
            d = ring.data
            j = app.journal
            fields = {"event": j.event_number, "ms": d[o + 3] & 0xFFFFFFFF, "kind": d[o],
                      "code": d[o + 1] & 0xFF, "value": d[o + 2]}
            # taken off the ring before it is sent: an exception in the port loses this event once
            # rather than sending it again on every call
            j.event_number = (j.event_number + 1) & 0xFFFF
            ring.pop()
            sent = True
            self.send("EVENT", fields)
        return sent

    def _send_telemetry(self):
        app = self.app
        ring = app.telemetry
        div = max(1, app.session.telemetry_div)
        d = ring.data
        if ring.count:  # one frame per call
            o = ring.peek()
            first = d[o]
            n = self._batch(d, o, div)
            if n == ring.count and n < TELEMETRY_MAX and app.samples - first < TELEMETRY_AGE:
                return  # a short batch waits a little for more samples
            # packed in place, allocating nothing (the catalogue's TELEMETRY layout; tests/mp_test_wire.py
            # checks these frames against the reference codec)
            body = self.writer.body
            pack_into(TELEMETRY_HEAD, body, START, first & 0xFFFFFFFF, app.period_us * div,
                      d[o + 3], d[o + 4], d[o + 5])
            at = START + TELEMETRY.size
            for _ in range(n):
                r = ring.peek()
                force = d[r + 1]
                target = d[r + 2]
                ring.pop()
                if not (-0x8000 <= force <= 0x7FFF and 0 <= target <= 0xFFFF):
                    raise EncodeError("TELEMETRY sample (%d, %d) outside hH" % (force, target))
                pack_into(TELEMETRY_ITEM, body, at, force, target)
                at += TELEMETRY.item_size
            self.port.write(self.writer.finish(self._next_seq(), TELEMETRY.type_id, at - START))

    def _batch(self, d, o, div):
        """How many rows from the oldest are consecutive samples with its state, phase and segment."""
        ring = self.app.telemetry
        n = 0
        i = ring.head
        while n < ring.count and n < TELEMETRY_MAX:
            r = i * ring.width
            if (d[r] != d[o] + n * div or d[r + 3] != d[o + 3] or d[r + 4] != d[o + 4]
                    or d[r + 5] != d[o + 5]):
                break
            n += 1
            i = (i + 1) % ring.size
        return n
