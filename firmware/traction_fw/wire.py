# The board's frame encoder (SPEC section 3): the bytes traction_protocol.encode_frame makes, built in one
# preallocated buffer with the CRC and COBS compiled by MicroPython's viper emitter (machine code: the
# image's mpy-cross targets the port's CPU). In bytecode the two cost about 2,000 instructions per frame
# byte on a Cortex-M3 (a 200-byte RECORD_CHUNK ~0.45 M), here about 50. traction_protocol stays the
# reference, on both sides, for payloads and for decoding; tests/mp_test_wire.py holds this to it.

from array import array

import micropython
from traction_protocol import crc
from traction_protocol.framing import HEADER_SIZE, MAX_ENCODED, MAX_FRAME, MAX_PAYLOAD, VERSION
from traction_protocol.errors import EncodeError

@micropython.viper
def _crc16(data: ptr8, n: int, table: ptr16) -> int:  # noqa: F821 - viper's pointer types
    c = 0xFFFF  # CRC-16/MCRF4XX's initial value
    for i in range(n):
        c = (c >> 8) ^ table[(c ^ data[i]) & 0xFF]
    return c


@micropython.viper
def _cobs(data: ptr8, n: int, out: ptr8) -> int:  # noqa: F821
    """COBS of data[:n] into out (no delimiter), as cobs.encode does it; returns the length."""
    code_at = 0
    code = 1
    o = 1
    last = n - 1
    for i in range(n):
        b = data[i]
        if b:
            out[o] = b
            o += 1
            code += 1
        if b == 0 or (code == 0xFF and i < last):
            out[code_at] = code
            code_at = o
            out[o] = 0
            o += 1
            code = 1
    out[code_at] = code
    return o


class FrameWriter:
    """One frame at a time into fixed buffers; frame() returns a view valid until the next call."""

    def __init__(self):
        self.body = bytearray(MAX_FRAME)
        self.out = bytearray(MAX_ENCODED + 1)  # + the delimiter
        self.view = memoryview(self.out)
        self.table = array("H", crc._TABLE)  # the reference codec's table

    def frame(self, seq, type_id, payload):
        """The wire bytes (delimiter included) of one frame."""
        n = len(payload)
        if n > MAX_PAYLOAD:
            raise EncodeError("payload of %d bytes exceeds %d" % (n, MAX_PAYLOAD))
        self.body[HEADER_SIZE:HEADER_SIZE + n] = payload
        return self.finish(seq, type_id, n)

    def finish(self, seq, type_id, n):
        """The frame of the n payload bytes already in body[HEADER_SIZE:] (packed there in place)."""
        body = self.body
        body[0] = VERSION
        body[1] = seq & 0xFF
        body[2] = type_id & 0xFF
        end = HEADER_SIZE + n
        # viper takes any buffer for a pointer argument; the stubs' ptr8/ptr16 are not buffer types
        c = _crc16(body, end, self.table)  # pyright: ignore[reportArgumentType]
        body[end] = c & 0xFF
        body[end + 1] = c >> 8
        m = _cobs(body, end + 2, self.out)  # pyright: ignore[reportArgumentType]
        self.out[m] = 0
        return self.view[:m + 1]
