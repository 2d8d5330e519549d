# Frames on the wire: COBS(header + payload + CRC-16 LE) followed by one 0x00 delimiter.
# FrameDecoder is sans-IO: feed it any chunks of bytes, it hands back frames or typed errors.

from . import cobs
from .errors import CrcMismatch, EncodeError, FrameError, Oversized, Truncated

try:  # the host may use crcmod's C implementation; the board uses the table in crc.py
    import crcmod.predefined

    crc16 = crcmod.predefined.mkCrcFun("crc-16-mcrf4xx")
except ImportError:
    from .crc import crc16

VERSION = 2
HEADER_SIZE = 3  # version, seq, type
CRC_SIZE = 2
MAX_FRAME = 254  # decoded bytes: header + payload + CRC
MAX_PAYLOAD = MAX_FRAME - HEADER_SIZE - CRC_SIZE
MAX_ENCODED = MAX_FRAME + 1  # COBS adds one byte per 254
DELIMITER = 0


class Frame:
    __slots__ = ("version", "seq", "type_id", "payload")

    def __init__(self, version, seq, type_id, payload):
        self.version = version
        self.seq = seq
        self.type_id = type_id
        self.payload = payload

    def __eq__(self, other):
        return isinstance(other, Frame) and (self.version, self.seq, self.type_id, self.payload) == (
            other.version, other.seq, other.type_id, other.payload)

    def __repr__(self):
        return "Frame(v%d seq=%d type=0x%02x payload=%s)" % (
            self.version, self.seq, self.type_id, bytes(self.payload))


def encode_frame(seq, type_id, payload=b"", version=VERSION):
    """The exact bytes to put on the wire, delimiter included."""
    if len(payload) > MAX_PAYLOAD:
        raise EncodeError("payload of %d bytes exceeds %d" % (len(payload), MAX_PAYLOAD))
    body = bytearray((version & 0xFF, seq & 0xFF, type_id & 0xFF))
    body.extend(payload)
    crc = crc16(body)
    body.append(crc & 0xFF)
    body.append(crc >> 8)
    out = bytearray(cobs.encode(body))
    out.append(DELIMITER)
    return bytes(out)


def decode_frame(block):
    """Decode the bytes between two delimiters. Raises a FrameError."""
    if len(block) > MAX_ENCODED:
        raise Oversized("%d encoded bytes exceed %d" % (len(block), MAX_ENCODED))
    body = cobs.decode(block)
    if len(body) < HEADER_SIZE + CRC_SIZE:
        raise Truncated("%d decoded bytes, need at least %d" % (len(body), HEADER_SIZE + CRC_SIZE))
    if len(body) > MAX_FRAME:
        raise Oversized("%d decoded bytes exceed %d" % (len(body), MAX_FRAME))
    end = len(body) - CRC_SIZE
    got = body[end] | (body[end + 1] << 8)
    want = crc16(body[:end])
    if got != want:
        raise CrcMismatch("CRC 0x%04x, computed 0x%04x" % (got, want))
    return Frame(body[0], body[1], body[2], body[HEADER_SIZE:end])


class FrameDecoder:
    """Accumulates bytes up to each 0x00 delimiter and decodes the block before it.

    feed() returns a list whose items are Frame objects or FrameError instances, in arrival order.
    After garbage or an error the decoder resynchronises at the next delimiter. Empty blocks
    (back-to-back delimiters) are ignored: senders may use a lone 0x00 to flush a receiver.
    """

    def __init__(self):
        self._buf = bytearray(MAX_ENCODED)
        self._n = 0
        self._overflow = False

    def reset(self):
        self._n = 0
        self._overflow = False

    def pending(self):
        """Bytes received since the last delimiter (not yet a frame)."""
        return bytes(self._buf[:self._n])

    def feed(self, data):
        out = []
        buf = self._buf
        for b in data:
            if b != DELIMITER:
                if self._n < MAX_ENCODED:
                    buf[self._n] = b
                    self._n += 1
                else:
                    self._overflow = True
                continue
            if self._overflow:
                out.append(Oversized("more than %d bytes before a delimiter" % MAX_ENCODED))
            elif self._n:
                try:
                    out.append(decode_frame(bytes(buf[:self._n])))
                except FrameError as e:
                    out.append(e)
            self.reset()
        return out
