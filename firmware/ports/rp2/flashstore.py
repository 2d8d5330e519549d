# The Pico's flash storage as the product image lays it out (frozen; the image's _boot.py imports it
# before boot.py runs): the LittleFS filesystem, the board's store at "/", on all of it but its last
# 64 KB, which hold the record spool outside the filesystem (traction_fw/spool.py, hal/rp2/region.py):
# during a treatment a record row is a page program there, not a LittleFS commit and a sector erase.
# A board whose filesystem spans the whole storage (formatted by another image) keeps it, without a
# spool: nothing on it is lost. LittleFS refuses to mount with a block count other than its own, so the
# two layouts cannot be taken for each other.
import rp2
import vfs

SECTOR = 4096
SPOOL_BYTES = 64 * 1024
OPTIONS = {"progsize": 256}  # as the rp2 port's own _boot.py: flash is programmed 256 bytes at a time


def _mount():
    """Mount the store at "/"; the spool's rp2.Flash, or None."""
    whole = rp2.Flash()
    size = whole.ioctl(4, 0) * SECTOR
    store = rp2.Flash(start=0, len=size - SPOOL_BYTES)
    spool = rp2.Flash(start=size - SPOOL_BYTES, len=SPOOL_BYTES)
    for dev, region in ((store, spool), (whole, None)):
        try:
            vfs.mount(vfs.VfsLfs2(dev, **OPTIONS), "/")
            return region
        except OSError:
            pass
    vfs.VfsLfs2.mkfs(store, **OPTIONS)  # a new board
    vfs.mount(vfs.VfsLfs2(store, **OPTIONS), "/")
    return spool


spool = _mount()
