# The protocol server (SPEC sections 3-6, 11): reads the port a byte at a time, decodes frames, runs each
# command once (a retransmission gets the remembered reply), answers ACK/NAK/data, and sends the
# telemetry and events the tick left in its rings. Everything here runs in service(), outside the tick,
# with a bounded amount of work per call (docs/firmware.md, instruction budgets): the bytes read, then
# the replies to what they held, else up to EVENTS_PER_SERVICE events, else one telemetry frame.
#
# What a healthy treatment sends and receives allocates nothing (tests/mp_test_heap.py runs service()
# with the heap locked): frames are decoded in place (wire.FrameReader); HEARTBEAT and GET_STATUS are
# answered from fixed fields; ACK, NAK, STATUS, EVENT and TELEMETRY are packed in place; the last reply
# is remembered as its payload bytes. A heap that never fills during a treatment never collects in it
# (a full collection is ~0.9 M instructions on the emulated board: twice a control period's budget).
# Other commands go through the reference decoder and encoder (traction_protocol), which allocate.

from struct import pack_into

from traction_protocol import BY_NAME, MessageError, decode
from traction_protocol.constants import ERROR
from traction_protocol.errors import EncodeError
from traction_protocol.framing import MAX_PAYLOAD, VERSION, Frame
from traction_protocol.messages import encode_payload

from .commands import Commands
# copy and same are viper: any buffer is a ptr8 to them, though the stubs say not (pyright ignores below)
from .wire import START, FrameReader, FrameWriter, copy, same, u32

READ_MAX = 256  # bytes taken from the port per service() call
EVENTS_PER_SERVICE = 2  # frames per call: each is framed (CRC, COBS) and written within the call
# Samples per TELEMETRY frame (the SPEC allows 40): 10 a frame at 100 Hz is still under a tenth of
# 115200 baud.
TELEMETRY_MAX = 10
TELEMETRY_AGE = 25  # control periods: a batch this old goes out even if short
HELLO = 0x01
HEARTBEAT = BY_NAME["HEARTBEAT"]
LEASE_LO, LEASE_HI = HEARTBEAT.fields[0][2:4]
GET_STATUS = BY_NAME["GET_STATUS"].type_id
ACK = BY_NAME["ACK"]
NAK = BY_NAME["NAK"]
STATUS = BY_NAME["STATUS"]
EVENT = BY_NAME["EVENT"]
TELEMETRY = BY_NAME["TELEMETRY"]
TELEMETRY_HEAD = TELEMETRY.fmt
TELEMETRY_ITEM = TELEMETRY.item_fmt
REPL_BREAK_1 = 0x0D  # CR, Ctrl-C: what mpremote sends to reach the REPL (SPEC section 11)
REPL_BREAK_2 = 0x03


class Link:
    def __init__(self, app):
        self.app = app
        self.port = app.board.link
        self.reader = FrameReader()
        self.byte = bytearray(1)
        self.chunk = bytearray(READ_MAX)
        self.block = 0  # bytes since the last delimiter
        self.first = 0
        self.repl = False  # a REPL break-in was seen: the loop must hand the port over
        self.seq = 0
        # the last command executed (seq, type, payload) and the reply it got (type, payload), for a
        # retransmission; last_type -1: none (at boot and after HELLO)
        self.last_seq = 0
        self.last_type = -1
        self.last_payload = bytearray(MAX_PAYLOAD)
        self.last_size = 0
        self.reply_type = 0
        self.reply_payload = bytearray(MAX_PAYLOAD)
        self.reply_size = 0
        self.commands = Commands(app)
        # the frames of a treatment: ACK, NAK, STATUS, EVENT, TELEMETRY of 1..TELEMETRY_MAX samples
        self.writer = FrameWriter([ACK.size, NAK.size, STATUS.size, EVENT.size] + [
            TELEMETRY.size + i * TELEMETRY.item_size for i in range(1, TELEMETRY_MAX + 1)])

    def service(self):
        n = self._read()
        replied = False
        reader = self.reader
        chunk = self.chunk
        for i in range(n):
            if reader.put(chunk[i]):
                self._command()
                replied = True
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
                    self.reader.reset()
                    return 0
            self.chunk[n] = b
            n += 1
        return n

    def _reply(self, name, fields):
        """A data reply from its fields (the reference encoder: allocates)."""
        payload = encode_payload(name, fields)
        n = len(payload)
        if n > MAX_PAYLOAD:
            raise EncodeError("payload of %d bytes exceeds %d" % (n, MAX_PAYLOAD))
        self.writer.body[START:START + n] = payload
        self._remember_reply(BY_NAME[name].type_id, n)

    def _finish(self, type_id, n):
        """Frame and write the n payload bytes packed at body[START:]."""
        self.port.write(self.writer.finish(self._next_seq(), type_id, n))

    def _next_seq(self):
        # The sequence number moves on before the write: a port that raises part-way through a frame
        # must not get the same frame again, or the board would repeat it forever (SPEC 3: a repeated
        # sequence number is a retransmission).
        seq = self.seq
        self.seq = (seq + 1) & 0xFF
        return seq

    def _command(self):
        r = self.reader
        at = r.PAYLOAD
        if (r.type_id != HELLO and r.type_id == self.last_type and r.seq == self.last_seq
                and r.size == self.last_size and same(r.buf, at, self.last_payload, 0, r.size)):  # pyright: ignore[reportArgumentType]
            self.app.renew_lease()
            self._resend()  # a retransmission: same answer, not run again
            return
        if r.version == VERSION and r.type_id == HEARTBEAT.type_id and r.size == HEARTBEAT.size \
                and r.buf[at + 3] == 0:
            lease = r.buf[at] | (r.buf[at + 1] << 8) | (r.buf[at + 2] << 16)
            if LEASE_LO <= lease <= LEASE_HI:
                self.app.renew_lease()
                self.commands.heartbeat(lease)
                self._ack(r.seq)
                self._remember()
                return
        if r.version == VERSION and r.type_id == GET_STATUS and r.size == 0:
            self.app.renew_lease()
            self.commands.pack_status(self.writer.body, START, r.seq)
            self._remember_reply(STATUS.type_id, STATUS.size)
            self._remember()
            return
        self._decoded(Frame(r.version, r.seq, r.type_id, bytes(r.buf[at:at + r.size])))

    def _decoded(self, frame):
        """A command through the reference decoder; its result (commands.py) becomes the reply."""
        try:
            msg = decode(frame)
        except MessageError as e:
            self._nak(frame.seq, e.name)
        else:
            self.app.renew_lease()
            result = self.commands.run(msg)
            if result == 0:
                self._ack(frame.seq)
            elif isinstance(result, str):
                self._nak(frame.seq, result)
            else:
                name, fields = result
                fields["re"] = frame.seq
                self._reply(name, fields)
        if frame.type_id == HELLO:
            self.last_type = -1  # a new host starts clean
        else:
            self._remember()

    def _ack(self, re):
        pack_into(ACK.fmt, self.writer.body, START, re, self.app.state)
        self._remember_reply(ACK.type_id, ACK.size)

    def _nak(self, re, error):
        pack_into(NAK.fmt, self.writer.body, START, re, ERROR[error], self.app.state)
        self._remember_reply(NAK.type_id, NAK.size)

    def _remember_reply(self, type_id, n):
        """Keep the reply packed at body[START:] for a retransmission, then send it."""
        copy(self.reply_payload, 0, self.writer.body, START, n)  # pyright: ignore[reportArgumentType]
        self.reply_type = type_id
        self.reply_size = n
        self._finish(type_id, n)

    def _remember(self):
        r = self.reader
        copy(self.last_payload, 0, r.buf, r.PAYLOAD, r.size)  # pyright: ignore[reportArgumentType]
        self.last_seq = r.seq
        self.last_type = r.type_id
        self.last_size = r.size

    def _resend(self):
        copy(self.writer.body, START, self.reply_payload, 0, self.reply_size)  # pyright: ignore[reportArgumentType]
        self._finish(self.reply_type, self.reply_size)

    def _send_events(self):
        """Up to EVENTS_PER_SERVICE events, packed in place; whether there were any."""
        app = self.app
        j = app.journal
        ring = j.events
        sent = False
        for _ in range(EVENTS_PER_SERVICE):
            o = ring.peek()
            if o < 0:
                return sent
            d = ring.data
            pack_into(EVENT.fmt, self.writer.body, START, j.event_number, u32(d[o + 3]), d[o],
                      d[o + 1] & 0xFF, d[o + 2])
            # taken off the ring before it is sent: an exception in the port loses this event once
            # rather than sending it again on every call
            j.event_number = (j.event_number + 1) & 0xFFFF
            ring.pop()
            sent = True
            self._finish(EVENT.type_id, EVENT.size)
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
            pack_into(TELEMETRY_HEAD, body, START, u32(first), app.period_us * div,
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
