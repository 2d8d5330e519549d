# Consistent Overhead Byte Stuffing: removes every 0x00 from a frame so 0x00 can delimit frames.

from .errors import BadCobs


def encode(data):
    """COBS-encode data (no delimiter appended): at most len(data) + 1 bytes for up to 254 bytes.

    A run of 254 non-zero bytes that ends the data closes with its 0xFF code and no empty block
    after it, so a 254-byte frame never needs more than 255 encoded bytes.
    """
    out = bytearray(b"\x00")
    code_at = 0
    code = 1
    last = len(data) - 1
    for i in range(len(data)):
        b = data[i]
        if b:
            out.append(b)
            code += 1
        if not b or (code == 0xFF and i < last):
            out[code_at] = code
            code_at = len(out)
            out.append(0)
            code = 1
    out[code_at] = code
    return bytes(out)


def decode(data):
    """Decode one COBS block (delimiter already removed). Raises BadCobs."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise BadCobs("zero byte inside a COBS block")
        end = i + code
        if end > n:
            raise BadCobs("COBS code points past the end of the frame")
        out.extend(data[i + 1:end])
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)
