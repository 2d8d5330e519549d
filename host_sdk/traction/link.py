"""The host end of the link (SPEC sections 3-5): frames in and out, one command at a time.

A reader thread feeds every byte to the shared FrameDecoder. Replies (they carry `re`) go to the one
outstanding command; TELEMETRY, EVENT and SAMPLES go to listeners. A command is retransmitted, byte for byte,
until a reply with its `re` arrives (stop-and-wait; the board's remembered reply makes it exactly once).
The reader thread waits on the port and nothing else: listeners must hand work on (the store queues it).
"""

import logging
import os
import threading
import time

import serial
from traction_protocol import BY_NAME, VERSION, FrameDecoder, FrameError, MessageError, decode, encode
from traction_protocol.constants import ERROR, ERROR_NAME

from traction.errors import BadReply, BoardUnreachable, NakError, ProtocolVersionError

log = logging.getLogger(__name__)

RTO_FIRST_S = 0.1  # wall-clock, SPEC section 5
RTO_MAX_S = 1.0
ATTEMPTS = 6
GARBLED = (ERROR["BAD_LENGTH"], ERROR["OUT_OF_RANGE"], ERROR["UNKNOWN_TYPE"])  # our frame, as it arrived
GARBLED_RETRIES = 2  # sends again after a GARBLED NAK before believing it
PATIENT_BUDGET_S = 30.0  # a bulk read (RECORD_READ) gives up after this long without a reply, not 3.5 s
NUDGE_CAP = 10  # a request gives up after this many times its budget, however many bad frames came
# pyserial's word for a read that found no byte after select() said there was one: another program
# took it (or a USB device is going away; then the path disappears or the error persists).
STOLEN_READ = "returned no data"
LOST_AFTER_S = 2.0  # reads failing this long in a row: the port is gone
READ_RETRY_S = 0.01
STOLEN_RECENT_S = 30.0  # a stolen read this recent names another program as the likely cause
UNSOLICITED = ("TELEMETRY", "EVENT", "SAMPLES")
NAK_TYPE = BY_NAME["NAK"].type_id


class Link:
    """Reliable commands over a byte stream with read(n), write(b) and close() (a pyserial port)."""

    def __init__(self, port, rto_first=RTO_FIRST_S, rto_max=RTO_MAX_S, attempts=ATTEMPTS, name="board",
                 device=None):
        """device: the local device path behind the port (transport.local_device), to tell a stolen
        read from a board that went away."""
        self.port = port
        self.name = name
        self.device = device
        self.rto_first, self.rto_max, self.attempts = rto_first, rto_max, attempts
        # How long a silent board is waited for, in wall time: the sum of the first schedule of waits
        # (3.5 s by default). Shorter waits to fit a short lease (fit_lease) do not shorten it.
        self.budget_s = _schedule(rto_first, rto_max, attempts)
        self.retransmissions = 0  # link health figures, for people and tests
        self.bad_frames = 0
        self.stale_replies = 0
        self.stolen_reads = 0  # reads another program on the port took from us
        self._stolen_at = None  # when the last one was
        self._listeners = []
        self._send_lock = threading.Lock()  # stop-and-wait: one command outstanding
        self._cond = threading.Condition()
        self._seq = 0
        self._waiting = None  # seq of the outstanding command
        self._reply = None
        self._nudged = False  # a bad frame arrived while a command waited: its reply, corrupted?
        self._lost = None  # why the link is gone (str), once it is
        self.replied_at = time.monotonic()  # when the last reply came: the board renewed its lease before
        self._closing = False
        self._write(b"\x00")  # flush whatever partial frame the board holds
        self._reader = threading.Thread(target=self._read_loop, name="traction-link-reader", daemon=True)
        self._reader.start()

    # ---- listeners (called on the reader thread: keep them short) ----
    def add_listener(self, fn):
        """Call fn(message) for every unsolicited frame (telemetry, events), on the reader thread."""
        self._listeners.append(fn)

    def remove_listener(self, fn):
        """Stop calling fn; a function not listening is ignored."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    @property
    def lost(self):
        """None while the link works; else one line saying why it is gone."""
        return self._lost

    def fit_lease(self, lease_wall_s: float):
        """Shorten the retransmission waits so several fit in the lease (SPEC section 6): a quarter of it
        at most, an eighth for the first. A real board's 10 s lease leaves them as they are."""
        self.rto_max = min(RTO_MAX_S, self.rto_max, lease_wall_s / 4)
        self.rto_first = min(self.rto_first, self.rto_max, lease_wall_s / 8)

    # ---- commands ----
    def request(self, name: str, fields: dict | None = None, patient: bool = False):
        """Send one command and return its reply Message; NakError, BoardUnreachable or BadReply else.

        patient: for commands without side effects that move much data (RECORD_READ): keep retrying for
        PATIENT_BUDGET_S rather than the usual 3.5 s, so a noisy line still delivers."""
        spec = BY_NAME[name]
        with self._send_lock:
            self._check_alive()
            self._seq = (self._seq + 1) & 0xFF
            seq = self._seq
            data = encode(name, seq, fields)
            with self._cond:
                self._waiting, self._reply = seq, None
            try:
                reply = self._exchange(name, data, PATIENT_BUDGET_S if patient else self.budget_s)
                for _ in range(GARBLED_RETRIES):
                    if not _garbled(reply):
                        break
                    # A frame we encoded correctly cannot be malformed: the line changed it and its CRC
                    # still matched (1 in 65536). The board executed nothing; the same bytes again are a
                    # new command to it. A real disagreement gets the same NAK every time.
                    self.retransmissions += 1
                    with self._cond:
                        self._reply = None
                    reply = self._exchange(name, data, PATIENT_BUDGET_S if patient else self.budget_s)
            finally:
                with self._cond:
                    self._waiting = None
        if isinstance(reply, ProtocolVersionError):
            raise reply
        if reply.name == "NAK":
            raise NakError(name, ERROR_NAME.get(reply["error"], f"error {reply['error']}"), reply["state"])
        if reply.name != spec.reply:
            raise BadReply(f"board answered {name} with {reply.name}, expected {spec.reply}")
        return reply

    def _exchange(self, name, data, budget_s):
        """Send until the reply comes. Waits double from rto_first to rto_max; a bad frame arriving while
        waiting (most likely the reply, corrupted) sends again at once, without doubling. Unreachable
        once `attempts` waits ran out and they add up to budget_s."""
        rto = self.rto_first
        waited = 0.0
        timeouts = 0
        give_up = time.monotonic() + budget_s * NUDGE_CAP
        sent = 0
        while True:
            if sent:
                self.retransmissions += 1
            self._write(data)
            sent += 1
            reply, nudged = self._wait_reply(rto)
            if reply is not None:
                return reply
            if not nudged:
                timeouts += 1
                waited += rto
                rto = min(rto * 2, self.rto_max)
            if (timeouts >= self.attempts and waited >= budget_s - 1e-9) or time.monotonic() > give_up:
                break
        raise BoardUnreachable(f"{self.name} did not answer {name} after {timeouts} attempts "
                               f"({waited:.1f} s): {self._hint(name)}")

    def _hint(self, name):
        if self._stolen_at is not None and time.monotonic() - self._stolen_at < STOLEN_RECENT_S:
            return (f"another program is reading the port without locking it ({self.stolen_reads} reads "
                    "taken from this one): close it (a terminal program, cat, screen, a script)")
        hint = "check the cable and that the board is powered"
        if name == "HELLO":
            # After mpremote a board often sits at the MicroPython REPL, where frames are just typing.
            port = getattr(self.port, "port", None) or "PORT"
            hint += f", or it is at the REPL (mpremote connect {port} reset restarts the firmware)"
        return hint

    def _wait_reply(self, timeout):
        """(reply, False), (None, True) when a bad frame came first, or (None, False) on the timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            self._nudged = False
            while self._reply is None:
                self._check_alive()
                if self._nudged:
                    return None, True
                left = end - time.monotonic()
                if left <= 0:
                    return None, False
                self._cond.wait(left)
            return self._reply, False

    def _check_alive(self):
        if self._lost:
            raise BoardUnreachable(self._lost)

    def _write(self, data):
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as e:
            self._set_lost(f"{self.name} vanished: cannot write to the port ({e})")
            raise BoardUnreachable(self._lost) from e

    # ---- the reader thread ----
    def _read_loop(self):
        decoder = FrameDecoder()
        failing_since = None
        while not self._closing:
            try:
                data = self.port.read(max(1, getattr(self.port, "in_waiting", 0) or 0))
            except (serial.SerialException, OSError, TypeError, AttributeError) as e:
                # TypeError/AttributeError: pyserial's socket and pty backends once closed mid-read.
                if self._closing:
                    return
                now = time.monotonic()
                failing_since = failing_since or now
                if self._stolen(e) and now - failing_since < LOST_AFTER_S:
                    self.stolen_reads += 1
                    self._stolen_at = now
                    time.sleep(READ_RETRY_S)
                    continue
                self._set_lost(self._vanished(e))
                return
            failing_since = None
            if data:
                for item in decoder.feed(data):
                    self._handle(item)

    def _stolen(self, e):
        """A read another program took: transient, as long as the device is still there."""
        return STOLEN_READ in str(e) and self.device is not None and os.path.exists(self.device)

    def _vanished(self, e):
        if self.device is not None and not os.path.exists(self.device):
            return f"{self.name} vanished: {self.device} is gone (unplugged?)"
        if STOLEN_READ in str(e):
            return (f"{self.name} vanished: the port reads nothing for {LOST_AFTER_S:g} s (unplugged, or "
                    "another program is reading it without locking it)")
        return f"{self.name} vanished: the port closed ({_first_line(e)})"

    def _handle(self, item):
        if isinstance(item, FrameError):
            self.bad_frames += 1
            with self._cond:
                if self._waiting is not None and self._reply is None:
                    self._nudged = True
                    self._cond.notify_all()
            return
        try:
            msg = decode(item)
        except MessageError:
            self.bad_frames += 1
            self._maybe_version_nak(item)
            return
        if BY_NAME[msg.name].sender != "board":
            self.bad_frames += 1  # a host command echoed back: not the board talking
            return
        if msg.name in UNSOLICITED:
            for fn in list(self._listeners):
                try:
                    fn(msg)
                except Exception:  # a broken listener must not take the link down
                    log.exception("telemetry/event listener failed")
            return
        self._deliver(msg["re"], msg)

    def _maybe_version_nak(self, frame):
        # SPEC section 12: a board answers a frame of another version with NAK in its own version.
        if frame.version != VERSION and frame.type_id == NAK_TYPE and len(frame.payload) >= 1:
            self._deliver(frame.payload[0], ProtocolVersionError(
                f"{self.name} speaks protocol version {frame.version}, this SDK speaks {VERSION}: "
                "update the firmware or the SDK so they match"))

    def _deliver(self, re, reply):
        with self._cond:
            if self._waiting is None or re != self._waiting or self._reply is not None:
                self.stale_replies += 1
                return
            self._reply = reply
            self.replied_at = time.monotonic()
            self._cond.notify_all()

    def _set_lost(self, why):
        with self._cond:
            if self._lost is None:
                self._lost = why
            self._cond.notify_all()

    def close(self):
        """Stop the reader thread and close the transport; pending commands fail."""
        self._closing = True
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=1.0)
        self._set_lost(f"link to {self.name} closed")


def _schedule(rto_first, rto_max, attempts):
    """The wall seconds `attempts` doubling waits add up to: 3.5 for 0.1 s doubling up to 1 s, 6 times."""
    total, rto = 0.0, rto_first
    for _ in range(attempts):
        total += rto
        rto = min(rto * 2, rto_max)
    return total


def _first_line(e):
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _garbled(reply) -> bool:
    """A NAK saying our frame was malformed: BAD_LENGTH, OUT_OF_RANGE or UNKNOWN_TYPE."""
    return not isinstance(reply, Exception) and reply.name == "NAK" and reply["error"] in GARBLED
