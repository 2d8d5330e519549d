# A small deterministic generator (Marsaglia xorshift32) so a seed gives the same plant on CPython and
# MicroPython and from one run to the next; the ports' own random modules differ.
MASK32 = 0xFFFFFFFF


class Rng:
    def __init__(self, seed):
        # Small seeds (1, 2, 3) have few bits set and xorshift spreads them slowly: their first outputs
        # would all be small (a drift always positive, say). Scatter the seed and skip a few outputs.
        self.state = ((seed * 0x9E3779B9 + 0x7F4A7C15) & MASK32) or 0x9E3779B9  # 0 is a fixed point
        for _ in range(8):
            self.next32()

    def next32(self):
        x = self.state
        x ^= (x << 13) & MASK32
        x ^= x >> 17
        x ^= (x << 5) & MASK32
        self.state = x
        return x

    def uniform(self):
        """A float in [0, 1)."""
        return self.next32() / 4294967296.0

    def normal(self):
        """Approximately standard normal (Irwin-Hall: the sum of 12 uniforms, minus 6)."""
        s = 0
        for _ in range(12):
            s += self.next32()  # summed as integers: one float at the end, not a dozen on the heap
        return s / 4294967296.0 - 6.0

    def chance(self, p):
        return self.uniform() < p
