# CRC-16/MCRF4XX (crcmod predefined name "crc-16-mcrf4xx"): poly 0x1021 reflected (0x8408),
# init 0xFFFF, no final XOR, check value 0x6F91 over b"123456789".
# A 256-entry table keeps the per-byte cost to one lookup. It is made at the first call: the board's
# firmware imports this package but computes its CRCs in traction_fw/wire.py, and a table made at import
# held 1 KB of its heap for nothing.

CHECK_VALUE = 0x6F91


def _make_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = ()


def crc16(data, crc=0xFFFF, start=0, end=None):
    """CRC of data[start:end], continuing from crc."""
    global _TABLE
    if end is None:
        end = len(data)
    if not _TABLE:
        _TABLE = _make_table()
    table = _TABLE
    for i in range(start, end):
        crc = (crc >> 8) ^ table[(crc ^ data[i]) & 0xFF]
    return crc
