# The sim board's raw region for the record spool (traction_fw/spool.py): board.spool in the hal. Written
# as the spool writes NOR flash (erase to 0xFF, then each byte once), which RAM and a file also allow.
#   MemoryRegion  memory that outlives a reset, at the address the board config gives (the emulated
#                 board's PSRAM beyond its LittleFS: QEMU leaves it as it was on a system reset)
#   FileRegion    a file of fixed size in the store, written in place (the virtual board on a host,
#                 whose store is a folder and whose reset is a new process)

from ...wire import copy


class MemoryRegion:
    def __init__(self, address, size):
        import uctypes

        self.size = size
        self.mem = uctypes.bytearray_at(address, size)

    def read(self, at, n):
        return memoryview(self.mem)[at:at + n]

    def write(self, at, data):
        copy(self.mem, at, data, 0, len(data))  # no slice object: a line goes in without allocating

    def erase(self, n):
        erase(self, n)


class FileRegion:
    """Made on its first write and grown as it is written: what lies past its end, or in no file at all,
    reads as zeros (no spool). The recorder prepares it at the first boot (spool.py)."""

    def __init__(self, path, size):
        self.path = path
        self.size = size
        self.f = None

    def _open(self, create):
        if self.f is None:
            try:
                self.f = open(self.path, "r+b")
            except OSError:
                if not create:
                    return None
                open(self.path, "wb").close()
                self.f = open(self.path, "r+b")
        return self.f

    def read(self, at, n):
        f = self._open(False)
        data = b""
        if f is not None:
            f.seek(at)
            data = f.read(n)
        return data if len(data) == n else data + bytes(n - len(data))

    def write(self, at, data):
        f = self._open(True)
        f.seek(at)
        f.write(data)
        f.flush()

    def erase(self, n):
        erase(self, n)


ERASED = b"\xff" * 256


def erase(region, n):
    """Make the first n bytes of the region read 0xFF, as erased flash does (spool.py)."""
    for at in range(0, min(n, region.size), len(ERASED)):
        region.write(at, memoryview(ERASED)[:min(len(ERASED), region.size - at)])
