# The sim board's raw region for the record spool (traction_fw/spool.py): board.spool in the hal.
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


class FileRegion:
    """Grows as it is written: what lies past the end of the file reads as zeros (no spool)."""

    def __init__(self, path, size):
        self.size = size
        try:
            self.f = open(path, "r+b")
        except OSError:
            open(path, "wb").close()
            self.f = open(path, "r+b")

    def read(self, at, n):
        self.f.seek(at)
        data = self.f.read(n)
        return data if len(data) == n else data + bytes(n - len(data))

    def write(self, at, data):
        self.f.seek(at)
        self.f.write(data)
        self.f.flush()
