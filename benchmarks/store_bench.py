"""What a store commit costs on the emulated board: LittleFS operations in instructions, per geometry.

Run with the host Python (`python benchmarks/store_bench.py [--image ELF]`) after `traction build --target
qemu`: it boots the icount image (1 instruction = 1 ns of board time) and, on a scratch LittleFS in the
board's PSRAM (not the board's store), does what the recorder does to the store over eight records: a new
record file with its head (START), line appends, an append of ten lines (a seal), the listing of the
records and the deletion of an acknowledged one. It prints mean and worst instructions per operation for
the geometry the emulated board uses (512-byte blocks) and for a Pico's flash (4 KB blocks, 256-byte
pages) with three read sizes. Why: the service() budget (400 k instructions, docs/firmware.md) cannot
hold for a call that commits, whatever the geometry, and this shows it.
"""

# ruff: noqa: UP031 - %-formatting, the same on MicroPython (which runs this file) as on CPython
import sys

SCRATCH = 0x21000000 + 0x200000  # PSRAM past the board's store (1 MB) and its record spool
GEOMETRIES = (  # (block size, block count, VfsLfs2 options)
    (512, 2048, {"progsize": 512, "readsize": 512, "lookahead": 16}),  # the emulated board's store
    (4096, 256, {"progsize": 256, "readsize": 32, "lookahead": 32}),  # a Pico's (rp2 port's _boot.py)
    (4096, 256, {"progsize": 256, "readsize": 64, "lookahead": 32}),
    (4096, 256, {"progsize": 256, "readsize": 256, "lookahead": 32}),
)
LINE = "x" * 150 + "\n"  # about a record line
RECORDS = 8
APPENDS = 8


def board_main():
    import gc
    import os
    import time

    import vfs
    from ramblocks import RamBlocks

    def timed(figures, name, fn, *args):
        gc.collect()  # not the garbage of the operation before
        t0 = time.ticks_us()
        fn(*args)
        us = time.ticks_diff(time.ticks_us(), t0)
        f = figures.setdefault(name, [0, 0, 0])
        f[0] += us
        f[1] = max(f[1], us)
        f[2] += 1

    def append(path, text, mode="a"):
        with open(path, mode) as f:
            f.write(text)

    for block, count, options in GEOMETRIES:
        dev = RamBlocks(SCRATCH, block, count)
        vfs.VfsLfs2.mkfs(dev, **options)
        vfs.mount(vfs.VfsLfs2(dev, mtime=False, **options), "/scratch")
        os.mkdir("/scratch/records")
        append("/scratch/settings.json", "s" * 700, "w")
        figures = {}
        for r in range(RECORDS):
            path = "/scratch/records/%05d.rec" % r
            timed(figures, "new record, head line", append, path, LINE * 4, "w")
            for _ in range(APPENDS):
                timed(figures, "append a line", append, path, LINE)
            timed(figures, "append ten lines (seal)", append, path, LINE * 10)
            timed(figures, "list the records", os.listdir, "/scratch/records")
            if r % 2:
                timed(figures, "delete a record (ack)", os.remove, "/scratch/records/%05d.rec" % (r - 1))
        vfs.umount("/scratch")
        print("== %d-byte blocks, %s" % (block, " ".join("%s=%d" % kv for kv in sorted(options.items()))))
        for name, (total, worst, n) in figures.items():
            print("   %-26s mean %6d k  worst %6d k  (%d)" % (name, total // n, worst, n))


def host_main():
    import argparse
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from mcu_budget_bench import run_on_board

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", help="the icount image (default build/qemu/firmware-icount.elf)")
    args = parser.parse_args()
    print("LittleFS on the emulated Cortex-M3, instructions (k = 1,000) per operation:")
    print(run_on_board(__file__, args.image), end="")


if sys.implementation.name == "micropython":
    board_main()
elif __name__ == "__main__":
    host_main()
