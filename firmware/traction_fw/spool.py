# A raw region of the board's store outside its filesystem, where the open record's rows wait while a
# treatment runs (recorder.py; docs/firmware.md, "Instruction budgets"). On a filesystem each record line
# is an append and a commit (0.75-1.4 M instructions on the emulated board's LittleFS, more than a control
# period's budget, and on a Pico a flash erase with interrupts off); here a row is one copy of its bytes.
#
# Layout: a header (MAGIC, record id, the record's chain hash where the rows begin), then entries of
# [length u16][CRC-16 u16][bytes]. The entry after the last reads length 0xFFFF: it is written before the
# entry's own header, so an entry cut short by a reset is never read. A region is any object with size,
# read(offset, n) (bytes or a view) and write(offset, data) (the hal: board.spool).

from binascii import hexlify
from struct import pack_into, unpack_from

from .wire import crc16

MAGIC = 0x4C505354  # "TSPL"
HASH_SIZE = 32
HEADER = 8 + HASH_SIZE
ENTRY = 4
END = 0xFFFF


class Spool:
    def __init__(self, region):
        self.region = region
        self.at = HEADER  # where the next entry goes
        self.head = bytearray(HEADER)
        self.entry = bytearray(ENTRY)

    def start(self, record_id, prev_hex):
        """Begin spooling the rows of record_id, whose lines follow the line whose hash is prev_hex."""
        r = self.region
        r.write(0, bytes(4))  # not a spool while the header changes
        self._end(HEADER)
        pack_into("<IH2x", self.head, 0, 0, record_id)
        self.head[8:] = bytes.fromhex(prev_hex)
        r.write(0, self.head)
        pack_into("<I", self.head, 0, MAGIC)
        r.write(0, self.head[:4])
        self.at = HEADER

    def append(self, data):
        """Add one entry (a buffer); False when the region has no room for it. Allocates nothing when
        the region's write does not."""
        n = len(data)
        at = self.at
        if n >= END or at + 2 * ENTRY + n > self.region.size:
            return False
        r = self.region
        r.write(at + ENTRY, data)
        self._end(at + ENTRY + n)
        pack_into("<HH", self.entry, 0, n, crc16(data, 0, n))
        r.write(at, self.entry)
        self.at = at + ENTRY + n
        return True

    def _end(self, at):
        pack_into("<HH", self.entry, 0, END, 0)
        self.region.write(at, self.entry)

    def clear(self):
        self.region.write(0, bytes(4))
        self.at = HEADER

    def entries(self):
        """The entries spooled (bytes each), oldest first."""
        at = HEADER
        while at < self.at:
            n = unpack_from("<H", bytes(self.region.read(at, 2)))[0]
            yield bytes(self.region.read(at + ENTRY, n))
            at += ENTRY + n

    def found(self):
        """After a reset: (record id, prev hash hex) of what the region holds, or None; entries() then
        gives its entries, up to the first one a reset cut short."""
        r = self.region
        head = bytes(r.read(0, HEADER))
        magic, record_id = unpack_from("<IH", head)
        if magic != MAGIC:
            return None
        at = HEADER
        while at + ENTRY <= r.size:
            n, crc = unpack_from("<HH", bytes(r.read(at, ENTRY)))
            if n == END or at + ENTRY + n > r.size or crc16(bytes(r.read(at + ENTRY, n)), 0, n) != crc:  # pyright: ignore[reportArgumentType]
                break
            at += ENTRY + n
        self.at = at
        return record_id, hexlify(head[8:]).decode()
