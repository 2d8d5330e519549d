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
    """Made on its first write and grown as it is written: what lies past its end, or in no file at all,
    reads as zeros (no spool). A board that never records makes no file."""

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
