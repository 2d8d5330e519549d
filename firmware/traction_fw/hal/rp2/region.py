# The record spool's region on the Pico (board.spool; traction_fw/spool.py): the last 64 KB of the flash
# storage, outside the LittleFS store (firmware/ports/rp2/flashstore.py sets it apart). Flash is programmed
# a 256-byte page at a time (bits only cleared, so the rest of the page is written as 0xFF, which leaves
# it as it was) and erased 4 KB at a time; the chip stalls meanwhile (execute-in-place). A row is one or
# two page programs (0.4 ms each, typically), never an erase: the spool erases only at START.

from ...wire import copy

PAGE = 256
SECTOR = 4096
ONES = b"\xff" * PAGE


class FlashRegion:
    def __init__(self, flash):
        """flash: an rp2.Flash over the region (its readblocks/writeblocks/ioctl, 4 KB blocks)."""
        self.flash = flash
        self.size = flash.ioctl(4, 0) * SECTOR
        self.page = bytearray(PAGE)

    def read(self, at, n):
        buf = bytearray(n)
        self.flash.readblocks(at // SECTOR, buf, at % SECTOR)
        return buf

    def write(self, at, data):
        """Program data at offset at, a page at a time. Allocates nothing."""
        n = len(data)
        done = 0
        page = self.page
        while done < n:
            base = (at + done) // PAGE * PAGE
            into = at + done - base
            k = min(PAGE - into, n - done)
            copy(page, 0, ONES, 0, PAGE)  # pyright: ignore[reportArgumentType]
            copy(page, into, data, done, k)  # pyright: ignore[reportArgumentType]
            self.flash.writeblocks(base // SECTOR, page, base % SECTOR)
            done += k

    def erase(self, n):
        """Erase the sectors that hold the first n bytes."""
        for block in range((min(n, self.size) + SECTOR - 1) // SECTOR):
            self.flash.ioctl(6, block)
