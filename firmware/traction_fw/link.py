# The protocol server (SPEC sections 3-6, 11): reads the port up to a frame's end, decodes frames, runs each
# command once (a retransmission gets the remembered reply), answers ACK/NAK/data, and sends the
# telemetry and events the tick left in its rings. Everything here runs in service(), outside the tick,
# with a bounded amount of work per call (docs/firmware.md, instruction budgets): the bytes read up to the
# end of one frame and its command run, the reply packed; or that reply framed and written, in the next
# call (the two in one call came to 5.1-5.2 ms with the tick on the emulated RP2040, over half its
# period); else up to EVENTS_PER_SERVICE events, else one telemetry frame, else (when the host turned them
# on with STREAM) one SAMPLES frame of the load cell's conversions. A second frame waits in the port until
# the first is answered: a host has one command outstanding, but its heartbeat may arrive with it.
#
# What a healthy treatment sends and receives allocates nothing (tests/mp_test_heap.py runs service()
# with the heap locked), and neither does reading a record back: frames are decoded in place
# (wire.FrameReader); HEARTBEAT, GET_STATUS and RECORD_READ are answered from fixed fields; ACK, NAK,
# STATUS, EVENT, TELEMETRY, SAMPLES and RECORD_CHUNK are packed in place (the chunk's data read from the file
# straight into the frame); the last command is remembered by its seq and CRC (SPEC section 5), its reply
# as payload bytes. A heap that never fills during a treatment never collects in it (a full collection
# is ~0.9 M instructions on the emulated board: twice a control period's budget). Other commands go
# through the reference decoder and encoder (traction_protocol), which allocate.

from array import array
from struct import pack_into

import micropython

from traction_protocol import BY_NAME, MessageError, decode
from traction_protocol.constants import ERROR
from traction_protocol.errors import EncodeError
from traction_protocol.framing import MAX_ENCODED, MAX_PAYLOAD, VERSION, Frame
from traction_protocol.messages import encode_payload

from .commands import CHUNK, Commands
from .hal.samples import WRAP_MASK
# copy is viper: any buffer is a ptr8 to it, though the stubs say not (pyright ignores below)
from .wire import START, FrameReader, FrameWriter, copy, u32

READ_MAX = 256  # bytes taken from the port per service() call (fewer once a frame ends)
READ_CHUNK = 64  # bytes asked of the port at once: a HEARTBEAT or GET_STATUS whole
EVENTS_PER_SERVICE = 2  # frames per call: each is framed (CRC, COBS) and written within the call
# Samples per TELEMETRY frame (the SPEC allows 40): 10 a frame at 100 Hz is still under a tenth of
# 115200 baud.
TELEMETRY_MAX = 10
TELEMETRY_AGE = 25  # control periods: a batch this old goes out even if short
# SAMPLES: a frame every SAMPLES_MS of the ADC's conversions (33 at 660 samples/s, 4 at 80), at most
# SAMPLES_MAX (the SPEC allows 56; 40 is 60 ms at 660, 20 ms at 2000 samples/s: 50 frames a second). A frame
# goes out only while the port takes SAMPLES_ROOM bytes without waiting: replies and events keep their
# room, and the load cell's ring keeps a quarter second meanwhile (hal/samples.py).
SAMPLES_MS = 50
SAMPLES_MAX = 40
SAMPLES_ROOM = 1024
HELLO = 0x01
HEARTBEAT = BY_NAME["HEARTBEAT"]
LEASE_LO, LEASE_HI = HEARTBEAT.fields[0][2:4]
GET_STATUS = BY_NAME["GET_STATUS"].type_id
RECORD_READ = BY_NAME["RECORD_READ"]
RECORD_CHUNK = BY_NAME["RECORD_CHUNK"]
ACK = BY_NAME["ACK"]
NAK = BY_NAME["NAK"]
STATUS = BY_NAME["STATUS"]
EVENT = BY_NAME["EVENT"]
TELEMETRY = BY_NAME["TELEMETRY"]
TELEMETRY_HEAD = TELEMETRY.fmt
SAMPLES = BY_NAME["SAMPLES"]
SAMPLES_HEAD = SAMPLES.fmt
REPL_BREAK_1 = 0x0D  # CR, Ctrl-C: what mpremote sends to reach the REPL (SPEC section 11)
REPL_BREAK_2 = 0x03


@micropython.viper
def _pack_items(body: ptr8, at: int, d, o: int, width: int, end: int, n: int) -> int:  # noqa: F821
    """TELEMETRY's n items (force i16, target u16, little-endian) from the ring's rows at d[o:] (force
    at +1, target at +2; the ring wraps at end) into body[at:]: the offset after them, or -1 - r for the
    row at d[r:] whose sample is outside its fields (the reference encoder refuses it too). Machine code:
    in bytecode, a byte at a time, the ten items of a frame took about 0.4 ms of the emulated RP2040's
    5 ms."""
    for _ in range(n):
        force = int(d[o + 1])
        target = int(d[o + 2])
        if force < -32768 or force > 32767 or target < 0 or target > 65535:
            return -1 - o
        body[at] = force
        body[at + 1] = force >> 8
        body[at + 2] = target
        body[at + 3] = target >> 8
        at += 4
        o += width
        if o == end:
            o = 0
    return at


class Link:
    def __init__(self, app):
        self.app = app
        self.port = app.board.link
        self.reader = FrameReader()
        self.inbox = bytearray(READ_CHUNK)
        self.repl = False  # a REPL break-in was seen: the loop must hand the port over
        self.seq = 0
        # the last command executed (seq, type, size, CRC) and the reply it got (type, payload), for a
        # retransmission; last_type -1: none (at boot and after HELLO)
        self.last_seq = 0
        self.last_type = -1
        self.last_size = 0
        self.last_crc = 0
        self.reply_type = 0
        self.reply_payload = bytearray(MAX_PAYLOAD)
        self.reply_size = 0
        self.reply_due = False  # the reply packed at writer.body[START:], to frame and write next call
        self.commands = Commands(app)
        # the frames of a treatment: ACK, NAK, STATUS, EVENT, TELEMETRY of 1..TELEMETRY_MAX samples; and a
        # whole RECORD_CHUNK, whose data is read into the frame through the view of it made here
        self.writer = FrameWriter([ACK.size, NAK.size, STATUS.size, EVENT.size, RECORD_CHUNK.size + CHUNK] + [
            TELEMETRY.size + i * TELEMETRY.item_size for i in range(1, TELEMETRY_MAX + 1)])
        # SAMPLES (STREAM turns them on; HELLO and boot off)
        self.streaming = False
        self.counts = None  # the drained conversions, made with the frames' views at the first STREAM
        self.samples_sent = 0  # control sample of the last SAMPLES frame
        self.samples_full = SAMPLES_MAX  # conversions that make a frame due (set by the first STREAM)
        # the telemetry batch found so far (_batch): its rows, its oldest row's sample and the rate
        self.batched = 0
        self.batch_first = -1
        self.batch_div = 0
        at = START + RECORD_CHUNK.size
        self.chunk = self.writer.view[at:at + CHUNK]

    def stream(self, on):
        """STREAM: SAMPLES frames on or off. Their buffer and frame views are made the first time (2.4 KB
        of heap a board that never streams keeps free; STREAM is a decoded command, which allocates)."""
        if on and self.counts is None:
            self.writer.prepare([SAMPLES.size + i * SAMPLES.item_size for i in range(1, SAMPLES_MAX + 1)])
            self.counts = array("i", bytes(4 * SAMPLES_MAX))
            # SAMPLES_MS of conversions, at most SAMPLES_MAX: the ADC's rate is fixed, so reckoned once
            # here rather than in every service() call
            self.samples_full = min(SAMPLES_MAX, self.app.board.loadcell.sps * SAMPLES_MS // 1000) \
                or SAMPLES_MAX
        self.streaming = on

    def service(self):
        """At most one of the jobs above; whether there was one."""
        if self.reply_due:
            self.reply_due = False
            self._finish(self.reply_type, self.reply_size)
            return True
        if self._read() or self._send_events() or self._send_telemetry():
            return True  # the rings wait for the next call
        return self.streaming and self._send_samples()

    def _read(self):
        """Up to READ_MAX bytes from the port, up to the end of a frame, which is answered; whether one
        was. The port's read ends after a frame's end or a Ctrl-C, so what is not read stays in the port,
        for the next call or the REPL."""
        port = self.port
        chunk = self.inbox
        reader = self.reader
        buf = reader.buf
        brk = REPL_BREAK_2  # locals: the loop runs a byte at a time
        most = MAX_ENCODED
        left = READ_MAX
        while left > 0:
            got = port.read(chunk)
            if not got:
                break
            left -= got
            for i in range(got):
                b = chunk[i]
                n = reader.n
                # a block that starts CR, Ctrl-C: a REPL break-in; what follows is the REPL's
                if b == brk and n == 1 and buf[0] == REPL_BREAK_1 and self.app.repl_allowed():
                    self.repl = True
                    self.app.board.watchdog.stop()  # nothing feeds it once the loop has returned
                    reader.reset()
                    return False
                if b and n < most:  # FrameReader.put's commonest case written out: a call a byte less
                    buf[n] = b
                    reader.n = n + 1
                elif reader.put(b):
                    self._command()
                    return True
        return False

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
                and r.size == self.last_size and r.crc == self.last_crc):
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
        if r.version == VERSION and r.type_id == RECORD_READ.type_id and r.size == RECORD_READ.size \
                and (r.buf[at] or r.buf[at + 1]):  # record_id 0 is out of range: the reference's NAK
            self._record_read(r.seq, r.buf, at)
            return
        self._decoded(Frame(r.version, r.seq, r.type_id, bytes(r.buf[at:at + r.size])))

    def _record_read(self, re, buf, at):
        """A RECORD_READ answered in place: the chunk read from the file into the frame."""
        self.app.renew_lease()
        rid = buf[at] | (buf[at + 1] << 8)
        # a long int on a 32-bit port from 1 GiB on: no record is that long
        offset = buf[at + 2] | (buf[at + 3] << 8) | (buf[at + 4] << 16) | (buf[at + 5] << 24)
        n = self.commands.pack_chunk(self.writer.body, START, self.chunk, re, rid, offset)
        if n < 0:
            self._nak(re, "UNKNOWN_RECORD")
        else:
            self._remember_reply(RECORD_CHUNK.type_id, n)
        self._remember()

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
        body = self.writer.body  # ACK is two bytes (re, state): stored, not packed
        body[START] = re
        body[START + 1] = self.app.state
        self._remember_reply(ACK.type_id, ACK.size)

    def _nak(self, re, error):
        pack_into(NAK.fmt, self.writer.body, START, re, ERROR[error], self.app.state)
        self._remember_reply(NAK.type_id, NAK.size)

    def _remember_reply(self, type_id, n):
        """Keep the reply packed at body[START:] for a retransmission; it is sent in the next call."""
        copy(self.reply_payload, 0, self.writer.body, START, n)  # pyright: ignore[reportArgumentType]
        self.reply_type = type_id
        self.reply_size = n
        self.reply_due = True

    def _remember(self):
        r = self.reader
        self.last_seq = r.seq
        self.last_type = r.type_id
        self.last_size = r.size
        self.last_crc = r.crc

    def _resend(self):
        copy(self.writer.body, START, self.reply_payload, 0, self.reply_size)  # pyright: ignore[reportArgumentType]
        self.reply_due = True

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
        """One TELEMETRY frame when a batch is due; whether one was sent."""
        app = self.app
        ring = app.telemetry
        count = ring.count
        if not count:  # one frame per call
            return False
        div = app.session.telemetry_div
        if div < 1:  # not max(): a builtin is looked for in this module's globals first, every call
            div = 1
        d = ring.data
        o = ring.head * ring.width
        first = d[o]
        n = self._batch(ring, d, o, count, div)
        if n == count and n < TELEMETRY_MAX and app.samples - first < TELEMETRY_AGE:
            return False  # a short batch waits a little for more samples
        # taken off the ring before it is sent, as events are: a sample that cannot be sent is lost once
        # rather than refused on every call
        ring.pop(n)
        self.batched = 0
        # packed in place, allocating nothing (the catalogue's TELEMETRY layout; tests/mp_test_wire.py
        # checks these frames against the reference codec)
        body = self.writer.body
        pack_into(TELEMETRY_HEAD, body, START, u32(first), app.period_us * div, d[o + 3], d[o + 4], d[o + 5])
        end = ring.size * ring.width
        # viper takes any buffer for a pointer argument; the stubs' ptr8 is not a buffer type
        at = _pack_items(body, START + TELEMETRY.size, d, o, ring.width, end, n)  # pyright: ignore[reportArgumentType]
        if at < 0:
            bad = -1 - at
            raise EncodeError("TELEMETRY sample (%d, %d) outside hH" % (d[bad + 1], d[bad + 2]))
        self.port.write(self.writer.finish(self._next_seq(), TELEMETRY.type_id, at - START))
        return True

    def _send_samples(self):
        """One SAMPLES frame of the load cell's conversions, when a batch is due and the port has room
        (whether one was sent); packed in place, allocating nothing. Conversions that wait too long are
        overwritten in the ring: the host sees the gap in `first`."""
        app = self.app
        cell = app.board.loadcell
        ring = cell.samples
        waiting = ring.pending()
        # due: a frame's worth of conversions (samples_full), or what waits SAMPLES_MS after the last frame
        if not waiting or (waiting < self.samples_full
                           and (app.samples - self.samples_sent) * app.period_us < SAMPLES_MS * 1000):
            return False
        if self.port.room() < SAMPLES_ROOM:
            return False
        n = ring.drain(self.counts)
        st = app.settings
        body = self.writer.body
        pack_into(SAMPLES_HEAD, body, START, (ring.taken - n) & WRAP_MASK, u32(app.samples), ring.pending(),
                  cell.sps, st.zero, st.span_counts, st.span_dn)
        # the items are the array's own bytes: SAMPLES' i32 little-endian is how every port the firmware
        # runs on (ARM Cortex-M, x86) stores an array("i"); a copy, not a pack_into per item (~2 k each)
        size = n * SAMPLES.item_size
        copy(body, START + SAMPLES.size, self.counts, 0, size)  # pyright: ignore[reportArgumentType]
        self.samples_sent = app.samples
        self.port.write(self.writer.finish(self._next_seq(), SAMPLES.type_id, SAMPLES.size + size))
        return True

    def _batch(self, ring, d, o, count, div):
        """How many rows from the oldest (at d[o]) are consecutive samples with its state, phase and
        segment. The rows found stay found until a frame takes them (only this link pops the ring; the tick
        only adds rows), so a call checks only the rows added since the last one: one, at one a period."""
        n = self.batched
        if n > count or d[o] != self.batch_first or div != self.batch_div:  # another oldest row or rate
            n = 0
            self.batch_first = d[o]
            self.batch_div = div
        most = count if count < TELEMETRY_MAX else TELEMETRY_MAX
        if n >= most:
            return n
        width = ring.width
        end = ring.size * width
        r = o + n * width
        if r >= end:
            r -= end
        sample = d[o] + n * div
        state = d[o + 3]
        phase = d[o + 4]
        segment = d[o + 5]
        while n < most and d[r] == sample and d[r + 3] == state and d[r + 4] == phase and d[r + 5] == segment:
            n += 1
            sample += div
            r += width
            if r == end:
                r = 0
        self.batched = n
        return n
