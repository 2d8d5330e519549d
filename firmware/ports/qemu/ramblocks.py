# The emulated board's store device: LittleFS's blocks in the MPS2 board's PSRAM, which QEMU leaves
# untouched on a system reset, so the store (settings, records) survives machine.reset() as a real board's
# flash does. A module of its own so that a benchmark can count the device's programs (DEVICE.programs):
# which calls committed to the store (benchmarks/mcu_budget_bench.py).
import uctypes

PSRAM = 0x21000000  # 16 MB on mps2-an385; the image itself lives in SSRAM1 at 0
BLOCK = 512
BLOCKS = 2048  # 1 MB
# Whole-block reads and writes, a small lookahead and no file times: each cut littlefs's cost of a commit
# on this image; measured in instructions under -icount (docs/firmware.md, "Instruction budgets").
OPTIONS = {"progsize": BLOCK, "readsize": BLOCK, "lookahead": 16}


class RamBlocks:
    def __init__(self, addr, block, count):
        self.block = block
        self.count = count
        self.mem = memoryview(uctypes.bytearray_at(addr, block * count))
        self.programs = 0  # writeblocks calls since boot

    def readblocks(self, n, buf, off=0):
        a = n * self.block + off
        buf[:] = self.mem[a:a + len(buf)]

    def writeblocks(self, n, buf, off=0):
        self.programs += 1
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


DEVICE = RamBlocks(PSRAM, BLOCK, BLOCKS)
