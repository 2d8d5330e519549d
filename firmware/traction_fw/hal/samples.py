# Every load-cell conversion, kept for the application in a small preallocated ring: the ADC may convert
# faster than the control loop reads it (an ADS1220 at 660 samples/s, a 100 Hz loop), and the link sends
# them all in SAMPLES frames (SPEC, link.py). put() runs where the hal takes a conversion (the ADS1220's
# hard DRDY IRQ on rp2): an array store and two small-int operations, no allocation. drain() runs in
# service(). A conversion overwritten before it was drained is lost; the running numbers show the gap.
from array import array

import micropython

# Running numbers wrap at 2**30: they stay small ints on a 32-bit port (a long int would allocate in an
# IRQ). At 2000 samples/s they wrap after six days; SAMPLES.first carries them as they are.
WRAP_MASK = 0x3FFFFFFF
# Conversions a drain leaves alone at the ring's old end: the IRQ may add that many while a drain copies.
MARGIN = 8


@micropython.viper
def _copy(out: ptr32, buf: ptr32, first: int, mask: int, count: int):  # noqa: F821 - viper's pointer types
    """out[i] = buf[(first + i) & mask] for i < count: machine code (viper), not ~1,500 instructions of
    bytecode a conversion on a Cortex-M3."""
    for i in range(count):
        out[i] = buf[(first + i) & mask]


def ring_size(sps):
    """A power of two holding at least a quarter second of conversions (32 at the least)."""
    size = 32
    while size < sps // 4:
        size *= 2
    return size


class SampleRing:
    def __init__(self, size):
        if size & (size - 1) or size <= MARGIN:
            raise ValueError("sample ring size must be a power of two above %d" % MARGIN)
        self.buf = array("i", bytes(4 * size))
        self.mask = size - 1
        self.keep = size - MARGIN  # at most this many are waiting: older ones are overwritten
        self.n = 0  # running number of the next conversion
        self.taken = 0  # running number of the next conversion to drain

    def put(self, counts):
        """One conversion (raw signed counts). Allocation-free: called from a hard IRQ."""
        n = self.n
        self.buf[n & self.mask] = counts
        # Wrapped by a comparison: n + 1 = 2**30 would be a long int on a 32-bit port (an allocation)
        self.n = n + 1 if n < WRAP_MASK else 0

    def pending(self):
        """Conversions waiting to be drained (those already overwritten left out)."""
        waiting = (self.n - self.taken) & WRAP_MASK
        return waiting if waiting < self.keep else self.keep

    def drain(self, out):
        """The oldest waiting conversions copied into out (an array("i")), up to len(out); how many.
        The first of them is number (taken - count) & WRAP_MASK. Allocation-free."""
        n = self.n  # once: an IRQ may add more meanwhile
        first = self.taken
        waiting = (n - first) & WRAP_MASK
        if waiting > self.keep:
            first = (n - self.keep) & WRAP_MASK
            waiting = self.keep
        count = len(out)
        if waiting < count:
            count = waiting
        _copy(out, self.buf, first, self.mask, count)  # pyright: ignore[reportArgumentType]
        room = WRAP_MASK - first  # first + count may not be computed: past 2**30 it is a long int
        self.taken = first + count if count <= room else count - room - 1
        return count
