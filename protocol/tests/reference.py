"""A receiver written from SPEC.md section 3 alone, apart from the codec, to judge the codec against.

It uses crcmod (the SPEC's `CRC:` line) and its own COBS decoding, so a bug in the codec's COBS or CRC
cannot hide behind the same bug here.
"""

import crcmod.predefined

CRC_NAME = "crc-16-mcrf4xx"  # test_spec.py checks this is the name on SPEC's CRC: line
crc16 = crcmod.predefined.mkCrcFun(CRC_NAME)


def unstuff(block):
    """COBS-decode one block (no delimiter). Raises ValueError when a code points past the end."""
    runs, i = [], 0
    while i < len(block):
        code = block[i]
        run = block[i + 1:i + code]
        if code == 0 or len(run) != code - 1:
            raise ValueError(f"bad COBS code {code} at {i}")
        runs.append(run)
        i += code
        if code < 0xFF and i < len(block):
            runs.append(b"\x00")
    return b"".join(runs)


def crc_ok(body):
    """True when the last two bytes of a decoded frame are the CRC (little-endian) of the rest."""
    return len(body) >= 2 and crc16(body[:-2]) == int.from_bytes(body[-2:], "little")


def receive(stream):
    """What a correct receiver hands out for a byte stream, in order: for each non-empty block before a
    delimiter, the decoded frame without its CRC (bytes), or the SPEC name of the error (str)."""
    out = []
    for block in stream.split(b"\x00")[:-1]:  # bytes after the last delimiter are not a block yet
        if not block:
            continue
        if len(block) > 255:
            out.append("OVERSIZED")
            continue
        try:
            body = unstuff(block)
        except ValueError:
            out.append("BAD_COBS")
            continue
        if len(body) < 5:
            out.append("TRUNCATED")
        elif len(body) > 254:
            out.append("OVERSIZED")
        elif not crc_ok(body):
            out.append("CRC_MISMATCH")
        else:
            out.append(body[:-2])
    return out
