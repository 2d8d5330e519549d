# The emulated board's store device: LittleFS's blocks in the MPS2 board's PSRAM, which QEMU leaves
# untouched on a system reset, so the store (settings, records) survives machine.reset() as a real board's
# flash does. A module of its own so that a benchmark can count the device's programs (DEVICE.programs):
# which calls committed to the store (benchmarks/mcu_budget_bench.py).
import micropython

PSRAM = 0x21000000  # 16 MB on mps2-an385; the image itself lives in SSRAM1 at 0
BLOCK = 512
BLOCKS = 2048  # 1 MB
# Whole-block reads and writes, a small lookahead and no file times: each cut littlefs's cost of a commit
# on this image; measured in instructions under -icount (docs/firmware.md, "Instruction budgets").
OPTIONS = {"progsize": BLOCK, "readsize": BLOCK, "lookahead": 16}


# r0 = to, r1 = from (addresses: a buffer passes its own), r2 = words (at least 1). Six instructions a word;
# in viper the same loop took ~50, and a slice of a memoryview of the RAM would put an object on the heap.
@micropython.asm_thumb
def _copy(r0, r1, r2):  # the inline assembler: its names below are not Python names
    label(loop)  # noqa: F821
    ldr(r3, [r1, 0])  # noqa: F821
    str(r3, [r0, 0])  # noqa: F821
    add(r0, 4)  # noqa: F821
    add(r1, 4)  # noqa: F821
    sub(r2, 1)  # noqa: F821
    bgt(loop)  # noqa: F821


class RamBlocks:
    """Blocks in RAM, copied a word at a time by address (_copy), so that reading the store allocates
    nothing (a record read back allocates nothing in the firmware either). littlefs reads and programs
    whole blocks (OPTIONS), a multiple of 4 bytes; the Cortex-M3 loads and stores words at any address."""

    def __init__(self, addr, block, count):
        self.addr = addr
        self.block = block
        self.count = count
        self.programs = 0  # writeblocks calls since boot

    def readblocks(self, n, buf, off=0):
        _copy(buf, self.addr + n * self.block + off, len(buf) >> 2)

    def writeblocks(self, n, buf, off=0):
        self.programs += 1
        _copy(self.addr + n * self.block + off, buf, len(buf) >> 2)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.count
        if op == 5:  # block size
            return self.block
        if op == 6:  # erase: RAM needs none
            return 0
        return None


DEVICE = RamBlocks(PSRAM, BLOCK, BLOCKS)
