# The emulated board's filesystem (frozen into the image; MicroPython runs it before boot.py): LittleFS on
# the store device (ramblocks.py), formatted on the first boot of a QEMU process.
import os
import vfs

from ramblocks import DEVICE, OPTIONS


def mount():
    try:
        vfs.mount(vfs.VfsLfs2(DEVICE, mtime=False, **OPTIONS), "/")
    except OSError:
        vfs.VfsLfs2.mkfs(DEVICE, **OPTIONS)
        vfs.mount(vfs.VfsLfs2(DEVICE, mtime=False, **OPTIONS), "/")
    os.chdir("/")


mount()
