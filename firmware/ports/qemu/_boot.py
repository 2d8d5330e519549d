# The emulated board's filesystem (frozen into the image; MicroPython runs it before boot.py): LittleFS on
# the MPS2 board's PSRAM, which QEMU leaves untouched on a system reset, so the store (settings, records)
# survives machine.reset() as a real board's flash does. Formatted on the first boot of a QEMU process.
import os
import uctypes
import vfs

PSRAM = 0x21000000  # 16 MB on mps2-an385; the image itself lives in SSRAM1 at 0
BLOCK = 512
BLOCKS = 2048  # 1 MB


class RamBlocks:
    def __init__(self, addr, block, count):
        self.block = block
        self.count = count
        self.mem = memoryview(uctypes.bytearray_at(addr, block * count))

    def readblocks(self, n, buf, off=0):
        a = n * self.block + off
        buf[:] = self.mem[a:a + len(buf)]

    def writeblocks(self, n, buf, off=0):
        a = n * self.block + off
        self.mem[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.count
        if op == 5:  # block size
            return self.block
        if op == 6:  # erase: RAM needs none
            return 0
        return None


# Whole-block reads and writes, a small lookahead and no file times: each cut littlefs's cost of a commit
# (the record's line-by-line appends) on this image; measured in instructions under -icount.
OPTIONS = {"progsize": BLOCK, "readsize": BLOCK, "lookahead": 16}


def mount():
    dev = RamBlocks(PSRAM, BLOCK, BLOCKS)
    try:
        vfs.mount(vfs.VfsLfs2(dev, mtime=False, **OPTIONS), "/")
    except OSError:
        vfs.VfsLfs2.mkfs(dev, **OPTIONS)
        vfs.mount(vfs.VfsLfs2(dev, mtime=False, **OPTIONS), "/")
    os.chdir("/")


mount()
