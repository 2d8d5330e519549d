"""The host end of the link (SPEC sections 3-5): frames in and out, one command at a time.

A reader thread feeds every byte to the shared FrameDecoder. Replies (they carry `re`) go to the one
outstanding command; TELEMETRY and EVENT go to listeners. A command is retransmitted, byte for byte,
until a reply with its `re` arrives (stop-and-wait; the board's remembered reply makes it exactly once).
"""

import logging
import threading
import time

import serial
from traction_protocol import BY_NAME, VERSION, FrameDecoder, FrameError, MessageError, decode, encode
from traction_protocol.constants import ERROR_NAME

from traction.errors import BadReply, BoardUnreachable, NakError, ProtocolVersionError

log = logging.getLogger(__name__)

RTO_FIRST_S = 0.1  # wall-clock, SPEC section 5
RTO_MAX_S = 1.0
ATTEMPTS = 6
UNSOLICITED = ("TELEMETRY", "EVENT")
NAK_TYPE = BY_NAME["NAK"].type_id


class Link:
    """Reliable commands over a byte stream with read(n), write(b) and close() (a pyserial port)."""

    def __init__(self, port, rto_first=RTO_FIRST_S, rto_max=RTO_MAX_S, attempts=ATTEMPTS, name="board"):
        self.port = port
        self.name = name
        self.rto_first, self.rto_max, self.attempts = rto_first, rto_max, attempts
        self.retransmissions = 0  # link health figures, for people and tests
        self.bad_frames = 0
        self.stale_replies = 0
        self._listeners = []
        self._send_lock = threading.Lock()  # stop-and-wait: one command outstanding
        self._cond = threading.Condition()
        self._seq = 0
        self._waiting = None  # seq of the outstanding command
        self._reply = None
        self._lost = None  # why the link is gone (str), once it is
        self._closing = False
        self._write(b"\x00")  # flush whatever partial frame the board holds
        self._reader = threading.Thread(target=self._read_loop, name="traction-link-reader", daemon=True)
        self._reader.start()

    # ---- listeners (called on the reader thread: keep them short) ----
    def add_listener(self, fn):
        self._listeners.append(fn)

    def remove_listener(self, fn):
        if fn in self._listeners:
            self._listeners.remove(fn)

    @property
    def lost(self):
        """None while the link works; else one line saying why it is gone."""
        return self._lost

    # ---- commands ----
    def request(self, name: str, fields: dict | None = None):
        """Send one command and return its reply Message; NakError, BoardUnreachable or BadReply else."""
        spec = BY_NAME[name]
        with self._send_lock:
            self._check_alive()
            self._seq = (self._seq + 1) & 0xFF
            seq = self._seq
            data = encode(name, seq, fields)
            with self._cond:
                self._waiting, self._reply = seq, None
            try:
                reply = self._exchange(name, data)
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

    def _exchange(self, name, data):
        rto = self.rto_first
        waited = 0.0
        for attempt in range(self.attempts):
            if attempt:
                self.retransmissions += 1
            self._write(data)
            reply = self._wait_reply(rto)
            if reply is not None:
                return reply
            waited += rto
            rto = min(rto * 2, self.rto_max)
        hint = "check the cable and that the board is powered"
        if name == "HELLO":
            # After mpremote a board often sits at the MicroPython REPL, where frames are just typing.
            port = getattr(self.port, "port", None) or "PORT"
            hint += f", or it is at the REPL (mpremote connect {port} reset restarts the firmware)"
        raise BoardUnreachable(f"{self.name} did not answer {name} after {self.attempts} attempts "
                               f"({waited:.1f} s): {hint}")

    def _wait_reply(self, timeout):
        end = time.monotonic() + timeout
        with self._cond:
            while self._reply is None:
                self._check_alive()
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self._reply

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
        while not self._closing:
            try:
                data = self.port.read(max(1, getattr(self.port, "in_waiting", 0) or 0))
            except (serial.SerialException, OSError, TypeError, AttributeError) as e:
                # TypeError/AttributeError: pyserial's socket and pty backends once closed mid-read.
                if not self._closing:
                    self._set_lost(f"{self.name} vanished: the port closed ({_first_line(e)})")
                return
            if data:
                for item in decoder.feed(data):
                    self._handle(item)

    def _handle(self, item):
        if isinstance(item, FrameError):
            self.bad_frames += 1
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
            self._cond.notify_all()

    def _set_lost(self, why):
        with self._cond:
            if self._lost is None:
                self._lost = why
            self._cond.notify_all()

    def close(self):
        self._closing = True
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass
        if self._reader is not threading.current_thread():
            self._reader.join(timeout=1.0)
        self._set_lost(f"link to {self.name} closed")


def _first_line(e):
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__

