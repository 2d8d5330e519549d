# The board's frame encoder (SPEC section 3): the bytes traction_protocol.encode_frame makes, built in one
# preallocated buffer with the CRC and COBS compiled by MicroPython's viper emitter (machine code: the
# image's mpy-cross targets the port's CPU). In bytecode the two cost about 2,000 instructions per frame
# byte on a Cortex-M3 (a 200-byte RECORD_CHUNK ~0.45 M), here ~130 (CRC ~80, COBS ~40: a whole
# RECORD_CHUNK is framed in 28 k, measured under -icount). traction_protocol stays the reference, on both
# sides, for payloads and for decoding; tests/mp_test_wire.py holds this to it.
#
# COBS in place: the frame (header, payload, CRC) sits in buf[1:], and each zero byte becomes the code of
# the block after it, the first code going in buf[0]. No byte moves, because a frame of at most MAX_FRAME
# (254) bytes never has a run of 254 non-zero bytes before its end, the one case where COBS inserts a byte.

import micropython
from traction_protocol.errors import EncodeError
from traction_protocol.framing import HEADER_SIZE, MAX_ENCODED, MAX_FRAME, MAX_PAYLOAD, VERSION

CRC_SIZE = 2
START = 1 + HEADER_SIZE  # where a payload goes in the buffer
FRAMING = START + CRC_SIZE + 1  # a frame's bytes on the wire beyond its payload: COBS code, header, CRC, 0


def u32(v):
    """v as an unsigned 32-bit field. Without a long-int constant where v is a small int: 0xFFFFFFFF is
    one on a 32-bit port, and any operation with it makes a long int on the heap."""
    return v if 0 <= v <= 0x3FFFFFFF else v & 0xFFFFFFFF


@micropython.viper
def crc16(data: ptr8, start: int, end: int) -> int:  # noqa: F821 - viper's pointer types
    """CRC-16/MCRF4XX of data[start:end] (crc.py's), a byte at a time with no table (none on the heap):
    the reflected CCITT polynomial 0x8408 folded over a byte in shifts, as avr-libc's _crc_ccitt_update.
    A bit at a time it cost ~360 instructions a byte on the Cortex-M3."""
    c = 0xFFFF
    for i in range(start, end):
        x = (c ^ data[i]) & 0xFF
        x ^= (x << 4) & 0xFF
        c = (c >> 8) ^ (x << 8) ^ (x << 3) ^ (x >> 4)
    return c


@micropython.viper
def _cobs_in_place(buf: ptr8, end: int):  # noqa: F821
    """COBS of buf[1:end] where it lies, the first code in buf[0] (at most 254 bytes: no insertion)."""
    code_at = 0
    for i in range(1, end):
        if buf[i] == 0:
            buf[code_at] = i - code_at
            code_at = i
    buf[code_at] = end - code_at


class FrameWriter:
    """One frame at a time into a fixed buffer; frame() returns a view valid until the next call.
    A frame's wire length is its payload's + FRAMING (in-place COBS inserts nothing): the views of the
    payload sizes given are made once here, so that sending those frames allocates nothing (a slice of
    a memoryview is a new object on the heap); other sizes get a fresh view."""

    def __init__(self, sizes=()):
        self.buf = bytearray(MAX_ENCODED + 1)  # + the delimiter
        self.view = memoryview(self.buf)
        self.body = self.buf  # payloads are packed at body[START:] (finish() then frames them)
        self.views = {}
        self.prepare(sizes)

    def prepare(self, sizes):
        """Views for frames of these payload sizes, so that sending them allocates nothing."""
        for n in sizes:
            self.views[n] = self.view[:n + FRAMING]

    def frame(self, seq, type_id, payload):
        """The wire bytes (delimiter included) of one frame."""
        n = len(payload)
        if n > MAX_PAYLOAD:
            raise EncodeError("payload of %d bytes exceeds %d" % (n, MAX_PAYLOAD))
        self.buf[START:START + n] = payload
        return self.finish(seq, type_id, n)

    def finish(self, seq, type_id, n):
        """The frame of the n payload bytes already in body[START:] (packed there in place)."""
        buf = self.buf
        buf[1] = VERSION
        buf[2] = seq & 0xFF
        buf[3] = type_id & 0xFF
        end = START + n
        # viper takes any buffer for a pointer argument; the stubs' ptr8 is not a buffer type
        c = crc16(buf, 1, end)  # pyright: ignore[reportArgumentType]
        buf[end] = c & 0xFF
        buf[end + 1] = c >> 8
        end += CRC_SIZE
        _cobs_in_place(buf, end)  # pyright: ignore[reportArgumentType]
        buf[end] = 0
        view = self.views.get(n)
        return view if view is not None else self.view[:end + 1]


@micropython.viper
def _uncobs_in_place(buf: ptr8, n: int) -> int:  # noqa: F821
    """COBS-decode buf[:n] where it lies (the output never overtakes the input); the decoded length, or -1
    where the reference cobs.decode raises BadCobs."""
    i = 0
    o = 0
    while i < n:
        code = buf[i]
        if code == 0:
            return -1
        end = i + code
        if end > n:
            return -1
        for j in range(i + 1, end):
            buf[o] = buf[j]
            o += 1
        i = end
        if code != 0xFF and i < n:
            buf[o] = 0
            o += 1
    return o


@micropython.viper
def copy(dst: ptr8, at: int, src: ptr8, start: int, n: int):  # noqa: F821
    """dst[at:at + n] = src[start:start + n], with no slice objects."""
    for i in range(n):
        dst[at + i] = src[start + i]


class FrameReader:
    """The frames in the bytes read from the port, decoded in place: what the reference FrameDecoder
    hands back as a Frame, allocating nothing (tests/mp_test_wire.py holds it to FrameDecoder). Frame
    errors are dropped silently (SPEC 3.1 steps 1-5: the host retransmits). After put() returned True, the
    frame is version, seq, type_id, the payload at buf[PAYLOAD:PAYLOAD + size] and its CRC (which, with
    seq, tells a retransmission: SPEC section 5), until the next put()."""

    PAYLOAD = HEADER_SIZE

    def __init__(self):
        self.buf = bytearray(MAX_ENCODED)
        self.n = 0
        self.overflow = False
        self.version = self.seq = self.type_id = self.size = self.crc = 0

    def reset(self):
        self.n = 0
        self.overflow = False

    def put(self, b):
        """One byte from the port; True when it completed a valid frame."""
        if b:
            if self.n < MAX_ENCODED:
                self.buf[self.n] = b
                self.n += 1
            else:
                self.overflow = True
            return False
        ok = not self.overflow and self.n > 0 and self._decode()
        self.reset()
        return ok

    def _decode(self):
        buf = self.buf
        m = _uncobs_in_place(buf, self.n)  # pyright: ignore[reportArgumentType]
        if m < HEADER_SIZE + CRC_SIZE or m > MAX_FRAME:
            return False
        end = m - CRC_SIZE
        crc = buf[end] | (buf[end + 1] << 8)
        if crc != crc16(buf, 0, end):  # pyright: ignore[reportArgumentType]
            return False
        self.crc = crc
        self.version = buf[0]
        self.seq = buf[1]
        self.type_id = buf[2]
        self.size = end - HEADER_SIZE
        return True
