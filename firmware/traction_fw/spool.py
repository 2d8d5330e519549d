# A raw region of the board's store outside its filesystem, where the open record's rows wait while a
# treatment runs (recorder.py; docs/firmware.md, "Instruction budgets"). On a filesystem each record line
# is an append and a commit (0.75-1.4 M instructions on the emulated board's LittleFS, more than a control
# period's budget, and on a Pico a flash erase with interrupts off); here a row is one copy of its bytes.
#
# Layout: a header (MAGIC, record id, an open flag, the record's chain hash where the rows begin), then
# entries of [length u16][CRC-16 u16][bytes]. The region is written as NOR flash can be: start() erases
# what earlier spools wrote (to 0xFF), and after that a byte is written once, or only has bits cleared. An
# entry's bytes go before its header, so an entry cut short by a reset reads as the end (length 0xFFFF,
# erased); clear() clears the open flag. A region is any object with size, read(offset, n) (bytes or a
# view), write(offset, data) and erase(n), which makes at least its first n bytes read 0xFF (the hal:
# board.spool).
from binascii import hexlify
from struct import pack_into, unpack_from

from .wire import crc16

MAGIC = 0x32505354  # "TSP2": a region of the format before (which wrote over its bytes) reads as blank
HASH_SIZE = 32
HEADER = 8 + HASH_SIZE
ENTRY = 4
END = 0xFFFF  # the length an erased entry header reads
OPEN = 0xFFFF  # the open flag as erased; clear() writes 0
LONGEST = 256  # bytes past the last whole entry that a write cut short by a reset may have touched


class Spool:
    def __init__(self, region):
        self.region = region
        self.at = HEADER  # where the next entry goes
        self.written = region.size  # how far earlier spools may have written: all of it, until found()
        self.blank = True  # no spool header in the region (a new board), as far as found() has looked
        self.head = bytearray(HEADER)
        self.entry = bytearray(ENTRY)
        self.closed = bytearray(2)

    def start(self, record_id, prev_hex):
        """Begin spooling the rows of record_id, whose lines follow the line whose hash is prev_hex."""
        r = self.region
        r.erase(self.written)
        pack_into("<IHH", self.head, 0, 0xFFFFFFFF, record_id, OPEN)  # the magic last: a spool once whole
        self.head[8:] = bytes.fromhex(prev_hex)
        r.write(0, self.head)
        pack_into("<I", self.head, 0, MAGIC)
        r.write(0, self.head[:4])
        self.at = HEADER
        self.written = HEADER
        self.blank = False

    def append(self, data):
        """Add one entry (a buffer); False when the region has no room for it. Allocates nothing when
        the region's write does not."""
        if not self.put(data):
            return False
        self.close_entry()
        return True

    def put(self, data):
        """An entry's bytes, which count only once close_entry() has written its header (each is a flash
        program on a Pico: the recorder makes them in two calls). False when there is no room."""
        n = len(data)
        at = self.at
        if n >= END or at + 2 * ENTRY + n > self.region.size:
            return False
        self.region.write(at + ENTRY, data)
        pack_into("<HH", self.entry, 0, n, crc16(data, 0, n))
        self.written = at + ENTRY + n
        return True

    def close_entry(self):
        """The header of the entry put() wrote: now it is spooled."""
        self.region.write(self.at, self.entry)
        self.at = self.written

    def room(self, n, at=None):
        """How many more entries of n bytes fit from at: by default where the next one goes; HEADER, in an
        empty spool."""
        at = self.at if at is None else at
        return max(0, (self.region.size - at - ENTRY) // (ENTRY + n))

    def clear(self):
        """The rows are in the record: no spool, until start()."""
        self.region.write(6, self.closed)

    def entries(self):
        """The entries spooled (bytes each), oldest first."""
        at = HEADER
        while at < self.at:
            n = unpack_from("<H", bytes(self.region.read(at, 2)))[0]
            yield bytes(self.region.read(at + ENTRY, n))
            at += ENTRY + n

    def found(self):
        """After a reset: (record id, prev hash hex) of the open spool the region holds, or None; entries()
        then gives its entries, up to the first one a reset cut short."""
        r = self.region
        head = bytes(r.read(0, HEADER))
        magic, record_id, flag = unpack_from("<IHH", head)
        self.blank = magic != MAGIC
        if self.blank:
            return None
        at = HEADER
        while at + ENTRY <= r.size:
            n, crc = unpack_from("<HH", bytes(r.read(at, ENTRY)))
            if n == END or n == 0 or at + ENTRY + n > r.size:
                break
            if crc16(bytes(r.read(at + ENTRY, n)), 0, n) != crc:  # pyright: ignore[reportArgumentType]
                break
            at += ENTRY + n
        self.at = at
        self.written = min(r.size, at + LONGEST)
        if flag != OPEN:
            return None
        return record_id, hexlify(head[8:]).decode()
